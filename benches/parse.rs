//! The sock_diag parser: a million sockets encoded as the kernel packs them (~32 KiB
//! datagrams, tcp_info attached or not), and the recorded captures in tests/data.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sockscope::collect::parse::{encode_done, encode_socket, parse_datagram};
use sockscope::model::{Socket, TcpInfo, TcpState};

const SOCKETS: u32 = 1_000_000;
/// The kernel fills dump datagrams up to about this size.
const DATAGRAM: usize = 32 * 1024;

/// `SOCKETS` established sockets as datagrams, with `tcp_info_len` bytes of tcp_info each.
fn dump(tcp_info_len: usize) -> Vec<Vec<u8>> {
    let mut datagrams = vec![Vec::with_capacity(DATAGRAM)];
    let mut message = Vec::new();
    for i in 0..SOCKETS {
        let local = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 443));
        let remote = SocketAddr::from((
            Ipv4Addr::from(0x0a01_0000 + i / 50_000),
            (i % 50_000) as u16 + 10_000,
        ));
        let mut socket = Socket::new(TcpState::Established, local, remote);
        socket.cookie = u64::from(i) + 1;
        socket.inode = i + 100_000;
        let info = (tcp_info_len > 0).then_some(TcpInfo {
            rtt_us: 40,
            snd_cwnd: 10,
            ..TcpInfo::default()
        });
        message.clear();
        encode_socket(&socket, info.as_ref(), 1, tcp_info_len, &mut message);
        let last = datagrams.last_mut().unwrap();
        if last.len() + message.len() > DATAGRAM {
            datagrams.push(Vec::with_capacity(DATAGRAM));
        }
        datagrams.last_mut().unwrap().extend_from_slice(&message);
    }
    encode_done(1, 0, datagrams.last_mut().unwrap());
    datagrams
}

fn parse_dump(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(SOCKETS)));
    for (name, tcp_info_len) in [
        ("1M sockets, tcp_info 232 B", 232),
        ("1M sockets, no tcp_info", 0),
    ] {
        let datagrams = dump(tcp_info_len);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut count = 0u32;
                for d in &datagrams {
                    parse_datagram(d, 1, &mut |s, i, _| {
                        count += 1;
                        black_box((s, i));
                    })
                    .unwrap();
                }
                assert_eq!(count, SOCKETS);
            });
        });
    }
    group.finish();
}

fn parse_captures(c: &mut Criterion) {
    let captures: Vec<Vec<u8>> = ["inet-0.bin", "inet-1.bin", "inet-2.bin", "inet-3.bin"]
        .iter()
        .map(|f| std::fs::read(format!("{}/tests/data/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap())
        .collect();
    c.bench_function("parse/recorded captures (127 sockets)", |b| {
        b.iter(|| {
            let mut count = 0;
            for d in &captures {
                parse_datagram(d, 0, &mut |s, i, _| {
                    count += 1;
                    black_box((s, i));
                })
                .unwrap();
            }
            count
        });
    });
}

criterion_group!(benches, parse_dump, parse_captures);
criterion_main!(benches);
