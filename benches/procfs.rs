//! Why the per-poll reads of every process are hand-written and the cold ones use procfs:
//! one process (this one) holding 10,000 sockets, its descriptor table read by the walk's
//! scan and by procfs's `fd()` iterator; its start time read by a plain read of
//! `/proc/PID/stat` (what the walk does for every pid each poll) and by procfs's `stat()`;
//! and procfs's `limits()`, the cold read of the open-file limit.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use procfs::process::{FDTarget, Process};
use socket2::{Domain, Socket, Type};
use sockscope::collect::procs::socket_inodes_of;

const SOCKETS: usize = 10_000;

fn procfs_socket_inodes(pid: i32) -> Vec<u32> {
    let mut inodes: Vec<u32> = Process::new(pid)
        .unwrap()
        .fd()
        .unwrap()
        .filter_map(|fd| match fd.ok()?.target {
            FDTarget::Socket(inode) => u32::try_from(inode).ok(),
            _ => None,
        })
        .collect();
    inodes.sort_unstable();
    inodes.dedup();
    inodes
}

/// Field 22 of a stat line, as the walk finds it (after the last `)`).
fn start_time(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

fn reads(c: &mut Criterion) {
    let sockets: Vec<Socket> = (0..SOCKETS)
        .map(|_| Socket::new(Domain::IPV4, Type::STREAM, None).unwrap())
        .collect();
    let pid = std::process::id();
    let (mine, descriptors) = socket_inodes_of(Path::new("/proc"), pid).unwrap();
    assert_eq!(
        mine,
        procfs_socket_inodes(pid as i32),
        "both scans find the same sockets"
    );
    assert!(mine.len() >= SOCKETS);

    let mut group = c.benchmark_group("procfs");
    group.sample_size(20);
    group.throughput(Throughput::Elements(descriptors));
    group.bench_function("descriptor table, hand-written scan", |b| {
        b.iter(|| black_box(socket_inodes_of(Path::new("/proc"), pid).unwrap().0.len()));
    });
    group.bench_function("descriptor table, procfs fd()", |b| {
        b.iter(|| black_box(procfs_socket_inodes(pid as i32).len()));
    });
    group.throughput(Throughput::Elements(1));
    let stat_path = format!("/proc/{pid}/stat");
    group.bench_function("start time, read stat and take field 22", |b| {
        b.iter(|| black_box(start_time(&std::fs::read(&stat_path).unwrap())));
    });
    group.bench_function("start time, procfs Process::new + stat()", |b| {
        b.iter(|| black_box(Process::new(pid as i32).unwrap().stat().unwrap().starttime));
    });
    group.bench_function("open-file limit, procfs Process::new + limits()", |b| {
        b.iter(|| {
            black_box(
                Process::new(pid as i32)
                    .unwrap()
                    .limits()
                    .unwrap()
                    .max_open_files
                    .soft_limit,
            )
        });
    });
    group.finish();
    drop(sockets);
}

criterion_group!(benches, reads);
criterion_main!(benches);
