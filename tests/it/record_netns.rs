//! `sockscope record` of a lab namespace while a CLOSE_WAIT leak grows in steps, a SYN
//! flood arrives and part of the leak is closed; then `snapshot --from FILE --at T --json`
//! at each step gives that step's exact counts per state and the leak's owner, `record
//! --info` the polls, and SIGINT ends the recorder with exit 0 and a whole file. Needs
//! root; skips loudly without it (fails under CI=true).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use sockscope::lab::{Lab, require_root};
use sockscope::model::Family;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn nonzero(states: &Value) -> BTreeMap<String, u64> {
    states
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[test]
fn a_recorded_leak_and_flood_replay_step_by_step_with_exact_counts_and_owner() {
    if !require_root("a_recorded_leak_and_flood_replay_step_by_step_with_exact_counts_and_owner") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.ssrec");
    let file_arg = file.to_str().unwrap();
    let mut lab = Lab::new(std::path::Path::new(BIN)).unwrap();
    let mut recorder = Command::new(BIN)
        .args(["record", "--netns", lab.monitored(), "-o", file_arg])
        .args(["--interval", "1s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let settle = || std::thread::sleep(Duration::from_millis(2500));
    settle();
    // Each step: what was staged, then the time to replay at (after a poll saw it).
    let mut steps: Vec<(SystemTime, BTreeMap<String, u64>)> = Vec::new();
    let leak = lab.close_wait_leak(Family::Inet, "leaky-app", 5).unwrap();
    settle();
    steps.push((
        SystemTime::now(),
        counts(&[("CLOSE_WAIT", 5), ("LISTEN", 1)]),
    ));
    let more = lab.close_wait_leak(Family::Inet, "leaky-app", 12).unwrap();
    settle();
    steps.push((
        SystemTime::now(),
        counts(&[("CLOSE_WAIT", 17), ("LISTEN", 2)]),
    ));
    lab.syn_flood(Family::Inet, 8443, 30).unwrap();
    settle();
    steps.push((
        SystemTime::now(),
        counts(&[("CLOSE_WAIT", 17), ("LISTEN", 3), ("SYN_RECV", 30)]),
    ));
    lab.close_leaked(&more, 12).unwrap();
    settle();
    steps.push((
        SystemTime::now(),
        counts(&[("CLOSE_WAIT", 5), ("LISTEN", 3), ("SYN_RECV", 30)]),
    ));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(recorder.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = recorder.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(recorder.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    drop(lab);

    assert_polls(file_arg);
    let owners = [u64::from(leak.pid), u64::from(more.pid)];
    for (i, (at, expected)) in steps.iter().enumerate() {
        assert_step(file_arg, i, *at, expected, owners);
    }
    let before = Command::new(BIN)
        .args([
            "snapshot",
            "--from",
            file_arg,
            "--at",
            "2001-01-01T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(before.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&before.stderr).contains("starts at"));
}

/// `record --info` says nothing was lost and about one poll a second of the ~12.5 s.
fn assert_polls(file_arg: &str) {
    let info = Command::new(BIN)
        .args(["record", "--info", file_arg])
        .output()
        .unwrap();
    assert_eq!(info.status.code(), Some(0));
    let info = String::from_utf8(info.stdout).unwrap();
    assert!(info.contains("lost        nothing"), "{info}");
    let polls: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("polls       "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (11..=14).contains(&polls),
        "{polls} polls in ~12.5 s:\n{info}"
    );
}

/// Step `i` replayed at `at`: exactly `expected` per state, every CLOSE_WAIT socket held by
/// one of the leak's holders (`owners`, the first one's always among them).
fn assert_step(
    file_arg: &str,
    i: usize,
    at: SystemTime,
    expected: &BTreeMap<String, u64>,
    owners: [u64; 2],
) {
    let at = humantime::format_rfc3339_millis(at).to_string();
    let out = Command::new(BIN)
        .args(["snapshot", "--from", file_arg, "--at", &at, "--json"])
        .output()
        .unwrap();
    let doc = crate::support::json_of(&out);
    assert_eq!(&nonzero(&doc["states"]), expected, "step {i} at {at}");
    let leak_owners: Vec<(u64, String)> = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "CLOSE_WAIT")
        .flat_map(|s| s["processes"].as_array().unwrap().clone())
        .map(|p| {
            (
                p["pid"].as_u64().unwrap(),
                p["comm"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        leak_owners.len() as u64,
        expected["CLOSE_WAIT"],
        "step {i}: each CLOSE_WAIT socket has its one owner"
    );
    assert!(
        leak_owners
            .iter()
            .all(|(pid, comm)| comm == "leaky-app" && owners.contains(pid)),
        "step {i}: {leak_owners:?}"
    );
    assert!(
        leak_owners.iter().any(|(pid, _)| *pid == owners[0]),
        "step {i}"
    );
}
