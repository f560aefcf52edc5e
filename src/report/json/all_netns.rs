//! The JSON document of `sockscope snapshot --all-netns --json`: the one-namespace shape
//! (`schema_version` 1) with fields added. Top-level `namespaces` lists every namespace
//! watched (`inode`, `name`, `container`, `total`, `states`, `counters`, `limits`); every
//! socket and every anomaly carries `netns`, its namespace's inode; `netns` at the top is
//! `"all"`, `total` and `states` are the sums over every namespace, `counters` and `limits`
//! are the host namespace's (each namespace's own are in `namespaces`), and `processes`
//! lists every holder once, by pid.

use std::io::{self, Write};

use serde::Serialize;

use super::{
    AnomalyDoc, CountersDoc, HeadDoc, LimitsDoc, StatesDoc, TailDoc, write_head, write_sockets,
    write_tail_doc,
};
use crate::filter::Filter;
use crate::model::{Snapshot, StateCounts};
use crate::report::NamespaceReport;

/// The fields before the socket list: the one-namespace head, then `namespaces`.
#[derive(Serialize)]
pub struct AllNetnsHeadDoc<'a> {
    /// The one-namespace fields, with `netns: "all"` and the sums.
    #[serde(flatten)]
    pub head: HeadDoc<'a>,
    /// Every namespace watched.
    pub namespaces: Vec<NamespaceDoc<'a>>,
}

/// One namespace: who it is, its counts, its own counters and limits.
#[derive(Serialize)]
pub struct NamespaceDoc<'a> {
    /// Its inode (`net:[INODE]`), the `netns` of its sockets and anomalies.
    pub inode: u64,
    /// Its name: `host`, the `ip netns` name, its container, Docker's handle name or
    /// `comm[pid]` of its lowest pid.
    pub name: &'a str,
    /// The container its lowest-pid process is in; `null` when none.
    pub container: Option<&'a str>,
    /// Its sockets (not only the listed ones).
    pub total: usize,
    /// State name → count, every state; counts ignore filters.
    pub states: StatesDoc,
    /// Its kernel counters.
    pub counters: CountersDoc<'a>,
    /// Its limits.
    pub limits: LimitsDoc,
}

