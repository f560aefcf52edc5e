//! What the server answers: the routes (`/metrics`, `/healthz`, `/`, `OPTIONS`), the
//! refusals' responses, and how a response is written (gzip when the scraper accepts it,
//! `Connection: close` when the connection ends with it).

use std::io::{self, Write};
use std::sync::Arc;

use super::Authorize;
use super::request::{HeadRefusal, Request, accepts_gzip};
use crate::serve::exposition::Format;
use crate::serve::poller::{Health, Page, Published};

/// A response to write.
#[derive(Debug)]
pub struct Response<'a> {
    status: u16,
    content_type: &'static str,
    body: Body<'a>,
    extra: &'static str,
}

#[derive(Debug)]
enum Body<'a> {
    Borrowed(&'a str),
    Owned(String),
    /// The exposition, gzipped when the scraper accepts it.
    Page {
        page: Arc<Page>,
        format: Format,
        gzip: bool,
    },
}

impl Response<'_> {
    /// A plain-text response.
    pub fn plain(status: u16, text: &'static str) -> Response<'static> {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Body::Borrowed(text),
            extra: "",
        }
    }

    /// The bytes of the body and their `Content-Encoding`, if any.
    fn payload(&self) -> (&[u8], Option<&'static str>) {
        match &self.body {
            Body::Borrowed(s) => (s.as_bytes(), None),
            Body::Owned(s) => (s.as_bytes(), None),
            Body::Page { page, format, gzip } => match gzip.then(|| page.gzipped(*format)) {
                Some(Some(gzipped)) => (gzipped, Some("gzip")),
                _ => (page.body(*format).as_bytes(), None),
            },
        }
    }
}

impl HeadRefusal {
    /// What a refused request head is answered (nothing when the client left).
    pub fn response(&self) -> Option<Response<'static>> {
        Some(match self {
            HeadRefusal::Malformed(why) => Response {
                status: 400,
                content_type: "text/plain; charset=utf-8",
                body: Body::Owned(format!("bad request: {why}\n")),
                extra: "",
            },
            HeadRefusal::Timeout => Response::plain(408, "the request took too long to arrive\n"),
            HeadRefusal::LineTooLong => Response::plain(414, "the request line is too long\n"),
            HeadRefusal::HeadTooLarge => {
                Response::plain(431, "the request headers are too large\n")
            }
            HeadRefusal::Gone => return None,
        })
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

/// Write `response` (its head only for `HEAD`), saying whether the connection stays open.
pub fn respond(
    out: &mut dyn Write,
    response: &Response<'_>,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let (body, encoding) = response.payload();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        body.len(),
    );
    if let Some(encoding) = encoding {
        head.push_str("Content-Encoding: ");
        head.push_str(encoding);
        head.push_str("\r\n");
    }
    if matches!(response.body, Body::Page { .. }) {
        head.push_str("Vary: Accept-Encoding\r\n");
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str(response.extra);
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if !head_only {
        out.write_all(body)?;
    }
    out.flush()
}

/// The page at `/`.
const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>sockscope exporter</title></head>\n<body><h1>sockscope exporter</h1>\n<p>TCP connection states, processes, listeners and anomalies of this host, for Prometheus.</p>\n<ul><li><a href=\"metrics\">/metrics</a></li><li><a href=\"healthz\">/healthz</a></li></ul>\n</body></html>\n";

const ALLOW: &str = "Allow: GET, HEAD, OPTIONS\r\n";

/// The response to `request`.
pub fn route<'p>(
    request: &Request,
    published: &'p Published,
    authorize: Option<&dyn Authorize>,
) -> Response<'p> {
    match request.method.as_str() {
        "GET" | "HEAD" => {}
        "OPTIONS" => {
            return Response {
                extra: ALLOW,
                ..Response::plain(200, "")
            };
        }
        _ => {
            return Response {
                extra: ALLOW,
                ..Response::plain(405, "only GET, HEAD and OPTIONS\n")
            };
        }
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
                body: Body::Page {
                    page: published.current(),
                    format,
                    gzip: accepts_gzip(request.accept_encoding.as_deref()),
                },
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
