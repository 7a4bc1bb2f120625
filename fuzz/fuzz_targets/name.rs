//! Repository names: the only request part that becomes a multi-segment
//! storage path, so an accepted name must be unable to leave its directory.
#![no_main]

use berth::registry::RepoName;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(name) = RepoName::parse(text) else { return };
    let s = name.as_str();
    assert_eq!(s, text, "a name is kept as given");
    assert!(!s.is_empty() && s.len() <= 255, "length {}", s.len());
    assert!(!s.contains("..") && !s.contains("//"), "{s:?}");
    assert!(!s.starts_with('/') && !s.ends_with('/'), "{s:?}");
    assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b)), "{s:?}");
    for segment in s.split('/') {
        // Storage keeps `_layers`, `_manifests`, `_uploads` beside repository
        // segments; a segment must never look like them or like `.`.
        let first = segment.as_bytes()[0];
        let last = segment.as_bytes()[segment.len() - 1];
        assert!(first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric(), "segment {segment:?}");
    }
    assert_eq!(RepoName::parse(&name.to_string()).as_ref(), Ok(&name), "round trip");
});
