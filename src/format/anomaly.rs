//! An anomaly as one text line, as the text report, the check output and the dashboard show
//! it (its JSON object is `report::json::AnomalyDoc`).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::short_duration;
use crate::aggregate::Anomaly;
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
    if !e.peers.is_empty() {
        out.push_str(", peers ");
        for (i, p) in e.peers.iter().take(3).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{} ×{}", Endpoint(p.peer), p.count);
        }
    }
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
