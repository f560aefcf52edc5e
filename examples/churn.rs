//! A connection generator (root), for measuring what watches connection churn, such as
//! `sockscope events` or `ss -E`: in a scratch network namespace `sschurn-<pid>` (or an
//! existing one, `--netns NAME`), a server on 127.0.0.1:`--port` and `--clients` client
//! threads that, for `--duration`, open `--rate` connections a second in total (paced per
//! 10 ms slice), each writing `ping`, reading `pong` and closing. It counts exactly what it
//! did and prints it: the connections made, the rate reached, and the sockets the kernel
//! destroyed (two per connection, both ends; the listener's own destroy comes at exit and is
//! not counted). In the namespace it makes it turns TIME_WAIT off (`tcp_max_tw_buckets` 0:
//! the full sockets are destroyed as usual, only the port-holding mini-sockets are skipped)
//! and opens the whole ephemeral port range, so no rate runs out of ports; an existing
//! namespace is left as it is. The namespace it made is deleted at the end, on error and on
//! Ctrl-C.
//!
//! ```sh
//! cargo build --release --example churn
//! sudo target/release/examples/churn --rate 20000 --duration 10 --hold
//! # the namespace's name is printed; attach, then press Enter:
//! sudo target/release/sockscope events --netns sschurn-PID --json --duration 12s > events.jsonl
//! ```
//!
//! Not a test: nothing fails on speed.

// A tool run by hand, whose report is its printed output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use socket2::{Domain, SockAddr, Socket, Type};
use sockscope::collect::NetnsTarget;
use sockscope::collect::netns::{NETNS_RUN_DIR, run_in};

/// Namespace name prefix (the bench's are `ssbench-`, the test suite's `sslab-`).
const PREFIX: &str = "sschurn-";
/// The pacing slice: each client thread catches up with its share once per slice.
const SLICE: Duration = Duration::from_millis(10);
/// Slices a second.
const SLICES_PER_SEC: u64 = 100;
/// What a client writes, and what the server answers.
const REQUEST: &[u8; 4] = b"ping";
/// The server's answer.
const REPLY: &[u8; 4] = b"pong";
/// How long a server thread's `accept` waits before it looks whether to stop.
const ACCEPT_WAIT: Duration = Duration::from_millis(100);
/// How long the last sockets get to go after the load, before the counts are printed.
const SETTLE: Duration = Duration::from_secs(5);
/// Per-namespace sysctls of the namespace made here: every ephemeral port, long accept
/// queues, no TIME_WAIT mini-sockets holding ports.
const SYSCTLS: &[(&str, &str)] = &[
    ("ipv4/ip_local_port_range", "1024 65535"),
    ("core/somaxconn", "65535"),
    ("ipv4/tcp_max_syn_backlog", "65535"),
    ("ipv4/tcp_max_tw_buckets", "0"),
];

/// Open and close loopback connections at a steady rate in a network namespace.
#[derive(Debug, Parser)]
#[command(name = "churn")]
struct Args {
    /// Connections a second, in total over the client threads.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    rate: u64,
    /// How long to generate: seconds (`10`) or a duration (`10s`, `1m`).
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    duration: Duration,
    /// Client threads (and as many server threads).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    clients: u64,
    /// The server's port on 127.0.0.1.
    #[arg(long, default_value_t = 7070)]
    port: u16,
    /// Print the namespace's name and the server's address, then wait for Enter (or stdin
    /// closing) before generating, so that another tool can attach first.
    #[arg(long)]
    hold: bool,
    /// Generate in this existing namespace (`ip netns add NAME`) instead of a scratch one;
    /// its sysctls are left as they are.
    #[arg(long, value_name = "NAME")]
    netns: Option<String>,
}

/// `10` (seconds) or a humantime duration (`10s`, `500ms`).
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let parsed = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{text:?}: not seconds nor a duration like 10s ({e})"))?,
    };
    if parsed.is_zero() {
        return Err(format!("{text:?}: the duration must be more than zero"));
    }
    Ok(parsed)
}

/// The scratch namespace, deleted on drop (and by the Ctrl-C handler, which shares it).
struct ScratchNetns {
    name: Arc<Mutex<Option<String>>>,
}

