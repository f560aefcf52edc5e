//! The lab's churning client (what `sockscope demo` stages for the Churn view and the
//! `connection_churn` rule) runs under its name at the rate asked, is seen by polls, leaves
//! staging exact, and dies with the lab. Needs root (skips loudly otherwise, fails under
//! CI=true).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sockscope::lab::{CHURN_SERVER, Lab, require_root};
use sockscope::model::{Family, TcpState};

use crate::support::json_of;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");
/// Connections a second asked of the client.
const RATE: u32 = 120;
/// How long the rate is measured over.
const SPAN: Duration = Duration::from_secs(3);
/// One-shot snapshots taken during the span (one every half second).
const SNAPSHOTS: u32 = 5;

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `ss -tanH` rows in `netns` whose peer is `destination`, per state name.
fn ss_toward(netns: &str, destination: SocketAddr) -> BTreeMap<String, u64> {
    let peer = destination.to_string();
    let mut counts = BTreeMap::new();
    for line in run(&["ip", "netns", "exec", netns, "ss", "-tanH"]).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(4) == Some(&peer.as_str()) {
            *counts.entry(fields[0].to_owned()).or_default() += 1;
        }
    }
    counts
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap()
}

/// The owners sockscope's snapshot gives each ESTABLISHED socket toward `destination`
/// (client side) and on it (server side), as JSON process lists.
fn owners(netns: &str, destination: SocketAddr) -> (Vec<Value>, Vec<Value>) {
    let out = Command::new(BIN)
        .args(["snapshot", "--json", "--netns", netns])
        .args(["--state", "established"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let at = destination.to_string();
    let (mut client, mut server) = (Vec::new(), Vec::new());
    for socket in doc["sockets"].as_array().unwrap() {
        if socket["remote"] == at.as_str() {
            client.push(socket["processes"].clone());
        } else if socket["local"] == at.as_str() {
            server.push(socket["processes"].clone());
        }
    }
    (client, server)
}

#[test]
fn a_churning_client_keeps_its_rate_under_its_name_until_the_lab_drops() {
    if !require_root("a_churning_client_keeps_its_rate_under_its_name_until_the_lab_drops") {
        return;
    }
    let mut lab = Lab::new(Path::new(BIN)).unwrap();
    let churn = lab
        .churning_client(Family::Inet, 9090, RATE, "churny-client")
        .unwrap();
    assert_eq!(churn.destination.port(), 9090);
    assert_eq!(comm(churn.client), "churny-client\n");
    assert_eq!(comm(churn.server), format!("{CHURN_SERVER}\n"));

    let first = lab.churn_tally(&churn).unwrap();
    let started = Instant::now();
    // Staging goes on exact beside the churn, which is in no count.
    lab.stage(Family::Inet, TcpState::Established, 2, None)
        .unwrap();
    assert_eq!(
        lab.expected(),
        BTreeMap::from([((Family::Inet, TcpState::Established), 2)])
    );
    let client_owner = json!([{"pid": churn.client, "comm": "churny-client"}]);
    let server_owner = json!([{"pid": churn.server, "comm": CHURN_SERVER}]);
    let (mut seen_client, mut seen_server) = (0, 0);
    for i in 1..=SNAPSHOTS {
        let (client, server) = owners(lab.monitored(), churn.destination);
        // A connection closed between the dump and the descriptor walk has no owner; one
        // that has one has the right one.
        for processes in &client {
            assert!(
                processes == &json!([]) || processes == &client_owner,
                "{processes}"
            );
        }
        for processes in &server {
            assert!(
                processes == &json!([]) || processes == &server_owner,
                "{processes}"
            );
        }
        seen_client += client.iter().filter(|p| **p == client_owner).count();
        seen_server += server.iter().filter(|p| **p == server_owner).count();
        std::thread::sleep((SPAN * i / SNAPSHOTS).saturating_sub(started.elapsed()));
    }
    // Every connection made before the first count has been closed (after 100 ms) and is in
    // TIME_WAIT on the client's side for 60 s; none made after the last count is.
    let toward = ss_toward(lab.monitored(), churn.destination);
    let last = lab.churn_tally(&churn).unwrap();
    let elapsed = started.elapsed();
    let made = last.made - first.made;
    let rate = made as f64 / elapsed.as_secs_f64();
    eprintln!(
        "churny-client: {made} connections in {elapsed:.2?} ({rate:.1}/s, asked {RATE}/s), \
         {} failed; {seen_client} of its connections and {seen_server} of the server's \
         seen owned in {SNAPSHOTS} snapshots; toward {}: {toward:?}",
        last.failed, churn.destination
    );
    assert!((100.0..=140.0).contains(&rate), "{rate:.1} connections/s");
    assert_eq!(last.failed, 0);
    assert!(seen_client > 0 && seen_server > 0);
    let time_wait = toward.get("TIME-WAIT").copied().unwrap_or(0);
    assert!(
        (first.made..=last.made).contains(&time_wait),
        "{time_wait} TIME_WAIT toward {}, made {} then {}",
        churn.destination,
        first.made,
        last.made
    );
    let listening = run(&["ip", "netns", "exec", lab.monitored(), "ss", "-tlnH"]);
    assert_eq!(
        listening
            .lines()
            .filter(|l| l.contains(&churn.destination.to_string()))
            .count(),
        1,
        "{listening}"
    );

    let [monitored, peer] = lab.namespaces().map(str::to_owned);
    drop(lab);
    for pid in [churn.client, churn.server] {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} survived the lab"
        );
    }
    let listed = run(&["ip", "netns", "list"]);
    assert!(
        !listed.contains(&monitored) && !listed.contains(&peer),
        "{listed}"
    );
}
