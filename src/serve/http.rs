//! A small HTTP/1.1 server for `/metrics`, `/` and `/healthz`, on std threads, with strict
//! limits: one thread per connection up to [`Limits::connections`] (beyond that a quick
//! 503), a deadline for the whole request head (a client that drips bytes or stalls is cut
//! off, it never holds a slot for long), a write timeout, and bounds on the request line
//! (414) and the head (431). Malformed requests get 400. Every response closes the
//! connection; a scrape only clones the latest page's `Arc`, so it never waits for a poll.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::exposition::Format;
use super::poller::{Health, Page, Published};

/// The server's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more get 503 right away.
    pub connections: usize,
    /// Time for a client to send its whole request head.
    pub read: Duration,
    /// Time for a client to take the response.
    pub write: Duration,
    /// Longest request line (method, target, version).
    pub request_line: usize,
    /// Longest request head (request line and headers).
    pub head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 128,
            read: Duration::from_secs(10),
            write: Duration::from_secs(10),
            request_line: 2048,
            head: 8192,
        }
    }
}

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
    #[error("--listen {addr}: cannot listen there: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
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
    limits: Limits,
    published: Arc<Published>,
    authorize: Option<Arc<dyn Authorize>>,
    wrap: Option<Arc<dyn Wrap>>,
    active: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listen on `addr` (port 0: any free port) to serve `published`.
    pub fn bind(
        addr: SocketAddr,
        limits: Limits,
        published: Arc<Published>,
    ) -> Result<Server, ServeError> {
        let listener = TcpListener::bind(addr).map_err(|source| {
            if source.kind() == io::ErrorKind::AddrInUse {
                ServeError::InUse { addr }
            } else {
                ServeError::Bind { addr, source }
            }
        })?;
        Ok(Server {
            listener,
            limits,
            published,
            authorize: None,
            wrap: None,
            active: Arc::new(AtomicUsize::new(0)),
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
            self.dispatch(stream);
        }
    }

    /// Run [`Server::run`] on its own thread.
    pub fn spawn(self) -> io::Result<thread::JoinHandle<io::Result<()>>> {
        thread::Builder::new()
            .name("sockscope-http".to_owned())
            .spawn(move || self.run())
    }

    fn dispatch(&self, stream: TcpStream) {
        let limits = self.limits;
        if self.active.fetch_add(1, Ordering::AcqRel) >= limits.connections {
            self.active.fetch_sub(1, Ordering::AcqRel);
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let mut stream = stream;
            let _ = respond(
                &mut stream,
                &Response::plain(503, "too many connections at once; try again\n"),
                false,
            );
            finish(&stream);
            return;
        }
        let active = Arc::clone(&self.active);
        let published = Arc::clone(&self.published);
        let authorize = self.authorize.clone();
        let wrap = self.wrap.clone();
        let spawned = thread::Builder::new()
            .name("sockscope-scrape".to_owned())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = stream.set_write_timeout(Some(limits.write));
                let _ = stream.set_nodelay(true);
                // Socket timeouts are per socket: setting them here also bounds the reads
                // of a wrapped (TLS) stream over the same socket.
                let mut set_timeout = |left: Duration| {
                    let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
                };
                serve_connection(&stream, wrap.as_deref(), |s| {
                    handle(
                        s,
                        &mut set_timeout,
                        &limits,
                        &published,
                        authorize.as_deref(),
                    );
                });
                finish(&stream);
                active.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            self.active.fetch_sub(1, Ordering::AcqRel);
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

/// A response to write.
#[derive(Debug)]
struct Response<'a> {
    status: u16,
    content_type: &'static str,
    body: Body<'a>,
    extra: &'static str,
}

#[derive(Debug)]
enum Body<'a> {
    Borrowed(&'a str),
    Owned(String),
    Page(Arc<Page>, Format),
}

impl Response<'_> {
    fn plain(status: u16, text: &'static str) -> Response<'static> {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Body::Borrowed(text),
            extra: "",
        }
    }

    fn body(&self) -> &str {
        match &self.body {
            Body::Borrowed(s) => s,
            Body::Owned(s) => s,
            Body::Page(page, format) => page.body(*format),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn respond(out: &mut dyn Write, response: &Response<'_>, head_only: bool) -> io::Result<()> {
    let body = response.body();
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        body.len(),
        response.extra
    );
    out.write_all(head.as_bytes())?;
    if !head_only {
        out.write_all(body.as_bytes())?;
    }
    out.flush()
}

/// A parsed request head: what the routes need of it.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`…
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
}

/// Why a request head was refused, with its status.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: not HTTP/1.x as the grammar says.
    Malformed(&'static str),
    /// 408: the head did not arrive in time.
    Timeout,
    /// 414: the request line is too long.
    LineTooLong,
    /// 431: the head is too long.
    HeadTooLarge,
    /// The client went away (nothing to answer).
    Gone,
}

impl Refusal {
    fn response(&self) -> Option<Response<'static>> {
        Some(match self {
            Refusal::Malformed(why) => Response {
                status: 400,
                content_type: "text/plain; charset=utf-8",
                body: Body::Owned(format!("bad request: {why}\n")),
                extra: "",
            },
            Refusal::Timeout => Response::plain(408, "the request took too long to arrive\n"),
            Refusal::LineTooLong => Response::plain(414, "the request line is too long\n"),
            Refusal::HeadTooLarge => Response::plain(431, "the request headers are too large\n"),
            Refusal::Gone => return None,
        })
    }
}

