//! The bench namespace: `ssbench-<pid>`, entered by this process's main thread (so every
//! tool it starts runs inside it), filled by holder processes, refreshed with TIME_WAIT
//! sockets, and torn down — holders killed by pid, namespace deleted — on drop and on
//! Ctrl-C.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use socket2::{Domain, SockAddr, Socket, Type};
use sockscope::collect::netns::{NETNS_RUN_DIR, list_named};

use crate::holder;

/// Namespace name prefix; the lab's `sslab-` namespaces are the test suite's, never ours.
pub const PREFIX: &str = "ssbench-";
/// Holders started at once.
const SPAWN_WAVE: usize = 4;
/// TIME_WAIT sockets made per chunk (two descriptors each while it is made).
const TIME_WAIT_CHUNK: u32 = 4_000;
/// Per-namespace sysctls: every ephemeral port, long accept queues, TIME_WAIT kept whole.
const SYSCTLS: &[(&str, &str)] = &[
    ("ipv4/ip_local_port_range", "1024 65535"),
    ("core/somaxconn", "65535"),
    ("ipv4/tcp_max_syn_backlog", "65535"),
    ("ipv4/tcp_rfc1337", "1"),
];

/// What Ctrl-C must undo: shared with the signal handler.
#[derive(Debug, Default)]
struct Teardown {
    netns: Option<String>,
    pids: Vec<u32>,
    /// Process groups of running timing wrappers (each with the tool it runs).
    groups: Vec<u32>,
}

impl Teardown {
    fn run(&mut self) {
        let groups = self.groups.drain(..).map(|g| -(g as i32));
        for pid in self.pids.drain(..).map(|p| p as i32).chain(groups) {
            // ESRCH (already gone) is the only expected failure.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Some(name) = self.netns.take() {
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .stdin(Stdio::null())
                .status();
        }
    }
}

/// The filled namespace.
#[derive(Debug)]
pub struct BenchNet {
    name: String,
    teardown: Arc<Mutex<Teardown>>,
    holders: Vec<Child>,
    time_wait_listener: Option<Socket>,
}

