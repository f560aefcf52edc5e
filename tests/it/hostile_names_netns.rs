//! Hostile names on a real host, through the real binary: a cgroup v2 directory named
//! `\e]0;OWNED\a\e[2J\e[Hfake.service` (any user can name one in a subtree delegated to
//! them) holding 21 CLOSE_WAIT sockets of a process named `\e]0;X\aleak`, and a listener in a
//! Docker container whose name carries an escape sequence and a newline. `snapshot` (text and
//! JSON) and `check` are read byte for byte. Needs root; skips loudly without it (and fails
//! under CI=true). The lab, then the cgroups, are removed when the test ends, also when it
//! fails.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::Path;
use std::process::{Command, Output};

use sockscope::lab::{Lab, require_root};
use sockscope::model::{Family, TcpState};

use super::support::cgroups::TestCgroups;
use super::support::child::in_child;
use super::support::json_of;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");
const UNIT: &str = "\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}[Hfake.service";
const UNIT_SHOWN: &str = "\\x1b]0;OWNED\\x07\\x1b[2J\\x1b[Hfake.service";
const LEAK_COMM: &str = "\u{1b}]0;X\u{7}leak";
const DOCKER: &str = "3f2a1c9e0b7d4c5a8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
/// As Docker's `config.v2.json` keeps it (JSON-escaped, with its leading `/`).
const DOCKER_NAME_JSON: &str = r"/web\u001b]0;OWNED\u0007\nX";
const DOCKER_NAME: &str = "web\u{1b}]0;OWNED\u{7}\nX";
const STATES: [&str; 11] = [
    "LISTEN",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "CLOSING",
    "TIME_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "CLOSE",
];

/// `sockscope MODE --netns <lab> ARGS` with Docker's names under `docker`.
fn sockscope(mode: &str, lab: &Lab, docker: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args([mode, "--netns", lab.monitored()])
        .args(args)
        .env("SOCKSCOPE_DOCKER_ROOT", docker)
        .output()
        .unwrap()
}

/// No ESC, BEL or other control byte but the ends of lines.
fn assert_no_control_bytes(what: &str, bytes: &[u8]) {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for (n, line) in text.lines().enumerate() {
        assert!(
            !line.chars().any(char::is_control),
            "{what} line {n}: {line:?}"
        );
    }
}

#[test]
fn a_hostile_cgroup_and_container_name_reach_no_terminal_through_the_real_binary() {
    if !require_root(
        "a_hostile_cgroup_and_container_name_reach_no_terminal_through_the_real_binary",
    ) {
        return;
    }
    // It moves its own process between cgroups (what it creates meanwhile is theirs): in a
    // child, so that no other test's sockets or holders land in them.
    in_child(hostile_cgroup_and_container_names);
}

/// The body of the test above, in its child process.
fn hostile_cgroup_and_container_names() {
    // Dropped in reverse: the lab (holders stopped) before the cgroups are removed.
    let Some(mut cgroups) = TestCgroups::new() else {
        panic!("no cgroup v2 mount in /proc/self/mountinfo");
    };
    let names = tempfile::tempdir().unwrap();
    let mut lab = Lab::new(Path::new(BIN)).unwrap();
    let top = cgroups.top.clone();
    let unit = cgroups.make(&format!("{top}/system.slice/{UNIT}"));
    let docker = cgroups.make(&format!("{top}/system.slice/docker-{DOCKER}.scope"));
    let config = names.path().join("docker/containers").join(DOCKER);
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.v2.json"),
        format!(r#"{{"ID":"3f2a","Name":"{DOCKER_NAME_JSON}","Config":{{"Image":"nginx"}}}}"#),
    )
    .unwrap();
    let leak = cgroups
        .inside(&unit, || lab.close_wait_leak(Family::Inet, LEAK_COMM, 21))
        .unwrap();
    let listener = cgroups
        .inside(&docker, || {
            lab.stage(Family::Inet, TcpState::Listen, 1, Some("web"))
        })
        .unwrap();
    cgroups.put(&docker, listener.holder.unwrap());
    let docker_root = names.path().join("docker");

    // The text report.
    let out = sockscope("snapshot", &lab, &docker_root, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_no_control_bytes("snapshot", &out.stdout);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let subject = format!("\\x1b]0;X\\x07leak[{}] in systemd:{UNIT_SHOWN}", leak.pid);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("WARNING close_wait_backlog {subject}: 21 CLOSE_WAIT sockets (warning 20, critical 100)")))
            .count(),
        1,
        "{text}"
    );
    // Every line of the table is one socket: no name split one in two.
    let table = lines.iter().position(|l| l.starts_with("State ")).unwrap();
    let rows = &lines[table + 1..];
    assert_eq!(rows.len(), 23, "{text}");
    for row in rows {
        assert!(
            STATES.iter().any(|s| row.starts_with(&format!("{s} "))),
            "{row:?}"
        );
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r.contains(&format!("systemd:{UNIT_SHOWN} ")))
            .count(),
        22,
        "{text}"
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.contains("docker:3f2a1c9e0b7d (web\\x1b]0;OWNED\\x07\\x0aX) "))
            .count(),
        1,
        "{text}"
    );

    // The check: a status line and an anomaly line with its hint.
    let out = sockscope("check", &lab, &docker_root, &["--window", "0s"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_no_control_bytes("check", &out.stdout);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "SOCKSCOPE WARNING - close_wait_backlog {subject} 21>=20 | total=23;;;0 "
        )),
        "{text}"
    );

    // The JSON: every name as it was read.
    let doc = json_of(&sockscope("snapshot", &lab, &docker_root, &["--json"]));
    let anomaly = &doc["anomalies"][0];
    assert_eq!(anomaly["process"]["comm"], LEAK_COMM);
    assert_eq!(anomaly["container"]["id"], UNIT);
    let sockets = doc["sockets"].as_array().unwrap();
    assert_eq!(
        sockets
            .iter()
            .filter(|s| s["cgroup"] == format!("{top}/system.slice/{UNIT}").as_str())
            .count(),
        22
    );
    assert_eq!(
        sockets
            .iter()
            .filter(|s| s["container"]["name"] == DOCKER_NAME)
            .count(),
        1
    );
    drop(lab);
    drop(cgroups);
}
