//! The dashboard in a real terminal: tmux runs `sockscope` against a lab namespace, the
//! test reads the screen with `capture-pane`, types keys with `send-keys`, and checks the
//! exit status and that the terminal is back in cooked mode. Waits poll the screen for
//! the expected text (up to a generous deadline); nothing asserts on timing.
//!
//! Needs root (namespaces) and tmux (`.ci/run` installs it).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sockscope::collect::netns::run_in;
use sockscope::lab::{Lab, require_root};
use sockscope::model::{Family, TcpState};

use crate::support::netns::NamedNetns;
use crate::support::tmux::{Tmux, assert_cooked, have_tmux};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// The state letter of a process (`/proc/PID/stat`'s third field): `T` when stopped.
fn process_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    after_comm.chars().next().unwrap()
}

/// Poll `ok` every 50 ms until it holds; panics with `what` after 10 s.
fn wait_until(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Raw mode as crossterm sets it: no line editing, no echo, no signal keys.
fn assert_raw(stty: &str) {
    let flags: Vec<&str> = stty.split_whitespace().collect();
    for flag in ["-icanon", "-echo", "-isig"] {
        assert!(flags.contains(&flag), "terminal not raw, no {flag}: {stty}");
    }
}

/// A states-panel line: name, count right-aligned in 9 columns.
fn state_line(state: TcpState, count: u64) -> String {
    format!("│{:<11} {:>9} ", state.name(), count)
}

#[test]
fn dashboard_in_tmux_shows_the_leak_opens_help_filters_and_quits_cleanly() {
    let test = "dashboard_in_tmux_shows_the_leak_opens_help_filters_and_quits_cleanly";
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    let mut lab = Lab::new(Path::new(BIN)).unwrap();
    let leak = lab.close_wait_leak(Family::Inet, "leaky-app", 25).unwrap();
    lab.stage(Family::Inet, TcpState::Established, 3, Some("healthy-app"))
        .unwrap();
    let expected = lab.expected();
    let total: u64 = expected.values().sum();
    let tmux = Tmux::start(
        "leak",
        &format!("{BIN} --netns {} --interval 500ms", lab.monitored()),
        120,
        40,
    );

    let lines: Vec<String> = TcpState::LIFECYCLE
        .iter()
        .map(|&state| {
            let count: u64 = [Family::Inet, Family::Inet6]
                .iter()
                .map(|f| expected.get(&(*f, state)).copied().unwrap_or(0))
                .sum();
            state_line(state, count)
        })
        .collect();
    let anomaly = format!("›WARN CLOSE_WAIT leaky-app[{}]", leak.pid);
    // The whole first frame, not a capture taken while it is being drawn.
    let screen = tmux.wait_for("the first poll", Duration::from_secs(30), |s| {
        s.contains(&format!("{total} sockets")) && s.contains(&anomaly) && s.contains("│CLOSE  ")
    });
    for line in &lines {
        assert!(screen.contains(line), "no {line:?} in:\n{screen}");
    }
    assert_eq!(
        expected.get(&(Family::Inet, TcpState::CloseWait)),
        Some(&25)
    );

    tmux.keys(&["?"]);
    tmux.wait_for("the help", Duration::from_secs(10), |s| {
        s.contains("Keys (Esc closes)") && s.contains("pause the display (polling goes on)")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the help to close", Duration::from_secs(10), |s| {
        !s.contains("Keys (Esc closes)")
    });

    tmux.text("/close-wait");
    tmux.keys(&["Enter"]);
    let filtered = format!("filter: close-wait · 1/25 of {total}");
    let leaked_rows = |screen: &str| {
        screen
            .lines()
            .filter(|l| {
                l.starts_with("CLOSE_WAIT ") && l.contains(&format!("leaky-app[{}]", leak.pid))
            })
            .count()
    };
    // A capture can land in the middle of a redraw (the tab bar new, the table half old):
    // wait for the whole filtered frame, the input line gone.
    let screen = tmux.wait_for("the filtered table", Duration::from_secs(10), |s| {
        s.contains(&filtered) && !s.contains("/ close-wait") && leaked_rows(s) == 23
    });
    // 40 rows leave 23 table rows: 23 of the 25 leaked sockets are on screen.
    assert_eq!(leaked_rows(&screen), 23, "{screen}");

    // The detail pane asks the kernel for tcp_info, which comes with the next poll.
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "tcp_info in the detail pane",
        Duration::from_secs(10),
        |s| s.contains("            rtt  ") && s.contains(&format!("leaky-app[{}]  ", leak.pid)),
    );
    tmux.keys(&["Escape"]);
    // Resized only once the pane is closed: a resize right behind the Escape can reach the
    // terminal before it, on a loaded machine.
    tmux.wait_for("the detail pane to close", Duration::from_secs(10), |s| {
        !s.contains("(Esc closes)")
    });

    tmux.tmux(&["resize-window", "-x", "20", "-y", "6"]);
    tmux.wait_for("the too-small message", Duration::from_secs(10), |s| {
        s.starts_with("sockscope needs")
    });
    tmux.tmux(&["resize-window", "-x", "120", "-y", "40"]);
    tmux.wait_for("the dashboard again", Duration::from_secs(10), |s| {
        s.contains(&filtered)
    });

    tmux.keys(&["q"]);
    let (status, stty) = tmux.exit(Duration::from_secs(10));
    assert_eq!(status, "0");
    assert_cooked(&stty);
}

