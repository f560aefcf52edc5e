//! Keys: each key maps to its action, and each action leaves the view state it promises.

#![allow(clippy::unwrap_used)]

use crate::support::dashboard;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use dashboard::{busy, busy_app};
use sockscope::collect::{NetnsChange, NetnsDrift, NetnsId, NetnsTarget};
use sockscope::model::TcpState;
use sockscope::tui::app::Cursor;
use sockscope::tui::view::Sort;
use sockscope::tui::{Action, InputMode, Motion, View, action_for};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

#[test]
fn every_key_in_normal_mode_maps_to_its_action() {
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    let cases = [
        (ch('q'), Action::Quit),
        (ctrl_c, Action::Quit),
        (ch('?'), Action::ToggleHelp),
        (key(KeyCode::Esc), Action::CloseOverlay),
        (ch('/'), Action::OpenFilter),
        (key(KeyCode::Tab), Action::NextView),
        (key(KeyCode::BackTab), Action::PrevView),
        (ch('1'), Action::ShowView(View::Sockets)),
        (ch('2'), Action::ShowView(View::Processes)),
        (ch('3'), Action::ShowView(View::Peers)),
        (ch('4'), Action::ShowView(View::Listeners)),
        (ch('5'), Action::ShowView(View::Counters)),
        (ch('6'), Action::ShowView(View::Namespaces)),
        (ch('7'), Action::ShowView(View::Churn)),
        (key(KeyCode::Up), Action::Move(Motion::Up)),
        (ch('k'), Action::Move(Motion::Up)),
        (key(KeyCode::Down), Action::Move(Motion::Down)),
        (ch('j'), Action::Move(Motion::Down)),
        (key(KeyCode::PageUp), Action::Move(Motion::PageUp)),
        (key(KeyCode::PageDown), Action::Move(Motion::PageDown)),
        (key(KeyCode::Home), Action::Move(Motion::Home)),
        (ch('g'), Action::Move(Motion::Home)),
        (key(KeyCode::End), Action::Move(Motion::End)),
        (ch('G'), Action::Move(Motion::End)),
        (ch('s'), Action::CycleSort),
        (ch('r'), Action::ReverseSort),
        (ch('b'), Action::CycleChurnGrouping),
        (key(KeyCode::Enter), Action::OpenDetail),
        (ch('p'), Action::TogglePause),
        (ch(' '), Action::TogglePause),
        (ch('+'), Action::SlowerPolls),
        (ch('-'), Action::FasterPolls),
        (ch('n'), Action::NextAnomaly),
        (ch('N'), Action::PrevAnomaly),
        (ch('F'), Action::FollowNetns),
    ];
    for (event, action) in cases {
        assert_eq!(
            action_for(InputMode::Normal, event),
            Some(action),
            "{event:?}"
        );
    }
    assert_eq!(action_for(InputMode::Normal, ch('x')), None);
    let mut release = ch('q');
    release.kind = KeyEventKind::Release;
    assert_eq!(action_for(InputMode::Normal, release), None);
}

#[test]
fn filter_mode_takes_text_and_only_ctrl_c_still_quits() {
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    assert_eq!(
        action_for(InputMode::Filter, ch('q')),
        Some(Action::FilterType('q'))
    );
    assert_eq!(
        action_for(InputMode::Filter, ch('/')),
        Some(Action::FilterType('/'))
    );
    assert_eq!(
        action_for(InputMode::Filter, key(KeyCode::Enter)),
        Some(Action::FilterApply)
    );
    assert_eq!(
        action_for(InputMode::Filter, key(KeyCode::Esc)),
        Some(Action::CloseOverlay)
    );
    assert_eq!(
        action_for(InputMode::Filter, key(KeyCode::Backspace)),
        Some(Action::FilterBackspace)
    );
    assert_eq!(
        action_for(InputMode::Filter, ctrl('u')),
        Some(Action::FilterErase)
    );
    assert_eq!(action_for(InputMode::Filter, ctrl('c')), Some(Action::Quit));
}

