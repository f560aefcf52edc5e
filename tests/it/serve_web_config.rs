//! `sockscope serve --web-config` with the real binary (no root): files that are not
//! regular or too big or too deeply nested refused at start, hashes and user names refused
//! at start, a flood of wrong passwords against bcrypt, certificates renewed on disk while
//! it runs, mutual TLS with openssl-made certificates and curl, and the YAML crate.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use base64::Engine as _;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// `sockscope serve` on a free loopback port, killed (by its pid) when dropped.
struct Serving {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Serving {
    /// Start it with `web_config` and wait for its "serving" line.
    fn start(web_config: &Path) -> Serving {
        let mut child = Command::new(BIN)
            .args(["serve", "--no-processes", "--listen", "127.0.0.1:0"])
            .arg("--web-config")
            .arg(web_config)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let all = Arc::clone(&stderr);
        std::thread::spawn(move || {
            while let Some(Ok(line)) = lines.next() {
                let _ = writeln!(all.lock().unwrap(), "{line}");
                let _ = tx.send(line);
            }
        });
        let mut serving = Serving {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            stderr,
        };
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let addr = line
            .strip_prefix("sockscope: serving ")
            .and_then(|rest| rest.split("://").nth(1))
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .and_then(|addr| addr.parse().ok());
        let Some(addr) = addr else {
            panic!(
                "no serving line: {line:?}; stderr: {}",
                serving.stderr.lock().unwrap()
            );
        };
        serving.addr = addr;
        serving
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `serve --web-config PATH` that should stop at start: its exit code (`None` if it
/// was still running after 20 s and killed), its stderr, and how long it took.
fn refused(web_config: &Path) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["serve", "--no-processes", "--listen", "127.0.0.1:0"])
        .arg("--web-config")
        .arg(web_config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    (code, stderr, took)
}

/// `refused` for a web config of `text`, written in a directory of its own.
fn refused_text(dir: &Path, text: &str) -> (Option<i32>, String, Duration) {
    let path = dir.join("web.yml");
    std::fs::write(&path, text).unwrap();
    refused(&path)
}

/// One GET of /metrics with this Authorization (if any): its status and how long it took.
fn get(addr: SocketAddr, authorization: Option<&str>) -> (u16, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n")
                .as_bytes(),
        )
        .unwrap();
    // Read the head and as much body as it announces (the connection may stay open).
    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).unwrap_or(0);
        response.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|l| l.trim().parse::<usize>().ok());
            if n == 0 || length.is_some_and(|length| body.len() >= length) {
                break;
            }
        } else if n == 0 {
            break;
        }
    }
    let status = String::from_utf8_lossy(&response)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, started.elapsed())
}

