//! Reading and parsing request heads: [`HeadReader`] keeps what a client sent beyond one
//! head (a pipelined next request) for the next, [`parse_head`] checks the grammar and
//! picks the headers the routes need; a preference weight is read with [`qvalue`] (from
//! `exposition`, which negotiates the format), the way RFC 9110 writes it (so `q=nan` or
//! `q=1e3` is no weight at all).

use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::ConnectionLimits;
use crate::serve::exposition::qvalue;

/// A parsed request head: what the routes need of it.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`…
    pub method: String,
    /// The path, without the query (`*` for `OPTIONS *`; the path of an absolute-form
    /// target such as `http://host/metrics`).
    pub path: String,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The `Accept-Encoding` header.
    pub accept_encoding: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// Whether the client lets the connection stay open after the response: HTTP/1.1
    /// without `Connection: close`.
    pub keep_alive: bool,
    /// Whether a body follows the head (`Content-Length` above 0, or `Transfer-Encoding`):
    /// the server reads none, so the connection closes after the response.
    pub has_body: bool,
}

/// Why a request head was refused, with its status.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadRefusal {
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

/// Reads request heads off one connection, one after another. Bytes past a head stay
/// for the next one.
#[derive(Debug, Default)]
pub struct HeadReader {
    buffered: Vec<u8>,
}

impl HeadReader {
    /// A reader with nothing buffered.
    pub fn new() -> HeadReader {
        HeadReader {
            buffered: Vec::with_capacity(1024),
        }
    }

    /// Whether bytes of a next request are already here.
    pub fn has_buffered(&self) -> bool {
        !self.buffered.is_empty()
    }

    /// One read from `input` into the buffer, waiting until `deadline` at most
    /// (`set_timeout` sets the socket's read timeout to what is left before the read):
    /// how many bytes came.
    pub fn fill(
        &mut self,
        input: &mut dyn Read,
        set_timeout: &mut dyn FnMut(Duration),
        deadline: Instant,
    ) -> Result<usize, HeadRefusal> {
        let mut chunk = [0u8; 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HeadRefusal::Timeout);
            }
            set_timeout(left);
            return match input.read(&mut chunk) {
                Ok(0) if self.buffered.is_empty() => Err(HeadRefusal::Gone),
                Ok(0) => Err(HeadRefusal::Malformed("the connection closed mid-request")),
                Ok(n) => {
                    self.buffered.extend_from_slice(&chunk[..n]);
                    Ok(n)
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    Err(HeadRefusal::Timeout)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => Err(HeadRefusal::Gone),
            };
        }
    }

    /// The next request head, reading until `deadline` for what is missing.
    pub fn next(
        &mut self,
        input: &mut dyn Read,
        set_timeout: &mut dyn FnMut(Duration),
        deadline: Instant,
        limits: &ConnectionLimits,
    ) -> Result<Request, HeadRefusal> {
        loop {
            if let Some(head) = self.take_head(limits) {
                return head;
            }
            self.fill(input, set_timeout, deadline)?;
        }
    }

    /// The head in the buffer, if a whole one is there (or one over the limits).
    fn take_head(&mut self, limits: &ConnectionLimits) -> Option<Result<Request, HeadRefusal>> {
        let head = &self.buffered;
        match find_end(head) {
            Some(end) => {
                let parsed = if end > limits.head {
                    Err(HeadRefusal::HeadTooLarge)
                } else {
                    parse_head(&head[..end], limits)
                };
                self.buffered.drain(..end);
                Some(parsed)
            }
            None => {
                let line_end = head.iter().position(|&b| b == b'\n');
                if line_end.unwrap_or(head.len()) > limits.request_line {
                    Some(Err(HeadRefusal::LineTooLong))
                } else if head.len() > limits.head {
                    Some(Err(HeadRefusal::HeadTooLarge))
                } else {
                    None
                }
            }
        }
    }
}

