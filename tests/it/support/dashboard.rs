//! Dashboards fed from synthetic snapshots, and their rendering as text.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sockscope::config::Config;
use sockscope::filter::Filter;
use sockscope::model::{Snapshot, Socket, TcpState};
use sockscope::tui::{App, Settings, Theme, draw::draw};

use super::synthetic::Synth;

/// A dashboard sized `columns` × `rows` with no poll yet.
pub fn app(columns: u16, rows: u16) -> App {
    App::new(Settings {
        kernel: "6.18.0-test".to_owned(),
        config: Config::default(),
        filter: Filter::default(),
        filter_text: String::new(),
        theme: Theme::COLOR,
        size: (columns, rows),
    })
}

/// A busy server at `secs`; `grow` more CLOSE_WAIT sockets on every later poll.
///
/// - nginx[1200] listens on :80 (accept queue 3 of 128) with 40 ESTABLISHED clients;
/// - leaky-app[4242] listens on :8080 and holds 25 + `grow` CLOSE_WAIT sockets;
/// - web[1300] listens on :8443 with 120 SYN_RECV from spoofed sources;
/// - api[3100] holds 6 ESTABLISHED to 192.0.2.10:5432 and 150 TIME_WAIT toward
///   198.51.100.7:443 (no owner);
/// - one IPv6 listener and connection of sshd[900];
/// - nginx has 52 descriptors open of 65,536, leaky-app 30 + `grow` of 64, web 9 of an unknown
///   limit; the others' descriptors are unknown.
pub fn busy(secs: u64, grow: u32) -> Snapshot {
    let mut s = Synth::at(secs);
    let nginx = s.process(1200, "nginx");
    let leaky = s.process(4242, "leaky-app");
    let web = s.process(1300, "web");
    let api = s.process(3100, "api");
    let sshd = s.process(900, "sshd");
    s.descriptors(nginx, Some(52), Some(65_536));
    s.descriptors(leaky, Some(30 + u64::from(grow)), Some(64));
    s.descriptors(web, Some(9), None);
    s.listener("0.0.0.0:80", 3, 128, &[nginx]);
    s.many(
        40,
        TcpState::Established,
        "10.0.0.5:80",
        "203.0.113.9",
        &[nginx],
    );
    s.listener("0.0.0.0:8080", 0, 4096, &[leaky]);
    s.many(
        25,
        TcpState::CloseWait,
        "10.0.0.5:8080",
        "10.0.0.77",
        &[leaky],
    );
    s.listener("0.0.0.0:8443", 0, 1024, &[web]);
    for i in 0..120u32 {
        let remote = format!("198.18.{}.{}:{}", i / 200, i % 200 + 1, 40000 + i);
        s.socket(TcpState::SynRecv, "10.0.0.5:8443", &remote, &[]);
    }
    s.many_to(
        6,
        TcpState::Established,
        "10.0.0.5",
        "192.0.2.10:5432",
        &[api],
    );
    s.many_to(150, TcpState::TimeWait, "10.0.0.5", "198.51.100.7:443", &[]);
    s.listener("[::]:22", 0, 128, &[sshd]);
    s.socket(
        TcpState::Established,
        "[2001:db8::5]:22",
        "[2001:db8::99]:50022",
        &[sshd],
    );
    s.many(
        grow,
        TcpState::CloseWait,
        "10.0.0.5:8080",
        "10.0.0.78",
        &[leaky],
    );
    s.tcp_ext("ListenOverflows", 1000 + secs * 5)
        .tcp_ext("SyncookiesSent", 0);
    s.build()
}

/// A dashboard that has taken `polls` busy polls one second apart.
pub fn busy_app(columns: u16, rows: u16, polls: u32) -> App {
    let mut app = app(columns, rows);
    for i in 0..polls {
        app.ingest(busy(1_000 + u64::from(i), i * 3), Duration::from_millis(20));
    }
    app
}

/// `n` ESTABLISHED sockets over many addresses, built without string parsing.
pub fn million(n: u32) -> Snapshot {
    let mut snapshot = Synth::at(1_000).build();
    snapshot.sockets.reserve(n as usize);
    for i in 0..n {
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)), 443);
        let remote = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(0x0a80_0000 + (i >> 14))),
            (i & 0x3fff) as u16 + 20000,
        );
        let mut socket = Socket::new(TcpState::Established, local, remote);
        socket.cookie = u64::from(i) + 1;
        snapshot.sockets.push(socket);
    }
    snapshot
}

/// The screen as text, one line per row, trailing spaces kept (insta shows them).
pub fn render(app: &App) -> String {
    let (columns, rows) = app.size();
    let mut terminal = Terminal::new(TestBackend::new(columns, rows)).unwrap();
    terminal.draw(|frame| draw(frame, app)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..rows {
        for x in 0..columns {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// Open the filter line and type `text` into it (not applied).
pub fn type_filter(app: &mut App, text: &str) {
    app.apply(sockscope::tui::Action::OpenFilter);
    for c in text.chars() {
        app.apply(sockscope::tui::Action::FilterType(c));
    }
}
