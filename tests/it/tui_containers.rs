//! The dashboard on a host with containers: the CONTAINER column of the sockets and
//! processes views (absent where every socket is in one plain cgroup), its sort, the
//! detail pane's cgroup and container lines, and the `/` filter by container.

#![allow(clippy::unwrap_used)]

use crate::support::dashboard::{self, render};
use crate::support::synthetic::Synth;

use std::time::Duration;

use sockscope::model::{Container, Pod, Runtime, Snapshot, TcpState};
use sockscope::tui::{Action, App, View};

const WEB_ID: &str = "3f2a1c9e0b7d4c5a8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
const CART_ID: &str = "5c1f00aa11bb22cc33dd44ee55ff66aa77bb88cc99dd00ee11ff22aa33bb44cc";

/// How the test host's cgroups are laid out.
#[derive(Clone, Copy, PartialEq)]
enum Host {
    /// The kernel told no cgroup.
    NoCgroups,
    /// Every socket in `/`.
    AllInRoot,
    /// web[2100] in Docker container web-1, cart[2200] in CRI-O container of pod
    /// shop/cart-0, sshd[900] in sshd.service.
    Containers,
}

/// A small host: web[2100] listens on :8080 with 2 ESTABLISHED clients, cart[2200] listens
/// on :9090 and holds 1 CLOSE_WAIT, sshd[900] listens on :22, and 1 TIME_WAIT belongs to
/// no process (and no cgroup); cgroups as `host` says.
fn host(host: Host) -> Snapshot {
    let mut s = Synth::at(1_000);
    let web = s.process(2100, "web");
    let cart = s.process(2200, "cart");
    let sshd = s.process(900, "sshd");
    s.listener("0.0.0.0:8080", 0, 4096, &[web]);
    s.many(
        2,
        TcpState::Established,
        "10.0.0.5:8080",
        "10.0.0.9",
        &[web],
    );
    s.listener("0.0.0.0:9090", 0, 128, &[cart]);
    s.socket(
        TcpState::CloseWait,
        "10.0.0.5:9090",
        "10.0.0.7:41000",
        &[cart],
    );
    s.listener("0.0.0.0:22", 0, 128, &[sshd]);
    s.socket(TcpState::TimeWait, "10.0.0.5:33000", "192.0.2.1:443", &[]);
    match host {
        Host::NoCgroups => {}
        Host::AllInRoot => {
            s.cgroup(1, "/", None);
            for owner in [web, cart, sshd] {
                s.in_cgroup(owner, 1);
            }
        }
        Host::Containers => {
            s.cgroup(
                10,
                &format!("/system.slice/docker-{WEB_ID}.scope"),
                Some(Container {
                    id: WEB_ID.to_owned(),
                    name: Some("web-1".to_owned()),
                    runtime: Runtime::Docker,
                    pod: None,
                }),
            );
            s.cgroup(
                20,
                &format!("/kubepods.slice/kubepods-pod0b9e.slice/crio-{CART_ID}.scope"),
                Some(Container {
                    id: CART_ID.to_owned(),
                    name: None,
                    runtime: Runtime::Crio,
                    pod: Some(Pod {
                        namespace: Some("shop".to_owned()),
                        name: Some("cart-0".to_owned()),
                        uid: "0b9e1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d".to_owned(),
                    }),
                }),
            );
            s.cgroup(
                30,
                "/system.slice/sshd.service",
                Some(Container {
                    id: "sshd.service".to_owned(),
                    name: None,
                    runtime: Runtime::Systemd,
                    pod: None,
                }),
            );
            s.in_cgroup(web, 10);
            s.in_cgroup(cart, 20);
            s.in_cgroup(sshd, 30);
        }
    }
    s.build()
}

/// A `columns` × `rows` dashboard on `host`, in `view`.
fn dashboard(host_: Host, view: View, columns: u16, rows: u16) -> App {
    let mut app = dashboard::app(columns, rows);
    app.ingest(host(host_), Duration::from_millis(5));
    app.apply(Action::ShowView(view));
    app
}