impl BenchNet {
    /// Create `ssbench-<pid>`, enter it on this thread, set its sysctls, and make Ctrl-C
    /// tear it down.
    pub fn create() -> anyhow::Result<BenchNet> {
        sweep_stale();
        let name = format!("{PREFIX}{}", std::process::id());
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
        if Path::new(NETNS_RUN_DIR).join(&name).exists() {
            // Our pid in its name: a leftover of a crashed run that had the same pid.
            ip(&["netns", "del", &name])?;
        }
        ip(&["netns", "add", &name])?;
        let net = BenchNet {
            name,
            teardown,
            holders: Vec::new(),
            time_wait_listener: None,
        };
        net.lock().netns = Some(net.name.clone());
        ip(&["-n", &net.name, "link", "set", "lo", "up"])?;
        let handle = Path::new(NETNS_RUN_DIR).join(&net.name);
        let handle = std::fs::File::open(&handle)
            .with_context(|| format!("opening {}", handle.display()))?;
        setns(&handle, CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("entering {}", net.name))?;
        for (key, value) in SYSCTLS {
            let path = format!("/proc/sys/net/{key}");
            std::fs::write(&path, value).with_context(|| format!("writing {value:?} to {path}"))?;
        }
        Ok(net)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Teardown> {
        self.teardown.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Kill process group `group` (a timing wrapper and its tool) on Ctrl-C while
    /// `running` runs.
    pub fn guarding<T>(&self, group: u32, running: impl FnOnce() -> T) -> T {
        self.lock().groups.push(group);
        let result = running();
        self.lock().groups.retain(|g| *g != group);
        result
    }

    /// Start holders (`exe` run as a holder) for `pairs` connections, `per_holder` each,
    /// a few at a time, and wait until each reports ready.
    pub fn fill(&mut self, exe: &Path, pairs: u32, per_holder: u32) -> anyhow::Result<()> {
        let holders = pairs.div_ceil(per_holder);
        let indices: Vec<u32> = (0..holders).collect();
        for wave in indices.chunks(SPAWN_WAVE) {
            let first = self.holders.len();
            for &index in wave {
                let count = per_holder.min(pairs - index * per_holder);
                let child = Command::new(exe)
                    .args([
                        holder::HOLD_ARG,
                        &index.to_string(),
                        &count.to_string(),
                        &std::process::id().to_string(),
                    ])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .with_context(|| format!("starting holder {index} ({})", exe.display()))?;
                self.lock().pids.push(child.id());
                self.holders.push(child);
            }
            for (child, index) in self.holders[first..].iter_mut().zip(wave) {
                let mut line = String::new();
                if let Some(out) = child.stdout.take() {
                    let _ = BufReader::new(out).read_line(&mut line);
                }
                if line.trim_end() != "ready" {
                    bail!(
                        "holder {index} (pid {}) did not report ready; its error is above",
                        child.id()
                    );
                }
            }
        }
        Ok(())
    }

    /// Wait until `ss` counts at least `expected` ESTABLISHED sockets.
    pub fn settle(&self, expected: u64, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let seen = count_established()?;
            if seen >= expected {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "netns {}: only {seen} of {expected} ESTABLISHED sockets after {timeout:?}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Make `count` TIME_WAIT sockets: connect, close the client end, then the server end,
    /// from a source address of this round's own (TIME_WAIT keeps its port for 60 s).
    pub fn time_wait_batch(&mut self, round: u32, count: u32) -> anyhow::Result<()> {
        let listen_at = SockAddr::from(SocketAddr::from(([127, 3, 0, 1], 6000)));
        if self.time_wait_listener.is_none() {
            let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            listener.set_reuse_address(true)?;
            listener.bind(&listen_at)?;
            listener.listen(4096)?;
            self.time_wait_listener = Some(listener);
        }
        let Some(listener) = &self.time_wait_listener else {
            return Ok(());
        };
        let mut made = 0;
        let mut chunk = 0u32;
        while made < count {
            // A fresh source address per chunk: each keeps its ports for 60 s.
            let source = SockAddr::from(SocketAddr::from((
                holder::address(4, round * 1000 + chunk),
                0,
            )));
            let n = TIME_WAIT_CHUNK.min(count - made);
            let mut clients = Vec::with_capacity(n as usize);
            let mut servers = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let client = Socket::new(Domain::IPV4, Type::STREAM, None)?;
                client.bind(&source)?;
                client.connect(&listen_at)?;
                servers.push(listener.accept()?.0);
                clients.push(client);
            }
            drop(clients);
            drop(servers);
            made += n;
            chunk += 1;
        }
        Ok(())
    }
}

impl Drop for BenchNet {
    fn drop(&mut self) {
        eprintln!("bench: tearing down {}", self.name);
        for child in &mut self.holders {
            drop(child.stdin.take());
        }
        self.lock().run();
        for child in &mut self.holders {
            let _ = child.wait();
        }
    }
}

/// The TCP line of `/proc/net/sockstat` of this thread's namespace (`inuse … tw …`).
pub fn sockstat() -> String {
    std::fs::read_to_string("/proc/thread-self/net/sockstat")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("TCP: ").map(str::to_owned))
        })
        .unwrap_or_default()
}

/// Lines of `ss -Htan state established` (this thread's namespace).
fn count_established() -> anyhow::Result<u64> {
    let mut child = Command::new("ss")
        .args(["-Htan", "state", "established"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("running ss (is iproute2 installed?)")?;
    let mut lines = 0u64;
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = out.read(&mut buf)?;
            if n == 0 {
                break;
            }
            #[allow(clippy::naive_bytecount)] // 100 MB at most, once per bench
            let newlines = buf[..n].iter().filter(|b| **b == b'\n').count();
            lines += newlines as u64;
        }
    }
    child.wait()?;
    Ok(lines)
}

/// Delete `ssbench-PID` namespaces whose process is gone.
pub fn sweep_stale() {
    for name in list_named() {
        // `ssbench-PID`, or `ssbench-PID-N` for the many-namespace bench.
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|p| p.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running ip (is iproute2 installed?)")?;
    if !output.status.success() {
        bail!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
