//! Names other users choose, fed to every output at once: a process name, its command line,
//! a cgroup path, a systemd unit, a Docker name, a pod's namespace and name, a network
//! namespace and its container, and the host name, each carrying a terminal title-set, a
//! clear-screen and a newline. The text report (one namespace and `-A`), the check's plugin
//! output and the dashboard escape them where they write them (`\x1b`, `\x07`, `\x0a`: no
//! escape sequence reaches a terminal, no name splits a line); the JSON documents stay one
//! valid document each and carry every name as it was read.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sockscope::aggregate::{Anomaly, StateLevels};
use sockscope::config::Config;
use sockscope::filter::Filter;
use sockscope::model::{Attribution, Container, Pod, Runtime, Snapshot, TcpState};
use sockscope::report::check::CheckOutcome;
use sockscope::report::{self, NamespaceReport};
use sockscope::tui::{Action, App, View};

use crate::support::dashboard::{self, render};
use crate::support::synthetic::Synth;

/// Sets the terminal's title, clears the screen and homes the cursor.
const OWN: &str = "\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}[H";
/// `OWN` as every text output writes it.
const OWN_SHOWN: &str = "\\x1b]0;OWNED\\x07\\x1b[2J\\x1b[H";

const COMM: &str = "\u{1b}]0;OWNED\u{7}x";
const CMDLINE: &str = "\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}[Hfake --flag\nsecond line";
const UNIT: &str = "\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}[Hfake.service";
const DOCKER_NAME: &str = "web\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}[H\nX";
const POD_NAMESPACE: &str = "shop\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}[H";
const POD_NAME: &str = "cart\u{1b}]0;OWNED\u{7}\n0";
const NETNS: &str = "lab\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}[H\n";
const HOST: &str = "web1\u{1b}]0;OWNED\u{7}";
const DOCKER_ID: &str = "3f2a1c9e0b7d4c5a8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
const CART_ID: &str = "5c1f00aa11bb22cc33dd44ee55ff66aa77bb88cc99dd00ee11ff22aa33bb44cc";

/// The hostile host: the process named `COMM` holds 21 CLOSE_WAIT sockets in the cgroup of
/// the systemd unit `UNIT` (a close_wait_backlog naming both); `web` listens in a Docker
/// container named `DOCKER_NAME`; `cart` listens in a pod `POD_NAMESPACE/POD_NAME`.
fn hostile() -> Snapshot {
    let mut s = Synth::at(1_000);
    let evil = s.process(4242, COMM);
    CMDLINE.clone_into(&mut s.snapshot.processes[evil as usize].cmdline);
    let web = s.process(2100, "web");
    let cart = s.process(2200, "cart");
    s.listener("0.0.0.0:8080", 0, 128, &[evil]);
    s.many(
        21,
        TcpState::CloseWait,
        "10.0.0.5:8080",
        "10.0.0.77",
        &[evil],
    );
    s.listener("0.0.0.0:80", 0, 128, &[web]);
    s.listener("0.0.0.0:9090", 0, 128, &[cart]);
    s.cgroup(
        10,
        &format!("/system.slice/{UNIT}"),
        Some(Container {
            id: UNIT.to_owned(),
            name: None,
            runtime: Runtime::Systemd,
            pod: None,
        }),
    );
    s.cgroup(
        20,
        &format!("/system.slice/docker-{DOCKER_ID}.scope"),
        Some(Container {
            id: DOCKER_ID.to_owned(),
            name: Some(DOCKER_NAME.to_owned()),
            runtime: Runtime::Docker,
            pod: None,
        }),
    );
    s.cgroup(
        30,
        &format!("/kubepods.slice/kubepods-pod0b9e.slice/crio-{CART_ID}.scope"),
        Some(Container {
            id: CART_ID.to_owned(),
            name: None,
            runtime: Runtime::Crio,
            pod: Some(Pod {
                namespace: Some(POD_NAMESPACE.to_owned()),
                name: Some(POD_NAME.to_owned()),
                uid: "0b9e1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d".to_owned(),
            }),
        }),
    );
    s.in_cgroup(evil, 10);
    s.in_cgroup(web, 20);
    s.in_cgroup(cart, 30);
    let mut snapshot = s.build();
    snapshot.attribution = Attribution::Complete;
    HOST.clone_into(&mut snapshot.host);
    NETNS.clone_into(&mut snapshot.netns);
    snapshot.netns_inode = Some(4_026_532_841);
    snapshot.netns_container = Some(format!("docker:3f2a1c9e0b7d ({DOCKER_NAME})"));
    snapshot
}

