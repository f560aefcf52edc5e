//! The times a replay's `t` line takes: a time of day in UTC (`03:12`, `03:12:04`), a date
//! and time (RFC 3339, `2026-12-07T03:12:04Z`, or with a space and no zone, read as UTC), or
//! a span from an end of the recording (`-10m` before its last poll, `+5m` after its first).

use std::time::{Duration, SystemTime};

const DAY: u64 = 24 * 3600;

/// The moment `text` names in a recording from `first` to `last`. A time of day is the
/// last one at or before the recording's end (the day of its last poll, or the day
/// before).
pub fn moment(text: &str, first: SystemTime, last: SystemTime) -> Result<SystemTime, String> {
    let text = text.trim();
    let refused = || {
        format!(
            "\"{text}\" is not a time: write 03:12 (UTC), 2026-12-07T03:12:04Z, -10m (before the end) or +5m (after the start)"
        )
    };
    if let Some(span) = text.strip_prefix('-') {
        let span = humantime::parse_duration(span.trim()).map_err(|_| refused())?;
        return Ok(last.checked_sub(span).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    if let Some(span) = text.strip_prefix('+') {
        let span = humantime::parse_duration(span.trim()).map_err(|_| refused())?;
        return first.checked_add(span).ok_or_else(refused);
    }
    if let Some(of_day) = time_of_day(text) {
        let end = last
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let day = end - end % DAY;
        let at = if day + of_day <= end {
            day + of_day
        } else {
            (day + of_day).saturating_sub(DAY)
        };
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(at));
    }
    humantime::parse_rfc3339(text)
        .or_else(|_| humantime::parse_rfc3339_weak(text))
        .map_err(|_| refused())
}

/// Seconds into the day of `HH:MM` or `HH:MM:SS`.
fn time_of_day(text: &str) -> Option<u64> {
    let mut parts = text.split(':');
    let mut next = |most: u64| {
        parts
            .next()
            .filter(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u64>().ok())
            .filter(|&v| v <= most)
    };
    let hours = next(23)?;
    let minutes = next(59)?;
    let seconds = match parts.next() {
        None => 0,
        Some(p) if p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u64>().ok().filter(|&v| v <= 59)?
        }
        Some(_) => return None,
    };
    parts
        .next()
        .is_none()
        .then_some(hours * 3600 + minutes * 60 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// 2026-12-07 02:00:00 UTC to 04:00:00 UTC.
    const START: u64 = 1_796_608_800;

    #[test]
    fn each_form_names_its_moment() {
        let (first, last) = (at(START), at(START + 7200));
        let m = |t| moment(t, first, last);
        assert_eq!(m("-10m"), Ok(at(START + 7200 - 600)));
        assert_eq!(m("+5m"), Ok(at(START + 300)));
        assert_eq!(m("03:12"), Ok(at(START + 4320)));
        assert_eq!(m("03:12:04"), Ok(at(START + 4324)));
        assert_eq!(m("2026-12-07T03:12:04Z"), Ok(at(START + 4324)));
        assert_eq!(m("2026-12-07 03:12:04"), Ok(at(START + 4324)));
        // After the end's time of day: the day before.
        assert_eq!(m("05:00"), Ok(at(START + 3 * 3600 - DAY)));
    }

    #[test]
    fn what_is_not_a_time_is_refused_with_the_forms_it_takes() {
        let (first, last) = (at(START), at(START + 7200));
        for text in ["soon", "25:00", "03:60", "3:1:2:4", "-ten", "03:12:5"] {
            let why = moment(text, first, last).unwrap_err();
            assert!(
                why.starts_with(&format!("\"{text}\" is not a time")),
                "{why}"
            );
        }
    }
}
