//! `sockscope demo`: a lab in throw-away network namespaces with every anomaly the rules
//! know how to raise, watched by the dashboard, and removed on exit — on `q`, on Ctrl-C
//! (also while staging), on SIGTERM/SIGHUP, and on a panic (the lab is dropped while
//! unwinding). A lab left behind by a killed demo is removed by the next one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::collect::{CollectOptions, NetnsTarget};
use crate::lab::Lab;
use crate::model::{Family, TcpState};
use crate::tui::{self, Dashboard};

/// What the demo stages, for the banner and the tests.
pub const SCENARIOS: &str = "a CLOSE_WAIT leak (leaky-app), a SYN flood on :8443, a TIME_WAIT storm toward :443 (expires after 60 s) and a listener that never accepts";

/// Build the lab, run the dashboard on it, tear it down. `dashboard` says how to watch
/// (its namespace is replaced by the lab's).
pub fn run(mut dashboard: Dashboard) -> anyhow::Result<u8> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "sockscope demo needs root: it creates network namespaces and sends spoofed SYNs; run it with sudo"
        );
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        anyhow::bail!("sockscope demo opens the dashboard and needs a terminal: stdout is not one");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let exe = std::env::current_exe().context("finding the sockscope binary for the lab")?;
    eprintln!("sockscope demo: staging {SCENARIOS} …");
    let mut lab = Lab::new(&exe)?;
    let step = |what: &str| -> anyhow::Result<()> {
        if stop.load(Ordering::SeqCst) {
            anyhow::bail!("interrupted while staging; the lab was removed");
        }
        eprintln!("sockscope demo: {what}");
        Ok(())
    };
    step("namespaces ready; leaking 30 CLOSE_WAIT sockets")?;
    lab.close_wait_leak(Family::Inet, "leaky-app", 30)?;
    step("flooding :8443 with 150 spoofed SYNs")?;
    lab.syn_flood(Family::Inet, 8443, 150)?;
    step("making 6,000 TIME_WAIT sockets toward :443")?;
    lab.time_wait_storm(Family::Inet, 443, 6000)?;
    step("filling a listener's accept queue")?;
    lab.listener_never_accepting(Family::Inet6, 16, 24)?;
    step("adding 10 healthy connections")?;
    lab.stage(Family::Inet, TcpState::Established, 10, Some("healthy-app"))?;
    step("opening the dashboard")?;
    dashboard.collect = CollectOptions {
        netns: NetnsTarget::Named(lab.monitored().to_owned()),
        ..dashboard.collect
    };
    let code = tui::run(dashboard);
    let name = lab.monitored().to_owned();
    drop(lab);
    eprintln!("sockscope demo: removed namespace {name} and every process the lab started");
    code
}
