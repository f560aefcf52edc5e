//! The dashboard drawn into ratatui's TestBackend from synthetic snapshots: every view at
//! 80×24 and at 160×48, overlays, an empty namespace, a million sockets, a failing
//! collector and terminals too small to draw in.

#![allow(clippy::unwrap_used)]

use crate::support::dashboard;
use crate::support::synthetic;

use std::time::{Duration, SystemTime};

use dashboard::{app, busy_app, million, render};
use insta::assert_snapshot;
use sockscope::collect::{NetnsChange, NetnsDrift, NetnsId, NetnsTarget};
use sockscope::tui::{Action, App, Motion, View};

fn in_view(mut app: App, view: View) -> App {
    app.apply(Action::ShowView(view));
    app
}

macro_rules! view_tests {
    ($($name:ident: $view:expr, $columns:expr, $rows:expr;)*) => {$(
        #[test]
        fn $name() {
            let app = in_view(busy_app($columns, $rows, 3), $view);
            assert_snapshot!(render(&app));
        }
    )*};
}

view_tests! {
    sockets_view_at_80x24: View::Sockets, 80, 24;
    processes_view_at_80x24: View::Processes, 80, 24;
    peers_view_at_80x24: View::Peers, 80, 24;
    listeners_view_at_80x24: View::Listeners, 80, 24;
    counters_view_at_80x24: View::Counters, 80, 24;
    churn_view_at_80x24: View::Churn, 80, 24;
    sockets_view_at_160x48: View::Sockets, 160, 48;
    processes_view_at_160x48: View::Processes, 160, 48;
    peers_view_at_160x48: View::Peers, 160, 48;
    listeners_view_at_160x48: View::Listeners, 160, 48;
    counters_view_at_160x48: View::Counters, 160, 48;
}

#[test]
fn before_the_first_poll_the_screen_says_it_is_waiting() {
    assert_snapshot!(render(&app(80, 24)));
}

#[test]
fn an_empty_namespace_shows_zero_everywhere_and_nothing_abnormal() {
    let mut app = app(80, 24);
    app.ingest(
        synthetic::Synth::at(1_000).build(),
        Duration::from_millis(5),
    );
    assert_snapshot!(render(&app));
}

#[test]
fn a_million_sockets_render_one_screenful() {
    let mut app = app(120, 30);
    app.ingest(million(1_000_000), Duration::from_millis(900));
    assert_eq!(app.order().len(), 1_000_000);
    app.apply(Action::Move(Motion::End));
    assert_snapshot!(render(&app));
}

#[test]
fn a_failing_collector_is_drawn_in_place_over_the_last_good_poll() {
    let mut app = busy_app(80, 24, 2);
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_002);
    app.poll_failed(
        "sock_diag dump: Operation not permitted (os error 1)".to_owned(),
        at,
    );
    app.poll_failed(
        "sock_diag dump: Operation not permitted (os error 1)".to_owned(),
        at + Duration::from_secs(12),
    );
    assert_snapshot!(render(&app));
}

#[test]
fn help_lists_every_key() {
    let mut app = busy_app(80, 24, 1);
    app.apply(Action::ToggleHelp);
    let screen = render(&app);
    for (keys, _) in sockscope::tui::action::help(false) {
        assert!(screen.contains(keys), "help lacks {keys:?}:\n{screen}");
    }
    assert_snapshot!(screen);
}

#[test]
fn detail_pane_shows_every_field_of_the_selected_socket() {
    let mut app = busy_app(100, 40, 3);
    dashboard::type_filter(&mut app, "close-wait");
    app.apply(Action::FilterApply);
    app.apply(Action::OpenDetail);
    assert_snapshot!(render(&app));
}

#[test]
fn filter_line_shows_what_is_typed() {
    let mut app = busy_app(80, 24, 2);
    dashboard::type_filter(&mut app, "port=8080");
    assert_snapshot!(render(&app));
}

#[test]
fn a_refused_filter_says_why_on_the_filter_line_until_the_next_key() {
    let mut app = busy_app(120, 24, 2);
    dashboard::type_filter(&mut app, "port=abc");
    app.apply(Action::FilterApply);
    let screen = render(&app);
    let last = screen.lines().last().unwrap();
    assert_eq!(
        last.trim_end(),
        "/ port=abc▏  filter not applied: \"abc\" is not a port: use a number 0-65535 or a range like 8000-8100"
    );
    // Typing on clears the reason and brings the syntax line back.
    app.apply(Action::FilterBackspace);
    let screen = render(&app);
    assert!(
        screen
            .lines()
            .last()
            .unwrap()
            .starts_with("/ port=ab▏  e.g. close-wait"),
        "{screen}"
    );
}

