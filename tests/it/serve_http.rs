//! The exporter's HTTP server with real sockets on loopback (no root): routes, formats,
//! health, malformed, oversized and stalled requests, the connection cap, 100 concurrent
//! scrapes, and a port already in use.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockscope::collect::{CollectError, Recorded, SocketSource};
use sockscope::config::Config;
use sockscope::model::{Snapshot, TcpState};
use sockscope::serve::metrics::TopLimits;
use sockscope::serve::{ConnectionLimits, PollSettings, Poller, Published, Server};
use sockscope::watch::Listed;

use crate::support::synthetic::Synth;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

pub(crate) fn snapshot(close_wait: u32) -> Snapshot {
    let mut s = Synth::at(100);
    let app = s.process(4242, "leaky-app");
    s.many(
        close_wait,
        TcpState::CloseWait,
        "10.0.0.1:80",
        "192.0.2.7",
        &[app],
    );
    s.build()
}

fn settings() -> PollSettings {
    PollSettings {
        config: Config::default(),
        interval: Duration::from_secs(15),
        filter: sockscope::filter::Filter::default(),
        top: TopLimits::default(),
        textfile: None,
        on_first_snapshot: None,
    }
}

/// A server on a free loopback port, its page made by one poll of `source` (if given).
pub(crate) fn serving<S: SocketSource + Send + 'static>(
    source: Option<S>,
    limits: ConnectionLimits,
) -> (SocketAddr, Arc<Published>) {
    let published = Published::new();
    if let Some(source) = source {
        Poller::new(Listed::one(source, "lab"), settings(), published.clone()).poll_once();
    }
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), limits, published.clone()).unwrap();
    let addr = server.local_addr().unwrap();
    server.spawn().unwrap();
    (addr, published)
}

pub(crate) fn fast_limits() -> ConnectionLimits {
    ConnectionLimits {
        read: Duration::from_secs(1),
        ..ConnectionLimits::default()
    }
}

/// Send `raw` and read until the server closes: (status, head, body).
pub(crate) fn exchange(addr: SocketAddr, raw: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, format!("{head}\r\n"), body.to_owned())
}

/// `GET path` on a connection of its own (`Connection: close`, so the server ends it).
pub(crate) fn get(addr: SocketAddr, path: &str, extra: &str) -> (u16, String, String) {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").as_bytes(),
    )
}

#[test]
fn serve_http_metrics_are_the_latest_page_in_the_text_format() {
    let (addr, published) = serving(Some(Recorded::new([snapshot(25)])), fast_limits());
    let (status, head, body) = get(addr, "/metrics", "");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
    assert!(head.contains("Connection: close\r\n"));
    assert_eq!(body, published.current().text);
    assert!(body.contains("sockscope_tcp_sockets{netns=\"host\",state=\"close_wait\"} 25\n"));
}

#[test]
fn serve_http_openmetrics_when_the_scraper_asks_for_it() {
    let (addr, _) = serving(Some(Recorded::new([snapshot(3)])), fast_limits());
    let accept = "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";
    let (status, head, body) = get(addr, "/metrics", accept);
    assert_eq!(status, 200);
    assert!(
        head.contains(
            "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
        )
    );
    assert!(body.ends_with("# EOF\n"));
}