#[test]
fn enter_closes_the_detail_pane_it_opened() {
    assert_eq!(
        action_for(InputMode::Detail, key(KeyCode::Enter)),
        Some(Action::CloseOverlay)
    );
    assert_eq!(
        action_for(InputMode::Help, ch('?')),
        Some(Action::ToggleHelp)
    );
}

#[test]
fn views_cycle_in_tab_order_and_wrap() {
    let mut app = busy_app(80, 24, 1);
    let mut seen = vec![app.view()];
    for _ in 0..7 {
        app.apply(Action::NextView);
        seen.push(app.view());
    }
    assert_eq!(
        seen,
        [
            View::Sockets,
            View::Processes,
            View::Peers,
            View::Listeners,
            View::Counters,
            View::Namespaces,
            View::Churn,
            View::Sockets
        ]
    );
    app.apply(Action::PrevView);
    assert_eq!(app.view(), View::Churn);
    app.apply(Action::ShowView(View::Listeners));
    assert_eq!(app.view(), View::Listeners);
}

#[test]
fn b_steps_the_churn_grouping_in_the_churn_view_and_only_says_so_elsewhere() {
    use sockscope::tui::view::ChurnGrouping;
    let mut app = busy_app(80, 24, 1);
    app.apply(Action::CycleChurnGrouping);
    assert_eq!(app.churn_grouping(), ChurnGrouping::Process);
    assert_eq!(
        app.notice(),
        Some("b groups the Churn view (7): by process, local port, remote host, container")
    );
    app.apply(Action::ShowView(View::Churn));
    let mut seen = Vec::new();
    for _ in 0..4 {
        app.apply(Action::CycleChurnGrouping);
        let heading = app.columns(View::Churn)[0].name;
        seen.push((
            app.churn_grouping(),
            heading,
            app.notice().unwrap().to_owned(),
        ));
    }
    assert_eq!(
        seen,
        [
            (
                ChurnGrouping::LocalPort,
                "LOCAL PORT",
                "churn by local port".to_owned()
            ),
            (
                ChurnGrouping::RemoteHost,
                "REMOTE HOST",
                "churn by remote host".to_owned()
            ),
            (
                ChurnGrouping::Container,
                "CONTAINER",
                "churn by container".to_owned()
            ),
            (
                ChurnGrouping::Process,
                "PROCESS",
                "churn by process".to_owned()
            ),
        ]
    );
    // Its own lines take two rows from the table.
    assert_eq!(app.table_height(), 5);
}

#[test]
fn moves_stay_inside_the_table_and_scroll_by_pages() {
    // 80×24 leaves 7 table rows; the busy snapshot has 346 sockets.
    let mut app = busy_app(80, 24, 1);
    assert_eq!((app.row_count(), app.table_height()), (346, 7));
    app.apply(Action::Move(Motion::Up));
    assert_eq!(app.cursor(View::Sockets).selected, 0);
    app.apply(Action::Move(Motion::PageDown));
    assert_eq!(app.cursor(View::Sockets).selected, 7);
    assert_eq!(app.cursor(View::Sockets).offset, 1);
    app.apply(Action::Move(Motion::Down));
    assert_eq!(app.cursor(View::Sockets).selected, 8);
    app.apply(Action::Move(Motion::End));
    assert_eq!(app.cursor(View::Sockets).selected, 345);
    assert_eq!(app.cursor(View::Sockets).offset, 339);
    app.apply(Action::Move(Motion::Down));
    assert_eq!(app.cursor(View::Sockets).selected, 345);
    app.apply(Action::Move(Motion::PageUp));
    assert_eq!(app.cursor(View::Sockets).selected, 338);
    assert_eq!(app.cursor(View::Sockets).offset, 338);
    app.apply(Action::Move(Motion::Home));
    assert_eq!(app.cursor(View::Sockets), Cursor::default());
    // Each view keeps its own cursor.
    app.apply(Action::ShowView(View::Processes));
    app.apply(Action::Move(Motion::End));
    assert_eq!(app.cursor(View::Processes).selected, 5);
    assert_eq!(app.cursor(View::Sockets).selected, 0);
}