#[test]
fn paused_display_says_so_and_counts_the_polls_behind() {
    let mut app = busy_app(80, 24, 2);
    app.apply(Action::TogglePause);
    app.ingest(dashboard::busy(1_010, 50), Duration::from_millis(20));
    let screen = render(&app);
    assert!(screen.contains("PAUSED (1 new poll)"), "{screen}");
    assert!(
        screen.contains("│CLOSE_WAIT         28      +3 "),
        "{screen}"
    );
    app.apply(Action::TogglePause);
    let screen = render(&app);
    assert!(
        screen.contains("│CLOSE_WAIT         75     +47 "),
        "{screen}"
    );
    assert!(!screen.contains("PAUSED"), "{screen}");
}

#[test]
fn slow_polls_lengthen_the_interval_and_the_header_says_why() {
    let mut app = app(100, 24);
    app.ingest(million(1_000), Duration::from_millis(1_300));
    assert_eq!(app.effective_interval(), Duration::from_secs(5));
    let header = render(&app).lines().next().unwrap().to_owned();
    assert_eq!(
        header.trim_end(),
        "sockscope · web1 · netns host · every 5s (slowed: a poll takes 1.3s) · 1,000 sockets · 00:16:40 UTC"
    );
}

#[test]
fn the_interval_follows_the_mean_cost_of_the_last_five_polls() {
    let mut app = app(100, 24);
    app.ingest(million(1_000), Duration::from_millis(1_300));
    assert_eq!(app.effective_interval(), Duration::from_secs(5));
    // (1.3 + 2 × 0.1) / 3 = 0.5 s: more than 40 % of 1 s.
    for _ in 0..2 {
        app.ingest(million(1_000), Duration::from_millis(100));
    }
    assert_eq!(
        app.auto_interval(),
        Some((Duration::from_secs(2), Duration::from_millis(500)))
    );
    app.ingest(million(1_000), Duration::from_millis(100));
    // (1.3 + 4 × 0.1) / 5 = 0.34 s: 1 s is enough.
    app.ingest(million(1_000), Duration::from_millis(100));
    assert_eq!(app.auto_interval(), None);
    assert_eq!(app.effective_interval(), Duration::from_secs(1));
}

#[test]
fn carried_established_sockets_are_told_in_the_header() {
    let mut app = app(100, 24);
    let mut snapshot = million(1_000);
    snapshot.established_tier = Some(sockscope::model::EstablishedTier {
        read_at: snapshot.taken_at.unwrap(),
        every: Duration::from_secs(5),
    });
    app.ingest(snapshot, Duration::from_millis(10));
    let header = render(&app).lines().next().unwrap().to_owned();
    assert_eq!(
        header.trim_end(),
        "sockscope · web1 · netns host · every 1s · ESTABLISHED every 5s · 1,000 sockets · 00:16:40 UTC"
    );
    // Polled every 5 s or slower, every poll reads them: nothing to tell.
    app.apply(Action::SlowerPolls);
    app.apply(Action::SlowerPolls);
    app.apply(Action::SlowerPolls);
    assert_eq!(app.effective_interval(), Duration::from_secs(5));
    let header = render(&app).lines().next().unwrap().to_owned();
    assert!(!header.contains("ESTABLISHED"), "{header}");
}

#[test]
fn terminals_too_small_get_a_message_not_a_panic() {
    for (columns, rows) in [(20, 6), (10, 5), (63, 24), (80, 19), (1, 1), (0, 0)] {
        let app = busy_app(columns, rows, 1);
        let words = render(&app)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if columns >= 20 {
            assert!(
                words.starts_with(&format!(
                    "sockscope needs 64×20; this terminal is {columns}×{rows}."
                )),
                "{words}"
            );
        }
    }
    assert_snapshot!(render(&busy_app(20, 6, 1)));
}

#[test]
fn the_churn_view_in_a_10x5_terminal_gets_the_message_not_a_panic() {
    let mut app = in_view(busy_app(10, 5, 1), View::Churn);
    app.apply(Action::CycleChurnGrouping);
    assert_eq!(
        render(&app),
        "sockscope \nneeds     \n64×20;    \nthis      \nterminal  \n"
    );
    app.resize(64, 20);
    let screen = render(&app);
    let lines: Vec<&str> = screen.lines().skip(15).map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            "Churn by local port                            b: by remote host",
            "destroy events are not listened to (needs a subscription; none",
            "reported yet)",
            "",
            // The notice of `b`, until the next key.
            "churn by local port",
        ]
    );
}

