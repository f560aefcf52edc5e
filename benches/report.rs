//! The one-shot report of a million sockets, without the kernel: writing the text table and
//! the JSON document (with tcp_info for every socket, as `snapshot --json` has it) into a
//! sink. The kernel's dump is timed by `examples/bench` against `ss`.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/it/support/dashboard.rs"]
mod dashboard;
#[path = "../tests/it/support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::io;

use criterion::{Criterion, criterion_group, criterion_main};
use sockscope::filter::Filter;
use sockscope::model::TcpInfo;
use sockscope::report;

fn reports(c: &mut Criterion) {
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    let mut snapshot = dashboard::million(1_000_000);
    // A dump lists sockets in hash-bucket order, not in cookie (creation) order.
    for (i, socket) in snapshot.sockets.iter_mut().enumerate() {
        socket.cookie = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    }
    let cookies: Vec<u64> = snapshot.sockets.iter().map(|s| s.cookie).collect();
    for (n, cookie) in cookies.into_iter().enumerate() {
        let n = n as u32;
        snapshot.tcp_infos.push(
            cookie,
            Some(TcpInfo {
                rtt_us: 200 + n % 1000,
                rttvar_us: 50 + n % 100,
                snd_cwnd: 10,
                total_retrans: n % 3,
                last_data_sent_ms: n % 5000,
                last_data_recv_ms: n % 7000,
                ..TcpInfo::default()
            }),
        );
    }
    let filter = Filter::default();
    group.bench_function("text, 1M sockets", |b| {
        b.iter(|| {
            report::text::render(black_box(&snapshot), &filter, &[], &mut io::sink()).unwrap();
        });
    });
    group.bench_function("json with tcp_info, 1M sockets", |b| {
        b.iter(|| {
            report::json::render(black_box(&snapshot), &filter, &[], &mut io::sink()).unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, reports);
criterion_main!(benches);
