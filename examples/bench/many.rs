//! The many-namespace bench (`--namespaces N`): N namespaces `ssbench-<pid>-<i>`, each
//! holding `--per-netns` ESTABLISHED loopback sockets in one holder process, and a
//! CLOSE_WAIT leak of [`LEAK`] sockets in the middle one. It times, in rotating order,
//! `ss -tanH -N NAME` for every namespace in turn (one shell loop), `sockscope snapshot -A
//! --no-processes` and `sockscope snapshot -A`; then runs the dashboard `sockscope -A` in
//! tmux and reads its CPU time (utime + stime of `/proc/PID/stat`) over `--watch-secs`, its
//! peak RSS (`VmHWM`), and how long a CLOSE_WAIT leak started in a quiet namespace takes
//! to be on its screen. Holders are killed by pid and every namespace deleted at the end,
//! on error and on Ctrl-C.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::holder;
use crate::measure::run_argv;
use crate::netns::{PREFIX, ip, sweep_stale};

/// CLOSE_WAIT sockets of the leak (the rule warns at 20 in one process).
const LEAK: u32 = 30;
/// The tmux session of the dashboard row.
const SESSION: &str = "ssbench-dash";

/// What to tear down: namespaces and holder pids (shared with the Ctrl-C handler).
#[derive(Debug, Default)]
struct Teardown {
    names: Vec<String>,
    pids: Vec<u32>,
    tmux: bool,
}