#[test]
fn s_cycles_sortable_columns_and_r_reverses() {
    let mut app = busy_app(80, 24, 1);
    let state_of_first = |app: &sockscope::tui::App| {
        let shown = app.shown().unwrap();
        shown.snapshot.sockets[app.order()[0] as usize].state
    };
    let sort = |column, reverse| Sort { column, reverse };
    assert_eq!(app.sort(View::Sockets), sort(0, false));
    assert_eq!(state_of_first(&app), TcpState::Listen);
    app.apply(Action::ReverseSort);
    assert_eq!(app.sort(View::Sockets), sort(0, true));
    assert_eq!(state_of_first(&app), TcpState::CloseWait);
    assert_eq!(app.notice(), Some("sorted by STATE, reversed"));
    // CONTAINER (7) is not in the table here (no containers): `s` passes it by.
    for expected in [1, 2, 3, 4, 5, 6, 8, 0] {
        app.apply(Action::CycleSort);
        assert_eq!(app.sort(View::Sockets), sort(expected, false));
    }
    // RECV-Q sorts largest first: nginx's listener has 3 waiting.
    app.apply(Action::CycleSort);
    app.apply(Action::CycleSort);
    app.apply(Action::CycleSort);
    let shown = app.shown().unwrap();
    assert_eq!(shown.snapshot.sockets[app.order()[0] as usize].recv_q, 3);
    // The counters' HISTORY column is skipped.
    app.apply(Action::ShowView(View::Counters));
    let mut columns = Vec::new();
    for _ in 0..4 {
        app.apply(Action::CycleSort);
        columns.push(app.sort(View::Counters).column);
    }
    assert_eq!(columns, [0, 1, 2, 0]);
}

#[test]
fn filter_narrows_the_table_not_the_counts_and_a_bad_one_is_refused() {
    let mut app = busy_app(80, 24, 1);
    app.apply(Action::OpenFilter);
    assert_eq!(app.mode(), InputMode::Filter);
    for c in "close-wait x".chars() {
        app.apply(Action::FilterType(c));
    }
    app.apply(Action::FilterBackspace);
    app.apply(Action::FilterBackspace);
    app.apply(Action::FilterApply);
    assert_eq!(app.mode(), InputMode::Normal);
    assert_eq!(app.filter_text(), "close-wait");
    assert_eq!(app.order().len(), 25);
    let shown = app.shown().unwrap();
    assert_eq!(shown.summary.counts.total(), 346);
    // Group views follow the filter: only leaky-app holds CLOSE_WAIT sockets.
    app.apply(Action::ShowView(View::Processes));
    assert_eq!(app.row_count(), 1);

    app.apply(Action::OpenFilter);
    assert_eq!(app.input(), "close-wait");
    app.apply(Action::FilterErase);
    for c in "port=70000".chars() {
        app.apply(Action::FilterType(c));
    }
    app.apply(Action::FilterApply);
    assert_eq!(app.mode(), InputMode::Filter);
    assert_eq!(
        app.notice(),
        Some(
            "filter not applied: \"70000\" is not a port: use a number 0-65535 or a range like 8000-8100"
        )
    );
    assert_eq!(app.filter_text(), "close-wait");
    app.apply(Action::CloseOverlay);
    assert_eq!((app.mode(), app.input()), (InputMode::Normal, ""));

    app.apply(Action::OpenFilter);
    app.apply(Action::FilterErase);
    app.apply(Action::FilterApply);
    assert!(app.filter().is_empty());
    app.apply(Action::ShowView(View::Sockets));
    assert_eq!(app.order().len(), 346);
}

