//! The aggregator at a million sockets. Ignored by default (slow in debug builds); run with
//! `cargo nextest run --release --run-ignored all aggregate_scale`.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use sockscope::aggregate::{Aggregator, RuleConfig};
use sockscope::model::{Owners, Process, Snapshot, Socket, TcpState};

#[test]
#[ignore = "a million sockets: run in release"]
fn a_million_sockets_aggregate_in_under_a_second() {
    let mut snapshot = Snapshot::default();
    for pid in 0..200u32 {
        snapshot.processes.push(Process {
            pid: pid + 100,
            comm: format!("worker{pid}"),
            cmdline: String::new(),
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
    for i in 0..1_000_000u32 {
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
    let mut slowest = Duration::ZERO;
    for poll in 0..3 {
        snapshot.taken_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1000 + poll));
        let started = Instant::now();
        let summary = aggregator.ingest(&snapshot);
        slowest = slowest.max(started.elapsed());
        assert_eq!(summary.counts.total(), 1_000_001);
    }
    assert_eq!(aggregator.tracked_sockets(), 1_000_001);
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
}
