//! A full (`2>/dev/full`) or closed (`2>&-`) stderr through the real binary: what stderr
//! would have said is lost, nothing else. No mode panics (exit 101); a check still prints its
//! status line on stdout with its exit code.

use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// The two broken stderrs, as shell redirections.
const BROKEN: [&str; 2] = ["2>/dev/full", "2>&-"];

/// Run `sockscope ARGS` through `sh` with `redirections` applied to it.
fn sh(args: &str, redirections: &str) -> Output {
    Command::new("sh")
        .args(["-c", &format!("exec \"$0\" {args} {redirections}"), BIN])
        .output()
        .unwrap()
}

/// The exit code a check's status word stands for.
fn code_of(status_line: &str) -> Option<i32> {
    let word = status_line.strip_prefix("SOCKSCOPE ")?.split(' ').next()?;
    ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
        .iter()
        .position(|w| *w == word)
        .map(|i| i as i32)
}

#[test]
fn an_error_meant_for_a_broken_stderr_keeps_its_exit_code() {
    for stderr in BROKEN {
        // A closed stdout is told on stderr: that line is lost, the exit code is not.
        let out = sh("snapshot --no-processes >&-", stderr);
        assert_eq!(out.status.code(), Some(1), "snapshot {stderr}: {out:?}");
        let out = sh("check --no-processes --window 0s >&-", stderr);
        assert_eq!(out.status.code(), Some(3), "check {stderr}: {out:?}");
        // A full stdout is an error with its exit code, told (or not) on stderr.
        let out = sh("snapshot --no-processes >/dev/full", stderr);
        assert_eq!(out.status.code(), Some(1), "snapshot {stderr}: {out:?}");
        let out = sh("check --no-processes --window 0s >/dev/full", stderr);
        assert_eq!(out.status.code(), Some(3), "check {stderr}: {out:?}");
        // A usage error is exit 2 (snapshot) or UNKNOWN on stdout (check).
        let out = sh("snapshot --window nonsense", stderr);
        assert_eq!(out.status.code(), Some(2), "snapshot {stderr}: {out:?}");
        let out = sh("check --window nonsense", stderr);
        assert_eq!(out.status.code(), Some(3), "check {stderr}: {out:?}");
        assert!(
            String::from_utf8(out.stdout)
                .unwrap()
                .starts_with("SOCKSCOPE UNKNOWN - invalid value 'nonsense' for '--window"),
            "check {stderr}"
        );
    }
}

#[test]
fn a_check_that_warns_on_a_broken_stderr_still_prints_its_status_line() {
    if !sockscope::lab::require_root(
        "a_check_that_warns_on_a_broken_stderr_still_prints_its_status_line",
    ) {
        return;
    }
    for stderr in BROKEN {
        // As nobody, root's descriptors are unreadable: the run warns on stderr.
        let out = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$0\" check --window 0s {stderr}"
                ),
                BIN,
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let status_line = stdout.lines().next().unwrap_or_default();
        assert!(code_of(status_line).is_some(), "{stderr}: {stdout:?}");
        assert_eq!(
            out.status.code(),
            code_of(status_line),
            "{stderr}: {stdout}"
        );
        assert_eq!(out.stderr, b"", "{stderr}");
        // The same run with stderr kept does warn: the line above was really lost.
        let warned = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .args(["check", "--window", "0s"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8(warned.stderr)
                .unwrap()
                .starts_with("sockscope: could not read the descriptors of "),
            "{stderr}"
        );
    }
}

#[test]
fn the_exporter_keeps_serving_when_its_stderr_is_full() {
    if !sockscope::lab::require_root("the_exporter_keeps_serving_when_its_stderr_is_full") {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = Command::new(BIN)
        .args(["serve", "--no-processes", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .spawn()
        .unwrap();
    // `serving http://…/metrics` goes to stderr before the server accepts.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (connected, exited) = loop {
        if let Ok(Some(status)) = serve.try_wait() {
            break (false, Some(status));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() || Instant::now() > deadline {
            break (TcpStream::connect(("127.0.0.1", port)).is_ok(), None);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(exited.and_then(|s| s.code()), None, "the exporter exited");
    assert!(connected, "the exporter never listened on 127.0.0.1:{port}");
}