/// Where the head ends (the blank line), if it has arrived.
fn find_end(head: &[u8]) -> Option<usize> {
    let crlf = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = head.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parse one request head (request line, headers, blank line).
pub fn parse_head(head: &[u8], limits: &ConnectionLimits) -> Result<Request, HeadRefusal> {
    let text =
        std::str::from_utf8(head).map_err(|_| HeadRefusal::Malformed("the head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    if line.len() > limits.request_line {
        return Err(HeadRefusal::LineTooLong);
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadRefusal::Malformed(
            "the request line is not METHOD TARGET HTTP/1.x",
        ));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HeadRefusal::Malformed("the method is not a token"));
    }
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(HeadRefusal::Malformed(
            "the version is not HTTP/1.0 or HTTP/1.1",
        ));
    }
    let path = target_path(method, target)?;
    let mut request = Request {
        method: method.to_owned(),
        path,
        accept: None,
        accept_encoding: None,
        authorization: None,
        keep_alive: version == "HTTP/1.1",
        has_body: false,
    };
    for header in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = header.split_once(':') else {
            return Err(HeadRefusal::Malformed("a header line has no colon"));
        };
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(HeadRefusal::Malformed("a header name is not a token"));
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("accept") {
            request.accept = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("accept-encoding") {
            request.accept_encoding = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("authorization") {
            request.authorization = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("connection") {
            if value
                .split(',')
                .any(|option| option.trim().eq_ignore_ascii_case("close"))
            {
                request.keep_alive = false;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            request.has_body |= value != "0";
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            request.has_body = true;
        }
    }
    Ok(request)
}

/// The path a request target names: origin form (`/metrics?x`), absolute form
/// (`http://host:port/metrics`, which a server must accept), or `*` for `OPTIONS`.
fn target_path(method: &str, target: &str) -> Result<String, HeadRefusal> {
    if target.bytes().any(|b| b.is_ascii_control()) {
        return Err(HeadRefusal::Malformed("the target has a control character"));
    }
    if target == "*" {
        return if method == "OPTIONS" {
            Ok("*".to_owned())
        } else {
            Err(HeadRefusal::Malformed("only OPTIONS may have the target *"))
        };
    }
    let origin = if target.starts_with('/') {
        target
    } else {
        let scheme_end = target.find("://").ok_or(HeadRefusal::Malformed(
            "the target is neither a path (/metrics) nor a URL (http://host/metrics)",
        ))?;
        let scheme = &target[..scheme_end];
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(HeadRefusal::Malformed(
                "the target's scheme is not http or https",
            ));
        }
        let after = &target[scheme_end + 3..];
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        if authority_end == 0 {
            return Err(HeadRefusal::Malformed("the target URL has no host"));
        }
        match &after[authority_end..] {
            "" => "/",
            rest if rest.starts_with('/') => rest,
            _ => "/",
        }
    };
    Ok(origin.split(['?', '#']).next().unwrap_or(origin).to_owned())
}

/// Whether an `Accept-Encoding` header accepts gzip: `gzip` (or `x-gzip`) with a weight
/// above 0, or `*` above 0 when gzip is not named.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let mut named = None;
    let mut any = None;
    for coding in header.split(',') {
        let mut params = coding.split(';').map(str::trim);
        let name = params.next().unwrap_or_default();
        let weight = params
            .find_map(|p| {
                p.strip_prefix("q=")
                    .or_else(|| p.strip_prefix("Q="))
                    .map(qvalue)
            })
            .unwrap_or(Some(1000));
        let acceptable = weight.is_some_and(|q| q > 0);
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            named = Some(named.unwrap_or(false) || acceptable);
        } else if name == "*" {
            any = Some(acceptable);
        }
    }
    named.or(any).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Result<Request, HeadRefusal> {
        parse_head(head.as_bytes(), &ConnectionLimits::default())
    }

    #[test]
    fn qvalue_reads_only_the_rfc_grammar() {
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.75"), Some(750));
        assert_eq!(qvalue("0.001"), Some(1));
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        for bad in [
            "nan", "NaN", "inf", "1e3", "2", "-1", "0.0001", "1.5", "", ".5", "0x1",
        ] {
            assert_eq!(qvalue(bad), None, "{bad}");
        }
    }

    #[test]
    fn gzip_is_accepted_when_named_or_starred_with_a_weight_above_zero() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(accepts_gzip(Some("x-gzip")));
        assert!(accepts_gzip(Some("*")));
        assert!(accepts_gzip(Some("GZIP; q=1")));
        assert!(!accepts_gzip(None));
        assert!(!accepts_gzip(Some("")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("gzip;q=nan")));
        assert!(!accepts_gzip(Some("*, gzip;q=0")));
        assert!(!accepts_gzip(Some("br, *;q=0")));
    }

    #[test]
    fn an_absolute_form_target_is_its_path() {
        let request = parse("GET http://localhost:19417/metrics?x=1 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(request.path, "/metrics");
        assert_eq!(parse("GET HTTPS://h HTTP/1.1\r\n\r\n").unwrap().path, "/");
        assert_eq!(
            parse("GET ftp://h/metrics HTTP/1.1\r\n\r\n"),
            Err(HeadRefusal::Malformed(
                "the target's scheme is not http or https"
            ))
        );
        assert_eq!(
            parse("GET http:///metrics HTTP/1.1\r\n\r\n"),
            Err(HeadRefusal::Malformed("the target URL has no host"))
        );
    }

    #[test]
    fn the_asterisk_target_is_for_options_only() {
        assert_eq!(parse("OPTIONS * HTTP/1.1\r\n\r\n").unwrap().path, "*");
        assert_eq!(
            parse("GET * HTTP/1.1\r\n\r\n"),
            Err(HeadRefusal::Malformed("only OPTIONS may have the target *"))
        );
    }

    #[test]
    fn keep_alive_is_http_1_1_without_connection_close_and_without_a_body() {
        let keep = parse("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(keep.keep_alive && !keep.has_body);
        assert!(
            !parse("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(
            parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n")
                .unwrap()
                .has_body
        );
        assert!(
            !parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
                .unwrap()
                .has_body
        );
        assert!(
            parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .has_body
        );
    }

    #[test]
    fn a_pipelined_request_stays_buffered_for_the_next_read() {
        let mut input: &[u8] = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        let mut reader = HeadReader::new();
        let deadline = Instant::now() + Duration::from_secs(1);
        let limits = ConnectionLimits::default();
        let first = reader
            .next(&mut input, &mut |_| {}, deadline, &limits)
            .unwrap();
        assert_eq!(first.path, "/a");
        assert!(reader.has_buffered());
        let second = reader
            .next(&mut input, &mut |_| {}, deadline, &limits)
            .unwrap();
        assert_eq!(second.path, "/b");
        assert!(!reader.has_buffered());
        assert_eq!(
            reader.next(&mut input, &mut |_| {}, deadline, &limits),
            Err(HeadRefusal::Gone)
        );
    }
}
