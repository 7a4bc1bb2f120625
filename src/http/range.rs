//! Byte ranges: the `Range` header of blob GETs and the `Content-Range` of
//! upload chunks.

/// A resolved, satisfiable byte range: `start..start+len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Number of bytes.
    pub len: u64,
}

/// The outcome of a `Range` header against a blob of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: serve everything (absent, or syntax we ignore, as
    /// RFC 9110 allows).
    Full,
    /// One satisfiable range.
    Partial(ByteRange),
    /// A valid range the blob cannot satisfy (416).
    Unsatisfiable,
}

/// Resolves a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against a
/// size. Multiple ranges are served whole: registries have no use for them.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return RangeRequest::Full };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeRequest::Full };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    let (start, end) = match (first.is_empty(), last.is_empty()) {
        (true, true) => return RangeRequest::Full,
        (true, false) => match number(last) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            None => return RangeRequest::Full,
        },
        (false, _) => {
            let Some(start) = number(first) else { return RangeRequest::Full };
            let end = if last.is_empty() { Some(u64::MAX) } else { number(last) };
            match end {
                Some(end) if end >= start => (start, end.min(size.saturating_sub(1))),
                _ => return RangeRequest::Full,
            }
        }
    };
    if size == 0 || start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial(ByteRange { start, len: end - start + 1 })
}

/// Parses an upload chunk's `Content-Range: <start>-<end>` (inclusive; the
/// `bytes ` prefix and a `/size` suffix some clients send are accepted).
/// Returns the start and the length it declares.
pub fn parse_content_range(header: &str) -> Option<(u64, u64)> {
    let spec = header.trim();
    let spec = spec.strip_prefix("bytes ").or_else(|| spec.strip_prefix("bytes=")).unwrap_or(spec);
    let (spec, total) = match spec.split_once('/') {
        Some((range, total)) => (range, Some(total)),
        None => (spec, None),
    };
    let (start, end) = spec.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(start) || !digits(end) {
        return None;
    }
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    // RFC 9110 14.4: a complete length at or below the last byte makes the
    // whole field invalid; `*` (unknown) is fine.
    match total {
        Some("*") | None => {}
        Some(total) if digits(total) && total.parse::<u64>().is_ok_and(|t| t > end) => {}
        Some(_) => return None,
    }
    // `0-18446744073709551615` declares 2^64 bytes, which no u64 holds.
    (end >= start).then(|| (end - start).checked_add(1)).flatten().map(|len| (start, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, len: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, len })
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), part(0, 5));
        assert_eq!(parse_range(Some("bytes=5-"), 10), part(5, 5));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), part(5, 5));
        assert_eq!(parse_range(Some("bytes=-3"), 10), part(7, 3));
        assert_eq!(parse_range(Some("bytes=-30"), 10), part(0, 10));
        assert_eq!(parse_range(Some("bytes=10-"), 10), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=a-b"), 10), RangeRequest::Full);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Some((0, 100)));
        assert_eq!(parse_content_range("bytes 100-199/1000"), Some((100, 100)));
        assert_eq!(parse_content_range("5-5"), Some((5, 1)));
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, 10)));
        assert_eq!(parse_content_range("0-18446744073709551614"), Some((0, u64::MAX)));
        assert_eq!(parse_content_range("1-18446744073709551615"), Some((1, u64::MAX)));
        for bad in [
            "",
            "5-4",
            "-5",
            "5-",
            "a-b",
            "1-2-3",
            "+1-2",
            "0-18446744073709551615",
            "bytes 0-18446744073709551615/*",
            "4-7/2",
            "4-7/7",
            "4-7/x",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }
}
