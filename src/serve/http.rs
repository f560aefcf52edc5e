//! A small HTTP/1.1 server for `/metrics`, `/` and `/healthz`, on std threads, with strict
//! limits. A thread per connection, up to [`ConnectionLimits::connections`] at once (`slots.rs`: when
//! all are taken, the connection idle or stalled the longest makes way; only when every
//! one is busy answering does a newcomer get a 503, written by a helper thread so the
//! accept loop never waits, or, on a TLS listener, a plain close). Every phase of a
//! connection has a deadline for the whole phase, however many reads it takes: the TLS
//! handshake and the first request head ([`ConnectionLimits::read`]), each response
//! ([`ConnectionLimits::write`]), the wait for the next request on a kept-alive connection
//! ([`ConnectionLimits::idle`]) and then that request's head. Bounds on the request line (414) and
//! the head (431); malformed requests get 400. HTTP/1.1 connections stay open for the
//! next request; `/metrics` is gzipped when the scraper accepts it. A scrape only clones
//! the latest page's `Arc`, so it never waits for a poll.

mod request;
mod routes;
mod slots;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

pub use request::{HeadReader, HeadRefusal, Request, accepts_gzip, parse_head};

use super::poller::Published;
use routes::{Response, respond, route};
use slots::{Phase, Slots, Ticket};

/// The server's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once. A newcomer beyond them takes the slot of the one idle
    /// or stalled the longest; when every one is busy answering, it gets 503 at once.
    pub connections: usize,
    /// Time for a client to send a whole request head; for a new connection, counted
    /// from its accept, the TLS handshake included.
    pub read: Duration,
    /// Time for a client to take a whole response.
    pub write: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle: Duration,
    /// Longest request line (method, target, version).
    pub request_line: usize,
    /// Longest request head (request line and headers).
    pub head: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            connections: 128,
            read: Duration::from_secs(10),
            write: Duration::from_secs(10),
            // Longer than the 5 minutes Prometheus keeps an idle connection: it closes
            // first, so the TIME_WAIT stays on its host, not on the one watched.
            idle: Duration::from_secs(6 * 60),
            request_line: 2048,
            head: 8192,
        }
    }
}

/// How long a refused request's 4xx answer may take to write.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// At most this many 503s are being written at once; beyond, a refused connection is
/// closed at once.
const REFUSING: usize = 32;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is taken.
    #[error(
        "--listen {addr}: the address is already in use (another exporter, or sockscope serve already running?); choose another port with --listen"
    )]
    InUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Any other failure to listen.
    #[error("--listen {addr}: cannot listen there: {cause}; {}", bind_hint(.cause))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause (told once: it is part of the message, not a source below it).
        cause: io::Error,
    },
}

/// What to do about a failure to listen.
fn bind_hint(cause: &io::Error) -> &'static str {
    match cause.kind() {
        io::ErrorKind::AddrNotAvailable => {
            "the address is not one of this host's; give one of its addresses, or 0.0.0.0 (every IPv4 address) with --listen"
        }
        io::ErrorKind::PermissionDenied => {
            "ports below 1024 need root or CAP_NET_BIND_SERVICE; choose a port above 1023 with --listen"
        }
        _ => "choose another address with --listen",
    }
}

/// Checks a request's `Authorization` header (basic auth of `--web-config`).
pub trait Authorize: Send + Sync {
    /// Whether a request with this `Authorization` header (if any) may proceed.
    fn allows(&self, authorization: Option<&str>) -> bool;
}

/// Wraps an accepted connection (TLS of `--web-config`); `None` drops the connection.
pub trait Wrap: Send + Sync {
    /// The stream to speak HTTP over.
    fn wrap(&self, stream: TcpStream) -> Option<Box<dyn Stream>>;
}

