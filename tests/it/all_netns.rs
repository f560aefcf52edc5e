//! `sockscope snapshot -A` and `check -A` against ten lab namespaces staged with known,
//! distinct counts: lab `i` holds `i` ESTABLISHED connections, and the sixth also a
//! CLOSE_WAIT leak of 25 sockets held by `leaky-app`. Other namespaces on the host (the
//! host's, other tests' labs) may come and go meanwhile: only the labs' are asserted on.
//! Needs root; skips loudly without it (and fails under CI=true). Every lab (namespaces,
//! sockets, holders) is removed when the test ends, also when it fails.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::process::{Command, Output};

use serde_json::Value;
use sockscope::lab::{Lab, require_root};
use sockscope::model::{Family, TcpState};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// Which lab leaks, and how many CLOSE_WAIT sockets (warning at 20, critical at 100).
const LEAKY: usize = 6;
const LEAKED: usize = 25;

fn sockscope(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// A lab's monitored namespace: its name, inode (`stat -L -c %i /run/netns/NAME`) and
/// exact counts per state.
struct Staged {
    name: String,
    inode: u64,
    counts: BTreeMap<&'static str, u64>,
}

fn stage_labs() -> (Vec<Lab>, Vec<Staged>, u32) {
    let mut labs = Vec::new();
    let mut staged = Vec::new();
    let mut leak_pid = 0;
    for i in 1..=10 {
        let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
        lab.stage(Family::Inet, TcpState::Established, i, None)
            .unwrap();
        if i == LEAKY {
            leak_pid = lab
                .close_wait_leak(Family::Inet, "leaky-app", LEAKED)
                .unwrap()
                .pid;
        }
        let stat = Command::new("stat")
            .args(["-L", "-c", "%i", &format!("/run/netns/{}", lab.monitored())])
            .output()
            .unwrap();
        let inode = String::from_utf8(stat.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut counts = BTreeMap::new();
        for ((_, state), n) in lab.expected() {
            *counts.entry(state.name()).or_default() += n;
        }
        staged.push(Staged {
            name: lab.monitored().to_owned(),
            inode,
            counts,
        });
        labs.push(lab);
    }
    (labs, staged, leak_pid)
}

/// Counts per state of a JSON `states` object, the zeros left out.
fn nonzero(states: &Value) -> BTreeMap<&str, u64> {
    states
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_u64().unwrap()))
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[test]
fn every_lab_namespace_is_reported_once_with_exact_counts_and_the_leak_in_its_own() {
    if !require_root(
        "every_lab_namespace_is_reported_once_with_exact_counts_and_the_leak_in_its_own",
    ) {
        return;
    }
    let (_labs, staged, leak_pid) = stage_labs();
    // The counts are what was staged, distinct for each lab.
    for (i, s) in staged.iter().enumerate() {
        assert_eq!(
            s.counts.get("ESTABLISHED"),
            Some(&(i as u64 + 1)),
            "{}",
            s.name
        );
    }
    assert_eq!(
        staged[LEAKY - 1].counts.get("CLOSE_WAIT"),
        Some(&(LEAKED as u64))
    );
    json_lists_each_lab_once(&staged, leak_pid);
    text_has_a_block_per_lab(&staged);
    netns_match_keeps_one_namespace(&staged[LEAKY - 1]);
    check_names_the_leak_s_namespace(&staged[LEAKY - 1], leak_pid);
}

fn json_lists_each_lab_once(staged: &[Staged], leak_pid: u32) {
    let out = sockscope(&["snapshot", "-A", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["netns"], "all");
    let namespaces = doc["namespaces"].as_array().unwrap();
    assert_eq!(namespaces[0]["name"], "host");
    for s in staged {
        let entries: Vec<&Value> = namespaces
            .iter()
            .filter(|n| n["name"] == s.name.as_str())
            .collect();
        assert_eq!(entries.len(), 1, "{} once", s.name);
        let entry = entries[0];
        assert_eq!(entry["inode"], s.inode, "{}", s.name);
        assert_eq!(nonzero(&entry["states"]), s.counts, "{}", s.name);
        assert_eq!(entry["total"], s.counts.values().sum::<u64>(), "{}", s.name);
        let mut listed: BTreeMap<&str, u64> = BTreeMap::new();
        for socket in doc["sockets"].as_array().unwrap() {
            if socket["netns"] == s.inode {
                *listed.entry(socket["state"].as_str().unwrap()).or_default() += 1;
            }
        }
        assert_eq!(
            listed, s.counts,
            "{}: each socket's netns is its namespace's",
            s.name
        );
    }
    let leaky = &staged[LEAKY - 1];
    let leaks: Vec<&Value> = doc["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        // Other tests' labs may leak meanwhile: this lab's leaking process is the one.
        .filter(|a| a["kind"] == "close_wait_backlog" && a["process"]["pid"] == leak_pid)
        .collect();
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert_eq!(leaks[0]["process"]["comm"], "leaky-app");
    assert_eq!(leaks[0]["netns"], leaky.inode);
    assert_eq!(leaks[0]["process"]["pid"], leak_pid);
    assert_eq!(leaks[0]["count"], LEAKED as u64);
    let top: u64 = namespaces
        .iter()
        .map(|n| n["total"].as_u64().unwrap())
        .sum();
    assert_eq!(doc["total"], top, "the top-level total is the sum");
}

fn text_has_a_block_per_lab(staged: &[Staged]) {
    let out = sockscope(&["snapshot", "-A", "--no-processes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for s in staged {
        let header = format!(
            "== netns {} · inode {} · {} TCP socket",
            s.name,
            s.inode,
            s.counts.values().sum::<u64>()
        );
        let blocks: Vec<&str> = text
            .split("\n== ")
            .filter(|b| format!("== {b}").starts_with(&header))
            .collect();
        assert_eq!(blocks.len(), 1, "{header}\n{text}");
        let counts: BTreeMap<&str, u64> = blocks[0]
            .lines()
            .skip_while(|l| !l.starts_with("STATE "))
            .skip(1)
            .take(11)
            .map(|l| {
                let (state, n) = l.split_once(' ').unwrap();
                (state, n.trim().replace(',', "").parse().unwrap())
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(counts, s.counts, "{}", s.name);
    }
    assert!(text.contains("\n== TOTAL · "), "{text}");
}

fn netns_match_keeps_one_namespace(leaky: &Staged) {
    for key in [leaky.name.clone(), leaky.inode.to_string()] {
        let out = sockscope(&[
            "snapshot",
            "-A",
            "--json",
            "--no-processes",
            "--netns-match",
            &key,
        ]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let sockets = doc["sockets"].as_array().unwrap();
        assert_eq!(
            sockets.len() as u64,
            leaky.counts.values().sum::<u64>(),
            "{key}"
        );
        assert!(sockets.iter().all(|s| s["netns"] == leaky.inode), "{key}");
    }
}

/// Other tests' labs may raise their own anomalies meanwhile (a critical one makes the
/// whole host CRITICAL): the host-wide check is at least WARNING and names the leak; the
/// check of the leaky namespace alone is exactly WARNING.
fn check_names_the_leak_s_namespace(leaky: &Staged, leak_pid: u32) {
    let subject = format!(
        "{}: close_wait_backlog leaky-app[{leak_pid}] {LEAKED}>=20",
        leaky.name
    );
    let long_line = format!(
        "{}: WARNING close_wait_backlog leaky-app[{leak_pid}]",
        leaky.name
    );
    let out = sockscope(&["check", "-A", "--window", "0s"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(matches!(out.status.code(), Some(1 | 2)), "{text}");
    let status = text.lines().next().unwrap();
    assert!(status.contains(&subject), "{status}");
    assert!(text.lines().any(|l| l.starts_with(&long_line)), "{text}");

    let out = sockscope(&[
        "check",
        "-A",
        "--window",
        "0s",
        "--netns-match",
        &leaky.name,
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let status = text.lines().next().unwrap();
    assert!(
        status.starts_with(&format!("SOCKSCOPE WARNING - {subject} | total=")),
        "{status}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with(&long_line)).count(),
        1,
        "{text}"
    );
}
