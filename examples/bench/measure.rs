//! Timing one tool: the bench executable run as `bench __bench-measure PROGRAM ARGS…`
//! starts the tool with its output going to `/dev/null`, waits for it, and prints its wall
//! time, CPU time and peak RSS (`getrusage(RUSAGE_CHILDREN)`: it has no other child). Then
//! the markdown table of all rounds.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::ValueEnum;
use nix::sys::resource::{UsageWho, getrusage};

use crate::netns::BenchNet;

/// The first argument that turns the bench executable into a timing wrapper.
pub const MEASURE_ARG: &str = "__bench-measure";

/// A tool the bench times, each with its default flags: what a user types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Tool {
    /// `sockscope snapshot --no-processes`.
    #[value(name = "sockscope-np")]
    SockscopeNoProcesses,
    /// `sockscope snapshot`.
    Sockscope,
    /// `sockscope snapshot --json` (with `tcp_info`).
    #[value(name = "sockscope-json")]
    SockscopeJson,
    /// `sockscope check` (its counter window is 1 s by default).
    #[value(name = "sockscope-check")]
    SockscopeCheck,
    /// `ss -tan`.
    Ss,
    /// `ss -tanp`.
    #[value(name = "ss-p")]
    SsP,
    /// `netstat -ant`.
    Netstat,
    /// `netstat -antp`.
    #[value(name = "netstat-p")]
    NetstatP,
}

impl Tool {
    /// Every tool, or at large counts all but the `-p` ones (they take minutes there).
    pub fn defaults(sockets: u32) -> Vec<Tool> {
        Tool::value_variants()
            .iter()
            .copied()
            .filter(|t| sockets <= 200_000 || !matches!(t, Tool::SsP | Tool::NetstatP))
            .collect()
    }

    /// The command line as the table shows it.
    pub fn label(self) -> &'static str {
        match self {
            Tool::SockscopeNoProcesses => "sockscope snapshot --no-processes",
            Tool::Sockscope => "sockscope snapshot",
            Tool::SockscopeJson => "sockscope snapshot --json",
            Tool::SockscopeCheck => "sockscope check",
            Tool::Ss => "ss -tan",
            Tool::SsP => "ss -tanp",
            Tool::Netstat => "netstat -ant",
            Tool::NetstatP => "netstat -antp",
        }
    }

    /// Whether `status` is a successful exit: `check` exits 1 or 2 on the anomalies it
    /// finds (only 3, UNKNOWN, means it could not run).
    fn succeeded(self, status: u64) -> bool {
        match self {
            Tool::SockscopeCheck => status <= 2,
            _ => status == 0,
        }
    }

    fn argv(self, sockscope: &Path) -> Vec<OsString> {
        let mut argv: Vec<OsString> = Vec::new();
        let words = match self {
            Tool::Ss | Tool::SsP | Tool::Netstat | Tool::NetstatP => self.label(),
            _ => {
                argv.push(sockscope.into());
                self.label().trim_start_matches("sockscope ")
            }
        };
        argv.extend(words.split(' ').map(OsString::from));
        argv
    }
}

/// One run of one tool.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// The tool.
    pub tool: Tool,
    /// From start to exit.
    pub wall: Duration,
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Peak resident set size.
    pub max_rss_kib: u64,
}

/// Time `tool` once through the wrapper (`exe` run as [`MEASURE_ARG`]), in a process
/// group of its own that `net` kills on Ctrl-C.
pub fn run_tool(
    net: &BenchNet,
    exe: &Path,
    sockscope: &Path,
    tool: Tool,
) -> anyhow::Result<Measurement> {
    let mut child = Command::new(exe)
        .arg(MEASURE_ARG)
        .args(tool.argv(sockscope))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the timing wrapper")?;
    let report = net.guarding(child.id(), || -> anyhow::Result<String> {
        let mut report = String::new();
        if let Some(mut out) = child.stdout.take() {
            out.read_to_string(&mut report)?;
        }
        child.wait()?;
        Ok(report)
    })?;
    let fields: Vec<u64> = report
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [wall_us, cpu_us, rss, status] = fields[..] else {
        bail!("`{}`: the timing wrapper reported {report:?}", tool.label());
    };
    if !tool.succeeded(status) {
        bail!("`{}` exited with status {status}", tool.label());
    }
    Ok(Measurement {
        tool,
        wall: Duration::from_micros(wall_us),
        cpu: Duration::from_micros(cpu_us),
        max_rss_kib: rss,
    })
}

/// Time `argv` once through the wrapper (`exe` run as [`MEASURE_ARG`]): wall time, CPU
/// time (the command's and its children's), peak RSS in KiB and exit status.
pub fn run_argv(exe: &Path, argv: &[OsString]) -> anyhow::Result<(Duration, Duration, u64, u64)> {
    let output = Command::new(exe)
        .arg(MEASURE_ARG)
        .args(argv)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running the timing wrapper")?;
    let report = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<u64> = report
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [wall_us, cpu_us, rss, status] = fields[..] else {
        bail!("the timing wrapper reported {report:?}");
    };
    Ok((
        Duration::from_micros(wall_us),
        Duration::from_micros(cpu_us),
        rss,
        status,
    ))
}

