//! `sockscope record -A` keeps each namespace and container: two lab namespaces hold
//! CLOSE_WAIT leaks of different sizes, the first one's holder in a cgroup named as Docker
//! names its containers (with a Docker-style name under a temporary root); `snapshot
//! --from FILE -A --json`, without those names at hand (as on another machine), gives
//! each namespace's name, inode, exact counts, owners and container as recorded. Other
//! namespaces on the host (other tests' labs) may come and go meanwhile: only the labs'
//! are asserted on. Needs root; skips loudly without it (fails under CI=true).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use sockscope::lab::{Lab, require_root};
use sockscope::model::Family;

use super::support::cgroups::TestCgroups;
use super::support::child::in_child;
use super::support::json_of;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");
const DOCKER: &str = "3f2a1c9e0b7d4c5a8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";

/// A lab namespace as staged: its name, inode, the leak's holder (pid, comm) and size.
struct Staged {
    name: String,
    inode: u64,
    pid: u32,
    comm: &'static str,
    leaked: u64,
}

fn inode_of(lab: &Lab) -> u64 {
    let stat = Command::new("stat")
        .args(["-L", "-c", "%i", &format!("/run/netns/{}", lab.monitored())])
        .output()
        .unwrap();
    String::from_utf8(stat.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Counts per state of a JSON `states` object, the zeros left out.
fn nonzero(states: &Value) -> BTreeMap<String, u64> {
    states
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[test]
fn an_all_namespaces_recording_keeps_each_namespace_its_counts_and_its_container() {
    if !require_root(
        "an_all_namespaces_recording_keeps_each_namespace_its_counts_and_its_container",
    ) {
        return;
    }
    // It moves its own process into a cgroup: in a child (see support::cgroups).
    in_child(|| {
        let Some(mut cgroups) = TestCgroups::new() else {
            panic!("no cgroup v2 mount in /proc/self/mountinfo");
        };
        let top = cgroups.top.clone();
        let docker = cgroups.make(&format!("{top}/system.slice/docker-{DOCKER}.scope"));
        let names = tempfile::tempdir().unwrap();
        let config = names.path().join("docker/containers").join(DOCKER);
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("config.v2.json"),
            r#"{"ID":"3f2a","Name":"/web-1","Config":{"Image":"nginx"}}"#,
        )
        .unwrap();

        let mut contained = Lab::new(Path::new(BIN)).unwrap();
        let leak = cgroups
            .inside(&docker, || {
                contained.close_wait_leak(Family::Inet, "leaky-app", 21)
            })
            .unwrap();
        let mut plain = Lab::new(Path::new(BIN)).unwrap();
        let other = plain
            .close_wait_leak(Family::Inet, "other-app", 30)
            .unwrap();
        let staged = [
            Staged {
                name: contained.monitored().to_owned(),
                inode: inode_of(&contained),
                pid: leak.pid,
                comm: "leaky-app",
                leaked: 21,
            },
            Staged {
                name: plain.monitored().to_owned(),
                inode: inode_of(&plain),
                pid: other.pid,
                comm: "other-app",
                leaked: 30,
            },
        ];

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("all.ssrec");
        let out = Command::new(BIN)
            .args(["record", "-A", "--interval", "1s", "--duration", "3s", "-o"])
            .arg(&file)
            .env("SOCKSCOPE_DOCKER_ROOT", names.path().join("docker"))
            .env("SOCKSCOPE_PODS_ROOT", names.path().join("pods"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(plain);
        drop(contained);
        drop(cgroups);

        let info = Command::new(BIN)
            .args(["record", "--info"])
            .arg(&file)
            .output()
            .unwrap();
        let info = String::from_utf8(info.stdout).unwrap();
        assert!(info.contains("every namespace (-A)"), "{info}");
        let listed = info
            .lines()
            .find_map(|l| l.strip_prefix("namespaces  "))
            .unwrap_or_else(|| panic!("{info}"));
        for s in &staged {
            assert!(listed.split(", ").any(|n| n == s.name), "{info}");
        }

        // Read where the names are not: what the file holds is all there is.
        let doc = json_of(
            &Command::new(BIN)
                .args(["snapshot", "-A", "--json", "--from"])
                .arg(&file)
                .env("SOCKSCOPE_DOCKER_ROOT", dir.path().join("none"))
                .env("SOCKSCOPE_PODS_ROOT", dir.path().join("none"))
                .output()
                .unwrap(),
        );
        assert_eq!(doc["netns"], "all");
        let web = json!({"id": DOCKER, "name": "web-1", "runtime": "docker", "pod": null});
        let labels = [
            json!(format!("docker:{} (web-1)", &DOCKER[..12])),
            Value::Null,
        ];
        let containers = [web, Value::Null];
        for ((s, label), container) in staged.iter().zip(&labels).zip(&containers) {
            each_namespace_as_staged(&doc, s, label, container);
        }
    });
}

/// `doc` (`snapshot -A --json`) holds `s`'s namespace once, with its exact counts and
/// namespace `label`, each of its sockets `container`, and its leak's anomaly.
fn each_namespace_as_staged(doc: &Value, s: &Staged, label: &Value, container: &Value) {
    let entries: Vec<&Value> = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["name"] == s.name.as_str())
        .collect();
    assert_eq!(entries.len(), 1, "{} once: {doc}", s.name);
    let entry = entries[0];
    assert_eq!(entry["inode"], s.inode, "{entry}");
    let counts = BTreeMap::from([
        ("CLOSE_WAIT".to_owned(), s.leaked),
        ("LISTEN".to_owned(), 1),
    ]);
    assert_eq!(nonzero(&entry["states"]), counts, "{entry}");
    assert_eq!(entry["total"], s.leaked + 1, "{entry}");
    assert_eq!(&entry["container"], label, "{entry}");

    let sockets: Vec<&Value> = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|socket| socket["netns"] == s.inode)
        .collect();
    assert_eq!(sockets.len() as u64, s.leaked + 1, "{}", s.name);
    for socket in &sockets {
        assert_eq!(&socket["container"], container, "{socket}");
        assert_eq!(
            socket["processes"],
            json!([{"pid": s.pid, "comm": s.comm}]),
            "{socket}"
        );
    }
    let leaks: Vec<&Value> = doc["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "close_wait_backlog" && a["process"]["pid"] == s.pid)
        .collect();
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert_eq!(leaks[0]["netns"], s.inode);
    assert_eq!(leaks[0]["count"], s.leaked);
}
