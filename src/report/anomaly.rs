//! Anomalies as every output shows them: one text line plus its hint, and the JSON object.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::json::EndpointDoc;
use super::short_duration;
use crate::aggregate::{Anomaly, AnomalyKind, Subject};
use crate::model::Endpoint;

/// The unit an anomaly's count is in, for the text line.
fn unit(kind: AnomalyKind) -> &'static str {
    match kind {
        AnomalyKind::CloseWaitBacklog => "CLOSE_WAIT sockets",
        AnomalyKind::SynRecvFlood => "SYN_RECV sockets",
        AnomalyKind::SynCookies => "SYNs answered with cookies or dropped since the last poll",
        AnomalyKind::TimeWaitExcess => "TIME_WAIT sockets",
        AnomalyKind::AcceptQueueOverflow => "connections waiting for accept()",
        AnomalyKind::FinWait2Pileup => "FIN_WAIT2 sockets",
        AnomalyKind::OrphanSockets => "orphaned sockets",
        AnomalyKind::FdExhaustion => "open descriptors",
    }
}

/// One line: `CRITICAL close_wait_backlog leaky-app[4242]: 120 CLOSE_WAIT sockets (warning 20, critical 100) …`.
pub fn line(anomaly: &Anomaly, now: SystemTime) -> String {
    let mut out = String::with_capacity(160);
    let _ = write!(
        out,
        "{} {} {}: {} {} (warning {}, critical {})",
        anomaly.severity.name().to_ascii_uppercase(),
        anomaly.kind.name(),
        anomaly.subject.label(),
        anomaly.count,
        unit(anomaly.kind),
        anomaly.threshold,
        anomaly.critical_threshold,
    );
    let e = &anomaly.evidence;
    if let Some(limit) = e.limit {
        let _ = write!(out, ", limit {limit}");
    }
    if let Some(sockets) = e.tcp_sockets {
        let _ = write!(out, ", {sockets} TCP sockets");
    }
    if let Some(close_wait) = e.close_wait {
        let _ = write!(out, ", {close_wait} CLOSE_WAIT");
    }
    if let Some(sources) = e.distinct_sources {
        let _ = write!(out, ", {sources} distinct sources");
    }
    if let Some(age) = e.oldest_age {
        out.push_str(", oldest ");
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

/// The JSON object of one anomaly. The subject is one key named after its kind:
/// `process: {pid, comm}`, `listener`, `destination`, `local_port` or `namespace: true`.
pub struct AnomalyDoc<'a>(pub &'a Anomaly);

impl Serialize for AnomalyDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct ProcessRef<'a> {
            pid: u32,
            comm: &'a str,
        }
        #[derive(Serialize)]
        struct Peer {
            remote: EndpointDoc,
            count: u64,
        }
        let a = self.0;
        let e = &a.evidence;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", a.kind.name())?;
        map.serialize_entry("severity", a.severity.name())?;
        match &a.subject {
            Subject::Process { pid, comm } => {
                map.serialize_entry("process", &ProcessRef { pid: *pid, comm })?;
            }
            Subject::Listener(addr) => map.serialize_entry("listener", &EndpointDoc(*addr))?,
            Subject::Destination(addr) => {
                map.serialize_entry("destination", &EndpointDoc(*addr))?;
            }
            Subject::LocalPort(port) => map.serialize_entry("local_port", port)?,
            Subject::Namespace => map.serialize_entry("namespace", &true)?,
        }
        map.serialize_entry("subject", &a.subject.label())?;
        map.serialize_entry("count", &a.count)?;
        map.serialize_entry("threshold", &a.threshold)?;
        map.serialize_entry("critical_threshold", &a.critical_threshold)?;
        map.serialize_entry(
            "first_seen",
            &humantime::format_rfc3339_millis(a.first_seen).to_string(),
        )?;
        map.serialize_entry("trend_per_minute", &a.trend)?;
        map.serialize_entry("hint", a.hint)?;
        let peers: Vec<Peer> = e
            .peers
            .iter()
            .map(|p| Peer {
                remote: EndpointDoc(p.peer),
                count: p.count,
            })
            .collect();
        map.serialize_entry("peers", &peers)?;
        map.serialize_entry("oldest_age_s", &e.oldest_age.map(|d| d.as_secs_f64()))?;
        map.serialize_entry("distinct_sources", &e.distinct_sources)?;
        let rises: Vec<(String, u64)> = e
            .counter_rises
            .iter()
            .map(|r| (r.counter.to_owned(), r.rise))
            .collect();
        map.serialize_entry("counter_rises", &super::json::PairsDoc(&rises))?;
        map.serialize_entry("limit", &e.limit)?;
        map.serialize_entry("tcp_sockets", &e.tcp_sockets)?;
        map.serialize_entry("close_wait", &e.close_wait)?;
        map.end()
    }
}