fn basic(scheme: &str, credentials: &str) -> String {
    format!(
        "{scheme} {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// Whether `name` is on PATH, or a loud skip (a failure under CI=true).
fn tool(test: &str, name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    found || sockscope::lab::skip(test, &format!("no {name} on PATH (.ci/run installs it)"))
}

/// Run openssl in `dir`, failing with its stderr.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `NAME.crt` and `NAME.key` in `dir`: a self-signed server certificate for 127.0.0.1.
fn self_signed(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// `NAME.crt` and `NAME.key` in `dir`: a CA.
fn certificate_authority(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// `NAME.crt` and `NAME.key` in `dir`: a client certificate signed by the CA `ca`.
fn client_certificate(dir: &Path, name: &str, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "client.ext",
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// curl's exit code and what it printed (the body, then the status on a line of its own).
fn curl(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The status line curl printed last (`000` when there was no response).
fn status_of((code, out): (Option<i32>, String)) -> (Option<i32>, String) {
    (code, out.rsplit('\n').next().unwrap_or_default().to_owned())
}

#[test]
fn serve_web_config_a_device_or_a_pipe_as_the_web_config_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("web.yml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for (path, what) in [
        (Path::new("/dev/zero"), "a device"),
        (Path::new("/dev/urandom"), "a device"),
        (fifo.as_path(), "a named pipe"),
    ] {
        let (code, stderr, took) = refused(path);
        assert_eq!(
            (code, stderr.as_str()),
            (
                Some(1),
                format!(
                    "sockscope: --web-config {}: cannot read it: it is {what}, not a regular file: give the path of a YAML file\n",
                    path.display()
                )
                .as_str()
            )
        );
        assert!(took < Duration::from_secs(5), "{path:?}: {took:?}");
    }
}

#[test]
fn serve_web_config_a_web_config_over_1_mib_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("# {}\n", "x".repeat(1 << 20));
    let (code, stderr, _) = refused_text(dir.path(), &text);
    assert_eq!(
        (code, stderr),
        (
            Some(1),
            format!(
                "sockscope: --web-config {}: cannot read it: it is 1048579 bytes; a web config file may be at most 1048576 bytes (1 MiB)\n",
                dir.path().join("web.yml").display()
            )
        )
    );
}

#[test]
fn serve_web_config_100k_nested_brackets_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("basic_auth_users:\n  prometheus: {}\n", "[".repeat(100_000));
    let (code, stderr, took) = refused_text(dir.path(), &text);
    assert_eq!(
        (code, stderr),
        (
            Some(1),
            format!(
                "sockscope: --web-config {}, line 2: more than 256 '[' or '{{' in the file: a web config needs none, and nested by the thousand they take the YAML parser minutes; is this the web config you meant?\n",
                dir.path().join("web.yml").display()
            )
        )
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn serve_web_config_a_device_or_a_pipe_as_certificate_or_key_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("server.crt");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for (cert, key, refusal) in [
        (
            "/dev/zero",
            "server.key",
            "cert_file /dev/zero: cannot read it: it is a device",
        ),
        (
            "/dev/urandom",
            "server.key",
            "cert_file /dev/urandom: cannot read it: it is a device",
        ),
        (
            "server.crt",
            "server.key",
            &format!(
                "cert_file {}: cannot read it: it is a named pipe",
                fifo.display()
            ),
        ),
    ] {
        let text = format!("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n");
        let (code, stderr, took) = refused_text(dir.path(), &text);
        assert_eq!(
            (code, stderr),
            (
                Some(1),
                format!(
                    "sockscope: --web-config {}, line 1: tls_server_config.{refusal}, not a regular file: give the path of a PEM file\n",
                    dir.path().join("web.yml").display()
                )
            )
        );
        assert!(took < Duration::from_secs(5), "{cert}: {took:?}");
    }
}

#[test]
fn serve_web_config_a_device_as_key_or_client_ca_is_refused_at_once() {
    let name = "serve_web_config_a_device_as_key_or_client_ca_is_refused_at_once";
    if !tool(name, "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path(), "server");
    for (extra, refusal) in [
        (
            "  key_file: /dev/zero\n",
            "tls_server_config.key_file /dev/zero: cannot read it: it is a device",
        ),
        (
            "  key_file: server.key\n  client_ca_file: /dev/urandom\n  client_auth_type: RequireAndVerifyClientCert\n",
            "tls_server_config.client_ca_file /dev/urandom: cannot read it: it is a device",
        ),
    ] {
        let text = format!("tls_server_config:\n  cert_file: server.crt\n{extra}");
        let (code, stderr, took) = refused_text(dir.path(), &text);
        assert_eq!(
            (code, stderr),
            (
                Some(1),
                format!(
                    "sockscope: --web-config {}, line 1: {refusal}, not a regular file: give the path of a PEM file\n",
                    dir.path().join("web.yml").display()
                )
            )
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}

#[test]
fn serve_web_config_hashes_no_one_could_use_are_refused_at_start_naming_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let good = "$2y$10$abcdefghijklmnopqrstuu5Uq8V5uYQlYV.Xv9k8b6Ie1Q9XUjVxG";
    let make = "make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`";
    for (user, hash, reason) in [
        (
            "alice",
            good.replace("$10$", "$31$"),
            format!(
                "the hash's cost is 31, above the 17 sockscope accepts: each step doubles bcrypt's work, and every request with a password not seen before would keep a core busy for about 35 hours; {make}"
            ),
        ),
        (
            "bob",
            good.replace("$10$", "$99$"),
            format!(
                "the hash's cost is 99, which bcrypt does not have (it goes from 4 to 31): nobody could ever log in; {make}"
            ),
        ),
        (
            "carol",
            good.replace("stuu5", "stu!5"),
            format!(
                "the salt of \"{}\" (the 22 characters after \"$2y$10$\") is not bcrypt's base64 (./A-Za-z0-9, the last one of .Oeu): nobody could ever log in; {make}",
                good.replace("stuu5", "stu!5")
            ),
        ),
    ] {
        let text = format!("basic_auth_users:\n  ok: {good}\n  {user}: {hash}\n");
        let (code, stderr, took) = refused_text(dir.path(), &text);
        assert_eq!(
            (code, stderr),
            (
                Some(1),
                format!(
                    "sockscope: --web-config {}, line 3: basic_auth_users.{user}: {reason}\n",
                    dir.path().join("web.yml").display()
                )
            )
        );
        assert!(took < Duration::from_secs(5), "{user}: {took:?}");
    }
    let text = format!("basic_auth_users:\n  \"team:prom\": {good}\n");
    let (code, stderr, _) = refused_text(dir.path(), &text);
    assert_eq!(
        (code, stderr),
        (
            Some(1),
            format!(
                "sockscope: --web-config {}, line 2: basic_auth_users.team:prom: a user name cannot hold ':' (basic auth sends \"user:password\", so \"team:prom\" could never log in); rename the user\n",
                dir.path().join("web.yml").display()
            )
        )
    );
}

#[test]
fn serve_web_config_the_basic_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, format!("basic_auth_users:\n  prometheus: {hash}\n")).unwrap();
    let serving = Serving::start(&path);
    let statuses: Vec<u16> = ["Basic", "basic", "BASIC"]
        .iter()
        .map(|scheme| get(serving.addr, Some(&basic(scheme, "prometheus:s3cret"))).0)
        .collect();
    assert_eq!(statuses, [200, 200, 200]);
    assert_eq!(
        get(serving.addr, Some(&basic("basic", "prometheus:wrong"))).0,
        401
    );
    assert_eq!(get(serving.addr, None).0, 401);
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / rustix::param::clock_ticks_per_second() as f64
}

#[test]
fn serve_web_config_a_wrong_password_flood_keeps_one_core_and_known_scrapes_fast() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 10).unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, format!("basic_auth_users:\n  prometheus: {hash}\n")).unwrap();
    let serving = Serving::start(&path);
    let addr = serving.addr;
    let right = basic("Basic", "prometheus:s3cret");
    // The scraper logs in once before the flood.
    assert_eq!(get(addr, Some(&right)).0, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..20)
        .map(|thread| {
            let (stop, refused) = (Arc::clone(&stop), Arc::clone(&refused));
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    // A new password every time: no cache can answer it.
                    let wrong = basic("Basic", &format!("prometheus:wrong-{thread}-{n}"));
                    if get(addr, Some(&wrong)).0 == 401 {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    // Let the flood build up, then measure the server over 4 s of it.
    std::thread::sleep(Duration::from_millis(500));
    let (cpu_before, wall_before) = (cpu_seconds(serving.pid()), Instant::now());
    let mut scrapes = Vec::new();
    while wall_before.elapsed() < Duration::from_secs(4) {
        let (status, took) = get(addr, Some(&right));
        assert_eq!(status, 200);
        scrapes.push(took);
        std::thread::sleep(Duration::from_millis(200));
    }
    let cores = (cpu_seconds(serving.pid()) - cpu_before) / wall_before.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for thread in flood {
        thread.join().unwrap();
    }
    scrapes.sort();
    let median = scrapes[scrapes.len() / 2];
    eprintln!(
        "flood: {} wrong passwords refused; server used {cores:.2} cores; {} scrapes, median {median:?}, slowest {:?}",
        refused.load(Ordering::Relaxed),
        scrapes.len(),
        scrapes[scrapes.len() - 1]
    );
    assert!(refused.load(Ordering::Relaxed) > 0);
    assert!(cores <= 1.1, "the server used {cores:.2} cores");
    assert!(
        median < Duration::from_millis(100),
        "a known scrape took {median:?} (median of {scrapes:?})"
    );
}

/// Replace `to` by `from` the way certbot and Kubernetes do: a new file renamed over it.
fn replace(dir: &Path, from: &str, to: &str) {
    let staged: PathBuf = dir.join(format!("{to}.new"));
    std::fs::copy(dir.join(from), &staged).unwrap();
    std::fs::rename(&staged, dir.join(to)).unwrap();
}

#[test]
fn serve_web_config_a_renewed_certificate_is_served_without_a_restart() {
    let name = "serve_web_config_a_renewed_certificate_is_served_without_a_restart";
    if !tool(name, "openssl") || !tool(name, "curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for pair in ["first", "second", "third"] {
        self_signed(d, pair);
    }
    replace(d, "first.crt", "server.crt");
    replace(d, "first.key", "server.key");
    let path = d.join("web.yml");
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let serving = Serving::start(&path);
    let url = format!("https://{}/metrics", serving.addr);
    let with_ca = |ca: &str| status_of(curl(d, &["--cacert", ca, &url]));
    assert_eq!(with_ca("first.crt"), (Some(0), "200".to_owned()));

    // Renewed: a new certificate and key renamed over the old ones.
    replace(d, "second.crt", "server.crt");
    replace(d, "second.key", "server.key");
    assert_eq!(with_ca("second.crt"), (Some(0), "200".to_owned()));
    // curl 60: the old CA does not verify the new certificate.
    assert_eq!(with_ca("first.crt"), (Some(60), "000".to_owned()));

    // A certificate whose key has not arrived yet: the previous one is served, said once.
    replace(d, "third.crt", "server.crt");
    assert_eq!(with_ca("second.crt"), (Some(0), "200".to_owned()));
    assert_eq!(with_ca("second.crt"), (Some(0), "200".to_owned()));
    // Then the key, written in place this time.
    std::fs::copy(d.join("third.key"), d.join("server.key")).unwrap();
    assert_eq!(with_ca("third.crt"), (Some(0), "200".to_owned()));
    let warnings: Vec<String> = serving
        .stderr()
        .lines()
        .filter(|l| l.contains("changed"))
        .map(|l| l.replace(&d.display().to_string(), "DIR"))
        .collect();
    assert_eq!(
        warnings,
        [
            "sockscope: --web-config DIR/web.yml: the TLS files changed but cannot be used (tls_server_config: the certificate DIR/server.crt and the key DIR/server.key do not make a TLS server: the key is not the certificate's (give the key the certificate was made for; a renewal replaces both)); still serving the previous certificate"
        ]
    );
}

#[test]
fn serve_web_config_mutual_tls_lets_in_only_clients_with_a_certificate_from_the_ca() {
    let name = "serve_web_config_mutual_tls_lets_in_only_clients_with_a_certificate_from_the_ca";
    if !tool(name, "openssl") || !tool(name, "curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    self_signed(d, "server");
    certificate_authority(d, "ca");
    certificate_authority(d, "rogue-ca");
    client_certificate(d, "prometheus", "ca");
    client_certificate(d, "intruder", "rogue-ca");
    let statuses = |auth_type: &str| {
        let path = d.join(format!("{auth_type}.yml"));
        std::fs::write(
            &path,
            format!(
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n  client_auth_type: {auth_type}\n"
            ),
        )
        .unwrap();
        let serving = Serving::start(&path);
        let url = format!("https://{}/metrics", serving.addr);
        let with = |client: Option<&str>| {
            let mut args = vec!["--cacert", "server.crt"];
            let (cert, key) = client.map_or((String::new(), String::new()), |c| {
                (format!("{c}.crt"), format!("{c}.key"))
            });
            if client.is_some() {
                args.extend(["--cert", &cert, "--key", &key]);
            }
            args.push(&url);
            status_of(curl(d, &args))
        };
        [with(Some("prometheus")), with(None), with(Some("intruder"))]
    };
    // curl 56: the server ended the handshake (TLS 1.3 tells the client after its
    // Finished, so curl sees it when it reads the response).
    assert_eq!(
        statuses("RequireAndVerifyClientCert"),
        [
            (Some(0), "200".to_owned()),
            (Some(56), "000".to_owned()),
            (Some(56), "000".to_owned())
        ]
    );
    assert_eq!(
        statuses("VerifyClientCertIfGiven"),
        [
            (Some(0), "200".to_owned()),
            (Some(0), "200".to_owned()),
            (Some(56), "000".to_owned())
        ]
    );
}

#[test]
fn serve_web_config_yaml_is_read_by_a_maintained_crate_not_the_deprecated_serde_yaml() {
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    let packages: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|name| name.contains("yaml") || name.contains("norway"))
        .collect();
    assert_eq!(packages, ["serde_norway", "unsafe-libyaml-norway"]);
}
