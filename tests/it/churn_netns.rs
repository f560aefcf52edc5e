//! `connection_churn` against real connections: a client that opens a connection per
//! request raises it — naming its destination, and itself where a poll saw its connections
//! — and a pooled client making the same requests over 10 connections does not; in
//! `check` (listening during its counter window) and in `serve`. Needs root; skips loudly
//! without it (fails under CI=true).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sockscope::lab::{ChurningClient, Lab, require_root};
use sockscope::model::{Family, endpoint};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");
/// Requests a second, by each client.
const RATE: u32 = 120;

/// A lab with a churning client (`churny-client`, a connection per request) and a pooled
/// one (`pooled-client`, the same requests over 10 connections), each toward a server of
/// its own.
fn churning_and_pooled() -> (Lab, ChurningClient, ChurningClient) {
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    let churny = lab
        .churning_client(Family::Inet, 0, RATE, "churny-client")
        .unwrap();
    let pooled = lab
        .pooled_client(Family::Inet, 0, RATE, 10, "pooled-client")
        .unwrap();
    (lab, churny, pooled)
}

/// The connection_churn anomalies of a JSON report, as (subject key, subject).
fn churn_anomalies(doc: &Value) -> Vec<&Value> {
    doc["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "connection_churn")
        .collect()
}

#[test]
fn check_raises_connection_churn_for_the_churning_client_only_naming_its_destination_and_maker() {
    if !require_root(
        "check_raises_connection_churn_for_the_churning_client_only_naming_its_destination_and_maker",
    ) {
        return;
    }
    let (mut lab, churny, pooled) = churning_and_pooled();
    // Let both settle into their pace before the window.
    std::thread::sleep(Duration::from_millis(500));
    let made_before = lab.churn_tally(&churny).unwrap().made;
    let requests_before = lab.churn_tally(&pooled).unwrap().made;
    let out = Command::new(BIN)
        .args(["check", "--json", "--window", "3s", "--netns"])
        .arg(lab.monitored())
        .output()
        .unwrap();
    let made = lab.churn_tally(&churny).unwrap().made - made_before;
    let requests = lab.churn_tally(&pooled).unwrap().made - requests_before;
    // A warning: exit code 1, the JSON on stdout.
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Both clients made about as many requests: only the churning one is raised.
    assert!(
        (300..=420).contains(&made) && (300..=420).contains(&requests),
        "made {made} connections and {requests} pooled requests"
    );
    let churn = churn_anomalies(&doc);
    assert_eq!(churn.len(), 1, "{doc:#}");
    let anomaly = churn[0];
    assert_eq!(
        anomaly["destination"],
        Value::String(endpoint(&churny.destination)),
        "{anomaly:#}"
    );
    assert_eq!(
        (
            &anomaly["severity"],
            &anomaly["threshold"],
            &out.status.code()
        ),
        (&Value::from("warning"), &Value::from(50), &Some(1)),
        "{doc:#}"
    );
    // The rate is over the part of the window after the dump, about 3 s: 120 a second
    // less the connections the dump saw open (not short-lived: their birth is unknown).
    let per_second = anomaly["count"].as_u64().unwrap();
    assert!((90..=130).contains(&per_second), "{anomaly:#}");
    let evidence = &anomaly["churn"];
    let closes = evidence["closes"].as_u64().unwrap();
    assert!(closes <= made, "{closes} closes of {made} connections");
    // The connections the dump saw open are attributed to the client by that poll; the
    // rest closed between polls and are not attributed.
    let makers = anomaly["makers"].as_array().unwrap();
    let client = makers
        .iter()
        .find(|m| m["pid"] == churny.client)
        .unwrap_or_else(|| panic!("{makers:#?}"));
    assert_eq!(client["comm"], "churny-client");
    assert!(client["closes"].as_u64().unwrap() >= 1);
    let unattributed = makers.iter().find(|m| m["pid"].is_null()).unwrap();
    assert_eq!(
        unattributed["closes"].as_u64().unwrap() + client["closes"].as_u64().unwrap(),
        closes
    );
    assert!(
        !doc["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["destination"] == Value::String(endpoint(&pooled.destination))),
        "{doc:#}"
    );
}

#[test]
fn a_one_shot_window_under_a_second_does_not_listen_and_raises_no_churn() {
    if !require_root("a_one_shot_window_under_a_second_does_not_listen_and_raises_no_churn") {
        return;
    }
    let (lab, _churny, _pooled) = churning_and_pooled();
    let out = Command::new(BIN)
        .args(["check", "--json", "--window", "500ms", "--netns"])
        .arg(lab.monitored())
        .output()
        .unwrap();
    let doc = crate::support::json_of(&out);
    assert_eq!(churn_anomalies(&doc).len(), 0, "{doc:#}");
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
}

fn scrape(addr: SocketAddr) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut page = String::new();
    stream.read_to_string(&mut page).ok()?;
    Some(page)
}

/// Kills the exporter on drop.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_raises_connection_churn_toward_the_churning_clients_destination_only() {
    if !require_root("serve_raises_connection_churn_toward_the_churning_clients_destination_only") {
        return;
    }
    let (lab, churny, pooled) = churning_and_pooled();
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listen.local_addr().unwrap();
    drop(listen);
    let _exporter = Exporter(
        Command::new(BIN)
            .args(["serve", "--listen", &addr.to_string(), "--netns"])
            .arg(lab.monitored())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let churning = format!(
        "sockscope_anomaly{{netns=\"{}\",kind=\"connection_churn\",severity=\"warning\",subject=\"destination {}\"}} 1",
        lab.monitored(),
        endpoint(&churny.destination)
    );
    let raised = |page: &str| -> Vec<String> {
        page.lines()
            .filter(|l| l.starts_with("sockscope_anomaly{") && l.contains("connection_churn"))
            .map(str::to_owned)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let page = scrape(addr).unwrap_or_default();
        if !raised(&page).is_empty() || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    // Only the churning client's destination: not the pooled client's.
    assert_eq!(raised(&page), vec![churning], "{page}");
    assert!(!raised(&page)[0].contains(&endpoint(&pooled.destination)));
}