#[test]
fn serve_http_index_links_metrics_and_head_has_no_body() {
    let (addr, _) = serving(Some(Recorded::new([snapshot(3)])), fast_limits());
    let (status, head, body) = get(addr, "/", "");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: text/html; charset=utf-8"));
    assert!(body.contains("<a href=\"metrics\">/metrics</a>"));
    let (status, head, body) =
        exchange(addr, b"HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
    assert!(!head.contains("Content-Length: 0\r\n"));
    assert_eq!(body, "");
    let (status, _, body) = get(addr, "/nope", "");
    assert_eq!((status, body.as_str()), (404, "not found: try /metrics\n"));
    let (status, head, _) = exchange(
        addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, HEAD, OPTIONS\r\n"));
    assert!(
        head.contains("Connection: close\r\n"),
        "a body is never read: {head}"
    );
}

struct Failing;

impl SocketSource for Failing {
    fn poll(&mut self) -> Result<Snapshot, CollectError> {
        Err(CollectError::Exhausted)
    }
}

#[test]
fn serve_http_healthz_says_starting_ok_or_why_the_poll_failed() {
    let (addr, _) = serving(None::<Recorded>, fast_limits());
    assert_eq!(
        get(addr, "/healthz", ""),
        (
            503,
            get(addr, "/healthz", "").1,
            "starting: no poll has completed yet\n".to_owned()
        )
    );
    let (addr, _) = serving(Some(Recorded::new([snapshot(1)])), fast_limits());
    assert_eq!(get(addr, "/healthz", "").2, "ok\n");
    let (addr, _) = serving(Some(Failing), fast_limits());
    let (status, _, body) = get(addr, "/healthz", "");
    assert_eq!(
        (status, body.as_str()),
        (
            503,
            "the latest poll failed: netns lab: no more recorded snapshots\n"
        )
    );
    let (_, _, metrics) = get(addr, "/metrics", "");
    assert!(metrics.contains("sockscope_poll_errors_total 1\n"));
}

#[test]
fn serve_http_malformed_requests_get_400_and_the_connection_closes() {
    let (addr, _) = serving(Some(Recorded::new([snapshot(1)])), fast_limits());
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /metrics\r\n\r\n",
        b"GET /metrics HTTP/2.0\r\n\r\n",
        b"GET metrics HTTP/1.1\r\n\r\n",
        b"get /metrics HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nX: \xff\xfe\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\n",
    ] {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(raw).unwrap();
        if raw.ends_with(b"\r\n\r\n") {
            // The server answers and closes: read_to_end ends.
        } else {
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{:?}: {response:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn serve_http_oversized_request_line_gets_414_and_headers_431() {
    let (addr, _) = serving(Some(Recorded::new([snapshot(1)])), fast_limits());
    let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(3000));
    assert_eq!(exchange(addr, long_target.as_bytes()).0, 414);
    let no_end = format!("GET /{}", "a".repeat(3000));
    assert_eq!(exchange(addr, no_end.as_bytes()).0, 414);
    let big_headers = format!(
        "GET /metrics HTTP/1.1\r\n{}\r\n",
        "X-Filler: 0123456789abcdef0123456789abcdef\r\n".repeat(300)
    );
    assert_eq!(exchange(addr, big_headers.as_bytes()).0, 431);
}

#[test]
fn serve_http_a_stalled_client_times_out_and_never_blocks_a_scrape() {
    let (addr, _) = serving(Some(Recorded::new([snapshot(1)])), fast_limits());
    let started = Instant::now();
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled.write_all(b"GET /metr").unwrap();
    let mut silent = TcpStream::connect(addr).unwrap();
    // Meanwhile a scrape is answered at once.
    let (status, _, _) = get(addr, "/metrics", "");
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // The stalled ones are cut off after the 1 s head deadline.
    for stream in [&mut stalled, &mut silent] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.is_empty() || response.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{response:?}"
        );
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn serve_http_a_client_dripping_bytes_is_cut_off_at_the_deadline() {
    let (addr, _) = serving(Some(Recorded::new([snapshot(1)])), fast_limits());
    let started = Instant::now();
    let mut drip = TcpStream::connect(addr).unwrap();
    let mut cut = false;
    for byte in b"GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if drip.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    drip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut response = Vec::new();
    let _ = drip.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(cut || response.starts_with("HTTP/1.1 408"), "{response:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn serve_http_a_hundred_concurrent_scrapes_are_all_answered() {
    let (addr, published) = serving(
        Some(Recorded::new([snapshot(25)])),
        ConnectionLimits::default(),
    );
    let expected = published.current().text.clone();
    let barrier = Arc::new(std::sync::Barrier::new(100));
    let scrapes: Vec<_> = (0..100)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                get(addr, "/metrics", "")
            })
        })
        .collect();
    let mut answered = 0;
    for scrape in scrapes {
        let (status, _, body) = scrape.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, expected);
        answered += 1;
    }
    assert_eq!(answered, 100);
}

#[test]
fn serve_http_a_port_in_use_is_one_clear_line_and_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Server::bind(addr, ConnectionLimits::default(), Published::new()).unwrap_err();
    let message = format!(
        "--listen {addr}: the address is already in use (another exporter, or sockscope serve already running?); choose another port with --listen"
    );
    assert_eq!(err.to_string(), message);
    let out = Command::new(BIN)
        .args(["serve", "--listen", &addr.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("sockscope: {message}\n")
    );
}