#[test]
fn help_and_detail_open_and_esc_closes_them() {
    let mut app = busy_app(80, 24, 1);
    app.apply(Action::ToggleHelp);
    assert_eq!(app.mode(), InputMode::Help);
    app.apply(Action::CloseOverlay);
    assert_eq!(app.mode(), InputMode::Normal);
    assert_eq!(app.wants_tcp_info(), None);
    app.apply(Action::OpenDetail);
    assert_eq!(app.mode(), InputMode::Detail);
    assert_eq!(
        app.wants_tcp_info(),
        Some(0),
        "a socket's detail pane shows tcp_info (of the one namespace, key 0)"
    );
    app.apply(Action::CloseOverlay);
    assert_eq!(app.mode(), InputMode::Normal);
    assert_eq!(app.wants_tcp_info(), None);
    app.apply(Action::ShowView(View::Processes));
    app.apply(Action::OpenDetail);
    assert_eq!(
        app.wants_tcp_info(),
        None,
        "a process's detail pane has no tcp_info"
    );
    app.apply(Action::Quit);
    assert!(app.quitting());
}

#[test]
fn detail_needs_a_row() {
    let mut app = dashboard::app(80, 24);
    app.apply(Action::OpenDetail);
    assert_eq!(app.mode(), InputMode::Normal);
}

#[test]
fn pause_freezes_the_display_while_polls_go_on() {
    let mut app = busy_app(80, 24, 2);
    app.apply(Action::TogglePause);
    assert!(app.paused());
    app.ingest(busy(1_005, 40), Duration::from_millis(20));
    app.ingest(busy(1_006, 41), Duration::from_millis(20));
    let shown = app.shown().unwrap();
    assert_eq!(shown.summary.counts.get(TcpState::CloseWait), 28);
    assert_eq!(app.polls_while_paused(), 2);
    assert_eq!(
        app.aggregator().summary().counts.get(TcpState::CloseWait),
        66
    );
    app.apply(Action::TogglePause);
    assert!(!app.paused());
    let shown = app.shown().unwrap();
    assert_eq!(shown.summary.counts.get(TcpState::CloseWait), 66);
    assert_eq!(app.polls_while_paused(), 0);
}

#[test]
fn plus_and_minus_step_the_interval_within_bounds() {
    let mut app = busy_app(80, 24, 1);
    assert_eq!(app.interval(), Duration::from_secs(1));
    app.apply(Action::SlowerPolls);
    assert_eq!(app.interval(), Duration::from_secs(2));
    assert_eq!(app.notice(), Some("poll every 2s"));
    for _ in 0..20 {
        app.apply(Action::SlowerPolls);
    }
    assert_eq!(app.interval(), Duration::from_secs(60));
    for _ in 0..20 {
        app.apply(Action::FasterPolls);
    }
    assert_eq!(app.interval(), Duration::from_millis(250));
    assert_eq!(app.effective_interval(), Duration::from_millis(250));
}

#[test]
fn n_and_shift_n_step_through_anomalies_and_wrap() {
    let mut app = busy_app(80, 24, 3);
    let count = app.shown().unwrap().summary.anomalies.len();
    assert_eq!(count, 3);
    let mut seen = Vec::new();
    for _ in 0..4 {
        app.apply(Action::NextAnomaly);
        seen.push(app.anomaly());
    }
    assert_eq!(seen, [1, 2, 0, 1]);
    app.apply(Action::PrevAnomaly);
    app.apply(Action::PrevAnomaly);
    assert_eq!(app.anomaly(), 2);
}

/// The socket under the cursor of the sockets view: (state, remote address).
fn selected_socket(app: &sockscope::tui::App) -> (TcpState, String) {
    let shown = app.shown().unwrap();
    let index = app.order()[app.cursor(View::Sockets).selected] as usize;
    let socket = &shown.snapshot.sockets[index];
    (socket.state, socket.remote.to_string())
}