/// If this process was started as the timing wrapper, time the command and return the
/// exit code.
pub fn run_from_args() -> Option<u8> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_none_or(|a| a != MEASURE_ARG) {
        return None;
    }
    let Some((program, rest)) = args[1..].split_first() else {
        eprintln!("bench {MEASURE_ARG}: expected PROGRAM ARGS…");
        return Some(2);
    };
    let start = Instant::now();
    let status = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status();
    let wall = start.elapsed();
    let status = match status {
        Ok(s) => s.code().unwrap_or(255),
        Err(e) => {
            eprintln!(
                "bench {MEASURE_ARG}: cannot run {}: {e}",
                Path::new(program).display()
            );
            return Some(2);
        }
    };
    let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
        eprintln!("bench {MEASURE_ARG}: getrusage failed");
        return Some(2);
    };
    let micros = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
    // The bench may be gone (Ctrl-C): nothing to report to then.
    let _ = writeln!(
        std::io::stdout(),
        "{} {} {} {}",
        wall.as_micros(),
        micros(usage.user_time()) + micros(usage.system_time()),
        usage.max_rss(),
        status
    );
    Some(0)
}

/// What the table's heading describes.
pub struct Setup<'a> {
    /// ESTABLISHED sockets.
    pub sockets: u32,
    /// TIME_WAIT sockets made per round.
    pub time_wait: u32,
    /// Holder processes.
    pub holders: u32,
    /// Rounds.
    pub runs: u32,
    /// `/proc/net/sockstat` TCP line at the start of each round.
    pub sockstat: &'a [String],
    /// The sockscope binary timed.
    pub sockscope: &'a Path,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => f64::midpoint(values[n / 2 - 1], values[n / 2]),
    }
}

fn of(rounds: &[Vec<Measurement>], tool: Tool) -> Vec<Measurement> {
    rounds
        .iter()
        .filter_map(|r| r.iter().find(|m| m.tool == tool).copied())
        .collect()
}

/// Median over rounds of `tool`'s wall time divided by `base`'s in the same round.
fn ratio(rounds: &[Vec<Measurement>], tool: Tool, base: Tool) -> Option<f64> {
    let ratios: Vec<f64> = rounds
        .iter()
        .filter_map(|r| {
            let t = r.iter().find(|m| m.tool == tool)?;
            let b = r.iter().find(|m| m.tool == base)?;
            Some(t.wall.as_secs_f64() / b.wall.as_secs_f64())
        })
        .collect();
    (!ratios.is_empty()).then(|| median(ratios))
}

/// The markdown report: heading, one row per tool, then the targets.
pub fn table(setup: &Setup<'_>, tools: &[Tool], rounds: &[Vec<Measurement>]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### {} ESTABLISHED loopback sockets, {} holder processes, {} TIME_WAIT made per round; median of {} rounds\n",
        setup.sockets, setup.holders, setup.time_wait, setup.runs
    );
    let _ = writeln!(out, "sockscope: `{}`", setup.sockscope.display());
    for (i, line) in setup.sockstat.iter().enumerate() {
        let _ = writeln!(out, "round {} /proc/net/sockstat TCP: {line}", i + 1);
    }
    let _ = writeln!(
        out,
        "\n| command | wall | min–max | CPU (user+sys) | peak RSS | × `ss -tan` |\n|---|---|---|---|---|---|"
    );
    for &tool in tools {
        let runs = of(rounds, tool);
        let walls: Vec<f64> = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
        let min = walls.iter().copied().fold(f64::INFINITY, f64::min);
        let max = walls.iter().copied().fold(0.0, f64::max);
        let cpu = median(runs.iter().map(|m| m.cpu.as_secs_f64()).collect());
        let rss = runs.iter().map(|m| m.max_rss_kib).max().unwrap_or(0);
        let vs_ss = ratio(rounds, tool, Tool::Ss).map_or("—".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "| `{}` | {:.3} s | {min:.3}–{max:.3} s | {cpu:.3} s | {:.0} MB | {vs_ss} |",
            tool.label(),
            median(walls.clone()),
            rss as f64 * 1024.0 / 1e6,
        );
    }
    let _ = writeln!(out, "\nTargets (ratios: median of per-round ratios):");
    let mut target = |what: &str, tool: Tool, base: Tool, limit: f64| {
        if let Some(r) = ratio(rounds, tool, base) {
            let verdict = if r <= limit { "met" } else { "NOT met" };
            let _ = writeln!(
                out,
                "- `{}` ≤ {limit}× `{}` ({what}): {r:.3}× — {verdict}",
                tool.label(),
                base.label()
            );
        }
    };
    target("listing", Tool::SockscopeNoProcesses, Tool::Ss, 0.6);
    target("with processes", Tool::Sockscope, Tool::Ss, 1.5);
    target("JSON, with processes", Tool::SockscopeJson, Tool::Ss, 1.5);
    target("with processes", Tool::Sockscope, Tool::SsP, 0.1);
    for tool in [
        Tool::SockscopeNoProcesses,
        Tool::Sockscope,
        Tool::SockscopeJson,
        Tool::SockscopeCheck,
    ] {
        let runs = of(rounds, tool);
        if let Some(rss) = runs.iter().map(|m| m.max_rss_kib).max() {
            let mb = rss as f64 * 1024.0 / 1e6;
            let verdict = if mb <= 300.0 { "met" } else { "NOT met" };
            let _ = writeln!(
                out,
                "- `{}` peak RSS ≤ 300 MB: {mb:.0} MB — {verdict}",
                tool.label()
            );
        }
    }
    out
}
