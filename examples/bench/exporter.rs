//! What the exporter pays, in the bench namespace: its poll in this process (collect,
//! ingest, both renderings: what `sockscope serve` does every interval), the scrape served
//! from the last poll and the exposition's size, then the real `sockscope serve` left
//! running at its default 15 s interval and scraped like Prometheus does, for its average
//! CPU and its resident memory.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sockscope::collect::{CollectOptions, Collector};
use sockscope::config::Config;
use sockscope::serve::{ConnectionLimits, PollSettings, Poller, Published, Server};
use sockscope::watch::Listed;

/// The default interval, as the service runs it.
const INTERVAL: Duration = Duration::from_secs(15);

/// Measure the exporter: `polls` in-process polls and 20 scrapes, then `watch` of the real
/// binary (`sockscope`) at the default interval (nothing when zero).
pub fn measure(sockscope: &Path, polls: u32, watch: Duration) -> anyhow::Result<String> {
    let mut out = String::new();
    let published = Published::new();
    let collector = Collector::open(CollectOptions {
        tcp_info: false,
        ..CollectOptions::default()
    })
    .context("opening the collector")?;
    let settings = PollSettings {
        config: Config::default(),
        interval: INTERVAL,
        filter: sockscope::filter::Filter::default(),
        top: sockscope::serve::TopLimits::default(),
        textfile: None,
        on_first_snapshot: None,
    };
    let mut poller = Poller::new(Listed::one(collector, "bench"), settings, published.clone());
    let mut poll_times = Vec::new();
    for _ in 0..polls.max(1) {
        let start = Instant::now();
        poller.poll_once();
        poll_times.push(start.elapsed());
    }
    let server = Server::bind(
        "127.0.0.1:0".parse().context("loopback")?,
        ConnectionLimits::default(),
        published.clone(),
    )?;
    let addr = server.local_addr()?;
    server.spawn()?;
    let mut scrapes = Vec::new();
    let mut size = 0;
    for _ in 0..20 {
        let start = Instant::now();
        size = scrape(addr)?.len();
        scrapes.push(start.elapsed());
    }
    scrapes.sort();
    let page = published.current();
    let _ = write!(
        out,
        "\nExporter (`sockscope serve`), in this process:\n\n\
         | what | figure |\n|---|---|\n\
         | poll (collect + ingest + both renderings), each of {} | {} |\n\
         | scrape of /metrics served from the last poll, median of 20 (max) | {:.2} ms ({:.2} ms) |\n\
         | exposition size, text format (OpenMetrics) | {} bytes ({} bytes) |\n",
        poll_times.len(),
        poll_times
            .iter()
            .map(|d| format!("{:.3} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        scrapes[scrapes.len() / 2].as_secs_f64() * 1000.0,
        scrapes[scrapes.len() - 1].as_secs_f64() * 1000.0,
        size,
        page.openmetrics.len(),
    );
    drop(page);
    if !watch.is_zero() {
        out.push_str(&watch_binary(sockscope, watch)?);
    }
    Ok(out)
}

/// One GET /metrics: the body.
fn scrape(addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        bail!("no HTTP response: {response:?}");
    };
    if !head.starts_with("HTTP/1.1 200") {
        bail!("scrape failed: {head}");
    }
    Ok(body.to_owned())
}

/// The ESTABLISHED sockets an exposition counts, over every namespace: proof that the
/// exporter timed watched the bench's sockets.
fn established(body: &str) -> u64 {
    body.lines()
        .filter(|l| l.starts_with("sockscope_tcp_sockets{") && l.contains("state=\"established\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Killed and reaped on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user + system) and resident memory (now, peak) of `pid`.
fn usage(pid: u32) -> anyhow::Result<(Duration, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the comm.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as u64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((
        Duration::from_millis(ticks * 1000 / hz),
        kib("VmRSS:"),
        kib("VmHWM:"),
    ))
}

fn watch_binary(sockscope: &Path, watch: Duration) -> anyhow::Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let child = Command::new(sockscope)
        .args(["serve", "--listen", &addr.to_string(), "--interval", "15s"])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting sockscope serve")?;
    let running = Running(child);
    let pid = running.0.id();
    // The first poll reads every descriptor table: wait for it, then measure the steady
    // state from there. (The sample line, not the HELP line, which starts with "1 when".)
    let started = Instant::now();
    let seen = loop {
        if let Ok(body) = scrape(addr)
            && body.lines().any(|l| l == "sockscope_last_poll_success 1")
        {
            break established(&body);
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("sockscope serve did not complete a poll in 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let first = started.elapsed();
    let (cpu_before, _, _) = usage(pid)?;
    let window_start = Instant::now();
    let mut scrapes = 0;
    while window_start.elapsed() < watch {
        scrape(addr)?;
        scrapes += 1;
        std::thread::sleep(INTERVAL.min(watch.saturating_sub(window_start.elapsed())));
    }
    let wall = window_start.elapsed();
    let (cpu_after, rss, peak) = usage(pid)?;
    let busy = cpu_after.saturating_sub(cpu_before).as_secs_f64() / wall.as_secs_f64() * 100.0;
    drop(running);
    Ok(format!(
        "\n`sockscope serve --interval 15s` as a process, scraped every 15 s ({scrapes} scrapes):\n\n\
         | what | figure |\n|---|---|\n\
         | ESTABLISHED sockets in its first poll | {seen} |\n\
         | first poll completed after | {:.2} s |\n\
         | average CPU over {:.0} s after it | {busy:.2} % of a core |\n\
         | resident memory at the end (peak) | {:.1} MB ({:.1} MB) |\n",
        first.as_secs_f64(),
        wall.as_secs_f64(),
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
    ))
}
