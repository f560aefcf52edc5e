//! The dashboard with every namespace (`-A`), drawn from synthetic polls: the Namespaces
//! view with exact counts, anomalies and data ages, the header's namespace count and
//! freshness, Enter narrowing the other views to one namespace, a poll that dumped
//! nothing, and a terminal too small to draw in.

use std::sync::Arc;
use std::time::Duration;

use std::cell::RefCell;

use sockscope::config::Config;
use sockscope::model::{NetnsLabel, Snapshot, TcpState};
use sockscope::tui::{Action, App, Motion, View, namespace_spec};
use sockscope::watch::merge::merge;
use sockscope::watch::{Freshness, Judges, NamespaceRound, Round};

use crate::support::dashboard::{app, render};
use crate::support::synthetic::{Synth, at};

/// `snapshot` with its cookies moved to start at `base` (synthetic snapshots all start at
/// the same cookie; the namespaces of one host never share one).
fn cookies_from(mut snapshot: Snapshot, base: u64) -> Snapshot {
    for (i, socket) in snapshot.sockets.iter_mut().enumerate() {
        socket.cookie = base + i as u64;
    }
    snapshot
}

/// The host (one sshd listener), `web` (a listener and 4 ESTABLISHED), and `shop`
/// (leaky-app holding 25 CLOSE_WAIT: an anomaly), dumped at `secs` except `web`, dumped
/// 12 s earlier.
fn namespaces(secs: u64) -> Vec<NamespaceRound> {
    let mut host = Synth::at(secs);
    let sshd = host.process(900, "sshd");
    host.listener("0.0.0.0:22", 0, 128, &[sshd]);

    let mut web = Synth::at(secs - 12);
    let nginx = web.process(1200, "nginx");
    web.listener("10.0.0.5:80", 0, 511, &[nginx]);
    web.many(
        4,
        TcpState::Established,
        "10.0.0.5:80",
        "203.0.113.9",
        &[nginx],
    );

    let mut shop = Synth::at(secs);
    let leaky = shop.process(4242, "leaky-app");
    shop.listener("10.0.1.5:8080", 0, 4096, &[leaky]);
    shop.many(
        25,
        TcpState::CloseWait,
        "10.0.1.5:8080",
        "198.51.100.4",
        &[leaky],
    );

    [
        ("host", 4_026_531_840, host, 1_000),
        ("shop", 4_026_532_901, shop, 3_000),
        ("web", 4_026_532_902, web, 2_000),
    ]
    .into_iter()
    .map(|(name, inode, synth, base)| {
        let snapshot = cookies_from(synth.build(), base);
        let label = NetnsLabel {
            name: name.to_owned(),
            inode,
            container: None,
        };
        NamespaceRound::polled(inode, label, Ok(Arc::new(snapshot)))
    })
    .collect()
}

thread_local! {
    /// Each namespace's judge, as the collector thread keeps them between rounds.
    static JUDGES: RefCell<Judges> = RefCell::new(Judges::every_only(namespace_spec(&Config::default())));
}

/// A round at `secs` of `states`, judged as the collector thread judges it.
fn poll(secs: u64, states: Vec<NamespaceRound>) -> Round {
    let mut merged = merge(&states);
    merged.taken_at = Some(at(secs));
    let mut round = Round {
        merged: Some(Arc::new(merged)),
        dumped: states
            .iter()
            .filter(|s| s.freshness == Freshness::Dumped)
            .count(),
        namespaces: states,
        ..Round::empty(at(secs), true)
    };
    JUDGES.with(|judges| judges.borrow_mut().take(&mut round));
    round
}

/// A poll at `secs` that dumped no namespace: the namespaces as dumped at `dumped`, none
/// fresh, no merged snapshot.
fn quiet_poll(secs: u64, dumped: u64) -> Round {
    let mut quiet = namespaces(dumped);
    for state in &mut quiet {
        state.freshness = Freshness::Kept;
    }
    let mut next = poll(secs, quiet);
    next.merged = None;
    next.dumped = 0;
    next
}

fn all_app(columns: u16, rows: u16) -> App {
    let mut app = app(columns, rows);
    app.ingest_all(&poll(1_000, namespaces(1_000)), Duration::from_millis(30));
    app
}

