use super::*;
use std::net::SocketAddr;

use crate::model::{Endpoint, Owners, Socket, TcpInfo};

/// Sockets enough for several chunks: every 7th CLOSE_WAIT (owned, with tcp_info), the
/// rest ESTABLISHED, and one TIME_WAIT far into the last chunk.
fn many(n: u32) -> Snapshot {
    let mut snapshot = super::super::fixture("leaky\u{1b}app", "leaky-app --port 80");
    for s in snapshot.sockets.clone() {
        snapshot.tcp_infos.push(s.cookie, None);
    }
    for i in 0..n {
        let state = match i {
            _ if i == n - 3 => TcpState::TimeWait,
            _ if i % 7 == 0 => TcpState::CloseWait,
            _ => TcpState::Established,
        };
        let remote = SocketAddr::new(
            [192, 0, 2, (i % 250) as u8].into(),
            1024 + (i % 60_000) as u16,
        );
        let mut socket = Socket::new(state, "[2001:db8::1]:80".parse().unwrap(), remote);
        socket.cookie = u64::from(i) + 1;
        let mut info = None;
        if state == TcpState::CloseWait {
            socket.inode = 1000 + i;
            socket.owners = Owners { start: 0, len: 1 };
            info = Some(TcpInfo {
                rtt_us: i,
                ..TcpInfo::default()
            });
        }
        snapshot.tcp_infos.push(socket.cookie, info);
        snapshot.sockets.push(socket);
    }
    snapshot
}

fn rendered(snapshot: &Snapshot, filter: &Filter) -> String {
    let mut out = Vec::new();
    render(snapshot, filter, &[], &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn in_one_go(snapshot: &Snapshot, filter: &Filter) -> String {
    serde_json::to_string(&SnapshotDoc::new(snapshot, filter, &[])).unwrap() + "\n"
}

#[test]
fn the_spliced_document_is_the_one_serde_writes_in_one_go() {
    let snapshot = many(3 * 4096 + 100);
    for filter in ["", "close-wait", "time-wait", "listen", "process=nobody"] {
        let filter: Filter = filter.parse().unwrap();
        let text = rendered(&snapshot, &filter);
        assert_eq!(text, in_one_go(&snapshot, &filter), "filter {filter}");
    }
}

#[test]
fn the_document_lists_exactly_the_sockets_that_pass_the_filter() {
    let snapshot = many(3 * 4096 + 100);
    let count = |filter: &str| {
        let doc: serde_json::Value =
            serde_json::from_str(&rendered(&snapshot, &filter.parse().unwrap())).unwrap();
        assert_eq!(doc["total"], 3 * 4096 + 100);
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["processes"][0]["pid"], 4242);
        doc["sockets"].as_array().unwrap().len()
    };
    assert_eq!(count(""), 3 * 4096 + 100);
    assert_eq!(count("close-wait"), (3 * 4096 + 100usize).div_ceil(7));
    assert_eq!(count("time-wait"), 1);
    assert_eq!(count("listen"), 0);
    let doc: serde_json::Value =
        serde_json::from_str(&rendered(&snapshot, &"time-wait".parse().unwrap())).unwrap();
    assert_eq!(doc["sockets"][0]["cookie"], 3 * 4096 + 100 - 3 + 1);
}

#[test]
fn judging_while_the_sockets_are_written_gives_the_document_of_its_anomalies() {
    use crate::aggregate::{Aggregator, AnomalyKind, RuleConfig};
    let snapshot = many(3 * 4096 + 100);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut out = Vec::new();
    let judge = || aggregator.ingest(&snapshot).anomalies.clone();
    let anomalies = render_judging(&snapshot, &Filter::default(), judge, &mut out).unwrap();
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0].kind, AnomalyKind::CloseWaitBacklog);
    assert_eq!(anomalies[0].count, 1770);
    let mut expected = Vec::new();
    render(&snapshot, &Filter::default(), &anomalies, &mut expected).unwrap();
    assert_eq!(out, expected);
    let in_one_go =
        serde_json::to_string(&SnapshotDoc::new(&snapshot, &Filter::default(), &anomalies))
            .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), in_one_go + "\n");
}

#[test]
fn endpoints_are_written_as_their_text_in_every_family() {
    for (addr, text) in [
        ("192.0.2.7:8443", "192.0.2.7:8443"),
        ("0.0.0.0:0", "0.0.0.0:*"),
        ("[2001:db8::1]:443", "[2001:db8::1]:443"),
        ("[::ffff:192.0.2.9]:80", "[::ffff:192.0.2.9]:80"),
        ("[::]:0", "[::]:*"),
    ] {
        let addr: SocketAddr = addr.parse().unwrap();
        assert_eq!(Endpoint(addr).to_string(), text);
        assert_eq!(
            serde_json::to_string(&EndpointDoc(addr)).unwrap(),
            format!("\"{text}\"")
        );
    }
}

