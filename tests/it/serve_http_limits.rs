//! The exporter's HTTP server under hostile and heavy use, with real sockets on loopback
//! (no root): slowloris clients, plain and TLS, beyond the connection cap while scrapes go
//! on; refusals that never hold up the accept loop; keep-alive (one connection for many
//! scrapes, the idle timeout, idle connections making way) and gzip.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockscope::collect::Recorded;
use sockscope::serve::http::{Stream, Wrap};
use sockscope::serve::web_config::WebConfig;
use sockscope::serve::{ConnectionLimits, PollSettings, Poller, Published, Server};
use sockscope::watch::Listed;

use crate::serve_http::{exchange, fast_limits, get, serving, snapshot, tool};

/// A server whose page is one poll of a 25-CLOSE_WAIT snapshot, made by `setup`.
fn serving_with(
    limits: ConnectionLimits,
    setup: impl FnOnce(Server) -> Server,
) -> (SocketAddr, Arc<Published>) {
    let published = Published::new();
    let settings = PollSettings {
        config: sockscope::config::Config::default(),
        interval: Duration::from_secs(15),
        filter: sockscope::filter::Filter::default(),
        top: sockscope::serve::TopLimits::default(),
        textfile: None,
        on_first_snapshot: None,
    };
    Poller::new(
        Listed::one(Recorded::new([snapshot(25)]), "lab"),
        settings,
        published.clone(),
    )
    .poll_once();
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), limits, published.clone()).unwrap();
    let server = setup(server);
    let addr = server.local_addr().unwrap();
    server.spawn().unwrap();
    (addr, published)
}

/// One response off a kept-alive connection, read by its `Content-Length`:
/// (status, head, body).
fn read_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "{:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, head, body)
}

/// Whether the server has closed `stream` (EOF or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut byte = [0u8; 64];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => closed_within(stream, within),
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// What became of the slow clients: per client, when the server cut it off (since its
/// connect), and the first bytes it got back.
struct Slowloris {
    cut_after: Vec<Option<Duration>>,
    answers: Vec<Vec<u8>>,
}

