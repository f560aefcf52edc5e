//! The Churn view drawn from a dashboard whose aggregator took in a minute of closes.

use std::time::{Duration, SystemTime};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::config::Config;
use crate::filter::Filter;
use crate::model::fixture::socket;
use crate::model::{ClosedSocket, OwnerFrom, Process, Snapshot, TcpInfo, TcpState};
use crate::tui::action::{Action, InputMode};
use crate::tui::app::{App, Settings};
use crate::tui::theme::Theme;
use crate::tui::view::{ChurnGrouping, View};

/// `secs` seconds (and `ms`) after the Unix epoch's 1,000th second.
fn at(secs: u64, ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + secs) + Duration::from_millis(ms)
}

fn poll(secs: u64) -> Snapshot {
    Snapshot {
        taken_at: Some(at(secs, 0)),
        host: "web1".to_owned(),
        netns: "host".to_owned(),
        ..Snapshot::default()
    }
}

fn maker(pid: u32, comm: &str) -> Vec<Process> {
    vec![Process {
        pid,
        comm: comm.to_owned(),
        ..Process::default()
    }]
}

/// nginx[10] accepted on :80 from 10.0.0.9, seen by a poll, 300 ms old at its close,
/// 1.5 KiB each, in a container.
fn accepted(secs: u64) -> ClosedSocket {
    ClosedSocket {
        at: at(secs, 500),
        netns: "host".to_owned(),
        socket: socket(TcpState::Close)
            .local("10.0.0.5:80")
            .remote("10.0.0.9:50000"),
        tcp_info: Some(TcpInfo {
            bytes_acked: 1_000,
            bytes_received: 536,
            ..TcpInfo::default()
        }),
        last_state: Some(TcpState::Established),
        first_seen: Some(at(secs, 200)),
        owners: maker(10, "nginx"),
        owner_from: OwnerFrom::Poll,
        container: Some("docker:3f2a1c9e0b7d (web-1)".to_owned()),
        accepted: true,
    }
}

/// Opened here toward 192.0.2.10:5432 by no one a poll saw: not attributed, 400 B.
fn unattributed(secs: u64) -> ClosedSocket {
    ClosedSocket {
        socket: socket(TcpState::Close)
            .local("10.0.0.5:40000")
            .remote("192.0.2.10:5432"),
        tcp_info: Some(TcpInfo {
            bytes_acked: 100,
            bytes_received: 300,
            ..TcpInfo::default()
        }),
        last_state: None,
        first_seen: None,
        owners: Vec::new(),
        owner_from: OwnerFrom::Unknown,
        container: None,
        accepted: false,
        ..accepted(secs)
    }
}

/// Opened here toward 192.0.2.10:5432 by a process whose name carries an escape sequence,
/// 8 s old, without tcp_info.
fn hostile(secs: u64) -> ClosedSocket {
    ClosedSocket {
        tcp_info: None,
        last_state: Some(TcpState::Established),
        first_seen: Some(at(secs, 500) - Duration::from_secs(8)),
        owners: maker(66, "\x1b[31mEVIL"),
        owner_from: OwnerFrom::Poll,
        ..unattributed(secs)
    }
}

/// A dashboard `columns` × `rows` that listened to destroy events over the minute from
/// 1,000 s to 1,060 s: 30 closes of nginx (one a second from the first), 20 not
/// attributed (in the 50th second) and 10 of `EVIL` (two a second in the last five).
fn churning(columns: u16, rows: u16) -> App {
    let mut app = App::new(Settings {
        kernel: "6.18.0-test".to_owned(),
        config: Config::default(),
        filter: Filter::default(),
        filter_text: String::new(),
        theme: Theme::MONO,
        size: (columns, rows),
    });
    app.ingest(poll(0), Duration::from_millis(5));
    app.aggregator.listened(at(0, 0), at(60, 0));
    for second in 0..30 {
        app.aggregator.closed(&accepted(second));
    }
    for _ in 0..20 {
        app.aggregator.closed(&unattributed(50));
    }
    for second in 55..60 {
        app.aggregator.closed(&hostile(second));
        app.aggregator.closed(&hostile(second));
    }
    app.ingest(poll(60), Duration::from_millis(5));
    app.apply(Action::ShowView(View::Churn));
    app
}

