//! `Range` (blob GET) and `Content-Range` (upload PATCH) headers: a range
//! served is inside the blob; a chunk's declared length matches its bounds.
#![no_main]

use berth::http::range::{RangeRequest, parse_content_range, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first eight bytes choose the blob size, the rest is the header.
    let (size, header) = match data.split_first_chunk::<8>() {
        Some((size, rest)) => (u64::from_le_bytes(*size), rest),
        None => (0, data),
    };
    let Ok(header) = std::str::from_utf8(header) else { return };
    // Small sizes too, where off-by-ones live.
    for size in [size, size % 1024, u64::MAX] {
        check_range(header, size);
    }
    if let Some((start, len)) = parse_content_range(header) {
        assert!(len >= 1, "an empty chunk range from {header:?}");
        assert!(start.checked_add(len - 1).is_some(), "{header:?} ends past u64");
    }
});

fn check_range(header: &str, size: u64) {
    match parse_range(Some(header), size) {
        RangeRequest::Partial(r) => {
            assert!(r.len >= 1, "empty range for {header:?} of {size}");
            let end = r.start.checked_add(r.len).expect("range end overflows");
            assert!(r.start < size && end <= size, "{header:?} gives {r:?} of a {size}-byte blob");
        }
        RangeRequest::Unsatisfiable => assert!(header.contains("bytes="), "416 for {header:?}"),
        RangeRequest::Full => {}
    }
}