/// The table's heading and rows (from the tab bar's next row), right-trimmed.
fn table(app: &App) -> Vec<String> {
    let screen = render(app);
    let lines: Vec<&str> = screen.lines().collect();
    let tabs = lines
        .iter()
        .position(|l| l.contains(" 1 Sockets "))
        .unwrap();
    lines[tabs + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim_end().to_owned())
        .collect()
}

/// The detail pane's lines for the selected row, as text.
fn detail(app: &App) -> Vec<String> {
    app.detail()
        .unwrap()
        .lines
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect()
}

/// Select the first row of the table whose text contains `text`.
fn select(app: &mut App, text: &str) {
    let at = table(app)
        .iter()
        .skip(1)
        .position(|row| row.contains(text))
        .unwrap();
    app.apply(Action::Move(sockscope::tui::Motion::Home));
    for _ in 0..at {
        app.apply(Action::Move(sockscope::tui::Motion::Down));
    }
}

/// Apply `text` as the `/` filter, in place of the one before (the line opens with it).
fn filter(app: &mut App, text: &str) {
    app.apply(Action::OpenFilter);
    app.apply(Action::FilterErase);
    for c in text.chars() {
        app.apply(Action::FilterType(c));
    }
    app.apply(Action::FilterApply);
    assert_eq!(app.filter_text(), text);
}

#[test]
fn a_host_with_every_socket_in_one_plain_cgroup_looks_as_one_without_cgroups() {
    for view in [View::Sockets, View::Processes] {
        let plain = dashboard(Host::AllInRoot, view, 120, 30);
        assert!(!plain.has_containers());
        assert_eq!(
            render(&plain),
            render(&dashboard(Host::NoCgroups, view, 120, 30)),
            "{view:?}"
        );
    }
    assert_eq!(
        table(&dashboard(Host::AllInRoot, View::Sockets, 120, 30))[0],
        "STATE▼      LOCAL          REMOTE         RECV-Q SEND-Q TIMER AGE PROCESS"
    );
    assert_eq!(
        table(&dashboard(Host::AllInRoot, View::Processes, 120, 30))[0],
        " PID PROCESS      TOTAL▼ FDS/LIMIT LISTEN ESTAB SYN_SENT CLOSE_WAIT FIN_WAIT OTHER"
    );
}

#[test]
fn sockets_in_containers_get_a_container_column_with_each_label() {
    let app = dashboard(Host::Containers, View::Sockets, 120, 30);
    assert!(app.has_containers());
    assert_eq!(
        table(&app),
        [
            "STATE▼      LOCAL          REMOTE         RECV-Q SEND-Q TIMER AGE CONTAINER                       PROCESS",
            "LISTEN      0.0.0.0:22     0.0.0.0:*           0    128 -      0s systemd:sshd.service            sshd[900]",
            "LISTEN      0.0.0.0:8080   0.0.0.0:*           0  4,096 -      0s docker:3f2a1c9e0b7d (web-1)     web[2100]",
            "LISTEN      0.0.0.0:9090   0.0.0.0:*           0    128 -      0s crio:5c1f00aa11bb (shop/cart-0) cart[2200]",
            "ESTABLISHED 10.0.0.5:8080  10.0.0.9:10000      0      0 -      0s docker:3f2a1c9e0b7d (web-1)     web[2100]",
            "ESTABLISHED 10.0.0.5:8080  10.0.0.9:10001      0      0 -      0s docker:3f2a1c9e0b7d (web-1)     web[2100]",
            "TIME_WAIT   10.0.0.5:33000 192.0.2.1:443       0      0 -      0s -                               -",
            "CLOSE_WAIT  10.0.0.5:9090  10.0.0.7:41000      0      0 -      0s crio:5c1f00aa11bb (shop/cart-0) cart[2200]",
        ]
    );
}

