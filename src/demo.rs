//! `sockscope demo`: a lab in throw-away network namespaces with every anomaly the rules
//! know how to raise, watched by the dashboard, and removed on exit — on `q`, on Ctrl-C
//! (also while staging), on SIGTERM/SIGHUP, and on a panic (the lab is dropped while
//! unwinding). A lab left behind by a killed demo is removed by the next one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::collect::{CollectOptions, NetnsTarget};
use crate::lab::Lab;
use crate::model::{Family, TcpState};
use crate::tui::{self, Dashboard};

/// What the demo stages, for the banner.
const SCENARIOS: &str = "a CLOSE_WAIT leak (leaky-app), a SYN flood on :8443, a TIME_WAIT storm toward :443 (expires after 60 s), a listener that never accepts and a client churning 120 connections a second toward :9090 (churny-client)";

/// Stage every scenario in `lab`, saying each step; stop once `caught` holds a signal (the
/// lab itself stops within a step: see [`Lab::stop_when`]).
fn stage(lab: &mut Lab, caught: &AtomicUsize) -> anyhow::Result<()> {
    let step = |what: &str| {
        let go_on = caught.load(Ordering::SeqCst) == 0;
        if go_on {
            crate::stderr_line!("sockscope demo: {what}");
        }
        go_on
    };
    if step("namespaces ready; leaking 30 CLOSE_WAIT sockets") {
        lab.close_wait_leak(Family::Inet, "leaky-app", 30)?;
    }
    if step("flooding :8443 with 150 spoofed SYNs") {
        lab.syn_flood(Family::Inet, 8443, 150)?;
    }
    if step("making 6,000 TIME_WAIT sockets toward :443") {
        lab.time_wait_storm(Family::Inet, 443, 6000)?;
    }
    if step("filling a listener's accept queue") {
        lab.listener_never_accepting(Family::Inet6, 16, 24)?;
    }
    if step("adding 10 healthy connections") {
        lab.stage(Family::Inet, TcpState::Established, 10, Some("healthy-app"))?;
    }
    if step("churning 120 connections a second toward :9090 (churny-client)") {
        lab.churning_client(Family::Inet, 9090, 120, "churny-client")?;
    }
    step("opening the dashboard");
    Ok(())
}

/// Build the lab, run the dashboard on it, tear it down. `dashboard` says how to watch
/// (its namespace is replaced by the lab's).
pub(crate) fn run(mut dashboard: Dashboard) -> anyhow::Result<u8> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "sockscope demo needs root: it creates network namespaces and sends spoofed SYNs; run it with sudo"
        );
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        anyhow::bail!("sockscope demo opens the dashboard and needs a terminal: stdout is not one");
    }
    // The number of the signal that stopped the staging (0: none), for the exit code.
    let caught = Arc::new(AtomicUsize::new(0));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register_usize(signal, Arc::clone(&caught), signal as usize)
            .context("installing signal handlers")?;
    }
    let exe = std::env::current_exe().context("finding the sockscope binary for the lab")?;
    crate::stderr_line!("sockscope demo: staging {SCENARIOS} …");
    let mut lab = Lab::new(&exe)?;
    lab.stop_when(Arc::clone(&caught));
    let staged = stage(&mut lab, &caught);
    let signal = caught.load(Ordering::SeqCst);
    if signal != 0 {
        // Whatever the step was doing when the signal came (it stops within milliseconds),
        // the lab goes: one line, and the exit code a signal gives (128 + its number).
        let removed = removed(&lab);
        drop(lab);
        crate::stderr_line!("sockscope demo: interrupted while staging; {removed}");
        return Ok(128 + signal as u8);
    }
    staged?;
    dashboard.collect = CollectOptions {
        netns: NetnsTarget::Named(lab.monitored().to_owned()),
        ..dashboard.collect
    };
    let code = tui::run(dashboard);
    let removed = removed(&lab);
    drop(lab);
    crate::stderr_line!("sockscope demo: {removed}");
    code
}

/// What dropping `lab` removes, said once it is gone: both namespaces and the holders.
fn removed(lab: &Lab) -> String {
    let [monitored, peer] = lab.namespaces();
    format!("removed namespaces {monitored} and {peer} and every process the lab started")
}
