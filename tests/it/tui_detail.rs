//! The detail pane (Enter): it is as tall as its wrapped lines, scrolls with the motion
//! keys while it is open, and says on its border which lines show and how many do not.

#![allow(clippy::unwrap_used)]

use crate::support::dashboard::{self, render};
use crate::support::synthetic::Synth;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use sockscope::model::{Snapshot, TcpState};
use sockscope::tui::detail::Pane;
use sockscope::tui::{Action, App, InputMode, Motion, View, action_for};

/// Press `code` as the user would: through the key map of the current mode.
fn press(app: &mut App, code: KeyCode) {
    if let Some(action) = action_for(app.mode(), KeyEvent::new(code, KeyModifiers::NONE)) {
        app.apply(action);
    }
}

/// Sockets of no process: 150 SYN_RECV, 17 CLOSE_WAIT, 6,000 TIME_WAIT (6,167 in all), and
/// one listener of web[1300].
fn unowned() -> Snapshot {
    let mut s = Synth::at(1_000);
    let web = s.process(1300, "web");
    s.listener("0.0.0.0:8443", 0, 1024, &[web]);
    for i in 0..150u32 {
        let remote = format!("198.18.0.{}:{}", i % 200 + 1, 40000 + i);
        s.socket(TcpState::SynRecv, "10.0.0.5:8443", &remote, &[]);
    }
    s.many(17, TcpState::CloseWait, "10.0.0.5:8080", "10.0.0.77", &[]);
    s.many_to(
        6_000,
        TcpState::TimeWait,
        "10.0.0.5",
        "198.51.100.7:443",
        &[],
    );
    s.build()
}

/// One listener on :80 held by `owners` worker processes (pids 2001 and up), with 5
/// ESTABLISHED connections.
fn shared_listener(owners: u32) -> Snapshot {
    let mut s = Synth::at(1_000);
    let workers: Vec<u32> = (0..owners).map(|i| s.process(2001 + i, "worker")).collect();
    s.listener("0.0.0.0:80", 0, 511, &workers);
    s.many(
        5,
        TcpState::Established,
        "10.0.0.5:80",
        "203.0.113.9",
        &workers[..1],
    );
    s.build()
}

/// A `columns` × `rows` dashboard on `snapshot`, in `view`, with the first row's detail
/// pane open.
fn pane_open(snapshot: Snapshot, view: View, columns: u16, rows: u16) -> App {
    let mut app = dashboard::app(columns, rows);
    app.ingest(snapshot, Duration::from_millis(5));
    app.apply(Action::ShowView(view));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode(), InputMode::Detail);
    app
}

/// The detail pane as drawn: its rows, borders included, cut from the screen where the
/// pane goes.
fn pane(app: &App) -> Vec<String> {
    let (columns, rows) = app.size();
    let detail = app.detail().unwrap();
    let rect = Pane::of(Rect::new(0, 0, columns, rows), &detail).rect;
    render(app)
        .lines()
        .skip(usize::from(rect.y))
        .take(usize::from(rect.height))
        .map(|l| {
            l.chars()
                .skip(usize::from(rect.x))
                .take(usize::from(rect.width))
                .collect()
        })
        .collect()
}

/// The pane's rows inside its borders, right-trimmed.
fn inside(app: &App) -> Vec<String> {
    let rows = pane(app);
    rows[1..rows.len() - 1]
        .iter()
        .map(|r| {
            let r: String = r.chars().skip(1).collect();
            r.trim_end_matches(['│', ' ']).to_owned()
        })
        .collect()
}

/// The pane's bottom border.
fn bottom_border(app: &App) -> String {
    pane(app).last().cloned().unwrap_or_default()
}

#[test]
fn the_unowned_row_shows_its_time_wait_line_on_an_80x24_screen() {
    // The intro sentence wraps onto a second row: a pane as tall as its `Line`s cut the
    // last one, TIME_WAIT 6,000.
    let app = pane_open(unowned(), View::Processes, 80, 24);
    assert_eq!(
        inside(&app),
        [
            "Sockets no process holds: TIME_WAIT and request (SYN_RECV) sockets",
            "belong to the kernel; others were closed by their process.",
            "        SYN_RECV  150",
            "       TIME_WAIT  6,000",
            "      CLOSE_WAIT  17",
        ]
    );
    // Everything fits: the bottom border is a plain line.
    assert_eq!(bottom_border(&app), format!("└{}┘", "─".repeat(70)));
}