/// `count` clients that each send `opener` and then one more byte every 100 ms (every
/// `silent_every`-th sends nothing at all), until the server cuts them off or `watch`
/// runs out.
fn slowloris(
    addr: SocketAddr,
    count: usize,
    silent_every: usize,
    opener: &[u8],
    watch: Duration,
) -> Slowloris {
    let mut clients: Vec<(TcpStream, Instant)> = (0..count)
        .map(|_| {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_nonblocking(true).unwrap();
            (stream, Instant::now())
        })
        .collect();
    let mut cut_after = vec![None; count];
    let mut answers = vec![Vec::new(); count];
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < watch && cut_after.iter().any(Option::is_none) {
        let byte = opener.get(sent).copied().unwrap_or(b'a');
        for (i, (stream, connected)) in clients.iter_mut().enumerate() {
            if cut_after[i].is_some() {
                continue;
            }
            let mut buf = [0u8; 256];
            let gone = match stream.read(&mut buf) {
                Ok(0) => true,
                Ok(n) => {
                    answers[i].extend_from_slice(&buf[..n]);
                    false
                }
                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            };
            let silent = silent_every > 0 && i % silent_every == 0;
            if gone || (!silent && stream.write(&[byte]).is_err()) {
                cut_after[i] = Some(connected.elapsed());
            }
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    Slowloris { cut_after, answers }
}

/// Run `count` slow clients against `addr` (default limits: 128 connections, 10 s for
/// the handshake and head) while `scrape` runs once a second for 8 s; every scrape must
/// succeed in under a second, and every slow client must be cut off: the 12 beyond the
/// cap and the 1 the first scrape displaces at once, the other 127 at the 10 s deadline.
fn slowloris_beyond_the_cap(addr: SocketAddr, opener: &'static [u8], scrape: impl Fn() -> bool) {
    let count = 140;
    let drip =
        std::thread::spawn(move || slowloris(addr, count, 10, opener, Duration::from_secs(16)));
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let mut scrapes = Vec::new();
    for second in 1..=8 {
        std::thread::sleep(
            (t0 + Duration::from_secs(second)).saturating_duration_since(Instant::now()),
        );
        let started = Instant::now();
        let ok = scrape();
        scrapes.push((ok, started.elapsed()));
    }
    let report = drip.join().unwrap();
    for (i, (ok, took)) in scrapes.iter().enumerate() {
        assert!(*ok, "scrape {i} failed (took {took:?})");
        assert!(*took < Duration::from_secs(1), "scrape {i} took {took:?}");
    }
    let early: Vec<Duration> = report
        .cut_after
        .iter()
        .flatten()
        .copied()
        .filter(|d| *d < Duration::from_secs(9))
        .collect();
    let at_deadline: Vec<Duration> = report
        .cut_after
        .iter()
        .flatten()
        .copied()
        .filter(|d| *d >= Duration::from_secs(9))
        .collect();
    let held = report.cut_after.iter().filter(|c| c.is_none()).count();
    eprintln!(
        "slowloris: {} made way at once, {} cut at {:?}..{:?}, {held} still held; scrapes {:?}",
        early.len(),
        at_deadline.len(),
        at_deadline.iter().min(),
        at_deadline.iter().max(),
        scrapes.iter().map(|s| s.1).collect::<Vec<_>>()
    );
    assert_eq!(held, 0, "clients still held after 16 s");
    assert_eq!((early.len(), at_deadline.len()), (13, 127));
    for cut in &at_deadline {
        assert!(
            *cut >= Duration::from_secs(10) && *cut < Duration::from_secs(11),
            "{cut:?}"
        );
    }
    for answer in &report.answers {
        let answer = String::from_utf8_lossy(answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer:?}"
        );
    }
}

#[test]
fn serve_http_drippers_beyond_the_cap_are_cut_at_10_s_while_scrapes_answer_at_once() {
    let (addr, _) = serving_with(ConnectionLimits::default(), |s| s);
    slowloris_beyond_the_cap(addr, b"GET /metrics HTTP/1.1\r\nX-Slow: ", || {
        get(addr, "/metrics", "").0 == 200
    });
}

/// A self-signed certificate for 127.0.0.1 and a web config naming it, in `dir`.
fn tls_files(dir: &Path) {
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
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    std::fs::write(
        dir.join("web.yml"),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
}

/// `curl` over TLS trusting `dir`'s certificate: (exit code, stdout).
fn curl(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", "--cacert"])
        .arg(dir.join("server.crt"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn tls_server(
    test: &str,
    limits: ConnectionLimits,
) -> Option<(SocketAddr, Arc<Published>, tempfile::TempDir)> {
    if !tool(test, "openssl") || !tool(test, "curl") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    tls_files(dir.path());
    let web = WebConfig::load(&dir.path().join("web.yml")).unwrap();
    let (addr, published) = serving_with(limits, |s| web.apply(s));
    Some((addr, published, dir))
}

#[test]
fn serve_http_tls_drippers_and_silent_handshakes_beyond_the_cap_are_cut_at_10_s_while_scrapes_answer_at_once()
 {
    let name = "serve_http_tls_drippers_and_silent_handshakes_beyond_the_cap_are_cut_at_10_s_while_scrapes_answer_at_once";
    let Some((addr, _, dir)) = tls_server(name, ConnectionLimits::default()) else {
        return;
    };
    // A ClientHello record announcing 256 bytes, of which a byte comes every 100 ms.
    let hello: &[u8] = &[
        0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc, 0x03, 0x03,
    ];
    let url = format!("https://127.0.0.1:{}/metrics", addr.port());
    slowloris_beyond_the_cap(addr, hello, || {
        curl(dir.path(), &["-o", "/dev/null", "-w", "%{http_code}", &url])
            == (Some(0), "200".to_owned())
    });
}

#[test]
fn serve_http_tls_keeps_the_connection_alive_and_gzips_for_curl() {
    let name = "serve_http_tls_keeps_the_connection_alive_and_gzips_for_curl";
    let Some((addr, published, dir)) = tls_server(name, ConnectionLimits::default()) else {
        return;
    };
    let url = format!("https://127.0.0.1:{}/metrics", addr.port());
    let (code, out) = curl(
        dir.path(),
        &[
            "--compressed",
            "-D",
            "headers",
            "-o",
            "first",
            &url,
            "-o",
            "second",
            &url,
            "-w",
            "%{num_connects} %{http_code}\n",
        ],
    );
    assert_eq!((code, out.as_str()), (Some(0), "1 200\n0 200\n"));
    let headers = std::fs::read_to_string(dir.path().join("headers")).unwrap();
    assert_eq!(
        headers.matches("Content-Encoding: gzip\r\n").count(),
        2,
        "{headers}"
    );
    assert!(!headers.contains("Connection: close"), "{headers}");
    let page = published.current().text.clone();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("first")).unwrap(),
        page
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("second")).unwrap(),
        page
    );
}

/// Pretends to be TLS: the server treats a wrapped listener as a TLS one.
struct PretendTls;

impl Wrap for PretendTls {
    fn wrap(&self, stream: TcpStream) -> Option<Box<dyn Stream>> {
        Some(Box::new(stream))
    }
}

#[test]
fn serve_http_tls_over_the_cap_is_closed_not_answered_in_plaintext() {
    let limits = ConnectionLimits {
        connections: 0,
        ..fast_limits()
    };
    let (addr, _) = serving_with(limits, |s| s.with_wrap(Arc::new(PretendTls)));
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x01])
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got);
    assert_eq!(String::from_utf8_lossy(&got), "");
}