#[test]
fn serve_http_a_listen_error_tells_its_cause_once_and_what_to_do() {
    // 192.0.2.1 (TEST-NET-1) is no address of this host: binding it fails at once.
    let out = Command::new(BIN)
        .args(["serve", "--listen", "192.0.2.1:19417"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sockscope: --listen 192.0.2.1:19417: cannot listen there: Cannot assign requested address (os error 99); the address is not one of this host's; give one of its addresses, or 0.0.0.0 (every IPv4 address) with --listen\n"
    );
}

#[test]
fn serve_http_an_absolute_url_target_and_options_asterisk_are_answered() {
    let (addr, published) = serving(Some(Recorded::new([snapshot(2)])), fast_limits());
    let (status, _, body) = exchange(
        addr,
        b"GET http://127.0.0.1:19417/metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert_eq!(body, published.current().text);
    let (status, head, body) = exchange(
        addr,
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(head.contains("Allow: GET, HEAD, OPTIONS\r\n"), "{head}");
    assert!(head.contains("Content-Length: 0\r\n"), "{head}");
    assert_eq!(exchange(addr, b"GET * HTTP/1.1\r\n\r\n").0, 400);
}

#[test]
fn serve_http_a_weight_that_is_not_a_number_does_not_select_openmetrics() {
    let (addr, _) = serving(Some(Recorded::new([snapshot(2)])), fast_limits());
    for weight in ["nan", "NaN", "inf", "1e3", "-1"] {
        let accept =
            format!("Accept: application/openmetrics-text;q={weight}, text/plain;q=0.5\r\n");
        let (status, head, body) = get(addr, "/metrics", &accept);
        assert_eq!(status, 200);
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            "q={weight}: {head}"
        );
        assert!(!body.ends_with("# EOF\n"), "q={weight}");
    }
}

#[test]
fn serve_http_a_wrong_web_config_names_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, "basic_auth_users:\n  prometheus: hunter2\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--web-config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "sockscope: --web-config {}, line 2: basic_auth_users.prometheus: \"hunter2\" is not a bcrypt hash; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`\n",
            path.display()
        )
    );
}

/// A program the TLS test needs, or a loud skip (a failure under CI=true).
pub(crate) fn tool(test: &str, name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    found || sockscope::lab::skip(test, &format!("no {name} on PATH (.ci/run installs it)"))
}

#[test]
fn serve_http_tls_and_basic_auth_from_the_web_config() {
    let name = "serve_http_tls_and_basic_auth_from_the_web_config";
    if !tool(name, "openssl") || !tool(name, "curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-keyout", "server.key", "-out", "server.crt"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(
        dir.path().join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: {hash}\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut serve = Command::new(BIN)
        .args([
            "serve",
            "--no-processes",
            "--interval",
            "1s",
            "--listen",
            &listen,
        ])
        .arg("--web-config")
        .arg(dir.path().join("web.yml"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "5"])
            .arg("--cacert")
            .arg(dir.path().join("server.crt"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let url = format!("https://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ok = curl(&["-u", "prometheus:s3cret", &url]);
    while !ok.1.ends_with("\n200") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        ok = curl(&["-u", "prometheus:s3cret", &url]);
    }
    let unauthorized = curl(&[&url]);
    let wrong = curl(&["-u", "prometheus:wrong", &url]);
    let plain = curl(&[&format!("http://127.0.0.1:{port}/metrics")]);
    let _ = serve.kill();
    let _ = serve.wait();
    let mut stderr = String::new();
    serve
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    assert!(ok.1.ends_with("\n200"), "{ok:?}");
    assert!(ok.1.contains("sockscope_build_info{version=\""), "{ok:?}");
    assert_eq!(unauthorized, (Some(0), "unauthorized\n\n401".to_owned()));
    assert_eq!(wrong, (Some(0), "unauthorized\n\n401".to_owned()));
    assert_ne!(
        plain.0,
        Some(0),
        "plain HTTP must not be answered: {plain:?}"
    );
    assert_eq!(
        stderr,
        format!("sockscope: serving https://{listen}/metrics\n")
    );
}