impl<'a> NamespaceDoc<'a> {
    /// The entry of `snapshot`'s namespace.
    pub fn new(snapshot: &'a Snapshot) -> NamespaceDoc<'a> {
        let tail = TailDoc::new(snapshot, &[]);
        NamespaceDoc {
            inode: snapshot.netns_inode.unwrap_or_default(),
            name: &snapshot.netns,
            container: snapshot.netns_container.as_deref(),
            total: snapshot.sockets.len(),
            states: StatesDoc(snapshot.state_counts()),
            counters: tail.counters,
            limits: tail.limits,
        }
    }
}

/// Write the document for every namespace of `namespaces` (the host's first) as one line
/// of JSON and a newline, listing the sockets that pass `filter`; the sockets are written
/// as [`render`](super::render) writes them, on two threads.
pub fn render_all(
    namespaces: &[NamespaceReport],
    filter: &Filter,
    out: &mut dyn Write,
) -> io::Result<()> {
    let empty = Snapshot::default();
    let host = namespaces.first().map_or(&empty, |n| &n.snapshot);
    let mut states = StateCounts::default();
    for n in namespaces {
        for socket in &n.snapshot.sockets {
            states.add(socket.state);
        }
    }
    let mut head = HeadDoc::new(host);
    head.netns = "all";
    head.total = namespaces.iter().map(|n| n.snapshot.sockets.len()).sum();
    head.states = StatesDoc(states);
    let namespaces_doc = namespaces
        .iter()
        .map(|n| NamespaceDoc::new(&n.snapshot))
        .collect();
    write_head(
        &AllNetnsHeadDoc {
            head,
            namespaces: namespaces_doc,
        },
        out,
    )?;
    write_sockets(namespaces.iter().map(|n| &*n.snapshot), filter, out)?;
    let mut tail = TailDoc::new(host, &[]);
    tail.processes = namespaces
        .iter()
        .flat_map(|n| TailDoc::new(&n.snapshot, &[]).processes)
        .collect();
    tail.processes.sort_by_key(|p| p.pid);
    tail.processes.dedup_by_key(|p| p.pid);
    tail.anomalies = namespaces
        .iter()
        .flat_map(|n| {
            n.anomalies
                .iter()
                .map(|a| AnomalyDoc(a, n.snapshot.netns_inode))
        })
        .collect();
    // Most severe first, as in one namespace; within a severity, namespace order.
    tail.anomalies
        .sort_by_key(|a| std::cmp::Reverse(a.0.severity));
    write_tail_doc(&tail, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Aggregator, RuleConfig};
    use serde_json::{Value, json};

    fn rendered(filter: &Filter) -> Value {
        let mut namespaces = crate::report::two_namespaces();
        // 25 CLOSE_WAIT sockets in lab-1: a leak its own rules raise.
        let lab = std::sync::Arc::make_mut(&mut namespaces[1].snapshot);
        let leaked = lab.sockets[1];
        for port in 0..23 {
            let mut s = leaked;
            s.remote = crate::model::Addr::new(std::net::SocketAddr::new(
                [10, 0, 0, 3].into(),
                41_000 + port,
            ));
            lab.sockets.push(s);
        }
        for n in &mut namespaces {
            let mut aggregator = Aggregator::new(RuleConfig::default());
            n.anomalies = aggregator.ingest(&n.snapshot).anomalies.clone();
        }
        let mut out = Vec::new();
        render_all(&namespaces, filter, &mut out).unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn every_namespace_is_listed_and_every_socket_and_anomaly_names_its_own() {
        let doc = rendered(&Filter::default());
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["netns"], "all");
        assert_eq!(doc["total"], 27);
        assert_eq!(doc["states"]["LISTEN"], 2);
        assert_eq!(doc["states"]["CLOSE_WAIT"], 25);
        let summary: Vec<Value> = doc["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                json!([
                    n["inode"],
                    n["name"],
                    n["container"],
                    n["total"],
                    n["states"]["CLOSE_WAIT"]
                ])
            })
            .collect();
        assert_eq!(
            summary,
            [
                json!([4_026_531_840_u64, "host", null, 1, 0]),
                json!([
                    4_026_532_841_u64,
                    "lab-1",
                    "docker:3f2a1c9e0b7d (web-1)",
                    26,
                    25
                ]),
            ]
        );
        assert!(doc["namespaces"][1]["counters"]["TcpExt"].is_object());
        assert!(doc["namespaces"][1]["limits"].is_object());
        let sockets = doc["sockets"].as_array().unwrap();
        assert_eq!(sockets.len(), 27);
        assert_eq!(sockets[0]["netns"], 4_026_531_840_u64);
        assert!(sockets[1..].iter().all(|s| s["netns"] == 4_026_532_841_u64));
        let anomalies = doc["anomalies"].as_array().unwrap();
        assert_eq!(anomalies.len(), 1, "{anomalies:?}");
        assert_eq!(anomalies[0]["kind"], "close_wait_backlog");
        assert_eq!(anomalies[0]["netns"], 4_026_532_841_u64);
        let pids: Vec<&Value> = doc["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["pid"])
            .collect();
        assert_eq!(pids, [4242], "a holder is listed once");
    }

    #[test]
    fn filters_narrow_the_sockets_of_every_namespace_but_no_count() {
        let doc = rendered(&"state=listen".parse().unwrap());
        assert_eq!(doc["total"], 27);
        let netns: Vec<&Value> = doc["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["netns"])
            .collect();
        assert_eq!(netns, [4_026_531_840_u64, 4_026_532_841_u64]);
    }

    #[test]
    fn without_all_netns_no_socket_or_anomaly_has_a_netns_key() {
        let namespaces = crate::report::two_namespaces();
        let mut single = (*namespaces[1].snapshot).clone();
        single.netns_inode = None;
        let mut out = Vec::new();
        crate::report::json::render(&single, &Filter::default(), &[], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("\"netns\":4"), "{text}");
        assert!(!text.contains("\"namespaces\""), "{text}");
    }
}