#[test]
fn the_selection_stays_on_its_socket_and_its_group_when_rows_move() {
    // Sorted by state, reversed: the CLOSE_WAIT sockets come first. The fourth row is selected.
    let mut app = busy_app(80, 24, 1);
    app.apply(Action::ReverseSort);
    for _ in 0..3 {
        app.apply(Action::Move(Motion::Down));
    }
    let before = selected_socket(&app);
    assert_eq!(before, (TcpState::CloseWait, "10.0.0.77:10021".to_owned()));
    assert_eq!(
        app.cursor(View::Sockets),
        Cursor {
            selected: 3,
            offset: 0
        }
    );
    // The next poll has 9 more CLOSE_WAIT sockets (to 10.0.0.78), sorted in above it: the
    // cursor follows the socket and it stays fourth on screen.
    app.ingest(busy(1_001, 9), Duration::from_millis(20));
    assert_eq!(app.row_count(), 355);
    assert_eq!(selected_socket(&app), before);
    assert_eq!(
        app.cursor(View::Sockets),
        Cursor {
            selected: 12,
            offset: 9
        }
    );
    // A group row too: leaky-app, selected in the processes view, moves up a place.
    app.apply(Action::ShowView(View::Processes));
    let leaky_row = |app: &sockscope::tui::App| {
        app.rows()
            .iter()
            .position(|r| r.cells.iter().any(|c| c == "leaky-app"))
            .unwrap()
    };
    let row = leaky_row(&app);
    for _ in 0..row {
        app.apply(Action::Move(Motion::Down));
    }
    app.ingest(busy(1_002, 200), Duration::from_millis(20));
    let moved = leaky_row(&app);
    assert_eq!((row, moved), (2, 1));
    assert_eq!(app.cursor(View::Processes).selected, moved);
}

#[test]
fn a_poll_shares_its_summary_with_the_aggregator_instead_of_copying_it() {
    use std::sync::Arc;
    let mut app = busy_app(80, 24, 2);
    dashboard::type_filter(&mut app, "close-wait");
    app.apply(Action::FilterApply);
    let shown = app.shown().unwrap();
    assert!(Arc::ptr_eq(
        &shown.summary,
        &app.aggregator().shared_summary()
    ));
    let summary = Arc::as_ptr(&shown.summary);
    let narrowed = Arc::as_ptr(shown.narrowed.as_ref().unwrap());
    app.ingest(busy(1_002, 2), Duration::from_millis(20));
    app.ingest(busy(1_003, 3), Duration::from_millis(20));
    let shown = app.shown().unwrap();
    // Updated in place: a copy would have been made while the previous poll was held.
    assert_eq!(Arc::as_ptr(&shown.summary), summary);
    assert_eq!(Arc::as_ptr(shown.narrowed.as_ref().unwrap()), narrowed);
    assert_eq!(
        Arc::strong_count(&shown.summary),
        2,
        "aggregator and screen"
    );
    assert_eq!(shown.summary.polls, 4);
    assert_eq!(shown.summary.counts.get(TcpState::CloseWait), 28);
    assert_eq!(shown.narrowed.as_ref().unwrap().counts.total(), 28);
}

#[test]
fn a_paused_display_costs_one_copy_of_the_summary_not_one_per_poll() {
    use std::sync::Arc;
    let mut app = busy_app(80, 24, 2);
    app.apply(Action::TogglePause);
    let frozen = Arc::as_ptr(&app.shown().unwrap().summary);
    // The first poll while paused copies the frozen summary once; later ones update it.
    app.ingest(busy(1_002, 2), Duration::from_millis(20));
    let copy = Arc::as_ptr(&app.aggregator().shared_summary());
    assert_ne!(copy, frozen);
    app.ingest(busy(1_003, 3), Duration::from_millis(20));
    app.ingest(busy(1_004, 4), Duration::from_millis(20));
    assert_eq!(Arc::as_ptr(&app.aggregator().shared_summary()), copy);
    let shown = app.shown().unwrap();
    assert_eq!(Arc::as_ptr(&shown.summary), frozen);
    assert_eq!(shown.summary.polls, 2);
    assert_eq!(app.aggregator().summary().polls, 5);
}

#[test]
fn the_sort_reads_back_as_the_views_column_enum() {
    use sockscope::tui::columns::{CounterColumn, ListenerColumn, ViewColumn};
    let mut app = busy_app(80, 24, 1);
    app.apply(Action::ShowView(View::Listeners));
    assert_eq!(
        app.sort(View::Listeners).by_column::<ListenerColumn>(),
        ListenerColumn::Fill
    );
    app.apply(Action::ShowView(View::Counters));
    let mut seen = Vec::new();
    for _ in 0..CounterColumn::ALL.len() {
        app.apply(Action::CycleSort);
        seen.push(app.sort(View::Counters).by_column::<CounterColumn>());
    }
    assert_eq!(
        seen,
        [
            CounterColumn::Counter,
            CounterColumn::SinceLastPoll,
            CounterColumn::PerSecond,
            CounterColumn::Counter
        ]
    );
    assert_eq!(app.notice(), Some("sorted by COUNTER"));
}