#[test]
fn on_80_columns_the_container_column_keeps_its_short_form() {
    let app = dashboard(Host::Containers, View::Sockets, 80, 30);
    assert_eq!(
        table(&app),
        [
            "STATE▼      LOCAL          REMOTE         AGE CONTAINER            PROCESS",
            "LISTEN      0.0.0.0:22     0.0.0.0:*       0s systemd:sshd.service sshd[900]",
            "LISTEN      0.0.0.0:8080   0.0.0.0:*       0s docker:3f2a1c9e0b7d  web[2100]",
            "LISTEN      0.0.0.0:9090   0.0.0.0:*       0s crio:5c1f00aa11bb    cart[2200]",
            "ESTABLISHED 10.0.0.5:8080  10.0.0.9:10000  0s docker:3f2a1c9e0b7d  web[2100]",
            "ESTABLISHED 10.0.0.5:8080  10.0.0.9:10001  0s docker:3f2a1c9e0b7d  web[2100]",
            "TIME_WAIT   10.0.0.5:33000 192.0.2.1:443   0s -                    -",
            "CLOSE_WAIT  10.0.0.5:9090  10.0.0.7:41000  0s crio:5c1f00aa11bb    cart[2200]",
        ]
    );
}

#[test]
fn s_sorts_by_container_label_with_sockets_in_none_last() {
    let mut app = dashboard(Host::Containers, View::Sockets, 120, 30);
    for _ in 0..7 {
        app.apply(Action::CycleSort);
    }
    assert_eq!(app.notice(), Some("sorted by CONTAINER"));
    let rows: Vec<String> = table(&app)
        .iter()
        .map(|row| format!("{} {}", &row[..11].trim_end(), &row[66..]))
        .collect();
    assert_eq!(
        rows,
        [
            "STATE CONTAINER▼                      PROCESS",
            "LISTEN crio:5c1f00aa11bb (shop/cart-0) cart[2200]",
            "CLOSE_WAIT crio:5c1f00aa11bb (shop/cart-0) cart[2200]",
            "LISTEN docker:3f2a1c9e0b7d (web-1)     web[2100]",
            "ESTABLISHED docker:3f2a1c9e0b7d (web-1)     web[2100]",
            "ESTABLISHED docker:3f2a1c9e0b7d (web-1)     web[2100]",
            "LISTEN systemd:sshd.service            sshd[900]",
            "TIME_WAIT -                               -",
        ]
    );
    app.apply(Action::ReverseSort);
    assert_eq!(&table(&app)[1][..11], "TIME_WAIT  ");
    // The next `s` goes on to PROCESS.
    app.apply(Action::CycleSort);
    assert_eq!(app.notice(), Some("sorted by PROCESS"));
}

#[test]
fn a_sort_by_container_goes_back_to_state_when_the_containers_go() {
    let mut app = dashboard(Host::Containers, View::Sockets, 120, 30);
    for _ in 0..7 {
        app.apply(Action::CycleSort);
    }
    app.ingest(host(Host::AllInRoot), Duration::from_millis(5));
    assert_eq!(app.sort(View::Sockets), View::Sockets.default_sort());
    assert_eq!(
        table(&app)[0],
        "STATE▼      LOCAL          REMOTE         RECV-Q SEND-Q TIMER AGE PROCESS"
    );
}

#[test]
fn processes_show_the_container_their_sockets_are_in() {
    let mut app = dashboard(Host::Containers, View::Processes, 120, 30);
    assert_eq!(
        table(&app),
        [
            " PID PROCESS      TOTAL▼ FDS/LIMIT LISTEN ESTAB SYN_SENT CLOSE_WAIT FIN_WAIT OTHER CONTAINER",
            "2100 web               3         -      1     2        0          0        0     0 docker:3f2a1c9e0b7d (web-1)",
            "2200 cart              2         -      1     0        0          1        0     0 crio:5c1f00aa11bb (shop/cart-0)",
            "   - (no process)      1         -      0     0        0          0        0     1 -",
            " 900 sshd              1         -      1     0        0          0        0     0 systemd:sshd.service",
        ]
    );
    // From TOTAL, CONTAINER is the eighth `s`: A–Z, the row of no container last.
    for _ in 0..8 {
        app.apply(Action::CycleSort);
    }
    assert_eq!(app.notice(), Some("sorted by CONTAINER"));
    let names: Vec<String> = table(&app)
        .iter()
        .skip(1)
        .map(|row| row[5..18].trim_end().to_owned())
        .collect();
    assert_eq!(names, ["cart", "web", "sshd", "(no process)"]);
}

