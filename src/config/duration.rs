//! Go durations: `time.ParseDuration` and `Duration.String`.
//!
//! distribution's durations are Go `time.Duration`s read by yaml.v2: a string
//! such as `10s`, `1h30m` or `1.5h`, or a bare integer, which is nanoseconds.

use std::time::Duration;

/// Nanoseconds per unit; two-letter units first, so `ms` is not read as `m`.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration; a plain integer counts nanoseconds, as yaml.v2 reads
/// an integer into a `time.Duration`. Negative durations are refused: no
/// setting of distribution's has a use for one.
pub fn parse(text: &str) -> Option<Duration> {
    if let Ok(ns) = text.parse::<u64>() {
        return Some(Duration::from_nanos(ns));
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let (unit, scale) = UNITS.iter().find(|(u, _)| tail.starts_with(u)).filter(|_| !number.is_empty())?;
        total = total.checked_add(scaled(number, *scale)?)?;
        rest = &tail[unit.len()..];
    }
    u64::try_from(total).ok().map(Duration::from_nanos)
}

/// `12.5` times `scale`, exactly, or `None` for a malformed number.
fn scaled(number: &str, scale: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut value = whole.checked_mul(scale)?;
    let mut unit = scale;
    for digit in fraction.bytes() {
        unit /= 10;
        value += u128::from(digit - b'0') * unit;
    }
    Some(value)
}

/// Formats as Go's `Duration.String` does: `0s`, `250ms`, `1m30s`, `168h0m0s`.
pub fn format(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}\u{b5}s", decimal(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", decimal(ns, 1_000_000));
    }
    let (hours, rest) = (ns / 3_600_000_000_000, ns % 3_600_000_000_000);
    let (minutes, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let seconds = decimal(rest, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `value / unit` with the fraction's trailing zeros dropped.
fn decimal(value: u128, unit: u128) -> String {
    let (whole, fraction) = (value / unit, value % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let cases = [
            ("10s", 10_000_000_000),
            ("168h", 168 * 3_600_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("300ms", 300_000_000),
            ("2us", 2_000),
            ("2\u{b5}s", 2_000),
            ("2\u{3bc}s", 2_000),
            ("7ns", 7),
            ("0", 0),
            ("0s", 0),
            ("+5m", 300_000_000_000),
            (".5s", 500_000_000),
            ("1h2m3s4ms", 3_723_004_000_000),
            ("100", 100),
        ];
        for (text, ns) in cases {
            assert_eq!(parse(text), Some(Duration::from_nanos(ns)), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        for text in ["", "5 minutes", "s", "1.2.3s", "-5s", "5d", "1h 30m", ".s", "99999999999h"] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (7, "7ns"),
            (1_500, "1.5\u{b5}s"),
            (100_000_000, "100ms"),
            (10_000_000_000, "10s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (168 * 3_600_000_000_000, "168h0m0s"),
            (3_723_004_000_000, "1h2m3.004s"),
        ];
        for (ns, text) in cases {
            assert_eq!(format(Duration::from_nanos(ns)), text);
            assert_eq!(parse(text), Some(Duration::from_nanos(ns)), "round trip {text}");
        }
    }
}