impl ScratchNetns {
    /// `ip netns add sschurn-<pid>`, loopback up; Ctrl-C deletes it and exits.
    fn create() -> anyhow::Result<ScratchNetns> {
        let name = format!("{PREFIX}{}", std::process::id());
        if Path::new(NETNS_RUN_DIR).join(&name).exists() {
            // Our pid in its name: a leftover of a crashed run that had the same pid.
            ip(&["netns", "del", &name])?;
        }
        ip(&["netns", "add", &name])?;
        let scratch = ScratchNetns {
            name: Arc::new(Mutex::new(Some(name.clone()))),
        };
        let for_handler = Arc::clone(&scratch.name);
        ctrlc::set_handler(move || {
            eprintln!("churn: interrupted; deleting the namespace");
            delete(&for_handler);
            std::process::exit(130);
        })
        .context("installing the Ctrl-C handler")?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(scratch)
    }
}

impl Drop for ScratchNetns {
    fn drop(&mut self) {
        delete(&self.name);
    }
}

/// `ip netns del` the namespace named in `name`, once.
fn delete(name: &Mutex<Option<String>>) {
    if let Some(name) = name.lock().unwrap_or_else(PoisonError::into_inner).take() {
        let _ = ip(&["netns", "del", &name]);
    }
}

/// Run `ip ARGS`; its stderr in the error.
fn ip(args: &[&str]) -> anyhow::Result<()> {
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

/// What the threads counted.
#[derive(Debug, Default)]
struct Tally {
    /// Client connections established (the server accepted each: two sockets).
    connected: AtomicU64,
    /// Of those, the ones that got their reply (the whole exchange).
    completed: AtomicU64,
    /// Connects that failed.
    connect_failed: AtomicU64,
    /// Exchanges that failed after the connect (a write or read error).
    exchange_failed: AtomicU64,
    /// Connections the server accepted, answered and closed.
    served: AtomicU64,
    /// Accepted connections whose exchange failed on the server side.
    serve_failed: AtomicU64,
    /// The first error seen, for the report.
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn error(&self, counter: &AtomicU64, what: &str, error: &std::io::Error) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(format!("{what}: {error}"));
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("churn: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let (name, scratch) = match &args.netns {
        Some(name) => (name.clone(), None),
        None => {
            let scratch = ScratchNetns::create()?;
            let name = scratch
                .name
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_default();
            (name, Some(scratch))
        }
    };
    let target = NetnsTarget::Named(name.clone());
    let result = run_in(&target, || generate(args, &name, scratch.is_some()))
        .with_context(|| format!("entering netns {name}"))?;
    drop(scratch);
    result
}

/// Inside the namespace: listen, hold if asked, run the load, settle, print the counts.
fn generate(args: &Args, name: &str, scratch: bool) -> anyhow::Result<()> {
    if scratch {
        for (key, value) in SYSCTLS {
            let path = format!("/proc/sys/net/{key}");
            std::fs::write(&path, value).with_context(|| format!("writing {value:?} to {path}"))?;
        }
    }
    let server = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    listener.set_reuse_address(true)?;
    listener
        .bind(&SockAddr::from(server))
        .with_context(|| format!("binding {server} in netns {name} (--port picks another)"))?;
    listener.listen(65_535)?;
    listener.set_read_timeout(Some(ACCEPT_WAIT))?;
    let baseline = tcp_in_use();
    println!("netns {name}");
    println!("server {server}");
    if args.hold {
        println!("holding: press Enter to start");
        std::io::stdout().flush()?;
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
    std::io::stdout().flush()?;
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let elapsed = std::thread::scope(|scope| -> anyhow::Result<Duration> {
        let mut servers = Vec::new();
        for _ in 0..args.clients {
            let listener = listener.try_clone()?;
            let (tally, stop) = (&tally, &stop);
            servers.push(scope.spawn(move || serve(&listener, tally, stop)));
        }
        let clients: Vec<_> = (0..args.clients)
            .map(|index| {
                let tally = &tally;
                scope.spawn(move || connect_paced(args, index, server, start, tally))
            })
            .collect();
        for client in clients {
            let _ = client.join();
        }
        let elapsed = start.elapsed();
        // Every accepted connection answered and closed, then the servers stop.
        let waited = Instant::now();
        while tally.served.load(Ordering::Relaxed) + tally.serve_failed.load(Ordering::Relaxed)
            < tally.connected.load(Ordering::Relaxed)
            && waited.elapsed() < SETTLE
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        for server in servers {
            let _ = server.join();
        }
        Ok(elapsed)
    })?;
    // Both ends gone: the namespace's TCP sockets back to what they were before the load.
    let waited = Instant::now();
    let mut left = tcp_in_use().saturating_sub(baseline);
    while left > 0 && waited.elapsed() < SETTLE {
        std::thread::sleep(Duration::from_millis(10));
        left = tcp_in_use().saturating_sub(baseline);
    }
    report(args, &tally, elapsed, left);
    Ok(())
}

/// Accept, read the request, answer, close; until `stop`.
fn serve(listener: &Socket, tally: &Tally, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let accepted = match listener.accept() {
            Ok((socket, _)) => TcpStream::from(socket),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tally.error(&tally.serve_failed, "accept", &e);
                std::thread::sleep(ACCEPT_WAIT);
                continue;
            }
        };
        let mut accepted = accepted;
        let mut request = [0u8; REQUEST.len()];
        match accepted
            .read_exact(&mut request)
            .and_then(|()| accepted.write_all(REPLY))
        {
            Ok(()) => tally.served.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tally.error(&tally.serve_failed, "serving", &e);
                0
            }
        };
    }
}

