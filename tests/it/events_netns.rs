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

use super::support::cgroups::TestCgroups;
use super::support::child::in_child;
use super::support::netns::NamedNetns;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// Short connections the first test makes.
const K: usize = 40;

/// `sockscope events --netns NAME --json …` started, once it says it listens.
fn events(netns: &NamedNetns, args: &[&str]) -> Child {
    let mut command = Command::new(BIN);
    command
        .args(["events", "--netns", &netns.name, "--json"])
        .args(args);
    listening(command)
}

/// `command` (a `sockscope events`) started, once it says it listens.
fn listening(mut command: Command) -> Child {
    let mut child = command
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
        assert_eq!(event["direction"], "accepted", "{event}");
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
        assert_eq!(event["direction"], "opened", "{event}");
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
    assert_eq!(event["direction"], "accepted");
    assert_eq!(event["processes"][0]["pid"], u64::from(std::process::id()));
    assert_eq!(event["last_state"], "ESTABLISHED");
    let lived = event["lifetime_ms"].as_u64().expect("a poll saw it born");
    assert!(
        (700..=1_500).contains(&lived),
        "{lived} ms: at least 1.2 s less a poll"
    );
    drop(listener);
}

#[test]
fn with_every_namespace_a_containers_unattributed_churn_names_its_container() {
    let test = "with_every_namespace_a_containers_unattributed_churn_names_its_container";
    if !require_root(test) {
        return;
    }
    // It makes cgroups: in a child, as the container tests do.
    in_child(|| {
        const DOCKER: &str = "4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a";
        let Some(mut cgroups) = TestCgroups::new() else {
            panic!("no cgroup v2 mount in /proc/self/mountinfo");
        };
        let names = tempfile::tempdir().unwrap();
        let config = names.path().join("docker/containers").join(DOCKER);
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("config.v2.json"),
            r#"{"ID":"4b3a","Name":"/churner","Config":{"Image":"busybox"}}"#,
        )
        .unwrap();
        let top = cgroups.top.clone();
        let scope = cgroups.make(&format!("{top}/system.slice/docker-{DOCKER}.scope"));
        let (netns, listener, server_port) = namespace_with_listener("events-ctr");
        // The namespace's only process, in the container's cgroup: discovery names the
        // namespace's container after it.
        let mut resident = Command::new("ip")
            .args(["netns", "exec", &netns.name, "sleep", "30"])
            .spawn()
            .unwrap();
        cgroups.put(&scope, resident.id());
        let mut command = Command::new(BIN);
        command
            .args(["events", "-A", "--json", "--netns-match", &netns.name])
            .args(["--interval", "1m", "--duration", "3s"])
            .env("SOCKSCOPE_DOCKER_ROOT", names.path().join("docker"))
            .env("SOCKSCOPE_PODS_ROOT", names.path().join("pods"));
        let child = listening(command);
        short_connections(&netns, &listener, 5);
        let (lines, status) = lines(child);
        let _ = resident.kill();
        let _ = resident.wait();
        assert!(status.success());
        let outgoing: Vec<&Value> = lines
            .iter()
            .filter(|l| l["event"] == "destroyed" && port(&l["remote"]) == server_port)
            .collect();
        assert_eq!(outgoing.len(), 5, "{lines:#?}");
        for event in outgoing {
            // No poll saw it and its port is no listener's: the namespace's container is
            // what is known.
            assert_eq!(event["owner_from"], "namespace", "{event}");
            assert_eq!(event["owner_container"], "docker:4b3a2f1e0d9c (churner)");
            assert_eq!(event["netns_name"], netns.name.as_str());
        }
        drop(listener);
    });
}

/// The body of `GET /metrics` from `addr` (HTTP/1.0, the connection closed by the server).
fn scrape(addr: std::net::SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_owned())
}

/// The value of the sample `name{netns="NETNS"}` in `page`.
fn sample(page: &str, name: &str, netns: &str) -> Option<u64> {
    let prefix = format!("{name}{{netns=\"{netns}\"}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

#[test]
fn serve_counts_every_destroyed_socket_of_its_namespace() {
    let test = "serve_counts_every_destroyed_socket_of_its_namespace";
    if !require_root(test) {
        return;
    }
    let (netns, listener, _) = namespace_with_listener("events-serve");
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let mut serve = Command::new(BIN)
        .args(["serve", "--netns", &netns.name, "--interval", "1s"])
        .args(["--listen", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first poll subscribes: the counter shows once it is there.
    let mut subscribed = false;
    for _ in 0..100 {
        if scrape(addr)
            .is_some_and(|p| sample(&p, "sockscope_tcp_closed_total", &netns.name) == Some(0))
        {
            subscribed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(subscribed, "no sockscope_tcp_closed_total 0 within 10 s");
    short_connections(&netns, &listener, 30);
    // Two polls later the counts are in the page.
    std::thread::sleep(Duration::from_millis(2_500));
    let page = scrape(addr).unwrap();
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(
        sample(&page, "sockscope_tcp_closed_total", &netns.name),
        Some(60),
        "both ends of 30 connections"
    );
    assert_eq!(
        sample(&page, "sockscope_events_lost_total", &netns.name),
        Some(0)
    );
    drop(listener);
}
