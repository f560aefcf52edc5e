//! How numbers, durations, timers and owners read on screen and in reports. The dashboard and
//! the one-shot outputs both write through these, so a value reads the same everywhere.
//!
//! Depends on `model`, and on `aggregate` for an anomaly's line (`anomaly.rs`): the
//! outputs (`report`, `tui`, `serve`) use it, `aggregate` does not.
//!
//! These build text from names as they were read; [`printable`] (in `escape.rs`) is the one
//! escaper every text output applies where it writes.

pub mod anomaly;
mod escape;

pub use escape::printable;

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::model::{Attribution, Snapshot, Socket, Timer, TimerKind};

/// A short human duration: `850ms`, `1.2s`, `42s`, `12m03s`, `2h05m`.
pub fn short_duration(d: Duration, out: &mut String) {
    let ms = d.as_millis();
    let s = d.as_secs();
    let _ = match ms {
        0..1_000 => write!(out, "{ms}ms"),
        1_000..10_000 => write!(out, "{:.1}s", d.as_secs_f64()),
        10_000..60_000 => write!(out, "{s}s"),
        60_000..3_600_000 => write!(out, "{}m{:02}s", s / 60, s % 60),
        _ => write!(out, "{}h{:02}m", s / 3600, (s % 3600) / 60),
    };
}

/// `HH:MM:SS UTC` of `at`.
pub fn clock(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// A date and time in UTC to the second: `2026-12-07 03:12:04 UTC`.
pub fn date_time(at: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} UTC", text.replace('T', " ").trim_end_matches('Z'))
}

/// A poll interval: `250ms`, `1s`, `1.5s`, `2m`.
pub fn interval(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() < 60 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() >= 60 && d.as_secs().is_multiple_of(60) {
        format!("{}m", d.as_secs() / 60)
    } else {
        let mut out = String::new();
        short_duration(d, &mut out);
        out
    }
}

/// `at` as an age relative to `now` in whole seconds: `0s`, `42s`, `3m04s`, `2h05m`;
/// `-` when unknown.
pub fn age(at: Option<SystemTime>, now: Option<SystemTime>) -> String {
    match (at, now) {
        (Some(at), Some(now)) => {
            let secs = now.duration_since(at).unwrap_or(Duration::ZERO).as_secs();
            if secs < 60 {
                format!("{secs}s")
            } else {
                let mut out = String::new();
                short_duration(Duration::from_secs(secs), &mut out);
                out
            }
        }
        _ => "-".to_owned(),
    }
}

/// Thousands separators for counts: `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size in bytes, in binary units: `512 B`, `1.5 KiB`, `340 KiB`, `12 MiB` (one decimal
/// below ten).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // 1023.5 KiB would read `1024 KiB`: it is the next unit's `1.0`.
    while value >= 1023.5 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 9.95 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// `n` things, grouped, singular for one: `1 TCP socket`, `6,210 TCP sockets`. `noun` is the
/// singular; the plural adds an `s`.
pub fn count_of(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{} {noun}s", grouped(n)),
    }
}

/// The timer as the text report shows it: `-`, `on 1.2s/3`, `timewait 59s`, `keepalive 2h00m`.
pub fn timer_text(timer: &Timer, out: &mut String) {
    if timer.kind == TimerKind::Off {
        out.push('-');
        return;
    }
    out.push_str(timer.kind.name());
    out.push(' ');
    short_duration(Duration::from_millis(u64::from(timer.expires_ms)), out);
    if timer.retransmits > 0 {
        let _ = write!(out, "/{}", timer.retransmits);
    }
}

/// One process as every output names it: `nginx[1234]`, its name as read (outputs escape
/// it where they write it, with [`printable`]).
pub fn process(comm: &str, pid: u32) -> String {
    crate::model::process_label(comm, pid)
}

/// Every owner of a listener, `nginx[12],nginx[13]`; `-` when none is known.
pub fn owner_list(owners: &[(u32, String)]) -> String {
    if owners.is_empty() {
        return "-".to_owned();
    }
    owners
        .iter()
        .map(|(pid, comm)| process(comm, *pid))
        .collect::<Vec<_>>()
        .join(",")
}

