//! Recordings made by the real binary, replayed in a real terminal: `sockscope record` of
//! a lab namespace while a CLOSE_WAIT leak is staged, then `sockscope replay FILE` in tmux
//! stepped poll by poll until the leak appears, at exactly the first poll taken after it
//! was staged; and the live dashboard's `w`, whose file `record --info` and `snapshot
//! --from` read back. Needs root (namespaces) and tmux; skips loudly without them (fails
//! under CI=true).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use sockscope::lab::{Lab, require_root};
use sockscope::model::Family;
use sockscope::record::{RecordedPolls, Recording};

use crate::support::json_of;
use crate::support::tmux::{Tmux, assert_cooked, have_tmux};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// The leak's size: over the 20 that raise a CLOSE_WAIT warning.
const LEAKED: usize = 25;

/// `sockscope snapshot --from FILE --at AT --json`.
fn snapshot_at(file: &Path, at: SystemTime) -> Value {
    let at = humantime::format_rfc3339_millis(at).to_string();
    json_of(
        &Command::new(BIN)
            .args(["snapshot", "--from", file.to_str().unwrap(), "--at", &at])
            .arg("--json")
            .output()
            .unwrap(),
    )
}

/// A `snapshot --json` document's count of `state` (0 when absent).
fn count(doc: &Value, state: &str) -> u64 {
    doc["states"][state].as_u64().unwrap_or(0)
}

