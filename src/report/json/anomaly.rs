//! The JSON object of one anomaly.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::aggregate::{Anomaly, Subject};

use super::{ChurnDoc, ContainerDoc, EndpointDoc, MakerDoc, PairsDoc};

/// The JSON object of one anomaly, and the inode of the namespace it was raised in (with
/// `--all-netns`: its `"netns"` key, last; without, no such key). The subject is one key
/// named after its kind: `process: {pid, comm}`, `listener`, `destination`, `local_port`
/// or `namespace: true`. `"churn"` ([`ChurnDoc`]) is there only for `connection_churn`,
/// `"makers"` ([`MakerDoc`]) only when the rule named any.
pub struct AnomalyDoc<'a>(pub &'a Anomaly, pub Option<u64>);

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
        map.serialize_entry("subject", &a.subject_label())?;
        map.serialize_entry("container", &a.container.as_deref().map(ContainerDoc::new))?;
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
        map.serialize_entry("counter_rises", &PairsDoc(&rises))?;
        map.serialize_entry(
            "counter_interval_s",
            &e.counter_interval.map(|d| d.as_secs_f64()),
        )?;
        map.serialize_entry("limit", &e.limit)?;
        map.serialize_entry("tcp_sockets", &e.tcp_sockets)?;
        map.serialize_entry("close_wait", &e.close_wait)?;
        if let Some(churn) = &e.churn {
            map.serialize_entry("churn", &ChurnDoc::new(churn))?;
        }
        if !e.makers.is_empty() {
            let makers: Vec<MakerDoc<'_>> = e.makers.iter().map(MakerDoc::new).collect();
            map.serialize_entry("makers", &makers)?;
        }
        if let Some(netns) = self.1 {
            map.serialize_entry("netns", &netns)?;
        }
        map.end()
    }
}