/// A byte stream a response is written to.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A bound listener, ready to serve.
pub struct Server {
    listener: TcpListener,
    limits: ConnectionLimits,
    published: Arc<Published>,
    authorize: Option<Arc<dyn Authorize>>,
    wrap: Option<Arc<dyn Wrap>>,
    /// 503s being written.
    refusing: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What every connection thread needs.
struct Context {
    limits: ConnectionLimits,
    published: Arc<Published>,
    authorize: Option<Arc<dyn Authorize>>,
}

impl Server {
    /// Listen on `addr` (port 0: any free port) to serve `published`.
    pub fn bind(
        addr: SocketAddr,
        limits: ConnectionLimits,
        published: Arc<Published>,
    ) -> Result<Server, ServeError> {
        let listener = TcpListener::bind(addr).map_err(|cause| {
            if cause.kind() == io::ErrorKind::AddrInUse {
                ServeError::InUse { addr }
            } else {
                ServeError::Bind { addr, cause }
            }
        })?;
        Ok(Server {
            listener,
            limits,
            published,
            authorize: None,
            wrap: None,
            refusing: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Ask for basic auth.
    #[must_use]
    pub fn with_auth(mut self, authorize: Arc<dyn Authorize>) -> Server {
        self.authorize = Some(authorize);
        self
    }

    /// Wrap every connection (TLS).
    #[must_use]
    pub fn with_wrap(mut self, wrap: Arc<dyn Wrap>) -> Server {
        self.wrap = Some(wrap);
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept connections until the listener fails.
    pub fn run(self) -> io::Result<()> {
        let slots = Slots::new(self.limits.connections);
        let context = Arc::new(Context {
            limits: self.limits,
            published: Arc::clone(&self.published),
            authorize: self.authorize.clone(),
        });
        loop {
            let (stream, _) = match self.listener.accept() {
                Ok(accepted) => accepted,
                // A connection reset before it was accepted, or descriptors run out for a
                // moment: the next accept may work.
                Err(e) if is_transient(&e) => {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.dispatch(stream, &slots, &context);
        }
    }

    /// Run [`Server::run`] on its own thread.
    pub fn spawn(self) -> io::Result<thread::JoinHandle<io::Result<()>>> {
        thread::Builder::new()
            .name("sockscope-http".to_owned())
            .spawn(move || self.run())
    }

    /// Serve `stream` on a thread of its own, or refuse it; never waits for the client.
    fn dispatch(&self, stream: TcpStream, slots: &Arc<Slots>, context: &Arc<Context>) {
        let deadline = Instant::now() + self.limits.read;
        let Some(ticket) = slots.claim(&stream, deadline) else {
            self.refuse(stream);
            return;
        };
        let context = Arc::clone(context);
        let wrap = self.wrap.clone();
        // On failure the closure, and the ticket in it, is dropped: the slot is freed.
        let _ = thread::Builder::new()
            .name("sockscope-scrape".to_owned())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = stream.set_nodelay(true);
                let _ = stream.set_write_timeout(Some(context.limits.write));
                serve_connection(&stream, wrap.as_deref(), |s| {
                    converse(s, &stream, &ticket, deadline, &context);
                });
                finish(&stream);
                drop(ticket);
            });
    }

    /// Every connection is busy answering: a 503, written and lingered over by a helper
    /// thread (at most [`REFUSING`] at once; beyond, the connection is just closed). On a
    /// TLS listener the connection is closed: a plaintext answer means nothing to a TLS
    /// client.
    fn refuse(&self, stream: TcpStream) {
        if self.wrap.is_some() {
            return;
        }
        if self.refusing.fetch_add(1, Ordering::AcqRel) >= REFUSING {
            self.refusing.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let refusing = Arc::clone(&self.refusing);
        let spawned = thread::Builder::new()
            .name("sockscope-refuse".to_owned())
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                let mut out = &stream;
                let response = Response::plain(503, "too many connections at once; try again\n");
                let _ = respond(&mut out, &response, false, false);
                finish(&stream);
                refusing.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            self.refusing.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn serve_connection(
    stream: &TcpStream,
    wrap: Option<&dyn Wrap>,
    serve: impl FnOnce(&mut dyn Stream),
) {
    match wrap {
        None => {
            let mut plain = stream;
            serve(&mut plain);
        }
        Some(wrap) => {
            let Ok(clone) = stream.try_clone() else {
                return;
            };
            if let Some(mut wrapped) = wrap.wrap(clone) {
                serve(&mut *wrapped);
            }
        }
    }
}

/// Requests and responses on one connection until it closes: the first head by
/// `first_deadline` (counted from the accept: a TLS handshake is part of it), then, while
/// the client keeps the connection alive, the next request within [`ConnectionLimits::idle`] and
/// its head within [`ConnectionLimits::read`] of its first bytes. Each phase is also on the
/// `ticket`, whose watchdog cuts the connection when a phase outlives its deadline.
fn converse(
    stream: &mut dyn Stream,
    socket: &TcpStream,
    ticket: &Ticket,
    first_deadline: Instant,
    context: &Context,
) {
    let limits = &context.limits;
    // Socket timeouts are per socket: setting them here also bounds the reads of a
    // wrapped (TLS) stream over the same socket.
    let mut set_timeout = |left: Duration| {
        let _ = socket.set_read_timeout(Some(left.max(Duration::from_millis(1))));
    };
    let mut reader = HeadReader::new();
    let mut deadline = first_deadline;
    loop {
        let request = match reader.next(stream, &mut set_timeout, deadline, limits) {
            Ok(request) => request,
            Err(refusal) => {
                if let Some(response) = refusal.response() {
                    // A short word to a client that was slow or wrong: reads fail at once
                    // (a TLS stream whose handshake did not finish would read to finish
                    // it), and the whole answer gets a second at most.
                    set_timeout(Duration::ZERO);
                    ticket.enter(Phase::Answer, Instant::now() + REFUSAL_WRITE);
                    let _ = respond(stream, &response, false, false);
                }
                return;
            }
        };
        ticket.enter(Phase::Answer, Instant::now() + limits.write);
        let keep_alive = request.keep_alive && !request.has_body;
        let response = route(&request, &context.published, context.authorize.as_deref());
        let head_only = request.method == "HEAD";
        if respond(stream, &response, head_only, keep_alive).is_err() || !keep_alive {
            return;
        }
        if !reader.has_buffered() {
            let idle_until = Instant::now() + limits.idle;
            ticket.enter(Phase::Idle, idle_until);
            // No next request in time, or the client left: close without a word.
            if reader.fill(stream, &mut set_timeout, idle_until).is_err() {
                return;
            }
        }
        deadline = Instant::now() + limits.read;
        ticket.enter(Phase::Head, deadline);
    }
}

/// Close our side and give the client a moment to read the response before the socket
/// goes (closing with unread input would reset the connection and lose the response).
fn finish(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    // At most half a second and 64 KiB: a client that keeps sending is not waited for.
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    let mut s = stream;
    while drained < 64 * 1024 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match s.read(&mut sink) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
}
