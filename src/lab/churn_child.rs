//! The churning client's two processes, in holder processes (see `churn.rs` for the
//! scenario): the server (`churn-serve ADDR`) and the client (`churn ADDR RATE HOLD_MS`,
//! counted by `churn-tally`). Apart from `churn.rs`, which spawns the holders, so that the
//! two sides do not import each other.
//!
//! One connection: the client connects, writes [`REQUEST`], reads [`REPLY`], holds the
//! connection [`HOLD_MS`](self) milliseconds and closes it; the server, on a thread per
//! connection, reads the request, answers, and closes once it reads the client's
//! end-of-file — so the client closes first and its side is the one left in `TIME_WAIT`,
//! as a client that opens a connection per request leaves it.
//!
//! Bounded: the client is paced (never more than its rate, nor a burst to catch up after a
//! stall of more than [`CATCH_UP`]), every socket operation has a timeout, a failed
//! connection is counted and the pace goes on, and both sides live only as long as their
//! holder process, which the lab kills when it drops.

use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What the client writes on each connection.
const REQUEST: &[u8; 4] = b"ping";
/// What the server answers.
const REPLY: &[u8; 4] = b"pong";
/// Client threads, each making its share of the rate: several connections are in flight
/// at once (rate × hold), and one slow answer does not stall the others.
const CLIENT_THREADS: u32 = 4;
/// The most connections a second the client is asked for. `TIME_WAIT` keeps each closed
/// connection's local port for 60 s: 400/s × 60 s = 24,000 ports toward one destination,
/// within the default ephemeral range of 28,232 (32768–60999).
pub(super) const MAX_RATE: u32 = 400;
/// The most connections a pooled client keeps.
pub(super) const MAX_POOL: usize = 64;
/// The longest the client holds a connection open.
const MAX_HOLD: Duration = Duration::from_secs(1);
/// How long a connect, a read or a write may take, on either side.
const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a server thread waits for the client's request and then its end-of-file.
const SERVER_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections the server serves at once; more are closed at once (the client counts them
/// as failed). With one client at [`MAX_RATE`] holding for [`MAX_HOLD`], 400 are in flight.
const MAX_SERVED: usize = 512;
/// A client thread that falls further behind its pace than this skips the connections it
/// missed instead of making them in a burst.
const CATCH_UP: Duration = Duration::from_secs(1);

/// Connections the client made: connected, asked, answered (each closed after its hold).
static MADE: AtomicU64 = AtomicU64::new(0);
/// Connections that failed (refused, timed out, a wrong answer).
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Carry out a churn command line, or `None` when `line` is not one.
pub(super) fn obey(line: &str) -> Option<Result<String, String>> {
    if let Some(spec) = line.strip_prefix("churn-serve ") {
        return Some(serve(spec).map(|addr| format!("serving {addr}")));
    }
    if let Some(spec) = line.strip_prefix("pooled ") {
        return Some(pooled(spec).map(|()| "pooling".to_owned()));
    }
    if let Some(spec) = line.strip_prefix("churn ") {
        return Some(churn(spec).map(|()| "churning".to_owned()));
    }
    (line == "churn-tally").then(|| {
        Ok(format!(
            "made {} failed {}",
            MADE.load(Ordering::Relaxed),
            FAILED.load(Ordering::Relaxed)
        ))
    })
}

/// `ADDR`: listen on it, serve on a thread of its own, and return the listener's address.
fn serve(spec: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = spec.parse().map_err(|e| format!("address {spec:?}: {e}"))?;
    let listener = TcpListener::bind(addr).map_err(|e| format!("listening on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("listener address: {e}"))?;
    std::thread::Builder::new()
        .name("churn-accept".to_owned())
        .spawn(move || accept_all(&listener))
        .map_err(|e| format!("starting the server's thread: {e}"))?;
    Ok(local)
}

/// Accept connections for as long as the process lives, each answered on a thread.
fn accept_all(listener: &TcpListener) {
    let served = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((stream, _)) = listener.accept() else {
            // Out of descriptors or memory: wait rather than spin.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if served.load(Ordering::Relaxed) >= MAX_SERVED {
            continue;
        }
        served.fetch_add(1, Ordering::Relaxed);
        let done = Arc::clone(&served);
        let spawned = std::thread::Builder::new().spawn(move || {
            answer(stream);
            done.fetch_sub(1, Ordering::Relaxed);
        });
        if spawned.is_err() {
            served.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Answer each request on the connection (one from a churning client, many from a pooled
/// one), and close once the client has closed (or on a timeout, or anything else than a
/// request).
fn answer(mut stream: TcpStream) {
    let mut request = [0u8; REQUEST.len()];
    let timeouts = stream
        .set_read_timeout(Some(SERVER_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(SERVER_TIMEOUT)));
    if timeouts.is_err() {
        return;
    }
    while stream.read_exact(&mut request).is_ok()
        && &request == REQUEST
        && stream.write_all(REPLY).is_ok()
    {}
}

/// How the client goes: where, how fast, how long it holds each connection.
#[derive(Clone, Copy, Debug)]
struct ChurnPlan {
    destination: SocketAddr,
    rate: u32,
    hold: Duration,
}

/// `ADDR RATE HOLD_MS`: make one connection now (an error if it fails: the server is not
/// there), then start the client threads.
fn churn(spec: &str) -> Result<(), String> {
    let [addr, rate, hold_ms] = spec.split(' ').collect::<Vec<_>>()[..] else {
        return Err(format!("expected `churn ADDR RATE HOLD_MS`, got {spec:?}"));
    };
    let destination: SocketAddr = addr.parse().map_err(|e| format!("address {addr:?}: {e}"))?;
    let rate: u32 = rate.parse().map_err(|e| format!("rate {rate:?}: {e}"))?;
    let hold_ms: u64 = hold_ms
        .parse()
        .map_err(|e| format!("hold {hold_ms:?}: {e}"))?;
    let hold = Duration::from_millis(hold_ms);
    if rate == 0 || rate > MAX_RATE || hold > MAX_HOLD {
        return Err(format!(
            "rate {rate}/s and hold {hold_ms} ms: the rate is 1 to {MAX_RATE}, the hold at most {} ms",
            MAX_HOLD.as_millis()
        ));
    }
    drop(exchange(destination).map_err(|e| format!("a first connection to {destination}: {e}"))?);
    MADE.fetch_add(1, Ordering::Relaxed);
    let pace = ChurnPlan {
        destination,
        rate,
        hold,
    };
    for thread in 0..CLIENT_THREADS {
        std::thread::Builder::new()
            .name(format!("churn-{thread}"))
            .spawn(move || client(pace, thread))
            .map_err(|e| format!("starting client thread {thread}: {e}"))?;
    }
    Ok(())
}

/// One client thread: connection `k` of this thread is due at `k × CLIENT_THREADS + thread`
/// periods of `1 / rate` after the start; each is closed `hold` after its answer. Runs for
/// as long as the process lives.
fn client(pace: ChurnPlan, thread: u32) {
    let period = Duration::from_secs(1) / pace.rate;
    let interval = period * CLIENT_THREADS;
    let mut due = Instant::now() + period * thread;
    let mut open: VecDeque<(Instant, TcpStream)> = VecDeque::new();
    loop {
        let now = Instant::now();
        while open.front().is_some_and(|(until, _)| *until <= now) {
            open.pop_front();
        }
        if now >= due {
            match exchange(pace.destination) {
                Ok(stream) => {
                    MADE.fetch_add(1, Ordering::Relaxed);
                    open.push_back((Instant::now() + pace.hold, stream));
                }
                Err(_) => {
                    FAILED.fetch_add(1, Ordering::Relaxed);
                }
            }
            due += interval;
            let now = Instant::now();
            if now > due + CATCH_UP {
                due = now;
            }
            continue;
        }
        let wake = open.front().map_or(due, |(until, _)| due.min(*until));
        std::thread::sleep(wake.saturating_duration_since(now));
    }
}

/// `ADDR RATE POOL`: open `POOL` connections now (an error if one fails), then make `RATE`
/// requests a second over them in turn, on one thread, reconnecting a connection that
/// fails: a client with a connection pool, which closes nothing while it runs. Each
/// request answered counts as made.
fn pooled(spec: &str) -> Result<(), String> {
    let [addr, rate, pool] = spec.split(' ').collect::<Vec<_>>()[..] else {
        return Err(format!("expected `pooled ADDR RATE POOL`, got {spec:?}"));
    };
    let destination: SocketAddr = addr.parse().map_err(|e| format!("address {addr:?}: {e}"))?;
    let rate: u32 = rate.parse().map_err(|e| format!("rate {rate:?}: {e}"))?;
    let pool: usize = pool.parse().map_err(|e| format!("pool {pool:?}: {e}"))?;
    if rate == 0 || rate > MAX_RATE || pool == 0 || pool > MAX_POOL {
        return Err(format!(
            "rate {rate}/s and pool {pool}: the rate is 1 to {MAX_RATE}, the pool 1 to {MAX_POOL}"
        ));
    }
    let mut connections = Vec::with_capacity(pool);
    for _ in 0..pool {
        connections.push(
            exchange(destination).map_err(|e| format!("a connection to {destination}: {e}"))?,
        );
        MADE.fetch_add(1, Ordering::Relaxed);
    }
    std::thread::Builder::new()
        .name("pooled".to_owned())
        .spawn(move || reuse(destination, rate, connections))
        .map_err(|e| format!("starting the pooled client's thread: {e}"))?;
    Ok(())
}

/// The pooled client's thread: request `k` is due `k / rate` after the start, on
/// connection `k mod POOL`. Runs for as long as the process lives.
fn reuse(destination: SocketAddr, rate: u32, mut connections: Vec<TcpStream>) {
    let period = Duration::from_secs(1) / rate;
    let mut due = Instant::now();
    for k in 0.. {
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let slot = k % connections.len();
        if ask(&mut connections[slot]).is_ok() {
            MADE.fetch_add(1, Ordering::Relaxed);
        } else {
            FAILED.fetch_add(1, Ordering::Relaxed);
            if let Ok(fresh) = exchange(destination) {
                connections[slot] = fresh;
            }
        }
        due += period;
        let now = Instant::now();
        if now > due + CATCH_UP {
            due = now;
        }
    }
}

/// One request and its answer on an open connection.
fn ask(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(REQUEST)?;
    let mut reply = [0u8; REPLY.len()];
    stream.read_exact(&mut reply)?;
    if &reply != REPLY {
        return Err(std::io::Error::other(format!(
            "answered {reply:?}, not {REPLY:?}"
        )));
    }
    Ok(())
}

/// Connect, write the request, read the answer; the connection stays open.
fn exchange(destination: SocketAddr) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&destination, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    ask(&mut stream)?;
    Ok(stream)
}