#[test]
fn on_a_small_terminal_the_unowned_row_scrolls_to_time_wait_and_the_border_counts_the_rest() {
    // 40×10: the pane is 32 wide and 8 tall; the sentence takes 5 rows of 30, and 6 of the
    // 8 rows fit.
    let mut app = pane_open(unowned(), View::Processes, 40, 10);
    assert_eq!(bottom_border(&app), "└ lines 1–6 of 8 · ↓ 2 more ───┘");
    assert_eq!(
        inside(&app).last().map(String::as_str),
        Some("        SYN_RECV  150")
    );
    press(&mut app, KeyCode::End);
    assert_eq!(app.detail_scroll(), 2);
    assert_eq!(
        inside(&app)[3..],
        [
            "        SYN_RECV  150",
            "       TIME_WAIT  6,000",
            "      CLOSE_WAIT  17",
        ]
    );
    assert_eq!(bottom_border(&app), "└ lines 3–8 of 8 · ↑ 2 above ──┘");
}

#[test]
fn a_listener_of_41_processes_scrolls_to_its_41st_owner() {
    // 6 fields, ESTABLISHED, the owners heading and 41 owners: 49 lines; 80×24 fits 20.
    let mut app = pane_open(shared_listener(41), View::Listeners, 80, 24);
    let border = |text: &str| format!("└{text}{}┘", "─".repeat(70 - text.chars().count()));
    assert_eq!(
        bottom_border(&app),
        border(" lines 1–20 of 49 · ↓ 29 more ")
    );
    assert_eq!(
        inside(&app).last().map(String::as_str),
        Some("    worker[2012]  worker")
    );
    press(&mut app, KeyCode::Char('G'));
    let rows = inside(&app);
    assert_eq!(
        (rows[0].as_str(), rows[19].as_str()),
        ("    worker[2022]  worker", "    worker[2041]  worker")
    );
    assert_eq!(
        bottom_border(&app),
        border(" lines 30–49 of 49 · ↑ 29 above ")
    );
    // One row up, one pane up, and down again past the end.
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(
        bottom_border(&app),
        border(" lines 29–48 of 49 · ↑ 28 above · ↓ 1 more ")
    );
    press(&mut app, KeyCode::PageUp);
    assert_eq!(
        bottom_border(&app),
        border(" lines 9–28 of 49 · ↑ 8 above · ↓ 21 more ")
    );
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.detail_scroll(), 29);
    press(&mut app, KeyCode::Home);
    assert_eq!(app.detail_scroll(), 0);
    // The keys scrolled the pane, not the table: its one row is still selected.
    assert_eq!(app.cursor(View::Listeners).selected, 0);
}

#[test]
fn the_offset_clamps_on_resize_and_when_a_poll_shortens_the_pane() {
    let mut app = pane_open(shared_listener(41), View::Listeners, 80, 24);
    press(&mut app, KeyCode::End);
    assert_eq!(app.detail_scroll(), 29);
    // At 10×5 the pane is 8 columns wide and shows one row of the 146 its lines wrap to,
    // over the too-small message: End goes further down.
    app.resize(10, 5);
    assert_eq!(app.detail_scroll(), 29);
    press(&mut app, KeyCode::End);
    assert_eq!(app.detail_scroll(), 145);
    assert_eq!(
        render(&app),
        "sockscope \n┌ 0.0.0.0┐\n│ worker │\n└ lines 1┘\nterminal  \n"
    );
    // Back at 80×24 the offset is the last screenful again, not past it.
    app.resize(80, 24);
    assert_eq!(app.detail_scroll(), 29);
    assert_eq!(inside(&app)[19], "    worker[2041]  worker");
    // The next poll has 3 owners: everything fits and the pane starts at its top.
    app.ingest(shared_listener(3), Duration::from_millis(5));
    assert_eq!(app.detail_scroll(), 0);
    assert_eq!(inside(&app).len(), 11);
    assert_eq!(inside(&app)[0], "        listener  0.0.0.0:80");
    assert_eq!(inside(&app)[10], "    worker[2003]  worker");
    assert_eq!(bottom_border(&app), format!("└{}┘", "─".repeat(70)));
}