#[test]
fn serve_http_refusals_over_the_cap_never_hold_up_the_accept_loop() {
    // No slot at all: every connection is refused. 24 that never send nor read would
    // each have held the accept loop for half a second.
    let limits = ConnectionLimits {
        connections: 0,
        ..fast_limits()
    };
    let (addr, _) = serving(Some(Recorded::new([snapshot(1)])), limits);
    let _silent: Vec<TcpStream> = (0..24).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let started = Instant::now();
    let (status, head, body) = get(addr, "/metrics", "");
    let took = started.elapsed();
    assert_eq!(
        (status, body.as_str()),
        (503, "too many connections at once; try again\n")
    );
    assert!(head.contains("Connection: close\r\n"));
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[test]
fn serve_http_a_newcomer_beyond_the_cap_takes_the_slot_of_the_longest_stalled() {
    let limits = ConnectionLimits {
        connections: 2,
        ..fast_limits()
    };
    let (addr, published) = serving(Some(Recorded::new([snapshot(1)])), limits);
    let mut oldest = TcpStream::connect(addr).unwrap();
    oldest.write_all(b"GET /metr").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut younger = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    let (status, _, body) = get(addr, "/metrics", "");
    assert_eq!(status, 200);
    assert_eq!(body, published.current().text);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(closed_within(&mut oldest, Duration::from_millis(200)));
    younger
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        younger.read(&mut byte).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the younger one keeps its slot"
    );
}

#[test]
fn serve_http_keep_alive_answers_request_after_request_on_one_connection() {
    let (addr, published) = serving(Some(Recorded::new([snapshot(3)])), fast_limits());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, head, body) = read_response(&mut stream);
    assert_eq!(status, 200);
    assert!(!head.contains("Connection:"), "{head}");
    assert_eq!(body, published.current().text.as_bytes());
    // Two more at once (pipelined), the last one closing.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (status, _, body) = read_response(&mut stream);
    assert_eq!((status, body.as_slice()), (200, &b"ok\n"[..]));
    let (status, head, body) = read_response(&mut stream);
    assert_eq!(
        (status, body.as_slice()),
        (404, &b"not found: try /metrics\n"[..])
    );
    assert!(head.contains("Connection: close\r\n"), "{head}");
    assert!(closed_within(&mut stream, Duration::from_secs(1)));
    // HTTP/1.0 closes after its response.
    let (status, head, _) = exchange(addr, b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(status, 200);
    assert!(head.contains("Connection: close\r\n"), "{head}");
}

#[test]
fn serve_http_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let limits = ConnectionLimits {
        idle: Duration::from_secs(1),
        ..fast_limits()
    };
    let (addr, _) = serving(Some(Recorded::new([snapshot(3)])), limits);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream).0, 200);
    let idle_from = Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(5)));
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(950) && idle < Duration::from_millis(1500),
        "{idle:?}"
    );
}

#[test]
fn serve_http_idle_kept_alive_connections_make_way_for_a_scrape() {
    let limits = ConnectionLimits {
        connections: 2,
        ..fast_limits()
    };
    let (addr, _) = serving(Some(Recorded::new([snapshot(3)])), limits);
    let mut kept: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut stream).0, 200);
            std::thread::sleep(Duration::from_millis(50));
            stream
        })
        .collect();
    let started = Instant::now();
    assert_eq!(get(addr, "/healthz", "").0, 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        closed_within(&mut kept[0], Duration::from_millis(500)),
        "the longest idle made way"
    );
    kept[1].write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(
        read_response(&mut kept[1]).0,
        200,
        "the other is still served"
    );
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn serve_http_metrics_are_gzipped_when_asked_and_decode_to_the_page() {
    let (addr, published) = serving(Some(Recorded::new([snapshot(25)])), fast_limits());
    let page = published.current();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // As Prometheus asks.
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\r\n")
        .unwrap();
    let (status, head, body) = read_response(&mut stream);
    assert_eq!(status, 200);
    assert!(
        head.contains("Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"),
        "{head}"
    );
    assert_eq!(gunzip(&body), page.openmetrics);
    assert!(
        body.len() * 3 < page.openmetrics.len(),
        "{} of {}",
        body.len(),
        page.openmetrics.len()
    );
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nAccept-Encoding: deflate, gzip;q=0.5\r\n\r\n")
        .unwrap();
    let (_, head, body) = read_response(&mut stream);
    assert!(head.contains("Content-Encoding: gzip\r\n"), "{head}");
    assert_eq!(gunzip(&body), page.text);
    let gzipped_length = body.len();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip;q=0\r\n\r\n")
        .unwrap();
    let (_, head, body) = read_response(&mut stream);
    assert!(!head.contains("Content-Encoding"), "{head}");
    assert!(head.contains("Vary: Accept-Encoding\r\n"), "{head}");
    assert_eq!(body, page.text.as_bytes());
    // HEAD: the length of what GET would send, and no body.
    let (status, head, body) = exchange(
        addr,
        b"HEAD /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(
        head.contains(&format!("Content-Length: {gzipped_length}\r\n")),
        "{head}"
    );
}