#[test]
fn a_recreated_netns_is_said_in_the_header_and_f_follows_it() {
    let test = "a_recreated_netns_is_said_in_the_header_and_f_follows_it";
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    let netns = NamedNetns::add("tmux-follow");
    let name = &netns.name;
    let tmux = Tmux::start(
        "follow",
        &format!("{BIN} --netns {name} --interval 250ms"),
        200,
        30,
    );
    tmux.wait_for("the first poll", Duration::from_secs(30), |s| {
        s.contains(" · 0 sockets · ")
    });
    let old = netns.id().inode;
    netns.delete();
    netns.create();
    let new = netns.id().inode;
    // Held by this process, in the new namespace only.
    let _listener = run_in(&netns.target(), || {
        std::net::TcpListener::bind("0.0.0.0:40003").unwrap()
    })
    .unwrap();
    let notice = format!(
        "netns {name} was deleted and re-created ({old} → {new}): showing the old one — press F to follow"
    );
    tmux.wait_for("the notice", Duration::from_secs(10), |s| {
        s.lines()
            .next()
            .is_some_and(|l| l.contains(&notice) && l.contains(" · 0 sockets · "))
    });

    tmux.keys(&["F"]);
    let followed =
        format!("now watching the new netns {name} ({new}): history, ages and anomalies restarted");
    let screen = tmux.wait_for("the new namespace", Duration::from_secs(10), |s| {
        s.contains(&followed) && s.contains(" · 1 socket · ")
    });
    assert!(!screen.contains("re-created"), "{screen}");
    assert!(
        screen
            .lines()
            .any(|l| l.starts_with("LISTEN ") && l.contains("0.0.0.0:40003")),
        "{screen}"
    );

    tmux.keys(&["q"]);
    let (status, stty) = tmux.exit(Duration::from_secs(10));
    assert_eq!(status, "0");
    assert_cooked(&stty);
}

#[test]
fn sigterm_restores_the_terminal_and_exits_143() {
    signal_restores_the_terminal(nix::sys::signal::Signal::SIGTERM, "143");
}

#[test]
fn sighup_restores_the_terminal_and_exits_129() {
    signal_restores_the_terminal(nix::sys::signal::Signal::SIGHUP, "129");
}

#[test]
fn sigusr1_restores_the_terminal_and_exits_138() {
    signal_restores_the_terminal(nix::sys::signal::Signal::SIGUSR1, "138");
}

#[test]
fn sigalrm_restores_the_terminal_and_exits_142() {
    signal_restores_the_terminal(nix::sys::signal::Signal::SIGALRM, "142");
}