/// Read a request head from `input` within `limits` (the deadline is checked between
/// reads; the caller's socket read timeout bounds each read).
pub fn read_request(
    input: &mut dyn Read,
    set_timeout: &mut dyn FnMut(Duration),
    limits: &Limits,
) -> Result<Request, Refusal> {
    let deadline = Instant::now() + limits.read;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(end) = find_end(&head) {
            break end;
        }
        let line_end = head.iter().position(|&b| b == b'\n');
        if line_end.map_or(head.len(), |e| e) > limits.request_line {
            return Err(Refusal::LineTooLong);
        }
        if head.len() > limits.head {
            return Err(Refusal::HeadTooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Refusal::Timeout);
        }
        set_timeout(left);
        match input.read(&mut chunk) {
            Ok(0) if head.is_empty() => return Err(Refusal::Gone),
            Ok(0) => return Err(Refusal::Malformed("the connection closed mid-request")),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Refusal::Timeout);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Refusal::Gone),
        }
    };
    if head[..end].len() > limits.head {
        return Err(Refusal::HeadTooLarge);
    }
    parse_head(&head[..end], limits)
}

/// Where the head ends (the blank line), if it has arrived.
fn find_end(head: &[u8]) -> Option<usize> {
    head.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| head.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
}

fn parse_head(head: &[u8], limits: &Limits) -> Result<Request, Refusal> {
    let text =
        std::str::from_utf8(head).map_err(|_| Refusal::Malformed("the head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    if line.len() > limits.request_line {
        return Err(Refusal::LineTooLong);
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed(
            "the request line is not METHOD TARGET HTTP/1.x",
        ));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Refusal::Malformed("the method is not a token"));
    }
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(Refusal::Malformed(
            "the version is not HTTP/1.0 or HTTP/1.1",
        ));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(Refusal::Malformed("the target is not an absolute path"));
    }
    let mut request = Request {
        method: method.to_owned(),
        path: target.split(['?', '#']).next().unwrap_or(target).to_owned(),
        accept: None,
        authorization: None,
    };
    for header in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = header.split_once(':') else {
            return Err(Refusal::Malformed("a header line has no colon"));
        };
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(Refusal::Malformed("a header name is not a token"));
        }
        let value = value.trim().to_owned();
        if name.eq_ignore_ascii_case("accept") {
            request.accept = Some(value);
        } else if name.eq_ignore_ascii_case("authorization") {
            request.authorization = Some(value);
        }
    }
    Ok(request)
}

/// The page at `/`.
const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>sockscope exporter</title></head>\n<body><h1>sockscope exporter</h1>\n<p>TCP connection states, processes, listeners and anomalies of this host, for Prometheus.</p>\n<ul><li><a href=\"metrics\">/metrics</a></li><li><a href=\"healthz\">/healthz</a></li></ul>\n</body></html>\n";

fn handle(
    stream: &mut dyn Stream,
    set_timeout: &mut dyn FnMut(Duration),
    limits: &Limits,
    published: &Published,
    authorize: Option<&dyn Authorize>,
) {
    let request = read_request(stream, set_timeout, limits);
    let request = match request {
        Ok(request) => request,
        Err(refusal) => {
            if let Some(response) = refusal.response() {
                let _ = respond(stream, &response, false);
            }
            return;
        }
    };
    let head_only = request.method == "HEAD";
    let response = route(&request, published, authorize);
    let _ = respond(stream, &response, head_only);
}

fn route<'p>(
    request: &Request,
    published: &'p Published,
    authorize: Option<&dyn Authorize>,
) -> Response<'p> {
    if !matches!(request.method.as_str(), "GET" | "HEAD") {
        return Response {
            extra: "Allow: GET, HEAD\r\n",
            ..Response::plain(405, "only GET and HEAD\n")
        };
    }
    if let Some(authorize) = authorize
        && !authorize.allows(request.authorization.as_deref())
    {
        return Response {
            extra: "WWW-Authenticate: Basic realm=\"sockscope\", charset=\"UTF-8\"\r\n",
            ..Response::plain(401, "unauthorized\n")
        };
    }
    match request.path.as_str() {
        "/metrics" => {
            let format = Format::for_accept(request.accept.as_deref());
            Response {
                status: 200,
                content_type: format.content_type(),
                body: Body::Page(published.current(), format),
                extra: "",
            }
        }
        "/healthz" => match &published.current().health {
            Health::Healthy => Response::plain(200, "ok\n"),
            Health::Starting => Response::plain(503, "starting: no poll has completed yet\n"),
            Health::Failing(why) => Response {
                status: 503,
                content_type: "text/plain; charset=utf-8",
                body: Body::Owned(format!("the latest poll failed: {why}\n")),
                extra: "",
            },
        },
        "/" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: Body::Borrowed(INDEX),
            extra: "",
        },
        _ => Response::plain(404, "not found: try /metrics\n"),
    }
}
