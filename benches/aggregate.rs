//! The aggregator on a synthetic load-balancer snapshot of a million sockets: one ingest
//! after the first (identities known, maps warm), as the dashboard does every second.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/it/support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sockscope::aggregate::{Aggregator, RuleConfig};
use sockscope::model::{Owners, Snapshot, Socket, TcpState};
use synthetic::{Synth, at};

/// A load balancer: 16 workers behind :443 and :80, 50,000 client hosts, most sockets
/// ESTABLISHED, a TIME_WAIT tail toward 20 backends, a few CLOSE_WAIT.
pub fn load_balancer(sockets: u32, secs: u64) -> Snapshot {
    let mut synth = Synth::at(secs);
    let workers: Vec<u32> = (0..16)
        .map(|w| synth.process(2000 + w, "haproxy"))
        .collect();
    for port in [443, 80] {
        synth.listener(&format!("0.0.0.0:{port}"), 0, 4096, &workers);
    }
    let mut snapshot = synth.build();
    let local = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    for i in 0..sockets {
        let (state, socket) = match i % 100 {
            0..=87 => {
                let client = IpAddr::V4(Ipv4Addr::from(0x0a80_0000 + i % 50_000));
                let port = if i % 3 == 0 { 80 } else { 443 };
                (
                    TcpState::Established,
                    Socket::new(
                        TcpState::Established,
                        SocketAddr::new(local, port),
                        SocketAddr::new(client, 1024 + (i / 50_000) as u16),
                    ),
                )
            }
            88..=97 => {
                let backend = IpAddr::V4(Ipv4Addr::new(10, 2, 0, (i % 20) as u8 + 1));
                let s = Socket::new(
                    TcpState::TimeWait,
                    SocketAddr::new(local, 1024 + (i / 20 % 60_000) as u16),
                    SocketAddr::new(backend, 8080),
                );
                (TcpState::TimeWait, s)
            }
            _ => {
                let client = IpAddr::V4(Ipv4Addr::from(0x0a80_0000 + i % 50_000));
                let s = Socket::new(
                    TcpState::CloseWait,
                    SocketAddr::new(local, 443),
                    SocketAddr::new(client, 1024 + (i / 50_000) as u16),
                );
                (TcpState::CloseWait, s)
            }
        };
        let mut socket = socket;
        socket.cookie = u64::from(i) + 1;
        if state != TcpState::TimeWait {
            socket.inode = i + 1000;
            let worker = i % 16;
            socket.owners = Owners {
                start: worker,
                len: 1,
            };
        }
        snapshot.sockets.push(socket);
    }
    snapshot.owner_index.extend(0..16);
    snapshot
}

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregate");
    group.sample_size(10);
    let sockets = 1_000_000;
    group.throughput(Throughput::Elements(u64::from(sockets)));
    let mut snapshot = load_balancer(sockets, 1000);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&snapshot);
    let mut secs = 1000;
    group.bench_function("ingest 1M-socket load balancer (steady)", |b| {
        b.iter(|| {
            secs += 1;
            snapshot.taken_at = Some(at(secs));
            black_box(aggregator.ingest(&snapshot).counts.total())
        });
    });
    group.finish();
}

/// A SYN flood whose 20,000 spoofed IPv6 sources were chosen to collide under an unkeyed
/// Fx hash (the address's two 64-bit halves are `(w1 + d, w2 - d·K)`), against one
/// listener: the per-listener distinct-source count must stay linear.
pub fn chosen_syn_flood(sources: u64) -> Snapshot {
    const FX_MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;
    let mut synth = Synth::at(1000);
    let server = synth.process(80, "nginx");
    synth.listener("[::]:443", 0, 4096, &[server]);
    let mut snapshot = synth.build();
    let local: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
    for d in 0..sources {
        let mut octets = [0u8; 16];
        octets[..8].copy_from_slice(&0x0db8_0120_u64.wrapping_add(d).to_le_bytes());
        octets[8..].copy_from_slice(
            &1u64
                .wrapping_sub(d.wrapping_mul(FX_MULTIPLIER))
                .to_le_bytes(),
        );
        let remote = SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), 40_000);
        let mut socket = Socket::new(TcpState::SynRecv, local, remote);
        socket.cookie = d + 10;
        snapshot.sockets.push(socket);
    }
    snapshot
}

fn syn_flood(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregate");
    group.sample_size(10);
    let sources = 20_000;
    group.throughput(Throughput::Elements(sources));
    let snapshot = chosen_syn_flood(sources);
    let mut aggregator = Aggregator::new(RuleConfig::default()).without_ages();
    group.bench_function("ingest a 20k-source SYN flood chosen to collide", |b| {
        b.iter(|| black_box(aggregator.ingest(&snapshot).counts.total()));
    });
    group.finish();
}

criterion_group!(benches, ingest, syn_flood);
criterion_main!(benches);
