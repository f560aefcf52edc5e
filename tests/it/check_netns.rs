//! The rules against real sockets: a CLOSE_WAIT leak, a spoofed SYN flood, a TIME_WAIT
//! storm and a listener that never accepts are each flagged with the right subject by
//! `sockscope snapshot --json` and `sockscope check`; the same scenarios below their
//! thresholds raise nothing. Needs root; skips loudly without it (fails under CI=true).

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::{Value, json};
use sockscope::lab::{Lab, require_root};
use sockscope::model::Family;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// TIME_WAIT per destination is lowered so the storm stays small; the rest are defaults.
const CONFIG: &str = "[time_wait]\nper_destination = 100\n";

fn config_file() -> tempfile_path::TempConfig {
    tempfile_path::TempConfig::new(CONFIG)
}

mod tempfile_path {
    use std::path::PathBuf;

    /// A config file in the temp dir, removed on drop.
    pub struct TempConfig(pub PathBuf);

    impl TempConfig {
        pub fn new(text: &str) -> TempConfig {
            let path = std::env::temp_dir().join(format!(
                "sockscope-check-{}-{:?}.toml",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::write(&path, text).unwrap();
            TempConfig(path)
        }

        pub fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempConfig {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn endpoint(addr: std::net::SocketAddr) -> String {
    sockscope::model::endpoint(&addr)
}

/// What [`stage_all`] built, for the expected subjects.
struct Scenarios {
    lab: Lab,
    leak_pid: u32,
    leak_peer: std::net::IpAddr,
    flood: String,
    storm: String,
    queue: String,
}

/// A CLOSE_WAIT leak (25 > 20), a SYN flood (120 > 100), a TIME_WAIT storm (150 > 100 with
/// [`CONFIG`]) and a full accept queue, all in one lab.
fn stage_all() -> Scenarios {
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    let leak = lab.close_wait_leak(Family::Inet, "leaky-app", 25).unwrap();
    let flood = lab.syn_flood(Family::Inet, 8443, 120).unwrap();
    let storm = lab.time_wait_storm(Family::Inet, 443, 150).unwrap();
    // Exactly backlog + 1 clients: all queued, none left retransmitting SYNs that the kernel
    // would drop (and count in ListenOverflows) at a moment the test cannot control.
    let queue = lab.listener_never_accepting(Family::Inet6, 16, 17).unwrap();
    Scenarios {
        lab,
        leak_pid: leak.pid,
        leak_peer: leak.peers[0].ip(),
        flood: endpoint(flood.listener),
        storm: endpoint(storm.destination),
        queue: endpoint(queue.listener),
    }
}

#[test]
fn each_scenario_is_flagged_with_its_subject() {
    if !require_root("each_scenario_is_flagged_with_its_subject") {
        return;
    }
    let config = config_file();
    let s = stage_all();
    let lab = &s.lab;
    let out = run(&[
        "snapshot",
        "--json",
        "--netns",
        lab.monitored(),
        "--config",
        config.path(),
    ]);
    let doc = crate::support::json_of(&out);
    let anomalies = doc["anomalies"].as_array().unwrap();
    let brief: Vec<Value> = anomalies
        .iter()
        .map(|a| {
            let subject = [
                "process",
                "listener",
                "destination",
                "local_port",
                "namespace",
            ]
            .iter()
            .find(|k| a.get(**k).is_some())
            .map(|k| json!({*k: a[*k]}))
            .unwrap();
            json!([
                a["kind"],
                a["severity"],
                subject,
                a["count"],
                a["threshold"]
            ])
        })
        .collect();
    assert_eq!(
        brief,
        vec![
            json!(["accept_queue_overflow", "critical", {"listener": s.queue}, 17, 13]),
            json!(["close_wait_backlog", "warning", {"process": {"pid": s.leak_pid, "comm": "leaky-app"}}, 25, 20]),
            json!(["syn_recv_flood", "warning", {"listener": s.flood}, 120, 100]),
            json!(["time_wait_excess", "warning", {"destination": s.storm}, 150, 100]),
        ]
    );
    let syn = &anomalies[2];
    assert_eq!(syn["distinct_sources"], 120);
    let close_wait = &anomalies[1];
    let peers = close_wait["peers"].as_array().unwrap();
    assert!(!peers.is_empty());
    for p in peers {
        assert_eq!(
            p["count"], 1,
            "each leaked connection came from its own client port"
        );
        assert!(
            p["remote"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}:", s.leak_peer))
        );
    }
    assert!(close_wait["hint"].as_str().unwrap().contains("close()"));
}

#[test]
fn check_is_critical_on_the_scenarios_and_filters_narrow_it() {
    if !require_root("check_is_critical_on_the_scenarios_and_filters_narrow_it") {
        return;
    }
    let config = config_file();
    let s = stage_all();
    let lab = &s.lab;

    let out = run(&[
        "check",
        "--netns",
        lab.monitored(),
        "--config",
        config.path(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    let expected = format!(
        "SOCKSCOPE CRITICAL - accept_queue_overflow listener {} 17>=16; \
         close_wait_backlog leaky-app[{}] 25>=20; syn_recv_flood listener {} 120>=100; \
         time_wait_excess destination {} 150>=100 | total=",
        s.queue, s.leak_pid, s.flood, s.storm
    );
    assert!(first.starts_with(&expected), "{first}\n{expected}");
    assert!(first.contains(" close_wait=25;;;0 "), "{first}");
    assert!(first.ends_with(" anomalies=4;;;0"), "{first}");
    // One line per anomaly and one hint line each follow the status line.
    assert_eq!(text.lines().count(), 1 + 4 * 2, "{text}");

    let perfdata = first.split_once(" | ").unwrap().1.to_owned();
    // Filters narrow what check's rules look at — only the SYN flood's listener — and
    // never its counts: the perfdata covers every socket, as unfiltered.
    let out = run(&[
        "check",
        "--netns",
        lab.monitored(),
        "--config",
        config.path(),
        "--sport",
        "8443",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let filtered = text.lines().next().unwrap();
    assert_eq!(
        filtered,
        format!(
            "SOCKSCOPE WARNING - syn_recv_flood listener {} 120>=100 | {perfdata}",
            s.flood
        )
        .replace(" anomalies=4;;;0", " anomalies=1;;;0"),
        "{text}"
    );

    let out = run(&[
        "check",
        "--json",
        "--netns",
        lab.monitored(),
        "--config",
        config.path(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "CRITICAL");
    assert_eq!(doc["exit_code"], 2);
    assert_eq!(doc["anomalies"].as_array().unwrap().len(), 4);
}

#[test]
fn the_same_scenarios_below_their_thresholds_raise_nothing() {
    if !require_root("the_same_scenarios_below_their_thresholds_raise_nothing") {
        return;
    }
    let config = config_file();
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    lab.close_wait_leak(Family::Inet, "leaky-app", 19).unwrap();
    lab.syn_flood(Family::Inet, 8443, 50).unwrap();
    lab.time_wait_storm(Family::Inet, 443, 79).unwrap();
    lab.listener_never_accepting(Family::Inet6, 16, 5).unwrap();

    let out = run(&[
        "snapshot",
        "--json",
        "--netns",
        lab.monitored(),
        "--config",
        config.path(),
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["anomalies"], json!([]));
    assert_eq!(doc["states"]["CLOSE_WAIT"], 19);
    assert_eq!(doc["states"]["SYN_RECV"], 50);
    assert_eq!(doc["states"]["TIME_WAIT"], 79);

    let out = run(&[
        "check",
        "--netns",
        lab.monitored(),
        "--config",
        config.path(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!(
            "SOCKSCOPE OK - {} TCP sockets, no anomalies | total={};;;0 ",
            doc["total"], doc["total"]
        )),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
}

#[test]
fn config_through_the_binary_defaults_overrides_and_errors() {
    if !require_root("config_through_the_binary_defaults_overrides_and_errors") {
        return;
    }
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    lab.close_wait_leak(Family::Inet, "leaky-app", 8).unwrap();
    let netns = lab.monitored().to_owned();
    let check = |config: Option<&str>| {
        let mut args = vec!["check", "--window", "0s", "--netns", netns.as_str()];
        let file = config.map(tempfile_path::TempConfig::new);
        if let Some(f) = &file {
            args.extend(["--config", f.path()]);
        }
        let out = Command::new(BIN)
            .args(&args)
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .env("HOME", "/nonexistent")
            .output()
            .unwrap();
        let path = file
            .as_ref()
            .map(|f| f.path().to_owned())
            .unwrap_or_default();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            path,
        )
    };

    // Defaults (no file anywhere): 8 CLOSE_WAIT is below 20.
    let (code, text, _) = check(None);
    assert_eq!(code, Some(0), "{text}");

    // An override lowers the threshold: warning at 5.
    let (code, text, _) = check(Some("[close_wait]\nper_process = 5\n"));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("close_wait_backlog leaky-app["), "{text}");

    // An unknown key: UNKNOWN, naming the key, the file and the line.
    let (code, text, path) = check(Some("[close_wait]\n\nper_proces = 5\n"));
    assert_eq!(code, Some(3));
    assert!(
        text.starts_with(&format!(
            "SOCKSCOPE UNKNOWN - config error in {path} line 3: unknown key 'per_proces' in [close_wait]"
        )),
        "{text}"
    );

    // A wrong type.
    let (code, text, path) = check(Some("[syn_recv]\nper_listener = \"many\"\n"));
    assert_eq!(code, Some(3));
    assert!(
        text.starts_with(&format!(
            "SOCKSCOPE UNKNOWN - config error in {path} line 2:"
        )),
        "{text}"
    );

    // snapshot reports the same error on stderr with exit 1.
    let file = tempfile_path::TempConfig::new("[close_wait]\nper_proces = 5\n");
    let out = run(&["snapshot", "--netns", &netns, "--config", file.path()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!(
            "sockscope: config error in {} line 2: unknown key 'per_proces'",
            file.path()
        )),
        "{stderr}"
    );
}
