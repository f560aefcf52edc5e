//! `sockscope serve --web-config` with the real binary (no root): files that are not
//! regular or too big or too deeply nested refused at start, hashes and user names refused
//! at start, a flood of wrong passwords against bcrypt, certificates renewed on disk while
//! it runs, and mutual TLS with openssl-made certificates and curl.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

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