#[test]
fn a_socket_detail_names_its_cgroup_and_container_with_its_pod() {
    let mut app = dashboard(Host::Containers, View::Sockets, 120, 40);
    select(&mut app, "CLOSE_WAIT");
    let lines = detail(&app);
    let from = lines.iter().position(|l| l.contains("cookie")).unwrap() + 1;
    assert_eq!(
        lines[from..from + 8],
        [
            format!(
                "          cgroup  /kubepods.slice/kubepods-pod0b9e.slice/crio-{CART_ID}.scope"
            ),
            "container".to_owned(),
            format!("              id  {CART_ID}"),
            "            name  unknown".to_owned(),
            "         runtime  crio".to_owned(),
            "   pod namespace  shop".to_owned(),
            "        pod name  cart-0".to_owned(),
            "         pod uid  0b9e1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d".to_owned(),
        ]
    );
    assert_eq!(
        lines[from + 8],
        "        tcp_info  asked for while this pane is open: it comes with the next poll"
    );

    select(&mut app, "docker");
    let lines = detail(&app);
    let from = lines.iter().position(|l| l.contains("cookie")).unwrap() + 1;
    assert_eq!(
        lines[from..from + 5],
        [
            format!("          cgroup  /system.slice/docker-{WEB_ID}.scope"),
            "container".to_owned(),
            format!("              id  {WEB_ID}"),
            "            name  web-1".to_owned(),
            "         runtime  docker".to_owned(),
        ]
    );
    assert!(lines[from + 5].contains("tcp_info"), "no pod lines");

    select(&mut app, "TIME_WAIT");
    let lines = detail(&app);
    let from = lines.iter().position(|l| l.contains("cookie")).unwrap() + 1;
    assert_eq!(
        lines[from..from + 2],
        [
            "          cgroup  none: the kernel tells none for TIME_WAIT and request sockets, and no one listener's applies",
            "       container  none",
        ]
    );
}

#[test]
fn a_socket_detail_on_a_plain_host_has_no_cgroup_lines() {
    let app = dashboard(Host::AllInRoot, View::Sockets, 120, 40);
    let lines = detail(&app);
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("cgroup") || l.contains("container"))
    );
    assert_eq!(
        lines,
        detail(&dashboard(Host::NoCgroups, View::Sockets, 120, 40))
    );
}

#[test]
fn a_process_detail_names_its_container() {
    let mut app = dashboard(Host::Containers, View::Processes, 120, 40);
    select(&mut app, "docker");
    let lines = detail(&app);
    let from = lines.iter().position(|l| l.trim() == "container").unwrap();
    assert_eq!(
        lines[from..],
        [
            "container".to_owned(),
            format!("              id  {WEB_ID}"),
            "            name  web-1".to_owned(),
            "         runtime  docker".to_owned(),
        ]
    );
    let app = dashboard(Host::AllInRoot, View::Processes, 120, 40);
    assert!(!detail(&app).iter().any(|l| l.contains("container")));
}

#[test]
fn the_filter_by_container_or_cgroup_recounts_the_views() {
    let mut app = dashboard(Host::Containers, View::Sockets, 120, 30);
    filter(&mut app, "container=web-1");
    assert_eq!(app.order().len(), 3);
    app.apply(Action::ShowView(View::Processes));
    let rows = table(&app);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    // No `(no process)` row left: PROCESS is narrower.
    assert_eq!(
        rows[1],
        "2100 web          3         -      1     2        0          0        0     0 docker:3f2a1c9e0b7d (web-1)"
    );

    filter(&mut app, "cgroup=/system.slice");
    let pids: Vec<String> = table(&app)
        .iter()
        .skip(1)
        .map(|row| row[..4].trim_start().to_owned())
        .collect();
    assert_eq!(pids, ["2100", "900"]);
    app.apply(Action::ShowView(View::Sockets));
    assert_eq!(app.order().len(), 4);

    filter(&mut app, "container=cart-0");
    let states: Vec<String> = table(&app)
        .iter()
        .skip(1)
        .map(|row| row[..11].trim_end().to_owned())
        .collect();
    assert_eq!(states, ["LISTEN", "CLOSE_WAIT"]);
}