#[test]
fn no_color_theme_uses_no_colours() {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::Color;
    let mut app = busy_app(80, 24, 3);
    app.set_theme(sockscope::tui::Theme::MONO);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|f| sockscope::tui::draw::draw(f, &app))
        .unwrap();
    let buffer = terminal.backend().buffer();
    for cell in &buffer.content {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
    }
}

#[test]
fn header_says_when_owners_are_unreadable_and_sockets_come_from_proc() {
    use sockscope::model::{Attribution, SourceKind};
    let mut snapshot = dashboard::busy(1_000, 0);
    snapshot.attribution = Attribution::Partial { unreadable: 2 };
    snapshot.source = SourceKind::ProcNet;
    let mut app = app(200, 30);
    app.ingest(snapshot, Duration::from_millis(5));
    let header = render(&app).lines().next().unwrap().trim_end().to_owned();
    assert_eq!(
        header,
        "sockscope · web1 · netns host · Linux 6.18.0-test · every 1s · 346 sockets · 00:16:40 UTC · owners of 2 process(es) unreadable: '?' · from /proc/net/tcp"
    );
}

const WATCHED: NetnsId = NetnsId {
    dev: 4,
    inode: 4_026_532_841,
};
const RECREATED: NetnsId = NetnsId {
    dev: 4,
    inode: 4_026_533_012,
};

/// Two busy polls of `netns web`, then the collector's word that `target` changed.
fn drifted(columns: u16, target: NetnsTarget, change: NetnsChange) -> App {
    let mut app = dashboard::app(columns, 24);
    for i in 0..2 {
        let mut snapshot = dashboard::busy(1_000 + u64::from(i), i * 3);
        "web".clone_into(&mut snapshot.netns);
        app.ingest(snapshot, Duration::from_millis(20));
    }
    app.netns_checked(Some(NetnsDrift {
        target,
        watched: WATCHED,
        change,
    }));
    app
}

fn header(app: &App) -> String {
    render(app).lines().next().unwrap().trim_end().to_owned()
}

#[test]
fn a_recreated_netns_is_said_in_the_header_with_both_inodes() {
    let web = || NetnsTarget::Named("web".to_owned());
    let wide = drifted(160, web(), NetnsChange::Replaced(RECREATED));
    assert_eq!(
        header(&wide),
        "web1 · netns web · every 1s · 349 sockets · netns web was deleted and re-created (4026532841 → 4026533012): showing the old one — press F to follow"
    );
    // Narrow, the short form, before anything else.
    let narrow = drifted(80, web(), NetnsChange::Replaced(RECREATED));
    assert_eq!(
        header(&narrow),
        "netns web re-created (4026532841 → 4026533012): showing the old one, F follows"
    );
    let moved = drifted(
        160,
        NetnsTarget::Pid(4242),
        NetnsChange::Replaced(RECREATED),
    );
    assert_eq!(
        header(&moved),
        "web1 · netns web · every 1s · 349 sockets · process 4242 moved to another netns (4026532841 → 4026533012): showing the old one — press F to follow"
    );
}

#[test]
fn a_deleted_netns_is_said_in_the_header_with_its_inode() {
    let web = drifted(160, NetnsTarget::Named("web".to_owned()), NetnsChange::Gone);
    assert_eq!(
        header(&web),
        "web1 · netns web · every 1s · 349 sockets · 00:16:41 UTC · netns web was deleted: still showing the old one (4026532841), kept alive by sockscope's own socket"
    );
    let exited = drifted(80, NetnsTarget::Pid(4242), NetnsChange::Gone);
    assert_eq!(
        header(&exited),
        "web1 · 349 sockets · process 4242 has exited: showing its old netns (4026532841)"
    );
}

#[test]
fn a_follow_that_failed_says_why_in_the_header_where_it_fits_and_in_the_footer() {
    let why = "--netns web: no /run/netns/web; there are no named namespaces under /run/netns (`ip netns list`)";
    let failed = |columns| {
        let mut app = drifted(
            columns,
            NetnsTarget::Named("web".to_owned()),
            NetnsChange::Replaced(RECREATED),
        );
        app.followed(Err(why.to_owned()));
        app
    };
    let wide = failed(240);
    assert_eq!(
        header(&wide),
        format!(
            "web1 · 349 sockets · netns web was deleted and re-created (4026532841 → 4026533012): showing the old one — following failed: {why}; F retries"
        )
    );
    let narrow = failed(160);
    assert_eq!(
        header(&narrow),
        "sockscope · web1 · netns web · every 1s · 349 sockets · 00:16:41 UTC · netns web re-created (4026532841 → 4026533012): following failed, F retries"
    );
    assert_eq!(
        render(&narrow).lines().last().unwrap().trim_end(),
        format!("could not follow: {why} (still showing the old one; F retries)")
    );
}