/// Client thread `index`: its share of `--rate`, per slice, until `--duration` has passed.
fn connect_paced(args: &Args, index: u64, server: SocketAddr, start: Instant, tally: &Tally) {
    let threads = args.clients;
    let mut done = 0u64;
    let mut slice = 0u64;
    loop {
        let slice_end = start + SLICE * u32::try_from(slice + 1).unwrap_or(u32::MAX);
        if slice_end.duration_since(start) > args.duration {
            return;
        }
        // Everyone's total due by the end of this slice, split evenly over the threads.
        let total_due = args.rate * (slice + 1) / SLICES_PER_SEC;
        let due = (total_due + threads - 1 - index) / threads;
        while done < due {
            if start.elapsed() >= args.duration {
                return;
            }
            exchange(server, tally);
            done += 1;
        }
        std::thread::sleep(slice_end.saturating_duration_since(Instant::now()));
        slice += 1;
    }
}

/// One connection: connect, write the request, read the reply, close.
fn exchange(server: SocketAddr, tally: &Tally) {
    let mut stream = match TcpStream::connect(server) {
        Ok(stream) => stream,
        Err(e) => return tally.error(&tally.connect_failed, "connect", &e),
    };
    tally.connected.fetch_add(1, Ordering::Relaxed);
    let mut reply = [0u8; REPLY.len()];
    match stream
        .write_all(REQUEST)
        .and_then(|()| stream.read_exact(&mut reply))
    {
        Ok(()) => {
            tally.completed.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => tally.error(&tally.exchange_failed, "exchange", &e),
    }
}

/// The TCP sockets in use in this thread's namespace (`/proc/net/sockstat`'s `inuse`).
fn tcp_in_use() -> u64 {
    std::fs::read_to_string("/proc/thread-self/net/sockstat")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut fields = line.strip_prefix("TCP: ")?.split_whitespace();
                fields.position(|f| f == "inuse")?;
                fields.next()?.parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Print what was done.
fn report(args: &Args, tally: &Tally, elapsed: Duration, left: u64) {
    let connected = tally.connected.load(Ordering::Relaxed);
    let completed = tally.completed.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    let reached = completed as f64 / secs;
    println!(
        "asked {} connections/s for {:.1} s with {} client threads",
        args.rate,
        args.duration.as_secs_f64(),
        args.clients
    );
    println!(
        "completed {completed} connections in {secs:.3} s: {reached:.0}/s ({:.1} % of asked)",
        100.0 * reached / args.rate as f64
    );
    println!(
        "failed: {} connects, {} exchanges (client), {} (server)",
        tally.connect_failed.load(Ordering::Relaxed),
        tally.exchange_failed.load(Ordering::Relaxed),
        tally.serve_failed.load(Ordering::Relaxed)
    );
    if let Some(first) = tally
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_deref()
    {
        println!("first error: {first}");
    }
    println!(
        "destroyed {} sockets (2 per connection established: {connected}; the listener's own \
         destroy comes at exit, not counted)",
        2 * connected
    );
    if left > 0 {
        println!(
            "warning: {left} sockets of the load still in use after {SETTLE:?}; their destroy \
             comes later"
        );
    }
    let _ = std::io::stdout().flush();
}
