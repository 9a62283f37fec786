//! Text forms of Delta values: dates, timestamps and decimals, parsed without a date library.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

/// `YYYY-MM-DD` → (days since the epoch, bytes read).
fn date_prefix(b: &[u8]) -> Result<(i64, usize), &'static str> {
    const FORM: &str = "is not a date in the form YYYY-MM-DD";
    let (y, m, d) = match (digits(b, 0, 4), b.get(4), digits(b, 5, 2), b.get(7), digits(b, 8, 2)) {
        (Some(y), Some(b'-'), Some(m), Some(b'-'), Some(d)) => (i64::from(y), m, d),
        _ => return Err(FORM),
    };
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || y == 0 {
        return Err("is not a valid calendar date");
    }
    Ok((days_from_civil(y, m, d), 10))
}

/// A DATE given as `YYYY-MM-DD`, in days since 1970-01-01.
pub(crate) fn parse_date(s: &str) -> Result<i32, &'static str> {
    let (days, n) = date_prefix(s.as_bytes())?;
    if n != s.len() {
        return Err("is not a date in the form YYYY-MM-DD");
    }
    Ok(days as i32)
}

/// A DATE given as `YYYY-MM-DD`, or as an RFC 3339 timestamp exactly at midnight UTC (a
/// JavaScript `Date` or a Java `Instant` of that day, written as text by a binding).
pub(crate) fn parse_date_or_midnight(s: &str) -> Result<i32, &'static str> {
    let why = match parse_date(s) {
        Ok(days) => return Ok(days),
        Err(why) => why,
    };
    if s.len() <= 10 {
        return Err(why);
    }
    match parse_timestamp(s, false) {
        Ok(us) if us.rem_euclid(86_400_000_000) == 0 => Ok(us.div_euclid(86_400_000_000) as i32),
        Ok(_) => Err("is a timestamp, not a date: a DATE takes YYYY-MM-DD or a timestamp at midnight UTC"),
        Err(_) => Err(why),
    }
}

/// A TIMESTAMP given as RFC 3339 text (`2024-05-01T12:30:00.123456Z`, `…+02:00`; a space may
/// stand for `T`; digits past microseconds are cut), in microseconds since the epoch.
/// `ntz`: TIMESTAMP_NTZ, which takes a local date-time with no offset. A TIMESTAMP without an
/// offset is read as UTC.
pub(crate) fn parse_timestamp(s: &str, ntz: bool) -> Result<i64, &'static str> {
    const FORM: &str = "is not an RFC 3339 timestamp such as 2024-05-01T12:30:00Z";
    let b = s.as_bytes();
    let (days, mut i) = date_prefix(b).map_err(|_| FORM)?;
    let mut secs = days * 86_400;
    let mut micros = 0i64;
    if i < b.len() {
        if !matches!(b[i], b'T' | b't' | b' ') {
            return Err(FORM);
        }
        let (h, m) = match (digits(b, i + 1, 2), b.get(i + 3), digits(b, i + 4, 2)) {
            (Some(h), Some(b':'), Some(m)) => (h, m),
            _ => return Err(FORM),
        };
        i += 6;
        let mut sec = 0;
        if b.get(i) == Some(&b':') {
            sec = digits(b, i + 1, 2).ok_or(FORM)?;
            i += 3;
            if b.get(i) == Some(&b'.') {
                i += 1;
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    if i - start < 6 {
                        micros = micros * 10 + i64::from(b[i] - b'0');
                    }
                    i += 1;
                }
                if i == start {
                    return Err(FORM);
                }
                for _ in (i - start)..6 {
                    micros *= 10;
                }
            }
        }
        if h > 23 || m > 59 || sec > 59 {
            return Err("has an hour, minute or second out of range");
        }
        secs += i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec);
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') if i + 1 == b.len() => {
                if ntz {
                    return Err(
                        "has a time zone; TIMESTAMP_NTZ takes a local date-time without Z or an offset",
                    );
                }
            }
            Some(&sign @ (b'+' | b'-')) => {
                if ntz {
                    return Err(
                        "has a time zone; TIMESTAMP_NTZ takes a local date-time without Z or an offset",
                    );
                }
                let (oh, om) = match (digits(b, i + 1, 2), b.get(i + 3), digits(b, i + 4, 2)) {
                    (Some(oh), Some(b':'), Some(om)) if i + 6 == b.len() => (oh, om),
                    _ => match (digits(b, i + 1, 2), digits(b, i + 3, 2)) {
                        (Some(oh), Some(om)) if i + 5 == b.len() => (oh, om),
                        _ => return Err(FORM),
                    },
                };
                if oh > 23 || om > 59 {
                    return Err("has an offset out of range");
                }
                let offset = i64::from(oh) * 3600 + i64::from(om) * 60;
                secs -= if sign == b'+' { offset } else { -offset };
            }
            _ => return Err(FORM),
        }
    }
    Ok(secs * 1_000_000 + micros)
}