#[test]
fn processes_sort_by_how_full_their_descriptor_table_is() {
    let mut app = busy_app(160, 48, 1);
    app.apply(Action::ShowView(View::Processes));
    // The view opens sorted by TOTAL; FDS/LIMIT is next.
    app.apply(Action::CycleSort);
    assert_eq!(app.notice(), Some("sorted by FDS/LIMIT"));
    let column = |app: &sockscope::tui::App, at: usize| -> Vec<String> {
        app.rows().iter().map(|r| r.cells[at].clone()).collect()
    };
    // leaky-app uses 30 of 64, nginx 52 of 65,536; web's limit is unknown; the rest unknown.
    assert_eq!(
        column(&app, 3),
        ["30/64", "52/65,536", "9/-", "-", "-", "-"]
    );
    assert_eq!(column(&app, 1)[..3], ["leaky-app", "nginx", "web"]);
}

fn recreated_web() -> NetnsDrift {
    NetnsDrift {
        target: NetnsTarget::Named("web".to_owned()),
        watched: NetnsId {
            dev: 4,
            inode: 4_026_532_841,
        },
        change: NetnsChange::Replaced(NetnsId {
            dev: 4,
            inode: 4_026_533_012,
        }),
    }
}

#[test]
fn f_follows_a_recreated_netns_and_the_history_restarts_there() {
    let mut app = busy_app(80, 24, 3);
    let first = app.shown().unwrap().snapshot.sockets[0];
    let first_seen = |app: &sockscope::tui::App| {
        app.aggregator()
            .first_seen(&first)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    assert_eq!(first_seen(&app), Some(1_000));

    app.apply(Action::FollowNetns);
    assert_eq!(app.follow_requests(), 0);
    assert_eq!(
        app.notice(),
        Some("nothing to follow: the namespace shown is the one asked for")
    );

    app.netns_checked(Some(recreated_web()));
    app.apply(Action::FollowNetns);
    assert_eq!(app.follow_requests(), 1);
    assert_eq!(app.notice(), Some("following netns web to 4026533012…"));
    // Until the collector has reopened, its polls still say so.
    app.netns_checked(Some(recreated_web()));
    assert_eq!(app.netns(), Some(&recreated_web()));

    app.followed(Ok(Some(recreated_web().followable().unwrap())));
    assert_eq!(app.netns(), None);
    assert_eq!(
        app.notice(),
        Some("now watching the new netns web (4026533012): history, ages and anomalies restarted")
    );
    app.ingest(busy(1_003, 9), Duration::from_millis(20));
    assert_eq!(first_seen(&app), Some(1_003));
    let summary = &app.shown().unwrap().summary;
    assert_eq!((summary.polls, summary.previous_counts), (1, None));
}

#[test]
fn f_has_nothing_to_follow_when_the_name_was_deleted_and_a_failure_stays_until_things_change() {
    let mut app = busy_app(80, 24, 1);
    let mut gone = recreated_web();
    gone.change = NetnsChange::Gone;
    app.netns_checked(Some(gone.clone()));
    app.apply(Action::FollowNetns);
    assert_eq!(app.follow_requests(), 0);
    assert_eq!(
        app.notice(),
        Some("nothing to follow: netns web was deleted")
    );

    app.netns_checked(Some(recreated_web()));
    app.apply(Action::FollowNetns);
    app.followed(Err("--netns web: no /run/netns/web".to_owned()));
    assert_eq!(app.netns(), Some(&recreated_web()));
    assert_eq!(app.follow_failed(), Some("--netns web: no /run/netns/web"));
    app.netns_checked(Some(recreated_web()));
    assert!(app.follow_failed().is_some());
    app.netns_checked(Some(gone));
    assert_eq!(app.follow_failed(), None);
}
