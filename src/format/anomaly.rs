//! An anomaly as one text line, as the text report, the check output and the dashboard show
//! it (its JSON object is `report::json::AnomalyDoc`).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::short_duration;
use crate::aggregate::{Anomaly, ChurnEvidence, MakerCount};
use crate::model::Endpoint;

/// One line: `CRITICAL close_wait_backlog leaky-app[4242]: 120 CLOSE_WAIT sockets (warning 20, critical 100) …`,
/// its names as read: the output that writes it escapes it ([`crate::format::printable`]).
pub fn line(anomaly: &Anomaly, now: SystemTime) -> String {
    let mut out = String::with_capacity(160);
    let _ = write!(
        out,
        "{} {} {}: {} {} (warning {}, critical {})",
        anomaly.severity.name().to_ascii_uppercase(),
        anomaly.kind.name(),
        anomaly.subject_label(),
        anomaly.count,
        anomaly.kind.about().unit,
        anomaly.threshold,
        anomaly.critical_threshold,
    );
    let e = &anomaly.evidence;
    if let Some(limit) = e.limit {
        let _ = write!(out, ", limit {limit}");
    }
    if let Some(sockets) = e.tcp_sockets {
        let _ = write!(out, ", {}", crate::format::count_of(sockets, "TCP socket"));
    }
    if let Some(close_wait) = e.close_wait {
        let _ = write!(out, ", {close_wait} CLOSE_WAIT");
    }
    if let Some(sources) = e.distinct_sources {
        let _ = write!(out, ", {sources} distinct sources");
    }
    if let Some(age) = e.oldest_age {
        out.push_str(", oldest at least ");
        short_duration(age, &mut out);
    }
    if let Some(churn) = &e.churn {
        churn_text(churn, &mut out);
    }
    if !e.peers.is_empty() {
        // A churn anomaly of a process lists the destinations it closed connections to.
        out.push_str(if e.churn.is_some() {
            ", destinations "
        } else {
            ", peers "
        });
        for (i, p) in e.peers.iter().take(3).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{} ×{}", Endpoint(p.peer), p.count);
        }
    }
    makers_text(&e.makers, &mut out);
    for rise in &e.counter_rises {
        let _ = write!(out, ", {} +{}", rise.counter, rise.rise);
    }
    if let Some(interval) = e.counter_interval.filter(|_| !e.counter_rises.is_empty()) {
        // A one-shot dump of a few sockets takes milliseconds.
        let _ = match interval.as_millis() {
            0 => write!(out, " in <1ms"),
            ms @ 1..1000 => write!(out, " in {ms}ms"),
            _ => write!(out, " in {:.2}s", interval.as_secs_f64()),
        };
    }
    if let Some(trend) = anomaly.trend {
        let _ = write!(out, ", trend {trend:+.0}/min");
    }
    if let Ok(age) = now.duration_since(anomaly.first_seen)
        && age >= Duration::from_secs(1)
    {
        out.push_str(", raised ");
        short_duration(age, &mut out);
        out.push_str(" ago");
    }
    out
}

/// `, 412.3 closes/s over 10s, 98% short-lived, 87% closed between polls, median lifetime
/// ≤64ms, 1.2 KiB/connection`: the shares rounded down (`100%` only when all are), the
/// median and the bytes only when known.
fn churn_text(churn: &ChurnEvidence, out: &mut String) {
    let _ = write!(
        out,
        ", {:.1} closes/s over {}",
        churn.per_second(),
        super::interval(churn.span)
    );
    if churn.closes > 0 {
        let share = |part: u64| part.saturating_mul(100) / churn.closes;
        let _ = write!(
            out,
            ", {}% short-lived, {}% closed between polls",
            share(churn.short_lived),
            share(churn.unseen)
        );
    }
    if let Some(median) = churn.median_lifetime {
        out.push_str(", median lifetime ≤");
        short_duration(median, out);
    }
    if let Some(bytes) = churn.bytes_per_connection {
        let _ = write!(out, ", {}/connection", super::bytes(bytes));
    }
}

/// `, made by client[77] ×100, not attributed ×700`: who made the closed connections, the
/// processes in the rule's order (most closes first), then those no poll or listener
/// attributed; nothing when the rule listed none.
fn makers_text(makers: &[MakerCount], out: &mut String) {
    let attributed = makers.iter().filter(|m| m.maker.is_some());
    let unattributed = makers.iter().filter(|m| m.maker.is_none());
    for (i, m) in attributed.chain(unattributed).enumerate() {
        out.push_str(if i == 0 { ", made by " } else { ", " });
        match &m.maker {
            Some(maker) => out.push_str(&maker.label()),
            None => out.push_str("not attributed"),
        }
        let _ = write!(out, " ×{}", m.closes);
    }
}

#[cfg(test)]
mod tests;
