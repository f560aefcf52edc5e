//! The command line through the real binary: malformed input is one line on stderr and
//! exit code 2; an unknown namespace is exit 1 (snapshot) or 3 UNKNOWN (check). No root needed.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Run a `check --json` that cannot run: exit 3 with the UNKNOWN document; its summary.
fn unknown_json_summary(args: &[&str]) -> String {
    let (code, stdout, _) = run(args);
    assert_eq!(code, Some(3), "{args:?}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["status"], "UNKNOWN");
    assert_eq!(doc["exit_code"], 3);
    doc["summary"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn malformed_flags_are_one_line_and_exit_2() {
    for (args, message) in [
        (
            &["snapshot", "--sport", "99999"][..],
            "sockscope: invalid value '99999' for '--sport <PORT>': \"99999\" is not a port: use a number 0-65535 or a range like 8000-8100 (see sockscope --help)\n",
        ),
        (
            &["--dst", "10.0.0.0/33"][..],
            "sockscope: invalid value '10.0.0.0/33' for '--dst <ADDR[/LEN]>': \"10.0.0.0/33\" is not an address or CIDR block: use e.g. 192.0.2.7, 10.0.0.0/8, 2001:db8::/32 (see sockscope --help)\n",
        ),
        (
            &["--netns", "a", "--netns-pid", "3"][..],
            "sockscope: the argument '--netns <NAME>' cannot be used with '--netns-pid <PID>' (see sockscope --help)\n",
        ),
        (
            &["snapshot", "--bogus"][..],
            "sockscope: unexpected argument '--bogus' found (see sockscope --help)\n",
        ),
        (
            &["snapshot", "--window", "5m"][..],
            "sockscope: invalid value '5m' for '--window <DURATION>': \"5m\" is longer than a minute: a one-shot check should not wait that long (see sockscope --help)\n",
        ),
    ] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}");
        assert_eq!(stderr, message, "{args:?}");
        assert!(stdout.is_empty());
    }
}

#[test]
fn the_interval_range_is_the_one_the_keys_and_the_config_use() {
    for text in ["100ms", "2m"] {
        let (code, _, stderr) = run(&["top", "--interval", text]);
        assert_eq!(code, Some(2), "{text}");
        assert_eq!(
            stderr,
            format!(
                "sockscope: invalid value '{text}' for '--interval <DURATION>': \"{text}\": it must be between 250ms and 1m: faster polls cost more than they show, slower ones miss what a dashboard is for (see sockscope --help)\n"
            )
        );
    }
}

#[test]
fn an_unknown_state_lists_the_accepted_spellings() {
    let (code, _, stderr) = run(&["snapshot", "--state", "close_wiat"]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1);
    assert!(
        stderr.starts_with(
            "sockscope: invalid value 'close_wiat' for '--state <STATE>': unknown state \"close_wiat\"; use one of: established, syn-sent,"
        ),
        "{stderr}"
    );
}

#[test]
fn a_process_filter_without_attribution_is_refused() {
    let (code, _, stderr) = run(&["snapshot", "--process", "nginx", "--no-processes"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "sockscope: the argument '--process <PID|NAME>' cannot be used with '--no-processes' (see sockscope --help)\n"
    );
}

#[test]
fn a_namespace_that_does_not_exist_fails_snapshot_and_is_unknown_to_check() {
    let name = "sockscope-test-no-such-namespace";
    let (code, stdout, stderr) = run(&["snapshot", "--netns", name]);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with(&format!(
            "sockscope: --netns {name}: no /run/netns/{name}; "
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);

    let (code, stdout, _) = run(&["check", "--netns", name]);
    assert_eq!(code, Some(3));
    assert!(
        stdout.starts_with(&format!(
            "SOCKSCOPE UNKNOWN - --netns {name}: no /run/netns/{name}; "
        )),
        "{stdout}"
    );
    assert_eq!(
        unknown_json_summary(&["check", "--json", "--netns-pid", "4294967294"]),
        "--netns-pid 4294967294: no process 4294967294 (is it still running? `ps -p 4294967294`)"
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let (code, _, stderr) = run(&["snapshot", "--config", "/nonexistent/sockscope.toml"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "sockscope: config file /nonexistent/sockscope.toml does not exist; check the --config path, or leave --config out to use the default locations\n"
    );
}

#[test]
fn arguments_that_are_not_utf8_are_read_not_panicked_on() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;

    let out = Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(OsStr::from_bytes(b"/tmp/\xff-sockscope-absent"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "SOCKSCOPE UNKNOWN - config file /tmp/\u{fffd}-sockscope-absent does not exist; check the --config path, or leave --config out to use the default locations\n"
    );

    // A process name as /proc shows it may be any bytes; `snapshot` printed this one.
    let out = Command::new(BIN)
        .args(["snapshot", "--state", "listen", "--process"])
        .arg(OsStr::from_bytes(b"\xff\xfebad-sockscope-absent"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().rfind(|l| !l.is_empty()).unwrap_or_default();
    let total = last
        .strip_prefix("0 of ")
        .and_then(|rest| rest.strip_suffix(" sockets match the filters."))
        .unwrap_or_else(|| panic!("no process of that name, so nothing listed: {stdout}"));
    assert!(
        total.chars().all(|c| c.is_ascii_digit() || c == ','),
        "{last}"
    );
}

#[test]
fn a_check_that_cannot_run_is_unknown_on_stdout_with_exit_3() {
    for (args, summary) in [
        (
            &["check", "--bogus"][..],
            "unexpected argument '--bogus' found (see sockscope --help)",
        ),
        (
            &["check", "--port", "99999"][..],
            "invalid value '99999' for '--port <PORT>': \"99999\" is not a port: use a number 0-65535 or a range like 8000-8100 (see sockscope --help)",
        ),
        (
            &["--interval", "2s", "check"][..],
            "--interval goes after the mode it is for: `sockscope top --interval 2s`; one-shot modes take --window (see sockscope --help)",
        ),
    ] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(3), "{args:?}");
        assert_eq!(
            stdout,
            format!("SOCKSCOPE UNKNOWN - {summary}\n"),
            "{args:?}"
        );
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    assert_eq!(
        unknown_json_summary(&["check", "--json", "--bogus"]),
        "unexpected argument '--bogus' found (see sockscope --help)"
    );
}

#[test]
fn an_empty_config_variable_is_an_unset_one() {
    let out = Command::new(BIN)
        .args(["check", "--no-processes", "--window", "0s"])
        .env("SOCKSCOPE_CONFIG", "")
        .env("XDG_CONFIG_HOME", "/nonexistent-sockscope-test")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("SOCKSCOPE "), "{stdout}");
    assert!(!stdout.contains("UNKNOWN"), "{stdout}");
    assert!(!stdout.contains("--config"), "{stdout}");
    // A set variable still names the file.
    let out = Command::new(BIN)
        .args(["check", "--no-processes", "--window", "0s"])
        .env(
            "SOCKSCOPE_CONFIG",
            "/nonexistent-sockscope-test/config.toml",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "SOCKSCOPE UNKNOWN - config file /nonexistent-sockscope-test/config.toml does not exist; check the --config path, or leave --config out to use the default locations\n"
    );
}

#[test]
fn a_closed_stdout_is_an_error_not_a_silent_success() {
    let closed = |mode: &str| {
        Command::new("sh")
            .args([
                "-c",
                "exec \"$0\" \"$1\" --no-processes --window 0s >&-",
                BIN,
                mode,
            ])
            .output()
            .unwrap()
    };
    let message = "sockscope: stdout is closed, so the report would go nowhere: run it with stdout open (a file, a pipe or the terminal)\n";
    let out = closed("snapshot");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), message);
    let out = closed("check");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), message);
    // Sent to /dev/null on purpose, the report is written (and lost) as asked.
    let out = Command::new("sh")
        .args(["-c", "exec \"$0\" snapshot --no-processes >/dev/null", BIN])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn a_full_disk_is_named_as_the_reason_the_check_result_was_not_written() {
    let out = Command::new("sh")
        .args([
            "-c",
            "exec \"$0\" check --no-processes --window 0s >/dev/full",
            BIN,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "sockscope: writing the check result: writing the report: No space left on device (os error 28)\n"
    );
}

#[test]
fn the_dashboard_takes_all_netns_and_like_any_dashboard_needs_a_terminal() {
    for args in [&["-A"][..], &["top", "--all-netns"], &["demo", "-A"]] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(1), "{args:?}");
        assert_eq!(stdout, "");
        assert!(
            stderr.starts_with("sockscope: the dashboard needs a terminal and stdout is not one")
                || stderr.starts_with("sockscope: sockscope demo "),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn all_netns_without_root_is_one_line_and_the_privilege_exit_code() {
    const NEEDS_ROOT: &str = "-A needs root: entering the other network namespaces takes CAP_SYS_ADMIN, and reading their sockets' owners takes reading every process's descriptors; run it with sudo";
    // As root, drop to nobody for the run.
    let unprivileged = |args: &[&str]| {
        let mut command = if nix::unistd::geteuid().is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        let out = command.args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, stdout, stderr) = unprivileged(&["snapshot", "-A"]);
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert_eq!(stderr, format!("sockscope: {NEEDS_ROOT}\n"));
    let (code, stdout, _) = unprivileged(&["check", "-A"]);
    assert_eq!(code, Some(3));
    assert_eq!(stdout, format!("SOCKSCOPE UNKNOWN - {NEEDS_ROOT}\n"));
}

#[test]
fn serve_refuses_a_textfile_that_is_a_device_before_polling() {
    let (code, stdout, stderr) = run(&["serve", "--textfile", "/dev/full"]);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "sockscope: --textfile /dev/full: it is a character device: refusing to replace it; give the path of a regular file (or of none yet) in node_exporter's textfile directory\n"
    );
    let kind = std::fs::symlink_metadata("/dev/full").unwrap().file_type();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&kind));
}