/// The owners of a socket as `comm[pid]`, comma-separated, at most three then `+N`;
/// `-` when it belongs to no process, `?` when its owner could not be read.
pub fn owners_text(snapshot: &Snapshot, socket: &Socket, out: &mut String) {
    let mut shown = 0;
    for p in snapshot.owners(socket) {
        if shown == 3 {
            let _ = write!(out, ",+{}", socket.owners.len - 3);
            return;
        }
        if shown > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}[{}]", p.comm, p.pid);
        shown += 1;
    }
    if shown == 0 {
        let unreadable = matches!(snapshot.attribution, Attribution::Partial { .. });
        out.push(if unreadable && socket.inode != 0 {
            '?'
        } else {
            '-'
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(d: Duration) -> String {
        let mut out = String::new();
        short_duration(d, &mut out);
        out
    }

    #[test]
    fn short_durations_pick_the_unit_by_size() {
        assert_eq!(short(Duration::from_millis(850)), "850ms");
        assert_eq!(short(Duration::from_millis(1_250)), "1.2s");
        assert_eq!(short(Duration::from_secs(42)), "42s");
        assert_eq!(short(Duration::from_secs(12 * 60 + 3)), "12m03s");
        assert_eq!(short(Duration::from_secs(2 * 3600 + 5 * 60 + 9)), "2h05m");
    }

    #[test]
    fn intervals_read_in_whole_units_when_they_can() {
        assert_eq!(interval(Duration::from_millis(250)), "250ms");
        assert_eq!(interval(Duration::from_secs(1)), "1s");
        assert_eq!(interval(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(interval(Duration::from_secs(120)), "2m");
        assert_eq!(interval(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn ages_count_whole_seconds_and_dash_when_unknown() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let ago = |s| Some(now - Duration::from_secs(s));
        assert_eq!(age(ago(0), Some(now)), "0s");
        assert_eq!(age(ago(42), Some(now)), "42s");
        assert_eq!(age(ago(184), Some(now)), "3m04s");
        assert_eq!(age(None, Some(now)), "-");
        assert_eq!(age(ago(5), None), "-");
        // A clock that stepped back reads as no age, not a panic.
        assert_eq!(age(Some(now + Duration::from_secs(3)), Some(now)), "0s");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1_023), "1023 B");
        assert_eq!(bytes(1_024), "1.0 KiB");
        assert_eq!(bytes(1_536), "1.5 KiB");
        assert_eq!(bytes(10_188), "9.9 KiB");
        assert_eq!(bytes(10_189), "10 KiB");
        assert_eq!(bytes(348_160), "340 KiB");
        assert_eq!(bytes(1_048_000), "1023 KiB");
        assert_eq!(bytes(1_048_100), "1.0 MiB");
        assert_eq!(bytes(12 << 20), "12 MiB");
        assert_eq!(bytes(u64::MAX), "16384 PiB");
    }

    #[test]
    fn one_of_a_thing_is_singular() {
        assert_eq!(count_of(0, "TCP socket"), "0 TCP sockets");
        assert_eq!(count_of(1, "TCP socket"), "1 TCP socket");
        assert_eq!(count_of(6210, "socket"), "6,210 sockets");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn timers_show_kind_time_and_retransmits() {
        let mut out = String::new();
        timer_text(&Timer::default(), &mut out);
        assert_eq!(out, "-");
        out.clear();
        let timer = Timer {
            kind: TimerKind::Retransmit,
            expires_ms: 1_200,
            retransmits: 3,
        };
        timer_text(&timer, &mut out);
        assert_eq!(out, "on 1.2s/3");
    }

    #[test]
    fn owner_lists_join_every_owner_or_dash() {
        assert_eq!(owner_list(&[]), "-");
        let owners = [(12, "nginx".to_owned()), (13, "nginx".to_owned())];
        assert_eq!(owner_list(&owners), "nginx[12],nginx[13]");
        assert_eq!(process("leaky-app", 4242), "leaky-app[4242]");
    }
}