/// Writes `text` (a JSON number or a decimal string: sign, digits, point, exponent) into `out`
/// as the canonical text of a `DECIMAL(precision, scale)`: no exponent, exactly `scale` digits
/// after the point. Fails when digits would be lost or the value does not fit.
pub(crate) fn write_decimal(text: &str, precision: u8, scale: u8, out: &mut String) -> Result<(), String> {
    let form = || format!("is not a decimal number: {}", super::shown(text));
    let b = text.trim().as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut mantissa: Vec<u8> = Vec::with_capacity(b.len());
    let mut point: Option<usize> = None;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => mantissa.push(c),
            b'.' if point.is_none() => point = Some(mantissa.len()),
            b'e' | b'E' => break,
            _ => return Err(form()),
        }
        i += 1;
    }
    if mantissa.is_empty() {
        return Err(form());
    }
    let mut exp: i64 = 0;
    if i < b.len() {
        exp = std::str::from_utf8(&b[i + 1..]).ok().and_then(|e| e.parse().ok()).ok_or_else(form)?;
    }
    // The value is 0.mantissa × 10^(int_digits), with int_digits = point position + exponent.
    let int_digits = point.unwrap_or(mantissa.len()) as i64 + exp;
    let first = mantissa.iter().position(|&c| c != b'0');
    let Some(first) = first else {
        out.push('0');
        if scale > 0 {
            out.push('.');
            out.extend(std::iter::repeat_n('0', usize::from(scale)));
        }
        return Ok(());
    };
    let last = mantissa.iter().rposition(|&c| c != b'0').unwrap_or(first);
    // Significant digits occupy positions [first, last] relative to the point at int_digits.
    let lead = int_digits - first as i64; // digits before the point, counting from the first nonzero
    let frac = last as i64 + 1 - int_digits; // digits after the point up to the last nonzero
    let max_int = i64::from(precision) - i64::from(scale);
    if lead > max_int {
        return Err(format!(
            "{} is out of range for DECIMAL({precision},{scale}): it allows {max_int} digit(s) before the point",
            super::shown(text)
        ));
    }
    if frac > i64::from(scale) {
        return Err(format!(
            "{} has {frac} digit(s) after the point; DECIMAL({precision},{scale}) keeps {scale}: round it first",
            super::shown(text)
        ));
    }
    if negative {
        out.push('-');
    }
    let digit_at = |pos: i64| -> char {
        // The digit at position `pos` of the mantissa (0 outside it).
        if pos >= 0 && (pos as usize) < mantissa.len() {
            mantissa[pos as usize] as char
        } else {
            '0'
        }
    };
    if lead <= 0 {
        out.push('0');
    } else {
        for pos in first as i64..int_digits {
            out.push(digit_at(pos));
        }
    }
    if scale > 0 {
        out.push('.');
        for k in 0..i64::from(scale) {
            out.push(digit_at(int_digits + k));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2000-03-01"), Ok(11017));
        assert_eq!(parse_date("1969-12-31"), Ok(-1));
        assert_eq!(parse_date("0001-01-01"), Ok(-719162));
        assert_eq!(parse_date("9999-12-31"), Ok(2932896));
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date("2024-13-01").is_err());
        assert!(parse_date("2024-1-01").is_err());
        assert!(parse_date("2024-01-01x").is_err());
        assert_eq!(parse_date_or_midnight("2024-02-29T00:00:00.000Z"), Ok(19782));
        assert_eq!(parse_date_or_midnight("1969-12-31T00:00:00Z"), Ok(-1));
        assert!(parse_date_or_midnight("2024-02-29T00:00:01Z").unwrap_err().contains("not a date"));
        assert!(parse_date_or_midnight("2024-02-30").is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z", false), Ok(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z", false), Ok(1_500_000));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00", false), Ok(0));
        assert_eq!(parse_timestamp("1970-01-01 00:00:00.123456789", false), Ok(123_456));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59.999999Z", false), Ok(-1));
        assert_eq!(parse_timestamp("2024-05-01T12:30:00-0230", false), Ok(1_714_575_600_000_000));
        assert_eq!(parse_timestamp("2024-05-01", false), Ok(1_714_521_600_000_000));
        assert!(parse_timestamp("2024-05-01T12:30:00Z", true).is_err());
        assert_eq!(parse_timestamp("2024-05-01T12:30", true), Ok(1_714_566_600_000_000));
        assert!(parse_timestamp("2024-05-01T24:00:00Z", false).is_err());
        assert!(parse_timestamp("2024-05-01T12:00:00Q", false).is_err());
        assert!(parse_timestamp("yesterday", false).is_err());
    }

    fn dec(text: &str, p: u8, s: u8) -> Result<String, String> {
        let mut out = String::new();
        write_decimal(text, p, s, &mut out).map(|()| out)
    }

    #[test]
    fn decimals() {
        assert_eq!(dec("12.5", 10, 2).unwrap(), "12.50");
        assert_eq!(dec("-0.05", 10, 2).unwrap(), "-0.05");
        assert_eq!(dec("1e3", 10, 2).unwrap(), "1000.00");
        assert_eq!(dec("1.25E-1", 5, 3).unwrap(), "0.125");
        assert_eq!(dec("0", 3, 0).unwrap(), "0");
        assert_eq!(dec("-0.0", 3, 1).unwrap(), "0.0");
        assert_eq!(dec("00123", 3, 0).unwrap(), "123");
        assert_eq!(dec("99999999.99", 10, 2).unwrap(), "99999999.99");
        assert!(dec("100000000", 10, 2).unwrap_err().contains("out of range"));
        assert!(dec("1.234", 10, 2).unwrap_err().contains("3 digit(s) after the point"));
        assert_eq!(dec("1.2300", 10, 2).unwrap(), "1.23");
        assert!(dec("abc", 10, 2).is_err());
        assert!(dec("1.2.3", 10, 2).is_err());
        assert_eq!(dec("12345678901234567890123456789012345678", 38, 0).unwrap().len(), 38);
    }
}
