//! A lab to poke at by hand (root): stages a CLOSE_WAIT leak, a SYN flood, a TIME_WAIT
//! storm, a listener that never accepts and a churning client in a fresh namespace, prints
//! its name, and holds everything until stdin closes or Enter is pressed; then removes it
//! all.
//!
//! `cargo run --example lab -- [SCALE]` then, in another terminal,
//! `sockscope snapshot --netns <printed name>`.

// A tool run by hand, whose report is its printed output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::BufRead as _;
use std::path::PathBuf;

use sockscope::lab::Lab;
use sockscope::model::{Family, TcpState};

fn main() -> anyhow::Result<()> {
    let scale: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let exe = std::env::var_os("SOCKSCOPE_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/sockscope"),
        PathBuf::from,
    );
    let mut lab = Lab::new(&exe)?;
    let leak = lab.close_wait_leak(Family::Inet, "leaky-app", 30 * scale)?;
    let flood = lab.syn_flood(Family::Inet, 8443, 150 * scale)?;
    let storm = lab.time_wait_storm(Family::Inet, 443, 6000 * scale)?;
    let queue = lab.listener_never_accepting(Family::Inet6, 16, 24)?;
    lab.stage(Family::Inet, TcpState::Established, 10, Some("healthy-app"))?;
    let churn = lab.churning_client(Family::Inet, 9090, 120, "churny-client")?;
    println!("netns {}", lab.monitored());
    println!(
        "close_wait_leak: leaky-app[{}] on {}\nsyn_flood: {} spoofed SYNs to {}\ntime_wait_storm: {} toward {}\nlistener_never_accepting: {} backlog {}\nchurning_client: churny-client[{}] {}/s toward {}",
        leak.pid,
        leak.listener,
        flood.sources.len(),
        flood.listener,
        storm.local.len(),
        storm.destination,
        queue.listener,
        queue.backlog,
        churn.client,
        churn.rate_per_second,
        churn.destination
    );
    println!("press Enter (or close stdin) to tear down");
    let _ = std::io::stdin().lock().lines().next();
    Ok(())
}
