//! Outputs that render a snapshot once: the text report and the JSON document.
//! None of them talks to the kernel or counts anything the collector did not give it.

pub mod anomaly;
pub mod check;
pub mod json;
pub mod text;

use std::fmt::Write as _;
use std::time::Duration;

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