/// The dashboard at 80×24 on an empty lab namespace, after its first poll. Keep the lab
/// until the test ends: dropping it deletes the namespace.
#[test]
fn all_namespaces_in_tmux_show_a_row_per_lab_with_exact_counts_and_the_leak_by_namespace() {
    let test =
        "all_namespaces_in_tmux_show_a_row_per_lab_with_exact_counts_and_the_leak_by_namespace";
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    // Lab i holds i ESTABLISHED connections; the second also leaks 25 CLOSE_WAIT.
    let mut labs = Vec::new();
    let mut leak_pid = 0;
    for i in 1..=3 {
        let mut lab = Lab::new(Path::new(BIN)).unwrap();
        lab.stage(Family::Inet, TcpState::Established, i, None)
            .unwrap();
        if i == 2 {
            leak_pid = lab
                .close_wait_leak(Family::Inet, "leaky-app", 25)
                .unwrap()
                .pid;
        }
        labs.push(lab);
    }
    // Tall enough for every namespace other tests may hold meanwhile.
    let tmux = Tmux::start("all", &format!("{BIN} -A --interval 500ms"), 200, 150);
    tmux.wait_for(
        "the first poll of every namespace",
        Duration::from_secs(60),
        |s| s.contains(" namespaces · oldest data "),
    );
    tmux.keys(&["6"]);
    for lab in &labs {
        let expected = lab.expected();
        let count = |state: TcpState| -> u64 {
            [Family::Inet, Family::Inet6]
                .iter()
                .map(|f| expected.get(&(*f, state)).copied().unwrap_or(0))
                .sum()
        };
        let total: u64 = expected.values().sum();
        let named = count(TcpState::Established)
            + count(TcpState::Listen)
            + count(TcpState::CloseWait)
            + count(TcpState::TimeWait);
        let cells = [
            total,
            count(TcpState::Established),
            count(TcpState::Listen),
            count(TcpState::CloseWait),
            count(TcpState::TimeWait),
            total - named,
        ]
        .map(|n| n.to_string());
        let name = lab.monitored().to_owned();
        let anomalies = if count(TcpState::CloseWait) == 25 {
            "1"
        } else {
            "0"
        };
        // NETNS CONTAINER TOTAL ESTAB LISTEN CLOSE_WAIT TIME_WAIT OTHER ANOMALIES DATA AGE.
        // Waited for whole: a capture can catch the screen mid-redraw (the anomaly's age
        // changes at every poll), the view's rows written over the previous view's.
        let row_of = |screen: &str| -> Option<Vec<String>> {
            let line = screen
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))?;
            Some(line.split_whitespace().map(str::to_owned).collect())
        };
        let complete =
            |row: &[String]| row.len() == 10 && row[2..8] == cells && row[8] == anomalies;
        let screen = tmux.wait_for(
            &format!("the row of {name}: {cells:?}, {anomalies} anomalies"),
            Duration::from_secs(30),
            |s| row_of(s).is_some_and(|row| complete(&row)),
        );
        let row = row_of(&screen).unwrap_or_default();
        assert_eq!(row[2..8], cells, "{name}: {row:?}");
        assert_eq!(row[8], anomalies, "{name}: {row:?}");
    }
    let leaky = labs[1].monitored().to_owned();
    tmux.wait_for(
        "the leak named by its namespace",
        Duration::from_secs(30),
        |s| s.contains(&format!("{leaky}: leaky-app[{leak_pid}]")),
    );
    tmux.keys(&["q"]);
    let (exit, stty) = tmux.exit(Duration::from_secs(20));
    assert_eq!(exit.trim(), "0");
    assert_cooked(&stty);
}

fn dashboard_on_an_empty_lab(name: &str, flags: &str) -> (Lab, Tmux) {
    let lab = Lab::new(Path::new(BIN)).unwrap();
    let tmux = Tmux::start(
        name,
        &format!("{BIN} --netns {}{flags}", lab.monitored()),
        80,
        24,
    );
    tmux.wait_for("the first poll", Duration::from_secs(30), |s| {
        s.contains("0 sockets")
    });
    (lab, tmux)
}

/// Stopped by `how`, the dashboard gives the terminal back (cooked, main screen); SIGCONT
/// to `continue_to` takes it again (raw, alternate screen, the dashboard redrawn), and `q`
/// still quits with one key press.
fn stop_and_continue(test: &str, how: impl Fn(&Tmux, u32), continue_to: impl Fn(u32) -> i32) {
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    let (_lab, tmux) = dashboard_on_an_empty_lab(test, " --interval 250ms");
    let pid = tmux.program_pid();
    assert!(tmux.alternate_on());
    assert_raw(&tmux.stty_now());

    how(&tmux, pid);
    wait_until("the dashboard to stop", || process_state(pid) == 'T');
    assert!(!tmux.alternate_on(), "stopped in the alternate screen");
    assert_cooked(&tmux.stty_now());

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(continue_to(pid)),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    wait_until("the alternate screen again", || tmux.alternate_on());
    tmux.wait_for("the dashboard redrawn", Duration::from_secs(10), |s| {
        s.contains("0 sockets") && s.contains("netns ")
    });
    assert_raw(&tmux.stty_now());

    tmux.keys(&["q"]);
    let (status, stty) = tmux.exit(Duration::from_secs(10));
    assert_eq!(status, "0");
    assert_cooked(&stty);
}