/// The screen's lines from `from` on, trailing spaces cut.
fn screen(app: &App, from: u16) -> Vec<String> {
    let (columns, rows) = app.size();
    let mut terminal = Terminal::new(TestBackend::new(columns, rows)).unwrap();
    terminal
        .draw(|frame| super::super::draw(frame, app))
        .unwrap();
    let buffer = terminal.backend().buffer();
    (from..rows)
        .map(|y| {
            let line: String = (0..columns).map(|x| buffer[(x, y)].symbol()).collect();
            line.trim_end().to_owned()
        })
        .collect()
}

#[test]
fn the_churn_view_shows_the_last_minute_by_process_under_its_sparkline() {
    let app = churning(80, 24);
    assert_eq!(
        screen(&app, 14),
        [
            " 1 Sockets 2 Processes 3 Peers 4 Listeners 5 Counters 6 Namespaces 7 Churn   1/3",
            "Churn by process · last 60 s · 60 closes · 1.0/s                b: by local port",
            "▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁█▁▁▁▁▂▂▂▂▂ peak 20/s",
            "PROCESS          CLOSES/S CLOSES▼ SHORT-LIVED NOT SEEN MEDIAN LIFE BYTES/CONN",
            "nginx[10]            0.50      30      100.0%     0.0%      ≤512ms    1.5 KiB",
            // Cut to its short form at 80 columns; the process name escaped.
            "not attributed       0.33      20      100.0%   100.0%           —      400 B",
            "\\x1b[31mEVIL[66]     0.17      10        0.0%     0.0%       ≤8.2s          —",
            "",
            "",
            "b group by  q quit  ? help  / filter  Tab view  s sort  Enter detail  p pause  +",
        ]
    );
}

#[test]
fn a_wide_terminal_says_why_a_maker_is_not_attributed() {
    let app = churning(120, 24);
    let lines = screen(&app, 17);
    assert_eq!(
        lines[2],
        "not attributed (closed between polls)     0.33      20      100.0%   100.0%           —      400 B"
    );
}

#[test]
fn b_steps_through_the_groupings_and_back() {
    let mut app = churning(100, 24);
    let mut seen = Vec::new();
    for _ in 0..4 {
        app.apply(Action::CycleChurnGrouping);
        let lines = screen(&app, 15);
        seen.push((app.churn_grouping(), lines[0].clone(), lines[2..5].to_vec()));
    }
    let row = |texts: &[&str]| texts.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        [
            (
                ChurnGrouping::LocalPort,
                "Churn by local port · last 60 s · 60 closes · 1.0/s                                b: by remote host".to_owned(),
                row(&[
                    "LOCAL PORT              CLOSES/S CLOSES▼ SHORT-LIVED NOT SEEN MEDIAN LIFE BYTES/CONN",
                    "80                          0.50      30      100.0%     0.0%      ≤512ms    1.5 KiB",
                    "opened here (ephemeral)     0.50      30       66.7%    66.7%       ≤8.2s      400 B",
                ]),
            ),
            (
                ChurnGrouping::RemoteHost,
                "Churn by remote host · last 60 s · 60 closes · 1.0/s                                 b: by container".to_owned(),
                row(&[
                    "REMOTE HOST CLOSES/S CLOSES▼ SHORT-LIVED NOT SEEN MEDIAN LIFE BYTES/CONN",
                    "10.0.0.9        0.50      30      100.0%     0.0%      ≤512ms    1.5 KiB",
                    "192.0.2.10      0.50      30       66.7%    66.7%       ≤8.2s      400 B",
                ]),
            ),
            (
                ChurnGrouping::Container,
                "Churn by container · last 60 s · 60 closes · 1.0/s                                     b: by process".to_owned(),
                row(&[
                    "CONTAINER                   CLOSES/S CLOSES▼ SHORT-LIVED NOT SEEN MEDIAN LIFE BYTES/CONN",
                    "docker:3f2a1c9e0b7d (web-1)     0.50      30      100.0%     0.0%      ≤512ms    1.5 KiB",
                    "no container                    0.50      30       66.7%    66.7%       ≤8.2s      400 B",
                ]),
            ),
            (
                ChurnGrouping::Process,
                "Churn by process · last 60 s · 60 closes · 1.0/s                                    b: by local port".to_owned(),
                row(&[
                    "PROCESS                               CLOSES/S CLOSES▼ SHORT-LIVED NOT SEEN MEDIAN LIFE BYTES/CONN",
                    "nginx[10]                                 0.50      30      100.0%     0.0%      ≤512ms    1.5 KiB",
                    "not attributed (closed between polls)     0.33      20      100.0%   100.0%           —      400 B",
                ]),
            ),
        ]
    );
    assert_eq!(app.notice(), Some("churn by process"));
}

