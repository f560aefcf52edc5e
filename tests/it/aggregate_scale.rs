//! The aggregator on a large snapshot: exact counts and bounded identity tracking. Speed is
//! not asserted here (tests never time things on a shared machine); the benchmark does that.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use sockscope::aggregate::{Aggregator, RuleConfig};
use sockscope::model::{Owners, Process, Snapshot, Socket, TcpState};

const SOCKETS: u32 = 200_000;

#[test]
fn a_large_snapshot_aggregates_with_exact_counts() {
    let mut snapshot = Snapshot::default();
    for pid in 0..200u32 {
        snapshot.processes.push(Process {
            pid: pid + 100,
            comm: format!("worker{pid}"),
            cmdline: String::new(),
            ..Process::default()
        });
    }
    snapshot.owner_index = (0..200).collect();
    let local: SocketAddr = "10.0.0.1:80".parse().unwrap();
    snapshot.sockets.push(Socket::new(
        TcpState::Listen,
        "0.0.0.0:80".parse().unwrap(),
        "0.0.0.0:0".parse().unwrap(),
    ));
    let states = [
        TcpState::Established,
        TcpState::TimeWait,
        TcpState::CloseWait,
        TcpState::SynRecv,
        TcpState::FinWait2,
    ];
    for i in 0..SOCKETS {
        let state = states[(i % 5) as usize];
        let host = IpAddr::V4(Ipv4Addr::from(0xC000_0000 + i / 60_000));
        let mut socket = Socket::new(state, local, SocketAddr::new(host, (i % 60_000) as u16));
        socket.cookie = u64::from(i) + 1;
        if !matches!(state, TcpState::TimeWait | TcpState::SynRecv) {
            socket.owners = Owners {
                start: i % 200,
                len: 1,
            };
        }
        snapshot.sockets.push(socket);
    }
    let mut aggregator = Aggregator::new(RuleConfig::default());
    for poll in 0..3 {
        snapshot.taken_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1000 + poll));
        let summary = aggregator.ingest(&snapshot);
        assert_eq!(summary.counts.total(), u64::from(SOCKETS) + 1);
        for state in states {
            assert_eq!(summary.counts.get(state), u64::from(SOCKETS / 5), "{state}");
        }
    }
    assert_eq!(aggregator.tracked_sockets(), SOCKETS as usize + 1);
    // Sockets that are gone are forgotten.
    snapshot.sockets.truncate(1001);
    snapshot.taken_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1010));
    aggregator.ingest(&snapshot);
    assert_eq!(aggregator.tracked_sockets(), 1001);
}