/// What the rules raise on `snapshot`, as a one-shot mode judges it.
fn judged(snapshot: &Snapshot) -> Vec<Anomaly> {
    let mut aggregator = Config::default().aggregator().without_ages();
    aggregator.ingest(snapshot).anomalies.clone()
}

/// Text written for a terminal: no control character but the ends of its lines, and every
/// `OWNED` is the escaped title-set's.
fn assert_escaped(what: &str, text: &str) {
    for (n, line) in text.lines().enumerate() {
        assert!(
            !line.chars().any(char::is_control),
            "{what} line {n} carries a control character: {line:?}"
        );
        assert_eq!(
            line.matches("OWNED").count(),
            line.matches("\\x1b]0;OWNED\\x07").count(),
            "{what} line {n}: {line:?}"
        );
    }
}

#[test]
fn the_text_report_escapes_every_name_where_it_writes_it() {
    let snapshot = hostile();
    let anomalies = judged(&snapshot);
    assert_eq!(anomalies.len(), 1, "{anomalies:?}");
    let mut out = Vec::new();
    report::text::render(&snapshot, &Filter::default(), &anomalies, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_escaped("snapshot", &text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "sockscope snapshot · host web1\\x1b]0;OWNED\\x07 · netns lab\\x1b]0;OWNED\\x07\\x1b[2J\\x1b[H\\x0a · 2026-09-21T14:13:20Z · 24 TCP sockets"
            .replace("2026-09-21T14:13:20Z", &humantime::format_rfc3339_seconds(snapshot.taken_at.unwrap()).to_string())
    );
    assert_eq!(lines[2], "ANOMALIES");
    assert_eq!(
        lines[3],
        format!(
            "WARNING close_wait_backlog \\x1b]0;OWNED\\x07x[4242] in systemd:{OWN_SHOWN}fake.service: 21 CLOSE_WAIT sockets (warning 20, critical 100), peers 10.0.0.77:10000 ×1, 10.0.0.77:10001 ×1, 10.0.0.77:10002 ×1"
        )
    );
    // One line per socket: 24 sockets, their title line, after the counts.
    let table = lines
        .iter()
        .position(|l| l.starts_with("State "))
        .unwrap_or_else(|| panic!("{text}"));
    let rows = &lines[table + 1..];
    assert_eq!(rows.len(), 24, "{text}");
    assert!(rows.iter().any(|r| {
        r.contains(&format!("systemd:{OWN_SHOWN}fake.service "))
            && r.ends_with(" \\x1b]0;OWNED\\x07x[4242]")
    }));
    assert!(
        rows.iter()
            .any(|r| r.contains(&format!("docker:3f2a1c9e0b7d (web{OWN_SHOWN}\\x0aX)")))
    );
    assert!(rows.iter().any(|r| r.contains(&format!(
        "crio:5c1f00aa11bb (shop{OWN_SHOWN}/cart\\x1b]0;OWNED\\x07\\x0a0)"
    ))));

    // `-A`: the namespace's block header names it and its container.
    let mut out = Vec::new();
    let namespaces = [NamespaceReport {
        snapshot: snapshot.clone().into(),
        anomalies,
    }];
    report::text::render_all(&namespaces, &Filter::default(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_escaped("snapshot -A", &text);
    assert!(text.contains(&format!(
        "\n== netns lab{OWN_SHOWN}\\x0a · inode 4026532841 · container docker:3f2a1c9e0b7d (web{OWN_SHOWN}\\x0aX) · 24 TCP sockets\n"
    )), "{text}");
}

#[test]
fn the_check_escapes_every_name_in_its_status_and_anomaly_lines() {
    let snapshot = hostile();
    let anomalies = judged(&snapshot);
    let netns = [(NETNS.to_owned(), 4_026_532_841)];
    let outcome = CheckOutcome {
        counts: &snapshot.state_counts(),
        anomalies: &anomalies,
        netns: &netns,
        taken_at: snapshot.taken_at.unwrap(),
        levels: StateLevels::default(),
    };
    let mut out = Vec::new();
    outcome.render_text(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_escaped("check", &text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let subject = format!("\\x1b]0;OWNED\\x07x[4242] in systemd:{OWN_SHOWN}fake.service");
    assert!(
        lines[0].starts_with(&format!(
            "SOCKSCOPE WARNING - lab{OWN_SHOWN}\\x0a: close_wait_backlog {subject} 21>=20 | total=24;;;0 "
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!(
            "lab{OWN_SHOWN}\\x0a: WARNING close_wait_backlog {subject}: 21 CLOSE_WAIT"
        )),
        "{}",
        lines[1]
    );

    // The JSON result: one document, every name as read.
    let mut out = Vec::new();
    outcome.render_json(&mut out).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out.last(), Some(&b'\n'));
    assert!(!out[..out.len() - 1].contains(&b'\n'));
    let a = &doc["anomalies"][0];
    assert_eq!(a["process"]["comm"], COMM);
    assert_eq!(a["subject"], format!("{COMM}[4242] in systemd:{UNIT}"));
    assert_eq!(a["container"]["id"], UNIT);
    assert_eq!(
        doc["summary"],
        format!("{NETNS}: close_wait_backlog {COMM}[4242] in systemd:{UNIT} 21>=20")
    );
}

#[test]
fn the_json_report_stays_one_document_with_every_name_as_read() {
    let snapshot = hostile();
    let anomalies = judged(&snapshot);
    let mut out = Vec::new();
    report::json::render(&snapshot, &Filter::default(), &anomalies, &mut out).unwrap();
    assert!(!out.iter().any(|b| *b == 0x1b || *b == 0x07));
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["host"], HOST);
    assert_eq!(doc["netns"], NETNS);
    let text = doc.to_string();
    for name in [COMM, CMDLINE, UNIT, DOCKER_NAME, POD_NAMESPACE, POD_NAME] {
        let quoted = serde_json::to_string(name).unwrap();
        assert!(text.contains(&quoted), "{name:?} missing from {text}");
    }
    assert_eq!(doc["anomalies"][0]["process"]["comm"], COMM);
    assert_eq!(
        doc["anomalies"][0]["subject"],
        format!("{COMM}[4242] in systemd:{UNIT}")
    );

    let namespaces = [NamespaceReport {
        snapshot: snapshot.into(),
        anomalies,
    }];
    let mut out = Vec::new();
    report::json::render_all(&namespaces, &Filter::default(), &mut out).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["namespaces"][0]["name"], NETNS);
}

/// The dashboard on the hostile host, `columns` × 40, in `view`.
fn dashboard_on(view: View, columns: u16) -> App {
    let mut app = dashboard::app(columns, 40);
    app.ingest(hostile(), Duration::from_millis(5));
    app.ingest(hostile(), Duration::from_millis(5));
    app.apply(Action::ShowView(view));
    app
}

/// Every line of the detail pane opened on each row of `view`, as text.
fn every_detail(app: &mut App) -> String {
    let mut text = String::new();
    app.apply(Action::Move(sockscope::tui::Motion::Home));
    for _ in 0..app.row_count() {
        app.apply(Action::OpenDetail);
        let detail = app.detail().unwrap();
        text.push_str(&detail.title);
        text.push('\n');
        for line in &detail.lines {
            let line: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str(&render(app));
        app.apply(Action::CloseOverlay);
        app.apply(Action::Move(sockscope::tui::Motion::Down));
    }
    text
}

#[test]
fn the_dashboard_shows_every_name_escaped_alike_in_every_view() {
    for view in [View::Sockets, View::Processes, View::Listeners, View::Peers] {
        let mut app = dashboard_on(view, 200);
        let screen = render(&app);
        assert_escaped(&format!("{view:?}"), &screen);
        // The header's host and namespace, the anomalies panel's subject.
        assert!(
            screen.lines().next().unwrap().contains(&format!(
                "web1\\x1b]0;OWNED\\x07 · netns lab{OWN_SHOWN}\\x0a"
            )),
            "{view:?}: {screen}"
        );
        assert!(
            screen.contains("\\x1b]0;OWNED\\x07x[4242]"),
            "{view:?}: {screen}"
        );
        let details = every_detail(&mut app);
        assert_escaped(&format!("{view:?} details"), &details);
    }
    // The processes view writes the name as every other pane does, not with its ESC
    // dropped (`]0;OWNED` bare).
    let app = dashboard_on(View::Processes, 200);
    let screen = render(&app);
    let row = screen.lines().find(|l| l.starts_with("4242 ")).unwrap();
    assert_eq!(
        row.trim_end(),
        format!(
            "4242 \\x1b]0;OWNED\\x07x     22         -      1     0        0         21        0     0 systemd:{OWN_SHOWN}fake.service"
        )
    );
    // The socket detail names the process with its command line, the cgroup and the unit.
    let mut app = dashboard_on(View::Sockets, 200);
    let details = every_detail(&mut app);
    assert!(
        details.contains(&format!(
            "\\x1b]0;OWNED\\x07x[4242]  {OWN_SHOWN}fake --flag\\x0asecond line"
        )),
        "{details}"
    );
    assert!(details.contains(&format!("cgroup  /system.slice/{OWN_SHOWN}fake.service")));
    assert!(details.contains(&format!("pod namespace  shop{OWN_SHOWN}")));
}

#[test]
fn a_hostile_name_in_an_error_is_escaped_on_stderr_and_on_the_status_line() {
    let bin = env!("CARGO_BIN_EXE_sockscope");
    let path = format!("/nonexistent-sockscope-test/{OWN}\nconfig.toml");
    let out = std::process::Command::new(bin)
        .args(["snapshot", "--config", &path])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "sockscope: config file /nonexistent-sockscope-test/{OWN_SHOWN}\\x0aconfig.toml does not exist; check the --config path, or leave --config out to use the default locations\n"
        )
    );
    let out = std::process::Command::new(bin)
        .args(["check", "--config", &path])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "SOCKSCOPE UNKNOWN - config file /nonexistent-sockscope-test/{OWN_SHOWN}\\x0aconfig.toml does not exist; check the --config path, or leave --config out to use the default locations\n"
        )
    );
}

