//! What the dashboard pays per poll: the library's collector and aggregator, in this
//! process (whose main thread is inside the bench namespace), polled several times in a
//! row — the first poll reads every descriptor table, the later ones only changed tables.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sockscope::aggregate::{Aggregator, RuleConfig};
use sockscope::collect::{CollectOptions, Collector, SocketSource};

/// One poll and one ingest.
struct Poll {
    collect: Duration,
    ingest: Duration,
    sockets: usize,
    tables_read: usize,
    descriptors_read: u64,
    processes: usize,
}

/// Poll `polls` times, one second apart as the dashboard does, and describe each poll.
pub fn measure(polls: u32) -> anyhow::Result<String> {
    let mut collector =
        Collector::open(CollectOptions::default()).context("opening the collector")?;
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut rows = Vec::new();
    for n in 0..polls {
        if n > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        let start = Instant::now();
        let snapshot = collector.poll().context("polling")?;
        let collect = start.elapsed();
        let start = Instant::now();
        aggregator.ingest(&snapshot);
        let ingest = start.elapsed();
        let walk = collector.last_walk();
        rows.push(Poll {
            collect,
            ingest,
            sockets: snapshot.sockets.len(),
            tables_read: walk.tables_read,
            descriptors_read: walk.descriptors_read,
            processes: walk.processes,
        });
    }
    let mut out = String::from(
        "\nLibrary polls, 1 s apart, as the dashboard makes them (`Collector::poll` with processes and tcp_info, then `Aggregator::ingest`):\n\n\
         | poll | sockets | collect | ingest | descriptor tables read | descriptors read |\n|---|---|---|---|---|---|\n",
    );
    for (i, p) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} s | {:.3} s | {} of {} | {} |",
            i + 1,
            p.sockets,
            p.collect.as_secs_f64(),
            p.ingest.as_secs_f64(),
            p.tables_read,
            p.processes,
            p.descriptors_read
        );
    }
    Ok(out)
}