fn line<'a>(screen: &'a str, starting: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.starts_with(starting))
        .unwrap_or_else(|| panic!("no line starts with {starting:?}:\n{screen}"))
        .trim_end()
}

#[test]
fn the_namespaces_view_has_one_row_per_namespace_with_exact_counts_anomalies_and_age() {
    let mut app = all_app(120, 30);
    app.apply(Action::ShowView(View::Namespaces));
    let screen = render(&app);
    assert_eq!(
        line(&screen, "NETNS"),
        "NETNS CONTAINER TOTAL ESTAB LISTEN CLOSE_WAIT TIME_WAIT OTHER ANOMALIES▼ DATA AGE"
    );
    assert_eq!(
        line(&screen, "shop"),
        "shop  -            26     0      1         25         0     0          1       0s"
    );
    assert_eq!(
        line(&screen, "host"),
        "host  -             1     0      1          0         0     0          0       0s"
    );
    assert_eq!(
        line(&screen, "web"),
        "web   -             5     4      1          0         0     0          0      12s"
    );
}

#[test]
fn the_header_counts_the_namespaces_and_says_how_old_the_oldest_data_is() {
    let app = all_app(160, 30);
    let screen = render(&app);
    let header = screen.lines().next().unwrap_or_default();
    assert!(
        header.contains("web1 · 3 namespaces · oldest data 12s · "),
        "{header}"
    );
    assert!(header.contains(" · 32 sockets · "), "{header}");
}

#[test]
fn an_anomaly_of_any_namespace_is_listed_with_its_namespace() {
    let app = all_app(120, 30);
    let screen = render(&app);
    assert!(
        screen.contains("CLOSE_WAIT shop: leaky-app[4242]"),
        "{screen}"
    );
    assert!(screen.contains("Anomalies (1)"), "{screen}");
}

#[test]
fn the_sockets_view_names_each_sockets_namespace_in_the_container_column() {
    let mut app = all_app(120, 40);
    app.apply(Action::ShowView(View::Sockets));
    let screen = render(&app);
    assert!(line(&screen, "STATE").contains("CONTAINER"), "{screen}");
    assert!(
        screen.contains("netns shop") && screen.contains("netns web"),
        "{screen}"
    );
}

#[test]
fn enter_on_a_namespace_narrows_the_sockets_view_to_it() {
    let mut app = all_app(120, 40);
    app.apply(Action::ShowView(View::Namespaces));
    // Sorted by anomalies: shop first, then host and web by name.
    app.apply(Action::Move(Motion::Home));
    app.apply(Action::OpenDetail);
    assert_eq!(app.view(), View::Sockets);
    assert_eq!(app.filter_text(), "netns=shop");
    assert_eq!(app.order().len(), 26);
    let screen = render(&app);
    assert!(screen.contains("filter: netns=shop"), "{screen}");
}

#[test]
fn a_poll_that_dumped_nothing_keeps_the_sockets_and_ages_the_data() {
    let mut app = all_app(120, 30);
    app.ingest_all(&quiet_poll(1_020, 1_000), Duration::from_millis(2));
    app.apply(Action::ShowView(View::Namespaces));
    let screen = render(&app);
    assert_eq!(
        line(&screen, "web"),
        "web   -             5     4      1          0         0     0          0      32s"
    );
    assert!(screen.contains("oldest data 32s"), "{screen}");
    assert_eq!(app.shown().map(|s| s.snapshot.sockets.len()), Some(32));
}

#[test]
fn a_vanished_namespace_leaves_the_view_and_its_anomalies_go_with_it() {
    let mut app = all_app(120, 30);
    let without_shop: Vec<NamespaceRound> = namespaces(1_001)
        .into_iter()
        .filter(|n| n.label.name != "shop")
        .collect();
    app.ingest_all(&poll(1_001, without_shop), Duration::from_millis(2));
    app.apply(Action::ShowView(View::Namespaces));
    let screen = render(&app);
    assert!(!screen.contains("shop"), "{screen}");
    assert!(screen.contains("2 namespaces"), "{screen}");
    assert_eq!(app.shown().map(|s| s.anomalies().len()), Some(0));
}

