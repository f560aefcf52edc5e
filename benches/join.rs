//! The inode → process join: a million snapshot sockets matched against the `(inode, pid)`
//! pairs of 56 holder processes (as the side-by-side bench lays them out), then owners
//! written into the snapshot.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sockscope::collect::procs::join::{InodeOwners, Matches};
use sockscope::model::{Process, Snapshot, Socket, TcpState};

const SOCKETS: u32 = 1_000_000;
const HOLDERS: u32 = 56;

fn snapshot_and_owners() -> (Snapshot, InodeOwners) {
    let any = "127.0.0.1:5000".parse().unwrap();
    let mut snapshot = Snapshot::default();
    let mut pairs = Vec::new();
    // Inodes as the kernel hands them out (sequential), sockets in dump order (scattered).
    for i in 0..SOCKETS {
        let inode = 1_000_000 + i.wrapping_mul(2_654_435_761) % SOCKETS;
        let mut s = Socket::new(TcpState::Established, any, any);
        s.inode = inode;
        snapshot.sockets.push(s);
        pairs.push((inode, 10_000 + (inode - 1_000_000) / 18_000));
    }
    // Descriptors of other kinds of sockets (unix, netlink) the holders do not have, but
    // a real host's processes do: a third more pairs that match nothing.
    pairs.extend((0..SOCKETS / 3).map(|i| (3_000_000 + i, 20_000 + i % 200)));
    snapshot.processes = (0..HOLDERS)
        .map(|h| Process {
            pid: 10_000 + h,
            comm: "bench-hold".into(),
            cmdline: String::new(),
            ..Process::default()
        })
        .collect();
    (snapshot, InodeOwners::from_pairs(pairs))
}

fn join(c: &mut Criterion) {
    let (mut snapshot, owners) = snapshot_and_owners();
    let mut group = c.benchmark_group("join");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(SOCKETS)));
    let mut matches = Matches::default();
    group.bench_function("1M sockets, 1.33M (inode, pid) pairs", |b| {
        b.iter(|| {
            matches.find(&snapshot.sockets, &owners);
            matches.write_owners(&owners, &mut snapshot);
            black_box(snapshot.owner_index.len())
        });
    });
    assert_eq!(snapshot.owner_index.len(), SOCKETS as usize);
    let pairs: Vec<(u32, u32)> = (0..SOCKETS)
        .map(|i| (i.wrapping_mul(2_654_435_761), i % 56))
        .collect();
    group.bench_function("index 1M (inode, pid) pairs", |b| {
        b.iter(|| black_box(InodeOwners::from_pairs(pairs.clone()).len()));
    });
    group.finish();
}

criterion_group!(benches, join);
criterion_main!(benches);
