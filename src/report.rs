//! Outputs that render a snapshot once: the text report and the JSON document.
//! None of them talks to the kernel or counts anything the collector did not give it.

pub mod check;
mod chunks;
pub mod events;
pub mod json;
pub mod text;

use crate::aggregate::Anomaly;
use crate::model::Snapshot;

/// One namespace of an `--all-netns` report: its snapshot (whose `netns`, `netns_inode`
/// and `netns_container` say which namespace it is) and the anomalies its own rules raised.
#[derive(Clone, Debug, Default)]
pub struct NamespaceReport {
    /// The namespace's one poll.
    pub snapshot: std::sync::Arc<Snapshot>,
    /// What its rules raised, most severe first.
    pub anomalies: Vec<Anomaly>,
}

/// The snapshot the report tests start from: host `web-1`, the host namespace, one process
/// (pid 4242) that socket owners index as 0, and no sockets yet.
#[cfg(test)]
pub(crate) fn fixture(comm: &str, cmdline: &str) -> crate::model::Snapshot {
    use crate::model::{Attribution, Process, Snapshot};
    use std::time::{Duration, SystemTime};
    Snapshot {
        taken_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)),
        host: "web-1".into(),
        netns: "host".into(),
        processes: vec![Process {
            pid: 4242,
            comm: comm.into(),
            cmdline: cmdline.into(),
            ..Process::default()
        }],
        owner_index: vec![0],
        attribution: Attribution::Complete,
        ..Snapshot::default()
    }
}

/// Two namespaces: `host` with one listener, `lab-1` (in a container) with a listener
/// and two CLOSE_WAIT sockets held by `leaky-app`.
#[cfg(test)]
pub(crate) fn two_namespaces() -> Vec<NamespaceReport> {
    let socket = |state, local: &str, remote: &str, inode| {
        let mut s =
            crate::model::Socket::new(state, local.parse().unwrap(), remote.parse().unwrap());
        s.inode = inode;
        s.owners = crate::model::Owners { start: 0, len: 1 };
        s
    };
    let mut host = fixture("sshd", "sshd -D");
    host.netns_inode = Some(4_026_531_840);
    host.sockets = vec![socket(
        crate::model::TcpState::Listen,
        "0.0.0.0:22",
        "0.0.0.0:0",
        7,
    )];
    let mut lab = fixture("leaky-app", "leaky-app --port 80");
    lab.netns = "lab-1".into();
    lab.netns_inode = Some(4_026_532_841);
    lab.netns_container = Some("docker:3f2a1c9e0b7d (web-1)".into());
    lab.sockets = vec![
        socket(
            crate::model::TcpState::Listen,
            "10.0.0.1:80",
            "0.0.0.0:0",
            8,
        ),
        socket(
            crate::model::TcpState::CloseWait,
            "10.0.0.1:80",
            "10.0.0.2:40000",
            9,
        ),
        socket(
            crate::model::TcpState::CloseWait,
            "10.0.0.1:80",
            "10.0.0.2:40001",
            10,
        ),
    ];
    vec![
        NamespaceReport {
            snapshot: host.into(),
            anomalies: Vec::new(),
        },
        NamespaceReport {
            snapshot: lab.into(),
            anomalies: Vec::new(),
        },
    ]
}

/// Ten seconds of 80 short connections a second from 10.0.0.1 to 10.0.0.2:5432 (each of
/// 1,229 bytes), every eighth seen by a poll held by `comm[77]` and living 40 ms, the rest
/// closed between polls; then a poll with no socket left. The snapshot of that poll and
/// the anomaly the rules raised: `connection_churn` toward the destination at 80 a second.
#[cfg(test)]
pub(crate) fn churning(comm: &str) -> (Snapshot, Vec<Anomaly>) {
    use crate::aggregate::{Aggregator, RuleConfig};
    use crate::model::fixture::socket;
    use crate::model::{ClosedSocket, OwnerFrom, Process, TcpInfo, TcpState};
    use std::time::{Duration, SystemTime};
    let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(1_790_000_000_000 + ms);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.listened(at(0), at(10_000));
    for i in 0..800 {
        let closed_at = at(i * 1_000 / 80);
        let seen = i % 8 == 0;
        aggregator.closed(&ClosedSocket {
            at: closed_at,
            netns: "host".into(),
            socket: socket(TcpState::Close)
                .local("10.0.0.1:40000")
                .remote("10.0.0.2:5432"),
            tcp_info: Some(TcpInfo {
                bytes_acked: 1_000,
                bytes_received: 229,
                ..TcpInfo::default()
            }),
            last_state: seen.then_some(TcpState::Established),
            first_seen: seen.then(|| closed_at - Duration::from_millis(40)),
            owners: if seen {
                vec![Process {
                    pid: 77,
                    comm: comm.into(),
                    ..Process::default()
                }]
            } else {
                Vec::new()
            },
            owner_from: if seen {
                OwnerFrom::Poll
            } else {
                OwnerFrom::Unknown
            },
            container: None,
            accepted: false,
        });
    }
    let mut snapshot = fixture(comm, "client");
    snapshot.taken_at = Some(at(10_000));
    let anomalies = aggregator.ingest(&snapshot).anomalies.clone();
    (snapshot, anomalies)
}