#[test]
fn the_pane_of_another_row_opens_at_its_top() {
    // Two listeners, :80 (41 owners) first and :8080 (1 owner) second.
    let mut s = Synth::at(1_000);
    let workers: Vec<u32> = (0..41).map(|i| s.process(2001 + i, "worker")).collect();
    s.listener("0.0.0.0:80", 0, 511, &workers);
    let leaky = s.process(4242, "leaky-app");
    s.listener("0.0.0.0:8080", 0, 4096, &[leaky]);
    let snapshot = s.build();
    let mut app = pane_open(snapshot, View::Listeners, 80, 24);
    assert_eq!(inside(&app)[0], "        listener  0.0.0.0:80");
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.detail_scroll(), 20);
    // Closed and opened again on the same row: the top again.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.detail_scroll(), 0);
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.detail_scroll(), 0);
    assert_eq!(inside(&app)[0], "        listener  0.0.0.0:8080");
    assert_eq!(inside(&app)[7], " leaky-app[4242]  leaky-app");
}

#[test]
fn motion_keys_scroll_the_pane_while_it_is_open() {
    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    let cases = [
        (KeyCode::Up, Motion::Up),
        (KeyCode::Char('k'), Motion::Up),
        (KeyCode::Down, Motion::Down),
        (KeyCode::Char('j'), Motion::Down),
        (KeyCode::PageUp, Motion::PageUp),
        (KeyCode::PageDown, Motion::PageDown),
        (KeyCode::Home, Motion::Home),
        (KeyCode::Char('g'), Motion::Home),
        (KeyCode::End, Motion::End),
        (KeyCode::Char('G'), Motion::End),
    ];
    for (code, motion) in cases {
        assert_eq!(
            action_for(InputMode::Detail, key(code)),
            Some(Action::ScrollDetail(motion)),
            "{code:?}"
        );
        assert_eq!(
            action_for(InputMode::Normal, key(code)),
            Some(Action::Move(motion)),
            "{code:?}"
        );
    }
    // Scrolling means nothing with the pane closed.
    let mut app = dashboard::busy_app(80, 24, 1);
    app.apply(Action::ScrollDetail(Motion::End));
    assert_eq!((app.mode(), app.detail_scroll()), (InputMode::Normal, 0));
}

/// One ESTABLISHED socket of process `api` to each of `ports` ports of 192.0.2.10.
fn one_host_on_ports(ports: u16) -> sockscope::model::Snapshot {
    let mut s = Synth::at(1_000);
    let app_index = s.process(3100, "api");
    for port in 0..ports {
        let remote = format!("192.0.2.10:{}", 5000 + port);
        s.socket(
            TcpState::Established,
            "10.0.0.5:40000",
            &remote,
            &[app_index],
        );
    }
    s.build()
}

#[test]
fn a_host_lists_every_port_it_has_not_the_busiest_twenty() {
    let mut app = pane_open(one_host_on_ports(30), View::Peers, 100, 48);
    press(&mut app, KeyCode::End);
    let text = render(&app);
    assert!(text.contains("192.0.2.10:5029  1"), "{text}");
    assert!(text.contains("192.0.2.10:5000  1"), "{text}");
}

#[test]
fn a_host_says_how_many_of_its_sockets_are_on_ports_the_grouping_left_out() {
    // 250 ports of one host, one socket each: the endpoint grouping keeps 200.
    let mut app = pane_open(one_host_on_ports(250), View::Peers, 100, 48);
    assert_eq!(
        inside(&app)[..4],
        [
            "     remote host  192.0.2.10",
            "         sockets  250",
            "ports on this host, busiest first",
            " 192.0.2.10:5000  1",
        ]
    );
    press(&mut app, KeyCode::End);
    let rows = inside(&app);
    assert_eq!(
        rows[rows.len() - 2..],
        [
            " 192.0.2.10:5199  1",
            "     other ports  50 sockets: only the 200 busiest endpoints of all hosts are kept",
        ]
    );
    assert_eq!(
        bottom_border(&app),
        format!("└ lines 161–204 of 204 · ↑ 160 above {}┘", "─".repeat(54))
    );
}
