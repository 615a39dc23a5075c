//! ISO 8601 timestamps of historian exports, as seconds since the Unix epoch.
//!
//! Historian exports write UTC instants such as `2024-01-01T00:00:00Z`, with
//! optional fractional seconds and an explicit offset (`+01:00`). Only this
//! profile of ISO 8601 (RFC 3339) is accepted: a local time without an offset is
//! ambiguous across daylight-saving changes, so it is rejected rather than
//! guessed. The conversion uses the proleptic Gregorian calendar
//! (H. Hinnant's `days_from_civil` algorithm).

/// A text that is not an RFC 3339 timestamp ([`parse_rfc3339`]); it prints
/// as a diagnostic's `found` half.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{text}` (not an RFC 3339 UTC timestamp like 2024-01-01T00:00:00Z)")]
pub struct TimestampError {
    /// The text given (trimmed).
    pub text: String,
}

/// Parses an RFC 3339 timestamp into seconds since 1970-01-01T00:00:00Z.
/// The error says what is wrong, for a diagnostic's `found` half.
pub fn parse_rfc3339(text: &str) -> Result<f64, TimestampError> {
    let t = text.trim();
    let bad = || TimestampError {
        text: t.to_string(),
    };
    // Every valid timestamp is ASCII; checking first also keeps the byte
    // slicing below on character boundaries (a `é` would split one).
    if !t.is_ascii() {
        return Err(bad());
    }
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, TimestampError> {
        let s = &t[r];
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let mut rest = &t[19..];
    let mut fraction = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        fraction = format!("0.{}", &r[..digits])
            .parse::<f64>()
            .map_err(|_| bad())?;
        rest = &r[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let rb = rest.as_bytes();
            if rb[3] != b':' {
                return Err(bad());
            }
            let two = |s: &str| -> Result<i64, TimestampError> {
                if s.bytes().all(|c| c.is_ascii_digit()) {
                    s.parse().map_err(|_| bad())
                } else {
                    Err(bad())
                }
            };
            let (h, m) = (two(&rest[1..3])?, two(&rest[4..6])?);
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(year, month, day);
    let whole = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Ok(whole as f64 + fraction)
}

/// Formats Unix seconds as RFC 3339 UTC (`2024-01-01T00:12:00Z`), with the
/// fractional seconds when there are any (up to nanoseconds, trailing zeros
/// dropped), so that [`parse_rfc3339`] gives the instant back.
pub fn format_rfc3339(unix_s: f64) -> String {
    let whole = unix_s.floor();
    let mut nanos = ((unix_s - whole) * 1e9).round() as i64;
    let mut secs = whole as i64;
    if nanos >= 1_000_000_000 {
        secs += 1;
        nanos -= 1_000_000_000;
    }
    format_rfc3339_parts(secs, nanos)
}

/// Formats an instant given as whole Unix seconds and nanoseconds
/// (`0..1e9`) like [`format_rfc3339`]. Integer timestamps (Parquet
/// `TIMESTAMP(NANOS)`) go through this rather than through an f64, which
/// cannot hold nanoseconds at today's epoch offsets; parsing the text back
/// then gives exactly the f64 a CSV export with the same text gives.
pub fn format_rfc3339_parts(secs: i64, nanos: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0.0);
        // `date -u -d 2024-01-01T00:00:00Z +%s`
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00Z").unwrap(),
            1_704_067_200.0
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T12:30:15Z").unwrap(),
            1_709_209_815.0
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T01:00:00+01:00").unwrap(),
            1_704_067_200.0
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00.25Z").unwrap(),
            1_704_067_200.25
        );
    }

    #[test]
    fn formats_and_parses_back() {
        assert_eq!(format_rfc3339(1_704_067_200.0), "2024-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_709_209_815.25), "2024-02-29T12:30:15.25Z");
        assert_eq!(format_rfc3339(-1.0), "1969-12-31T23:59:59Z");
        for t in [
            0.0,
            951_782_400.0,
            1_704_067_200.0 + 720.0 * 37.0,
            4_102_444_800.5,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)).unwrap(), t, "{t}");
        }
    }

    #[test]
    fn rejects_ambiguous_or_malformed() {
        for bad in [
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01",
            "yesterday",
            "2024-01-01T00:00:00+0100",
            "2025-01-01T00:00:0éZ",
            "2025-01-01T00:00:00é",
            "2025-01-01T00:00:00+-1:00",
            "ß025-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
