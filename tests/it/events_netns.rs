//! `sockscope events` against real connections in a namespace: every destroyed socket comes
//! out once, attributed as far as the polls saw it and saying how (`owner_from`). Needs
//! root; skips loudly without it (and fails under CI=true).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sockscope::collect::netns::run_in;
use sockscope::lab::require_root;

use super::support::netns::NamedNetns;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// Short connections the first test makes.
const K: usize = 40;

/// `sockscope events --netns NAME --json …` started, once it says it listens.
fn events(netns: &NamedNetns, args: &[&str]) -> Child {
    let mut child = Command::new(BIN)
        .args(["events", "--netns", &netns.name, "--json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.contains("listening for destroyed TCP sockets"),
        "{line}"
    );
    child
}

/// The JSON lines the child wrote until it ended, and its exit status.
fn lines(mut child: Child) -> (Vec<Value>, std::process::ExitStatus) {
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (lines, status)
}

fn port(endpoint: &Value) -> u16 {
    endpoint
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A new namespace (`sockscope-<tag>-<pid>`, loopback up) with a listener on loopback in
/// it, held by this process, and the listener's port.
fn namespace_with_listener(tag: &str) -> (NamedNetns, TcpListener, u16) {
    let netns = NamedNetns::add(tag);
    Command::new("ip")
        .args(["-n", &netns.name, "link", "set", "lo", "up"])
        .status()
        .unwrap();
    let listener = run_in(&netns.target(), || {
        TcpListener::bind("127.0.0.1:0").unwrap()
    })
    .unwrap();
    let port = listener.local_addr().unwrap().port();
    (netns, listener, port)
}

/// `k` connections to `listener` (in the namespace), each written to and closed at once.
fn short_connections(netns: &NamedNetns, listener: &TcpListener, k: usize) {
    let addr = listener.local_addr().unwrap();
    run_in(&netns.target(), || {
        for _ in 0..k {
            let mut client = TcpStream::connect(addr).unwrap();
            let (mut server, _) = listener.accept().unwrap();
            client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut request = [0u8; 18];
            server.read_exact(&mut request).unwrap();
            server
                .write_all(b"HTTP/1.0 204 No Content\r\n\r\n")
                .unwrap();
            drop(server);
            drop(client);
        }
    })
    .unwrap();
}

#[test]
fn k_short_connections_give_k_destroy_events_each_side_attributed_as_far_as_known() {
    let test = "k_short_connections_give_k_destroy_events_each_side_attributed_as_far_as_known";
    if !require_root(test) {
        return;
    }
    let (netns, listener, server_port) = namespace_with_listener("events");
    // One poll at the start (it sees the listener), none while the connections live: none
    // of them is seen by a poll.
    let child = events(&netns, &["--interval", "1m", "--duration", "3s"]);
    short_connections(&netns, &listener, K);
    let (lines, status) = lines(child);
    assert!(status.success(), "{status}");
    let destroyed: Vec<&Value> = lines.iter().filter(|l| l["event"] == "destroyed").collect();
    assert_eq!(lines.len(), destroyed.len(), "no lost line: {lines:?}");

    let me = u64::from(std::process::id());
    let server_side: Vec<&&Value> = destroyed
        .iter()
        .filter(|l| port(&l["local"]) == server_port)
        .collect();
    assert_eq!(server_side.len(), K, "{lines:#?}");
    for event in &server_side {
        assert_eq!(event["owner_from"], "listener", "{event}");
        assert_eq!(event["processes"][0]["pid"], me, "{event}");
        assert_eq!(
            event["last_state"],
            Value::Null,
            "not seen by a poll: {event}"
        );
        assert_eq!(event["lifetime_ms"], Value::Null);
        assert_eq!(event["netns_name"], netns.name.as_str());
        assert_eq!(event["state"], "CLOSE");
        assert!(event["cookie"].as_u64().unwrap() > 0);
    }
    let client_side: Vec<&&Value> = destroyed
        .iter()
        .filter(|l| port(&l["remote"]) == server_port)
        .collect();
    assert_eq!(client_side.len(), K);
    for event in &client_side {
        // Its own port is no listener's and no poll saw it: who held it is not known.
        assert_eq!(event["owner_from"], "unknown", "{event}");
        assert_eq!(event["processes"], serde_json::json!([]));
    }
    assert_eq!(
        destroyed.len(),
        2 * K,
        "nothing else closed in the namespace"
    );
    drop(listener);
}

#[test]
fn a_connection_a_poll_saw_is_attributed_from_the_poll_with_its_state_and_lifetime() {
    let test = "a_connection_a_poll_saw_is_attributed_from_the_poll_with_its_state_and_lifetime";
    if !require_root(test) {
        return;
    }
    let (netns, listener, server_port) = namespace_with_listener("events-seen");
    let child = events(&netns, &["--interval", "250ms", "--duration", "3s"]);
    let addr = listener.local_addr().unwrap();
    let (client, server) = run_in(&netns.target(), || {
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    })
    .unwrap();
    // Polls every 250 ms see both ends, born after the first poll.
    std::thread::sleep(Duration::from_millis(1_200));
    drop(server);
    drop(client);
    let (lines, status) = lines(child);
    assert!(status.success());
    let server_side: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "destroyed" && port(&l["local"]) == server_port)
        .collect();
    assert_eq!(server_side.len(), 1, "{lines:#?}");
    let event = server_side[0];
    assert_eq!(event["owner_from"], "poll");
    assert_eq!(event["processes"][0]["pid"], u64::from(std::process::id()));
    assert_eq!(event["last_state"], "ESTABLISHED");
    let lived = event["lifetime_ms"].as_u64().expect("a poll saw it born");
    assert!(
        (700..=1_500).contains(&lived),
        "{lived} ms: at least 1.2 s less a poll"
    );
    drop(listener);
}
