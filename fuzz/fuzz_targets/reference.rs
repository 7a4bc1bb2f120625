//! Manifest references, tags and digests: accepted values round-trip and
//! have the grammar's shape.
#![no_main]

use berth::registry::{Algorithm, Digest, Reference, Tag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(digest) = text.parse::<Digest>() {
        check_digest(text, &digest);
    }
    if let Some(tag) = Tag::parse(text) {
        check_tag(text, &tag);
    }
    match Reference::parse(text) {
        Ok(Reference::Digest(d)) => assert_eq!(d.to_string(), text),
        Ok(Reference::Tag(t)) => {
            assert!(!text.contains(':'), "a tag with a colon: {text:?}");
            assert_eq!(Tag::parse(text).as_ref(), Some(&t));
        }
        Err(_) => assert!(Tag::parse(text).is_none() || text.contains(':'), "{text:?}"),
    }
});

fn check_digest(text: &str, digest: &Digest) {
    assert_eq!(digest.to_string(), text, "a digest prints as parsed");
    let hex_len = match digest.algorithm() {
        Algorithm::Sha256 => 64,
        Algorithm::Sha512 => 128,
    };
    assert_eq!(digest.hex().len(), hex_len, "{text:?}");
    assert!(digest.hex().bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')), "{text:?}");
    assert_eq!(text.parse::<Digest>().as_ref(), Ok(digest));
}

fn check_tag(text: &str, tag: &Tag) {
    assert_eq!(tag.as_str(), text);
    assert!((1..=128).contains(&text.len()), "tag of {} bytes", text.len());
    // A tag is one storage path segment: no separator, never `.` or `..`.
    assert!(!text.contains('/') && !text.starts_with('.') && !text.starts_with('-'), "{text:?}");
}