/// Wait until `file` is larger than `size` (a poll was just written); its new size.
fn wait_for_growth(file: &Path, size: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(file).map_or(0, |m| m.len());
        if now > size {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "no poll written to {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `record --netns` of a lab for ~5 s, the leak staged right after the file grew for the
/// third time (the header, then polls: a poll was just written, the next is a second
/// away) and three more polls written after it. Returns the file, the instants before
/// and after the staging, and the leak's holder.
fn record_a_leak(dir: &Path) -> (PathBuf, SystemTime, SystemTime, u32) {
    let file = dir.join("lab.ssrec");
    let mut lab = Lab::new(Path::new(BIN)).unwrap();
    let mut recorder = Command::new(BIN)
        .args(["record", "--netns", lab.monitored(), "-o"])
        .arg(&file)
        .args(["--interval", "1s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut size = 0;
    for _ in 0..3 {
        size = wait_for_growth(&file, size);
    }
    let staging = SystemTime::now();
    let pid = lab
        .close_wait_leak(Family::Inet, "leaky-app", LEAKED)
        .unwrap()
        .pid;
    let staged = SystemTime::now();
    for _ in 0..3 {
        size = wait_for_growth(&file, size);
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(recorder.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = recorder.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(recorder.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    (file, staging, staged, pid)
}

#[test]
fn replay_in_tmux_steps_through_time_and_shows_the_leak_appearing() {
    let test = "replay_in_tmux_steps_through_time_and_shows_the_leak_appearing";
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (file, staging, staged, pid) = record_a_leak(dir.path());

    // The oracle: the recording's poll times, read by the format's reader.
    let recording = Recording::open(&file).unwrap();
    let polls = recording.len();
    let times: Vec<SystemTime> = (0..polls).map(|i| recording.taken_at(i)).collect();
    let first_after = times.iter().position(|&t| t > staged).unwrap();
    assert!(
        first_after >= 2 && polls - first_after >= 2,
        "{polls} polls, the leak staged before poll {}",
        first_after + 1
    );
    assert!(
        times[first_after - 1] < staging,
        "a poll was taken while the leak was staged: {times:?}"
    );
    let before = snapshot_at(&file, times[first_after - 1]);
    assert_eq!(count(&before, "CLOSE_WAIT"), 0, "{before}");
    let after = snapshot_at(&file, times[first_after]);
    assert_eq!(count(&after, "CLOSE_WAIT"), LEAKED as u64, "{after}");

    let tmux = Tmux::start(
        "replay",
        &format!("{BIN} replay {}", file.display()),
        160,
        40,
    );
    let anomaly = format!("WARN CLOSE_WAIT leaky-app[{pid}]");
    let header = |k: usize| format!("poll {k}/{polls}");
    let screen = tmux.wait_for("the first poll", Duration::from_secs(10), |s| {
        s.contains("REPLAY ") && s.contains(&header(1))
    });
    assert!(!screen.contains("CLOSE_WAIT leaky-app"), "{screen}");

    // → one poll at a time: the leak shows at the first poll after it was staged.
    let mut appeared = None;
    for k in 2..=polls {
        tmux.keys(&["Right"]);
        // The whole frame: the anomalies panel is drawn after the header.
        let screen = tmux.wait_for(&header(k), Duration::from_secs(10), |s| {
            s.contains(&header(k)) && s.contains("Anomalies")
        });
        if screen.contains(&anomaly) {
            appeared = Some(k);
            break;
        }
        assert!(!screen.contains("CLOSE_WAIT leaky-app"), "{screen}");
    }
    assert_eq!(
        appeared,
        Some(first_after + 1),
        "{times:?}, staged {staged:?}"
    );

    // Back to the first poll, then `a`: straight to the leak.
    tmux.keys(&vec!["Left"; first_after]);
    tmux.wait_for("poll 1 again", Duration::from_secs(10), |s| {
        s.contains(&header(1))
    });
    tmux.keys(&["a"]);
    let raised = format!(
        "an anomaly was raised at poll {}: a finds the next",
        first_after + 1
    );
    let screen = tmux.wait_for("the jump to the leak", Duration::from_secs(10), |s| {
        s.contains(&header(first_after + 1)) && s.contains(&raised)
    });
    assert!(screen.contains(&anomaly), "{screen}");

    tmux.keys(&["q"]);
    let (status, stty) = tmux.exit(Duration::from_secs(10));
    assert_eq!(status, "0");
    assert_cooked(&stty);
}

#[test]
fn w_in_the_live_dashboard_writes_a_file_that_replays() {
    let test = "w_in_the_live_dashboard_writes_a_file_that_replays";
    if !require_root(test) || !have_tmux(test) {
        return;
    }
    let mut lab = Lab::new(Path::new(BIN)).unwrap();
    let leak = lab
        .close_wait_leak(Family::Inet, "leaky-app", LEAKED)
        .unwrap();
    // The dashboard runs in a directory of the test's own: the default path is relative
    // to it (unless /var/lib/sockscope exists; the file is removed either way).
    let cwd = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(
        "flight",
        &format!(
            "cd {} && {BIN} --netns {} --interval 250ms",
            cwd.path().display(),
            lab.monitored()
        ),
        160,
        40,
    );
    let anomaly = format!("WARN CLOSE_WAIT leaky-app[{}]", leak.pid);
    tmux.wait_for("the leak", Duration::from_secs(30), |s| {
        s.contains(&anomaly)
    });
    // At least three polls more.
    std::thread::sleep(Duration::from_secs(1));
    tmux.keys(&["w"]);
    let wrote = |screen: &str| -> Option<(u64, String)> {
        let line = screen.lines().find(|l| l.contains("wrote "))?;
        let (polls, rest) = line.split_once("wrote ")?.1.split_once(" polls to ")?;
        let (path, _) = rest.split_once(" (sockscope replay opens it)")?;
        Some((polls.parse().ok()?, path.to_owned()))
    };
    let screen = tmux.wait_for("the file written", Duration::from_secs(10), |s| {
        wrote(s).is_some()
    });
    let (polls, path) = wrote(&screen).unwrap();
    assert!(polls >= 4, "{screen}");
    // Where `sockscope record` puts files: /var/lib/sockscope/ when it exists (root),
    // else the working directory.
    let system = Path::new("/var/lib/sockscope");
    let (dir, name) = path.rsplit_once('/').unwrap_or_else(|| panic!("{screen}"));
    let file = if system.is_dir() {
        assert_eq!(Path::new(dir), system, "{screen}");
        system.join(name)
    } else {
        assert_eq!(dir, ".", "{screen}");
        cwd.path().join(name)
    };
    assert!(
        name.starts_with("sockscope-") && Path::new(name).extension() == Some("ssrec".as_ref()),
        "{screen}"
    );
    tmux.keys(&["q"]);
    let (status, stty) = tmux.exit(Duration::from_secs(10));
    assert_eq!(status, "0");
    assert_cooked(&stty);

    assert_the_file_reads_back(&file, polls, leak.pid);

    // And the replay dashboard opens it: its first poll already holds the leak.
    let replay = Tmux::start(
        "flight-replay",
        &format!("{BIN} replay {}", file.display()),
        160,
        40,
    );
    replay.wait_for("the replayed leak", Duration::from_secs(10), |s| {
        s.contains("REPLAY ") && s.contains(&format!("poll 1/{polls}")) && s.contains(&anomaly)
    });
    replay.keys(&["q"]);
    assert_eq!(replay.exit(Duration::from_secs(10)).0, "0");
    std::fs::remove_file(&file).unwrap();
}

/// `record --info` on the file `w` wrote says `polls` polls and nothing lost, and its last
/// poll holds the leak of `pid` exactly.
fn assert_the_file_reads_back(file: &Path, polls: u64, pid: u32) {
    let info = Command::new(BIN)
        .args(["record", "--info"])
        .arg(file)
        .output()
        .unwrap();
    assert_eq!(info.status.code(), Some(0));
    let info = String::from_utf8(info.stdout).unwrap();
    assert!(
        info.lines()
            .any(|l| l.starts_with(&format!("polls       {polls} every "))),
        "{info}"
    );
    assert!(info.contains("lost        nothing"), "{info}");

    let doc = json_of(
        &Command::new(BIN)
            .args(["snapshot", "--json", "--from"])
            .arg(file)
            .output()
            .unwrap(),
    );
    assert_eq!(count(&doc, "CLOSE_WAIT"), LEAKED as u64, "{doc}");
    let owners: Vec<&Value> = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "CLOSE_WAIT")
        .map(|s| &s["processes"])
        .collect();
    let holder = serde_json::json!([{"pid": pid, "comm": "leaky-app"}]);
    assert!(owners.iter().all(|p| **p == holder), "{owners:?}");
    let raised: Vec<&Value> = doc["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "close_wait_backlog")
        .collect();
    assert_eq!(raised.len(), 1, "{doc}");
    assert_eq!(raised[0]["process"]["pid"], pid);
    assert_eq!(raised[0]["count"], LEAKED as u64);
}