#[test]
fn a_tiny_terminal_draws_the_namespaces_view_without_panicking() {
    let mut app = all_app(10, 5);
    app.apply(Action::ShowView(View::Namespaces));
    let screen = render(&app);
    assert_eq!(screen.lines().count(), 5);
}

#[test]
fn without_all_namespaces_the_view_shows_the_one_watched() {
    let mut app = app(120, 30);
    app.ingest(
        {
            let mut s = Synth::at(1_000);
            let p = s.process(1, "init");
            s.listener("0.0.0.0:22", 0, 128, &[p]);
            s.build()
        },
        Duration::from_millis(5),
    );
    app.apply(Action::ShowView(View::Namespaces));
    let screen = render(&app);
    assert_eq!(
        line(&screen, "host"),
        "host      1     0      1          0         0     0          0       0s"
    );
}

#[test]
fn without_all_namespaces_the_header_offers_the_others_and_a_asks_for_them() {
    use sockscope::collect::all_netns::census::Others;
    let mut app = app(160, 30);
    app.ingest(Synth::at(1_000).build(), Duration::from_millis(5));
    app.apply(Action::AllNetns);
    assert!(
        !app.wants_all_netns(),
        "nothing is offered before the count"
    );
    assert_eq!(
        app.notice(),
        Some(
            "A watches every namespace: only as root, from the host's namespace (sudo sockscope -A)"
        )
    );
    app.others_counted(Others {
        namespaces: 37,
        sockets: 4_312,
    });
    let screen = render(&app);
    let header = screen.lines().next().unwrap_or_default();
    assert!(
        header.contains("netns host · +37 namespaces, 4,312 sockets: press A"),
        "{header}"
    );
    app.apply(Action::AllNetns);
    assert!(app.wants_all_netns());
    assert_eq!(
        app.notice(),
        Some("watching every namespace from the next poll…")
    );
    // Once every namespace is watched, the offer goes.
    app.ingest_all(&poll(1_001, namespaces(1_001)), Duration::from_millis(5));
    let screen = render(&app);
    assert!(!screen.contains("press A"), "{screen}");
}

#[test]
fn a_quiet_namespaces_anomaly_ages_with_the_polls_and_tells_its_oldest_socket() {
    let mut app = all_app(160, 30);
    // A minute later every namespace is dumped again, the same sockets in it.
    app.ingest_all(&poll(1_060, namespaces(1_060)), Duration::from_millis(30));
    // Half a minute later a poll that dumped nothing: the sockets on screen stay those
    // of 1_060, the anomaly (raised at 1_000) is 90 s old at the poll.
    app.ingest_all(&quiet_poll(1_090, 1_060), Duration::from_millis(2));
    let screen = render(&app);
    assert!(
        screen.contains("WARN CLOSE_WAIT shop: leaky-app[4242]")
            && screen.contains("25/20 →1m30s│"),
        "{screen}"
    );
    assert!(screen.contains("oldest at least 1m00s"), "{screen}");
    assert!(screen.contains("raised 1m30s ago"), "{screen}");
}

#[test]
fn the_header_says_closes_per_second_and_events_lost_from_the_destroy_events() {
    let mut app = app(200, 40);
    let mut first = poll(1_000, namespaces(1_000));
    first.namespaces[1].closed = Some((100, 0));
    app.round_seen(&first);
    app.ingest_round(&first, Duration::from_millis(30));
    let screen = render(&app);
    let header = screen.lines().next().unwrap();
    assert!(
        !header.contains("closes"),
        "one round gives no rate: {header}"
    );

    let mut second = poll(1_002, namespaces(1_002));
    second.namespaces[1].closed = Some((250, 0));
    second.namespaces[2].closed = Some((50, 5));
    app.round_seen(&second);
    app.ingest_round(&second, Duration::from_millis(30));
    let screen = render(&app);
    let header = screen.lines().next().unwrap();
    // (250 + 50) − 100 sockets in 2 s; 5 events the kernel dropped.
    assert!(header.contains("closes 100/s"), "{header}");
    assert!(header.contains("events lost: 5"), "{header}");
}