#[test]
fn the_detail_pane_of_closes_not_attributed_says_why() {
    let mut app = churning(100, 30);
    app.apply(Action::Move(crate::tui::action::Motion::Down));
    app.apply(Action::OpenDetail);
    assert_eq!(app.mode(), InputMode::Detail);
    let detail = app.detail().unwrap();
    let lines: Vec<String> = detail.lines.iter().map(ToString::to_string).collect();
    assert_eq!(detail.title, " not attributed (closed between polls) ");
    assert_eq!(
        lines,
        [
            "No poll saw a process hold these connections and no listener has their address: most opened and closed between two polls (- polls more often); without root, other users' processes are not seen either.",
            "          closes  20 in the last 60 s (0.33/s)",
            "     short-lived  20 (100.0%): lived under [connection_churn] short_lived, or no poll saw them",
            "not seen by a poll  20 (100.0%): opened and closed between two polls",
            " median lifetime  — (no poll saw one born)",
            "bytes/connection  400 B sent and received (over the 20 closes with tcp_info)",
        ]
    );
}

#[test]
fn the_filter_leaves_the_closes_whole() {
    let mut app = churning(80, 24);
    app.apply(Action::OpenFilter);
    for c in "port=443".chars() {
        app.apply(Action::FilterType(c));
    }
    app.apply(Action::FilterApply);
    assert_eq!(app.row_count(), 3);
    assert_eq!(
        screen(&app, 14)[0],
        " 1 Sockets 2 Processes 3 Peers 4 Listeners 5 Counters 6 Namespaces 7 Churn   1/3"
    );
}

#[test]
fn without_destroy_events_the_view_says_why_in_one_line() {
    let mut app = churning(80, 24);
    app.aggregator = Config::default().aggregator();
    app.ingest(poll(61), Duration::from_millis(5));
    let expected = |why: &str| {
        vec![
            "Churn by process                                                b: by local port"
                .to_owned(),
            why.to_owned(),
        ]
    };
    assert_eq!(
        screen(&app, 15)[..2],
        expected("destroy events are not listened to (needs a subscription; none reported yet)")
    );
    // The round's own reason, escaped (it may quote a namespace's name), wrapped.
    app.events_subscribed(Some(
        "TCP destroy events in we\x1bb: Operation not permitted",
    ));
    assert_eq!(
        screen(&app, 16)[..2],
        [
            "destroy events are not listened to: TCP destroy events in we\\x1bb: Operation not",
            "permitted",
        ]
    );
}

#[test]
fn no_terminal_size_makes_the_churn_view_panic() {
    let mut app = churning(10, 5);
    assert_eq!(app.view(), View::Churn);
    assert_eq!(
        screen(&app, 0),
        ["sockscope", "needs", "64×20;", "this", "terminal"]
    );
    let every_width = (0..=130).flat_map(|c| [5, 19, 20, 21, 22, 24].map(|r| (c, r)));
    let every_height = (0..=34).flat_map(|r| [10, 63, 64, 80, 100].map(|c| (c, r)));
    for (columns, rows) in every_width.chain(every_height) {
        app.resize(columns, rows);
        app.apply(Action::Move(crate::tui::action::Motion::End));
        screen(&app, 0);
    }
    app.apply(Action::OpenDetail);
    for (columns, rows) in [(10, 5), (64, 20), (0, 0), (200, 3)] {
        app.resize(columns, rows);
        screen(&app, 0);
    }
}
