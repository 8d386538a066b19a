//! Times as ARM writes them.

use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Reads an RFC 3339 time as ARM writes it (`2026-11-20T08:00:00.1234567Z`, `…+01:00`); no
/// offset is read as UTC. `None` when it is not one.
///
/// ```
/// let t = esu_preflight::parse_time("2026-11-20T08:00:00.1234567+01:00").expect("a time");
/// assert_eq!(t.to_offset(time::UtcOffset::UTC).hour(), 7);
/// assert!(esu_preflight::parse_time("20 November").is_none());
/// ```
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        let part = text.get(from..to)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = i32::try_from(number(0, 4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(number(5, 7)?).ok()?).ok()?;
    let day = u8::try_from(number(8, 10)?).ok()?;
    let hour = u8::try_from(number(11, 13)?).ok()?;
    let minute = u8::try_from(number(14, 16)?).ok()?;
    let second = u8::try_from(number(17, 19)?).ok()?;
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        rest = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest.get(1..)?.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let h: i32 = h.parse().ok()?;
            let m: i32 = m.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    let offset = UtcOffset::from_whole_seconds(offset).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}