#[test]
fn the_metrics_carry_every_hostile_name_as_visible_pictures_in_both_formats() {
    use sockscope::serve::Format;
    use sockscope::serve::metrics::{NamespaceMetrics, SelfMetrics, TopLimits, render};

    let snapshot = hostile();
    let mut aggregator = Config::default().aggregator();
    let summary = aggregator.ingest(&snapshot);
    let ns = NamespaceMetrics::of(summary, &summary.anomalies, &snapshot, TopLimits::default());
    for format in [Format::Text, Format::OpenMetrics] {
        let page = render(&[&ns], &SelfMetrics::default(), format);
        let controls: Vec<char> = page
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert_eq!(controls, Vec::<char>::new(), "{format:?}");
        // The CLOSE_WAIT holder, its unit and the pod, each as the pictures of its escapes.
        let holder = page
            .lines()
            .find(|l| {
                l.starts_with("sockscope_process_tcp_sockets{")
                    && l.contains("state=\"close_wait\"")
            })
            .unwrap_or_else(|| panic!("no close_wait process line in {page}"));
        assert_eq!(
            holder,
            "sockscope_process_tcp_sockets{netns=\"lab␛]0;OWNED␇␛[2J␛[H␊\",comm=\"␛]0;OWNED␇x\",state=\"close_wait\",container=\"systemd:␛]0;OWNED␇␛[2J␛[Hfake.service\"} 21",
            "{format:?}"
        );
        assert!(
            page.contains("namespace=\"shop␛]0;OWNED␇␛[2J␛[H\",pod=\"cart␛]0;OWNED␇␊0\""),
            "{page}"
        );
    }
}