#[test]
fn each_socket_is_written_by_hand_exactly_as_serde_writes_it() {
    use crate::model::{Cgroup, Container, Pod, Process, Runtime};
    use std::sync::Arc;
    let mut snapshot = many(40);
    // Two owners, one with a name that needs escaping; a namespace inode (`-A`).
    snapshot.processes.push(Process {
        pid: 7,
        comm: "we\"ird\\one".into(),
        ..Process::default()
    });
    snapshot.owner_index = vec![0, 1];
    snapshot.sockets[0].owners = Owners { start: 0, len: 2 };
    snapshot.netns_inode = Some(4_026_531_840);
    // A LISTEN socket, and cgroups: one in a pod's container, one path without a container.
    snapshot.sockets[1].state = TcpState::Listen;
    snapshot.sockets[1].send_q = 511;
    let pod = Container {
        id: "0123abcd".repeat(8),
        name: Some("we\"b".into()),
        runtime: Runtime::Containerd,
        pod: Some(Pod {
            namespace: Some("shop".into()),
            name: None,
            uid: "0b9e-11".into(),
        }),
    };
    for (socket, id) in [(2, 11), (3, 12), (4, 11)] {
        let socket = snapshot.sockets[socket];
        snapshot.cgroups.record(&socket, id);
    }
    snapshot.cgroups.set_known(vec![
        Cgroup {
            id: 11,
            path: Some(Arc::from("/kubepods/pod0b9e-11/cri-containerd-0123.scope")),
            container: Some(Arc::new(pod)),
        },
        Cgroup {
            id: 12,
            path: Some(Arc::from("/system.slice/\u{1}odd.service")),
            container: None,
        },
    ]);
    let check = |snapshot: &Snapshot| {
        for i in 0..snapshot.sockets.len() {
            let doc = SocketDoc::new(snapshot, i);
            let mut by_hand = Vec::new();
            doc.write_json(&mut by_hand);
            let by_serde = serde_json::to_vec(&doc).unwrap();
            assert_eq!(
                String::from_utf8(by_hand).unwrap(),
                String::from_utf8(by_serde).unwrap(),
                "socket {i}"
            );
        }
    };
    check(&snapshot);
    // From /proc/net/tcp a listener's backlog is unknown: `null`.
    snapshot.source = SourceKind::ProcNet;
    check(&snapshot);
    let listener = SocketDoc::new(&snapshot, 1);
    assert_eq!(listener.send_q, None);
    assert!(SocketDoc::new(&snapshot, 2).container.is_some());
}

#[test]
fn a_churn_anomaly_carries_its_closes_and_makers_and_others_carry_neither() {
    let (snapshot, anomalies) = crate::report::churning("client");
    let mut out = Vec::new();
    render(&snapshot, &Filter::default(), &anomalies, &mut out).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        doc["anomalies"],
        serde_json::json!([{
            "kind": "connection_churn",
            "severity": "warning",
            "destination": "10.0.0.2:5432",
            "subject": "destination 10.0.0.2:5432",
            "container": null,
            "count": 80,
            "threshold": 50,
            "critical_threshold": 300,
            "first_seen": "2026-09-21T14:13:30.000Z",
            "trend_per_minute": null,
            "hint": crate::aggregate::AnomalyKind::ConnectionChurn.about().hint,
            "peers": [],
            "oldest_age_s": null,
            "distinct_sources": null,
            "counter_rises": {},
            "counter_interval_s": null,
            "limit": null,
            "tcp_sockets": null,
            "close_wait": null,
            "churn": {
                "closes": 800,
                "per_second": 80.0,
                "short_lived": 800,
                "unseen": 700,
                "span_ms": 10_000,
                "median_lifetime_ms": 64,
                "bytes_per_connection": 1_229
            },
            "makers": [
                {"pid": null, "comm": null, "closes": 700},
                {"pid": 77, "comm": "client", "closes": 100}
            ]
        }])
    );
    let mut leak = anomalies[0].clone();
    leak.kind = crate::aggregate::AnomalyKind::CloseWaitBacklog;
    leak.evidence = crate::aggregate::Evidence::default();
    let text = serde_json::to_string(&AnomalyDoc(&leak, Some(4_026_531_840))).unwrap();
    assert!(
        text.ends_with(",\"tcp_sockets\":null,\"close_wait\":null,\"netns\":4026531840}"),
        "{text}"
    );
    assert!(
        !text.contains("\"churn\"") && !text.contains("\"makers\""),
        "{text}"
    );
}

#[test]
fn churn_figures_unknown_are_null_and_the_namespace_stays_last() {
    use crate::aggregate::{ChurnEvidence, Maker, MakerCount};
    let (_, anomalies) = crate::report::churning("client");
    let mut churn = anomalies[0].clone();
    churn.evidence.churn = Some(ChurnEvidence {
        closes: 3,
        short_lived: 2,
        unseen: 1,
        span: std::time::Duration::from_millis(1_500),
        median_lifetime: None,
        bytes_per_connection: None,
    });
    churn.evidence.makers = vec![MakerCount {
        maker: Some(Maker {
            pid: 9,
            comm: "w\u{1b}rk".into(),
        }),
        closes: 3,
    }];
    let text = serde_json::to_string(&AnomalyDoc(&churn, Some(4_026_531_840))).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc["churn"],
        serde_json::json!({
            "closes": 3, "per_second": 2.0, "short_lived": 2, "unseen": 1, "span_ms": 1_500,
            "median_lifetime_ms": null, "bytes_per_connection": null
        })
    );
    assert_eq!(
        doc["makers"],
        serde_json::json!([{"pid": 9, "comm": "w\u{1b}rk", "closes": 3}]),
        "names as read: JSON escapes for itself"
    );
    assert!(
        text.ends_with(
            ",\"close_wait\":null,\"churn\":{\"closes\":3,\"per_second\":2.0,\"short_lived\":2,\
             \"unseen\":1,\"span_ms\":1500,\"median_lifetime_ms\":null,\"bytes_per_connection\":null},\
             \"makers\":[{\"pid\":9,\"comm\":\"w\\u001brk\",\"closes\":3}],\"netns\":4026531840}"
        ),
        "{text}"
    );
}