impl Teardown {
    fn run(&mut self) {
        if std::mem::take(&mut self.tmux) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", SESSION])
                .stderr(Stdio::null())
                .status();
        }
        for pid in self.pids.drain(..) {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        for name in self.names.drain(..) {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// The namespaces and their holders.
struct Many {
    names: Vec<String>,
    children: Vec<Child>,
    teardown: Arc<Mutex<Teardown>>,
}

impl Many {
    fn lock(&self) -> std::sync::MutexGuard<'_, Teardown> {
        self.teardown.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `exe` with `args` inside namespace `name`, wait for its `ready`.
    fn start(&mut self, name: &str, exe: &Path, args: &[String]) -> anyhow::Result<()> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", name])
            .arg(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {args:?} in {name}"))?;
        self.lock().pids.push(child.id());
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        self.children.push(child);
        if line.trim_end() != "ready" {
            bail!("{args:?} in {name} did not report ready; its error is above");
        }
        Ok(())
    }
}

impl Drop for Many {
    fn drop(&mut self) {
        eprintln!("bench: tearing down {} namespaces", self.names.len());
        for child in &mut self.children {
            drop(child.stdin.take());
        }
        self.lock().run();
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}

/// The settings of one many-namespace run.
pub struct Plan<'a> {
    /// Namespaces.
    pub namespaces: u32,
    /// ESTABLISHED sockets in each.
    pub per_netns: u32,
    /// Rounds of the one-shot rows.
    pub runs: u32,
    /// Seconds the dashboard's CPU time is read over.
    pub watch_secs: u64,
    /// The sockscope binary.
    pub sockscope: &'a Path,
    /// Build the namespaces and hold them until Enter, timing nothing (for profiling).
    pub hold: bool,
}

/// Build the namespaces, time every row, print the table.
pub fn run(plan: &Plan<'_>) -> anyhow::Result<()> {
    sweep_stale();
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let teardown = Arc::new(Mutex::new(Teardown::default()));
    let for_handler = Arc::clone(&teardown);
    ctrlc::set_handler(move || {
        eprintln!("bench: interrupted; tearing down");
        for_handler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .run();
        std::process::exit(130);
    })
    .context("installing the Ctrl-C handler")?;
    let mut many = Many {
        names: Vec::new(),
        children: Vec::new(),
        teardown,
    };
    let started = Instant::now();
    let parent = std::process::id().to_string();
    let pairs = plan.per_netns.div_ceil(2);
    for i in 0..plan.namespaces {
        let name = format!("{PREFIX}{}-{i:03}", std::process::id());
        ip(&["netns", "add", &name])?;
        many.lock().names.push(name.clone());
        many.names.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        let hold = [
            holder::HOLD_ARG.to_owned(),
            "0".to_owned(),
            pairs.to_string(),
            parent.clone(),
        ];
        many.start(&name, &exe, &hold)?;
    }
    let leaky = many.names[many.names.len() / 2].clone();
    many.start(
        &leaky,
        &exe,
        &[
            holder::LEAK_ARG.to_owned(),
            LEAK.to_string(),
            parent.clone(),
        ],
    )?;
    eprintln!(
        "bench: {} namespaces × {} sockets and {LEAK} CLOSE_WAIT in {leaky}, in place after {:.1}s",
        plan.namespaces,
        pairs * 2,
        started.elapsed().as_secs_f64()
    );

    if plan.hold {
        println!(
            "holding {} namespaces; press Enter (or close stdin) to tear down",
            many.names.len()
        );
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        return Ok(());
    }
    let mut table = String::new();
    let _ = writeln!(
        table,
        "\n{} namespaces × {} ESTABLISHED sockets ({} in all), {LEAK} CLOSE_WAIT in one; {} round(s), medians; sockstat: {}\n",
        plan.namespaces,
        pairs * 2,
        u64::from(plan.namespaces) * u64::from(pairs) * 2,
        plan.runs,
        sockstat_line()
    );
    one_shot_rows(plan, &exe, &many.names, &mut table)?;
    dashboard_rows(plan, &exe, &mut many, &mut table)?;
    print!("{table}");
    Ok(())
}

/// The one-shot rows: every namespace through `ss -N`, and `snapshot -A` both ways.
fn one_shot_rows(
    plan: &Plan<'_>,
    exe: &Path,
    names: &[String],
    table: &mut String,
) -> anyhow::Result<()> {
    let script = format!("for n in {}; do ss -tanH -N \"$n\"; done", names.join(" "));
    let ss: Vec<OsString> = ["sh", "-c", &script].iter().map(OsString::from).collect();
    let sockscope = |extra: &[&str]| -> Vec<OsString> {
        let mut argv = vec![
            OsString::from(plan.sockscope),
            "snapshot".into(),
            "-A".into(),
        ];
        argv.extend(extra.iter().map(OsString::from));
        argv
    };
    let rows: [(&str, Vec<OsString>); 3] = [
        ("`ss -tanH -N NAME`, every namespace in turn", ss),
        (
            "`sockscope snapshot -A --no-processes`",
            sockscope(&["--no-processes"]),
        ),
        ("`sockscope snapshot -A`", sockscope(&[])),
    ];
    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    let mut rss = vec![0u64; rows.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    for round in 0..plan.runs as usize {
        let mut this = vec![0.0; rows.len()];
        for k in 0..rows.len() {
            let i = (k + round) % rows.len();
            let (wall, cpu, max_rss, status) = run_argv(exe, &rows[i].1)?;
            if status != 0 {
                bail!("{} exited with status {status}", rows[i].0);
            }
            eprintln!(
                "bench: round {} {:<46} {:>8.3}s cpu {:>7.3}s {:>7} KiB",
                round + 1,
                rows[i].0,
                wall.as_secs_f64(),
                cpu.as_secs_f64(),
                max_rss
            );
            this[i] = wall.as_secs_f64();
            walls[i].push(wall.as_secs_f64());
            cpus[i].push(cpu.as_secs_f64());
            rss[i] = rss[i].max(max_rss);
        }
        for i in 0..rows.len() {
            ratios[i].push(this[i] / this[0]);
        }
    }
    let _ = writeln!(table, "| command | wall | CPU | × ss loop | peak RSS |");
    let _ = writeln!(table, "|---|---|---|---|---|");
    for i in 0..rows.len() {
        let _ = writeln!(
            table,
            "| {} | {:.3} s | {:.3} s | {:.2} | {} MB |",
            rows[i].0,
            median(&walls[i]),
            median(&cpus[i]),
            median(&ratios[i]),
            rss[i].div_ceil(1024)
        );
    }
    Ok(())
}

/// The dashboard rows: `sockscope -A` in tmux, its CPU share over the watch, its peak RSS,
/// and the time a CLOSE_WAIT leak started in a quiet namespace takes to reach its screen.
fn dashboard_rows(
    plan: &Plan<'_>,
    exe: &Path,
    many: &mut Many,
    table: &mut String,
) -> anyhow::Result<()> {
    let command = format!("exec {} -A", plan.sockscope.display());
    let status = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "200",
            "-y",
            "50",
            &command,
        ])
        .status()
        .context("starting tmux")?;
    if !status.success() {
        bail!("tmux new-session failed: {status}");
    }
    many.lock().tmux = true;
    let pane_pid: u32 = tmux(&["list-panes", "-t", SESSION, "-F", "#{pane_pid}"])?
        .trim()
        .parse()
        .context("reading the dashboard's pid from tmux")?;
    let start = Instant::now();
    wait_for_screen("namespaces · oldest data", Duration::from_secs(120))
        .context("waiting for the dashboard's first poll")?;
    let first_poll = start.elapsed();
    // The Namespaces view, for the screen printed at the end.
    let _ = tmux(&["send-keys", "-t", SESSION, "6"]);
    // Let the first poll's one-off dumps and the pacing settle.
    std::thread::sleep(Duration::from_secs(5));
    let (cpu0, at0) = (cpu_ticks(pane_pid)?, Instant::now());
    std::thread::sleep(Duration::from_secs(plan.watch_secs));
    let (cpu1, at1) = (cpu_ticks(pane_pid)?, Instant::now());
    let ticks = f64::from(
        u32::try_from(nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100))
            .unwrap_or(100),
    );
    let share = (cpu1 - cpu0) as f64 / ticks / (at1 - at0).as_secs_f64() * 100.0;
    // The leak, in a namespace that has been quiet all along.
    let quiet = many.names[many.names.len() / 4].clone();
    let started = Instant::now();
    let leak = [
        holder::LEAK_ARG.to_owned(),
        LEAK.to_string(),
        std::process::id().to_string(),
    ];
    many.start(&quiet, exe, &leak)?;
    let needle = format!("{quiet}: {}", holder::LEAK_COMM);
    wait_for_screen(&needle, Duration::from_secs(60))
        .with_context(|| format!("waiting for `{needle}` on the dashboard"))?;
    let latency = started.elapsed();
    let (cpu2, at2) = (cpu_ticks(pane_pid)?, Instant::now());
    let hwm = vm_hwm_kib(pane_pid)?;
    let screen = tmux(&["capture-pane", "-p", "-t", SESSION])?;
    eprintln!("bench: the dashboard after the leak:\n{screen}");
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", SESSION])
        .status();
    many.lock().tmux = false;
    let _ = writeln!(
        table,
        "\n| `sockscope -A` (dashboard) | figure |\n|---|---|\n| first poll on screen (every namespace dumped) | {:.1} s |\n| CPU over {:.0} s of steady polling | {share:.1} % of a core |\n| CPU over the leak's {:.1} s | {:.1} % of a core |\n| peak RSS | {} MB |\n| a CLOSE_WAIT leak started in quiet {quiet}: on screen after | {:.1} s |",
        first_poll.as_secs_f64(),
        (at1 - at0).as_secs_f64(),
        (at2 - at1).as_secs_f64(),
        (cpu2 - cpu1) as f64 / ticks / (at2 - at1).as_secs_f64() * 100.0,
        hwm.div_ceil(1024),
        latency.as_secs_f64(),
    );
    Ok(())
}

fn tmux(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("tmux")
        .args(args)
        .output()
        .context("running tmux")?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Wait until the dashboard's screen shows `needle`, reading it every 100 ms.
fn wait_for_screen(needle: &str, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if tmux(&["capture-pane", "-p", "-t", SESSION])?.contains(needle) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("not on screen after {timeout:?}")
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (did the dashboard exit?)"))?;
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(field(14) + field(15))
}

/// Peak resident set size (`VmHWM`) of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

fn sockstat_line() -> String {
    crate::netns::sockstat()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}
