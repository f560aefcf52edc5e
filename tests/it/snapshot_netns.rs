//! `sockscope snapshot` against real sockets: a lab namespace holding every TCP state in
//! IPv4 and IPv6, a CLOSE_WAIT leak held by a process with a known name, and the filters.
//! Needs root; skips loudly without it (and fails under CI=true).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::process::{Command, Output};

use serde_json::Value;
use sockscope::lab::{Lab, require_root};
use sockscope::model::{Family, TcpState};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn sockscope(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn snapshot_json(lab: &Lab, extra: &[&str]) -> Value {
    let mut args = vec!["snapshot", "--json", "--netns", lab.monitored()];
    args.extend_from_slice(extra);
    let out = sockscope(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn family_name(f: Family) -> &'static str {
    f.name()
}

/// (family, state) → count of the sockets listed in a JSON document.
fn listed(doc: &Value) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for s in doc["sockets"].as_array().unwrap() {
        let key = (
            s["family"].as_str().unwrap().to_owned(),
            s["state"].as_str().unwrap().to_owned(),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// The lab's plan: a distinct count for every state.
const PLAN: [(TcpState, usize); 10] = [
    (TcpState::Established, 3),
    (TcpState::SynSent, 2),
    (TcpState::SynRecv, 4),
    (TcpState::FinWait1, 5),
    (TcpState::FinWait2, 6),
    (TcpState::TimeWait, 7),
    (TcpState::Close, 8),
    (TcpState::CloseWait, 9),
    (TcpState::LastAck, 10),
    (TcpState::Closing, 11),
];

fn lab_with_every_state() -> Lab {
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    for family in [Family::Inet, Family::Inet6] {
        for (state, count) in PLAN {
            lab.stage(family, state, count, None).unwrap();
        }
    }
    lab
}

/// State counts `ss -tan` prints inside the namespace, by netstat spelling.
fn ss_counts(netns: &str) -> BTreeMap<String, u64> {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "ss", "-tanH"])
        .output()
        .unwrap();
    let mut counts = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(state) = line.split_whitespace().next() else {
            continue;
        };
        let name = match state {
            "ESTAB" => "ESTABLISHED",
            "SYN-SENT" => "SYN_SENT",
            "SYN-RECV" => "SYN_RECV",
            "FIN-WAIT-1" => "FIN_WAIT1",
            "FIN-WAIT-2" => "FIN_WAIT2",
            "TIME-WAIT" => "TIME_WAIT",
            "UNCONN" => "CLOSE",
            "CLOSE-WAIT" => "CLOSE_WAIT",
            "LAST-ACK" => "LAST_ACK",
            "LISTEN" => "LISTEN",
            "CLOSING" => "CLOSING",
            other => panic!("unexpected ss state {other}"),
        };
        *counts.entry(name.to_owned()).or_default() += 1;
    }
    counts
}

#[test]
fn every_state_in_both_families_is_counted_exactly() {
    if !require_root("every_state_in_both_families_is_counted_exactly") {
        return;
    }
    let lab = lab_with_every_state();
    let expected = lab.expected();
    let doc = snapshot_json(&lab, &[]);

    // Per family and state, from the socket list.
    let mut want = BTreeMap::new();
    for ((family, state), n) in &expected {
        if *n > 0 {
            want.insert(
                (family_name(*family).to_owned(), state.name().to_owned()),
                *n,
            );
        }
    }
    assert_eq!(listed(&doc), want);

    // The state table covers both families, every state present.
    for state in TcpState::LIFECYCLE {
        let total: u64 = expected
            .iter()
            .filter(|((_, s), _)| *s == state)
            .map(|(_, n)| *n)
            .sum();
        assert_eq!(doc["states"][state.name()], total, "{state}");
    }
    assert_eq!(doc["states"]["CLOSE_WAIT"], 18);
    assert_eq!(doc["states"]["CLOSING"], 22);
    assert_eq!(doc["netns"], lab.monitored());
    assert_eq!(doc["source"], "netlink");

    // ss agrees on every state it shows (it does not list bound-only sockets).
    let ss = ss_counts(lab.monitored());
    for state in TcpState::LIFECYCLE {
        if state == TcpState::Close {
            continue;
        }
        assert_eq!(
            ss.get(state.name()).copied().unwrap_or(0),
            doc["states"][state.name()].as_u64().unwrap(),
            "ss and sockscope disagree on {state}"
        );
    }
}

#[test]
fn close_wait_leak_is_attributed_to_its_process_on_every_socket() {
    if !require_root("close_wait_leak_is_attributed_to_its_process_on_every_socket") {
        return;
    }
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    let leak = lab
        .stage(Family::Inet, TcpState::CloseWait, 12, Some("leaky-app"))
        .unwrap();
    let pid = leak.holder.unwrap();
    lab.stage(Family::Inet, TcpState::Established, 3, None)
        .unwrap();

    let doc = snapshot_json(&lab, &[]);
    let close_wait: Vec<&Value> = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "CLOSE_WAIT")
        .collect();
    assert_eq!(close_wait.len(), 12);
    for s in &close_wait {
        assert_eq!(
            s["processes"],
            serde_json::json!([{"pid": pid, "comm": "leaky-app"}])
        );
    }
    // Every socket of the lab has its owner; whether some other process on the machine hid
    // its descriptors (pid 1 of a sandbox does, even from root) does not matter here.
    assert_ne!(doc["attribution"], "skipped");

    // The text report names it too, on each of its lines.
    let out = sockscope(&[
        "snapshot",
        "--netns",
        lab.monitored(),
        "--state",
        "close-wait",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let owner = format!("leaky-app[{pid}]");
    assert_eq!(
        text.lines().filter(|l| l.ends_with(&owner)).count(),
        12,
        "{text}"
    );
    assert!(
        text.contains("12 of 15 sockets match the filters."),
        "{text}"
    );
}

#[test]
fn netns_pid_watches_the_namespace_of_that_process() {
    if !require_root("netns_pid_watches_the_namespace_of_that_process") {
        return;
    }
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    let held = lab
        .stage(Family::Inet6, TcpState::FinWait2, 4, Some("holder-fw2"))
        .unwrap();
    let pid = held.holder.unwrap().to_string();
    let out = sockscope(&["snapshot", "--json", "--netns-pid", &pid]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["netns"], format!("pid:{pid}"));
    assert_eq!(doc["states"]["FIN_WAIT2"], 4);
    assert_eq!(doc["total"], 4);
}

#[test]
fn filters_select_exactly_what_they_say() {
    if !require_root("filters_select_exactly_what_they_say") {
        return;
    }
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    let leak = lab
        .stage(Family::Inet, TcpState::CloseWait, 5, Some("leaky-app"))
        .unwrap();
    let v6 = lab
        .stage(Family::Inet6, TcpState::Established, 3, None)
        .unwrap();
    lab.stage(Family::Inet, TcpState::TimeWait, 4, None)
        .unwrap();
    let pid = leak.holder.unwrap();
    let total = 12;

    let count = |extra: &[&str]| {
        // One poll is enough here: filters do not depend on counter rises.
        let mut args = vec!["--window", "0s"];
        args.extend_from_slice(extra);
        let doc = snapshot_json(&lab, &args);
        assert_eq!(doc["total"], total, "counts ignore filters");
        doc["sockets"].as_array().unwrap().len()
    };
    assert_eq!(count(&[]), 12);
    assert_eq!(count(&["--state", "close-wait"]), 5);
    assert_eq!(count(&["--state", "CLOSE_WAIT,TIME_WAIT"]), 9);
    assert_eq!(count(&["--state", "bucket"]), 4);
    assert_eq!(count(&["-6"]), 3);
    assert_eq!(count(&["-4"]), 9);
    assert_eq!(count(&["--process", "leaky-app"]), 5);
    assert_eq!(count(&["--process", &pid.to_string()]), 5);
    assert_eq!(count(&["--process", "nobody-by-this-name"]), 0);

    // Each stage talks to its own peer address: the address filters tell them apart.
    let leak_peer = leak.peer_addr.to_string();
    assert_eq!(count(&["--dst", &leak_peer]), 5);
    assert_eq!(count(&["--src", &leak.monitored_addr.to_string()]), 5);
    let remote_port = leak.remote[0].port().to_string();
    assert_eq!(count(&["--dport", &remote_port, "--dst", &leak_peer]), 5);
    let local_ports: Vec<String> = leak.local.iter().map(|a| a.port().to_string()).collect();
    assert_eq!(
        count(&["--sport", &local_ports.join(","), "--dst", &leak_peer]),
        5
    );
    assert_eq!(count(&["--port", &local_ports[0], "--dst", &leak_peer]), 1);
    let v6_remote = format!("{}/128", v6.remote[0].ip());
    assert_eq!(count(&["--dst", &v6_remote]), 3);
    assert_eq!(count(&["--src", "2001:db8::/32"]), 3);
    assert_eq!(count(&["--dst", "0.0.0.0/0"]), 9);
}

#[test]
fn procfs_fallback_reports_the_same_sockets_and_says_so() {
    if !require_root("procfs_fallback_reports_the_same_sockets_and_says_so") {
        return;
    }
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    lab.stage(Family::Inet, TcpState::CloseWait, 3, Some("leaky-app"))
        .unwrap();
    lab.stage(Family::Inet6, TcpState::TimeWait, 2, None)
        .unwrap();
    lab.stage(Family::Inet, TcpState::Close, 2, None).unwrap();
    let out = Command::new(BIN)
        .args(["snapshot", "--json", "--netns", lab.monitored()])
        .env("SOCKSCOPE_SOURCE", "proc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("/proc/net/tcp"))
            .count(),
        1,
        "{stderr}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["source"], "procfs");
    assert_eq!(doc["states"]["CLOSE_WAIT"], 3);
    assert_eq!(doc["states"]["TIME_WAIT"], 2);
    assert_eq!(
        doc["states"]["CLOSE"], 0,
        "/proc/net/tcp does not list bound-only sockets"
    );
}

#[test]
fn unknown_namespace_is_a_one_line_error_listing_the_names() {
    if !require_root("unknown_namespace_is_a_one_line_error_listing_the_names") {
        return;
    }
    let lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    let out = sockscope(&["snapshot", "--netns", "sockscope-no-such-ns"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "sockscope: --netns sockscope-no-such-ns: no /run/netns/sockscope-no-such-ns; names under /run/netns: "
        ),
        "{stderr}"
    );
    assert!(stderr.contains(lab.monitored()), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// Run the binary as user `nobody` (root is needed to switch users).
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(BIN)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn without_privileges_namespaces_are_refused_and_owners_unknown() {
    if !require_root("without_privileges_namespaces_are_refused_and_owners_unknown") {
        return;
    }
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    lab.stage(Family::Inet, TcpState::CloseWait, 2, Some("leaky-app"))
        .unwrap();

    let out = as_nobody(&["snapshot", "--netns", lab.monitored()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "sockscope: --netns {}: permission denied entering the namespace; run sockscope as root (it needs CAP_SYS_ADMIN for setns)\n",
            lab.monitored()
        )
    );

    // In its own namespace, nobody still gets counts; owners it cannot read are `?`.
    let out = as_nobody(&["snapshot", "--json"]);
    let doc = crate::support::json_of(&out);
    assert_eq!(doc["attribution"], "partial");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("run as root to see every owner"),
        "{stderr}"
    );
}
