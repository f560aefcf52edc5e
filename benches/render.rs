//! The dashboard with a million sockets: drawing one frame of the sockets table (only the
//! visible rows are formatted), and the UI thread's work per poll (ingest, summary, socket
//! order).

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/it/support/dashboard.rs"]
mod dashboard;
#[path = "../tests/it/support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sockscope::tui::{Action, Motion, draw::draw};

fn frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("dashboard");
    group.sample_size(10);
    let mut app = dashboard::app(200, 60);
    app.ingest(dashboard::million(1_000_000), Duration::from_millis(900));
    app.apply(Action::Move(Motion::PageDown));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    group.bench_function("draw one 200x60 frame, 1M sockets", |b| {
        b.iter(|| {
            terminal.draw(|f| draw(f, black_box(&app))).unwrap();
        });
    });
    group.bench_function("ingest a 1M-socket poll (aggregate, sort)", |b| {
        b.iter_batched(
            || dashboard::million(1_000_000),
            |snapshot| app.ingest(snapshot, Duration::from_millis(900)),
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, frame);
criterion_main!(benches);
