//! `fd_exhaustion` against real processes: a lab holder whose soft open-file limit is
//! lowered to 200 holds 170 TCP sockets (169 of them CLOSE_WAIT) and is flagged by
//! `sockscope snapshot --json` with its exact descriptor count; another at 150 sockets is
//! not; as the first closes its sockets over successive polls the anomaly holds above the
//! clear mark and then clears. Needs root; skips loudly without it (fails under CI=true).

use std::path::Path;
use std::process::Command;

use rustix::process::{Pid, Resource, Rlimit, getrlimit, prlimit};
use serde_json::{Value, json};
use sockscope::aggregate::{Aggregator, AnomalyKind, RuleConfig, Severity};
use sockscope::collect::{CollectOptions, Collector, NetnsTarget, SocketSource};
use sockscope::lab::{Lab, require_root};
use sockscope::model::Family;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// Set `pid`'s soft RLIMIT_NOFILE to `soft`, keeping its hard limit.
fn lower_nofile(pid: u32, soft: u64) {
    let hard = getrlimit(Resource::Nofile).maximum;
    let pid = Pid::from_raw(pid as i32).unwrap();
    prlimit(
        Some(pid),
        Resource::Nofile,
        Rlimit {
            current: Some(soft),
            maximum: hard,
        },
    )
    .unwrap();
}

/// `pid`'s open descriptors, counted by listing `/proc/PID/fd`.
fn descriptors(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64
}

/// How many of `pid`'s descriptors are sockets.
fn sockets(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
            })
        })
        .count() as u64
}

fn fd_anomalies(doc: &Value) -> Vec<Value> {
    doc["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "fd_exhaustion")
        .cloned()
        .collect()
}

#[test]
fn a_process_near_its_open_file_limit_is_flagged_with_exact_evidence_until_it_closes_sockets() {
    if !require_root(
        "a_process_near_its_open_file_limit_is_flagged_with_exact_evidence_until_it_closes_sockets",
    ) {
        return;
    }
    let mut lab = Lab::new(Path::new(BIN)).unwrap();
    // A listener and 169 CLOSE_WAIT sockets: 170 TCP sockets, plus stdin, stdout, stderr.
    let hog = lab.close_wait_leak(Family::Inet, "fd-hog", 169).unwrap();
    // 150 TCP sockets: 153 descriptors, under 80 % of 200.
    let calm = lab.close_wait_leak(Family::Inet, "fd-calm", 149).unwrap();
    lower_nofile(hog.pid, 200);
    lower_nofile(calm.pid, 200);
    let (hog_fds, calm_fds) = (descriptors(hog.pid), descriptors(calm.pid));
    // Stdio and the sockets, and whatever the test harness let them inherit.
    assert_eq!((sockets(hog.pid), sockets(calm.pid)), (170, 150));
    assert!(
        (160..190).contains(&hog_fds) && calm_fds < 160,
        "the hog must hold 80-95 % of 200 descriptors, the calm one less: {hog_fds}, {calm_fds}"
    );

    let out = Command::new(BIN)
        .args(["snapshot", "--json", "--netns", lab.monitored()])
        .output()
        .unwrap();
    let doc = crate::support::json_of(&out);
    let raised = fd_anomalies(&doc);
    assert_eq!(raised.len(), 1, "only the hog is raised: {raised:#?}");
    let a = &raised[0];
    assert_eq!(a["severity"], "warning");
    assert_eq!(a["process"], json!({"pid": hog.pid, "comm": "fd-hog"}));
    assert_eq!(a["count"], hog_fds);
    assert_eq!(
        (&a["threshold"], &a["critical_threshold"]),
        (&json!(160), &json!(190))
    );
    assert_eq!(a["limit"], 200);
    assert_eq!(a["tcp_sockets"], 170);
    assert_eq!(a["close_wait"], 169);
    let processes: Vec<Value> = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["pid"] == hog.pid || p["pid"] == calm.pid)
        .map(|p| json!([p["comm"], p["descriptors"], p["fd_limit"]]))
        .collect();
    let mut expected = vec![
        (hog.pid, json!(["fd-hog", hog_fds, 200])),
        (calm.pid, json!(["fd-calm", calm_fds, 200])),
    ];
    expected.sort_by_key(|(pid, _)| *pid);
    let expected: Vec<Value> = expected.into_iter().map(|(_, v)| v).collect();
    assert_eq!(processes, expected, "processes are listed by pid");

    // The same through the library, poll after poll, as the dashboard runs it.
    let mut collector = Collector::open(CollectOptions {
        netns: NetnsTarget::Named(lab.monitored().to_owned()),
        ..CollectOptions::default()
    })
    .unwrap();
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut poll = || {
        let snapshot = collector.poll().unwrap();
        aggregator
            .ingest(&snapshot)
            .anomalies
            .iter()
            .filter(|a| a.kind == AnomalyKind::FdExhaustion)
            .map(|a| {
                (
                    a.severity,
                    a.count,
                    a.evidence.tcp_sockets,
                    a.evidence.close_wait,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(poll(), [(Severity::Warning, hog_fds, Some(170), Some(169))]);
    // Below the warning level (160) but not below the clear mark (0.8 × 160 = 128).
    lab.close_leaked(&hog, 30).unwrap();
    assert_eq!(descriptors(hog.pid), hog_fds - 30);
    assert_eq!(
        poll(),
        [(Severity::Warning, hog_fds - 30, Some(140), Some(139))]
    );
    // Below the clear mark: the anomaly clears.
    lab.close_leaked(&hog, 20).unwrap();
    assert_eq!(descriptors(hog.pid), hog_fds - 50);
    assert_eq!(poll(), []);
}