#[test]
fn sigtstp_gives_the_terminal_back_and_sigcont_takes_it_again() {
    stop_and_continue(
        "sigtstp_gives_the_terminal_back_and_sigcont_takes_it_again",
        |_, pid| {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTSTP,
            )
            .unwrap();
        },
        |pid| pid as i32,
    );
}

#[test]
fn ctrl_z_stops_the_process_group_with_the_terminal_restored() {
    // The window's shell shares the dashboard's process group: Ctrl-Z stops both, as it
    // stops a whole job, and SIGCONT goes to the group as `fg` sends it.
    stop_and_continue(
        "ctrl_z_stops_the_process_group_with_the_terminal_restored",
        |tmux, _| tmux.keys(&["C-z"]),
        |pid| {
            -nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid as i32)))
                .unwrap()
                .as_raw()
        },
    );
}

#[test]
fn sigstop_then_sigcont_redraws_the_dashboard() {
    // SIGSTOP cannot be caught: the terminal stays raw while stopped, but SIGCONT redraws.
    let test = "sigstop_then_sigcont_redraws_the_dashboard";
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    let (_lab, tmux) = dashboard_on_an_empty_lab("sigstop", " --interval 250ms");
    let pid = nix::unistd::Pid::from_raw(tmux.program_pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    wait_until("the dashboard to stop", || {
        process_state(pid.as_raw() as u32) == 'T'
    });
    // Garble the screen the way a shell's output would while the program is stopped.
    tmux.tmux(&["send-keys", "-l", "garbage"]);
    tmux.tmux(&["clear-history"]);
    Command::new("sh")
        .args([
            "-c",
            &format!(
                "printf '\\033[2J\\033[HGARBLED' > {}",
                tmux.tmux(&["display-message", "-p", "#{pane_tty}"]).trim()
            ),
        ])
        .status()
        .unwrap();
    tmux.wait_for("the garbled screen", Duration::from_secs(10), |s| {
        s.starts_with("GARBLED")
    });
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    // The states panel does not change between polls: only a whole redraw brings it back.
    let established = state_line(TcpState::Established, 0);
    tmux.wait_for("the dashboard redrawn", Duration::from_secs(10), |s| {
        !s.contains("GARBLED") && s.contains(&established)
    });
    tmux.keys(&["q"]);
    let (status, stty) = tmux.exit(Duration::from_secs(10));
    assert_eq!(status, "0");
    assert_cooked(&stty);
}

fn signal_restores_the_terminal(signal: nix::sys::signal::Signal, status: &str) {
    let test = format!("{signal}_restores_the_terminal");
    if !require_root(&test) || !have_tmux(&test) {
        return;
    }
    let (_lab, tmux) = dashboard_on_an_empty_lab(signal.as_str(), "");
    let pid = tmux.program_pid();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    let (exit, stty) = tmux.exit(Duration::from_secs(10));
    assert_eq!(exit, status);
    assert_cooked(&stty);
}

#[test]
fn demo_shows_every_staged_anomaly_and_leaves_nothing_behind() {
    let test = "demo_shows_every_staged_anomaly_and_leaves_nothing_behind";
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    let tmux = Tmux::start("demo", &format!("{BIN} demo"), 160, 45);
    let pid = tmux.program_pid();
    // Four staged anomalies; the stuck clients' SYN retransmits may add a namespace-wide
    // ListenOverflows one from the second poll on, and the churning client a
    // connection_churn one where the dashboard listens to destroy events.
    let screen = tmux.wait_for("the staged anomalies", Duration::from_secs(120), |s| {
        (4..=6).any(|n| s.contains(&format!("Anomalies ({n})")))
    });
    for kind in [
        "CLOSE_WAIT leaky-app[",
        "SYN_RECV ",
        "TIME_WAIT ",
        "ACCEPT_Q ",
    ] {
        assert!(
            screen
                .lines()
                .any(|l| l.contains("WARN ") || l.contains("CRIT ")),
            "{screen}"
        );
        assert!(
            screen
                .lines()
                .any(|l| (l.contains("WARN ") || l.contains("CRIT ")) && l.contains(kind)),
            "no anomaly line with {kind:?}:\n{screen}"
        );
    }
    let netns_prefix = format!("sslab-{pid}-");
    let list = || {
        String::from_utf8(
            Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
    };
    assert!(list().contains(&netns_prefix), "{}", list());

    tmux.keys(&["q"]);
    let (status, stty) = tmux.exit(Duration::from_secs(60));
    assert_eq!(status, "0");
    assert_cooked(&stty);
    assert!(!list().contains(&netns_prefix), "{}", list());
    let holders: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.unwrap().path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("__lab-hold") && c.contains(&netns_prefix))
        .collect();
    assert_eq!(holders, Vec::<String>::new());
}

#[test]
fn interrupting_the_demo_while_it_stages_removes_the_lab_and_exits_130() {
    let test = "interrupting_the_demo_while_it_stages_removes_the_lab_and_exits_130";
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    let tmux = Tmux::start("demo-int", &format!("{BIN} demo"), 160, 45);
    let pid = tmux.program_pid();
    // Mid-staging: the lab's reads with a timeout are where EINTR came back.
    let screen = tmux.wait_for("the staging", Duration::from_secs(60), |s| {
        s.contains("sockscope demo: namespaces ready")
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let (status, _) = tmux.exit(Duration::from_secs(60));
    assert_eq!(status, "130", "{screen}");
    let screen = tmux.screen();
    // Both namespaces are named, as both are removed.
    let removed: Vec<&str> = screen
        .lines()
        .map(str::trim_end)
        .filter(|l| l.starts_with("sockscope demo: interrupted while staging; "))
        .collect();
    assert_eq!(removed.len(), 1, "{screen}");
    let [monitored, peer] = removed[0]
        .strip_prefix("sockscope demo: interrupted while staging; removed namespaces ")
        .and_then(|l| l.strip_suffix(" and every process the lab started"))
        .and_then(|l| l.split_once(" and "))
        .map_or_else(|| panic!("{screen}"), |(m, p)| [m, p]);
    assert!(monitored.starts_with(&format!("sslab-{pid}-")) && monitored.ends_with("-m"));
    assert_eq!(peer, format!("{}-p", monitored.trim_end_matches("-m")));
    assert!(!screen.contains("Interrupted system call"), "{screen}");
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(!listed.contains(&format!("sslab-{pid}-")), "{listed}");
}

#[test]
fn ctrl_c_while_the_demo_makes_its_time_wait_storm_stops_it_at_once() {
    let test = "ctrl_c_while_the_demo_makes_its_time_wait_storm_stops_it_at_once";
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    // On a quiet machine the 6,000 connections can be made before the signal lands: such a
    // run says nothing about the step, so it is tried again (at most five times).
    for attempt in 1..=5 {
        let tmux = Tmux::start("demo-tw", &format!("{BIN} demo"), 160, 45);
        let pid = tmux.program_pid();
        let screen = tmux.wait_for("the TIME_WAIT step", Duration::from_secs(60), |s| {
            s.contains("sockscope demo: making 6,000 TIME_WAIT sockets toward :443")
        });
        let sent = std::time::Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let (status, _) = tmux.exit(Duration::from_secs(60));
        let took = sent.elapsed();
        assert_eq!(status, "130", "{screen}");
        // Removing the lab (two namespaces, a few holders) takes well under a second; the
        // storm took up to 10 s more when the signal was only read between steps.
        assert!(
            took < Duration::from_secs(3),
            "exited {took:?} after Ctrl-C"
        );
        let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
        let listed = String::from_utf8(listed.stdout).unwrap();
        assert!(!listed.contains(&format!("sslab-{pid}-")), "{listed}");
        if !tmux.screen().contains("filling a listener's accept queue") {
            return;
        }
        eprintln!("attempt {attempt}: the storm was over before the signal; again");
    }
    panic!("in five runs the TIME_WAIT storm was always over before Ctrl-C reached it");
}
