//! The lines of the detail pane, unwrapped: every field of a socket, or the breakdown of a
//! group row.

mod churn;

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

use ratatui::text::{Line, Span};

use crate::aggregate::{Aggregator, GROUP_LIMIT, Summary};
use crate::format::{
    age, clock, count_of, grouped, printable, process, short_duration, timer_text,
};
use crate::model::{Attribution, Container, Snapshot, Socket, TcpInfo, TcpState, endpoint};
use crate::tui::on_screen::OnScreen;
use crate::tui::rows::Target;
use crate::tui::theme::Theme;

/// One `name  value` line. Both may carry names other users chose (process names, command
/// lines, cgroup paths, container and pod names): they are escaped here, where the pane
/// turns them into text on screen.
fn field(theme: Theme, name: &str, value: String) -> Line<'static> {
    let value = match printable(&value) {
        Cow::Borrowed(_) => value,
        Cow::Owned(escaped) => escaped,
    };
    Line::from(vec![
        Span::styled(format!("{:>16}  ", printable(name)), theme.heading()),
        Span::raw(value),
    ])
}

fn ms(value: u32) -> String {
    let mut out = String::new();
    short_duration(Duration::from_millis(u64::from(value)), &mut out);
    out
}

/// A queue length, or what is known of one the source does not give (a backlog read from
/// `/proc/net/tcp`).
fn queue_text(length: Option<u64>) -> String {
    length.map_or_else(|| "unknown (/proc/net/tcp)".to_owned(), grouped)
}

fn tcp_info_lines(theme: Theme, info: &TcpInfo) -> [Line<'static>; 7] {
    [
        field(
            theme,
            "rtt",
            format!(
                "{:.3} ms ± {:.3}",
                f64::from(info.rtt_us) / 1e3,
                f64::from(info.rttvar_us) / 1e3
            ),
        ),
        field(theme, "cwnd", info.snd_cwnd.to_string()),
        field(theme, "unacked", info.unacked.to_string()),
        field(theme, "lost", info.lost.to_string()),
        field(
            theme,
            "retransmits",
            format!("{} now, {} total", info.retransmits, info.total_retrans),
        ),
        field(
            theme,
            "last data sent",
            format!("{} ago", ms(info.last_data_sent_ms)),
        ),
        field(
            theme,
            "last data recv",
            format!("{} ago", ms(info.last_data_recv_ms)),
        ),
    ]
}

/// `socket`'s cgroup path, and its container (or `none`).
fn cgroup_lines(theme: Theme, snapshot: &Snapshot, socket: &Socket) -> Vec<Line<'static>> {
    let cgroup = snapshot.cgroup(socket);
    let path = match cgroup {
        Some(c) => match &c.path {
            Some(path) => path.to_string(),
            None => format!(
                "id {}: not found under the cgroup v2 mount (removed since?)",
                c.id
            ),
        },
        None if matches!(socket.state, TcpState::TimeWait | TcpState::SynRecv) => {
            "none: the kernel tells none for TIME_WAIT and request sockets, and no one listener's applies"
                .to_owned()
        }
        None => "none told by the kernel".to_owned(),
    };
    let mut lines = vec![field(theme, "cgroup", path)];
    lines.extend(container_lines(
        theme,
        cgroup.and_then(|c| c.container.as_deref()),
    ));
    lines
}

/// A container's id, name, runtime and pod under a `container` heading, or `container
/// none`.
fn container_lines(theme: Theme, container: Option<&Container>) -> Vec<Line<'static>> {
    let Some(c) = container else {
        return vec![field(theme, "container", "none".to_owned())];
    };
    let unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| "unknown".to_owned());
    let mut lines = vec![
        Line::styled("container", theme.accent()),
        field(theme, "id", c.id.clone()),
        field(theme, "name", unknown(&c.name)),
        field(theme, "runtime", c.runtime.name().to_owned()),
    ];
    if let Some(pod) = &c.pod {
        lines.push(field(theme, "pod namespace", unknown(&pod.namespace)));
        lines.push(field(theme, "pod name", unknown(&pod.name)));
        lines.push(field(theme, "pod uid", pod.uid.clone()));
    }
    lines
}

/// Every field of `socket`: ends, queues, timer, ages, identity, cgroup and container
/// (when the snapshot has containers: see
/// [`OnScreen::has_containers`](crate::tui::on_screen::OnScreen::has_containers)), `tcp_info`, owners.
pub(super) fn socket_lines(
    theme: Theme,
    aggregator: &Aggregator,
    snapshot: &Snapshot,
    socket: &Socket,
) -> Vec<Line<'static>> {
    let now = snapshot.taken_at;
    let mut timer = String::new();
    timer_text(&socket.timer, &mut timer);
    let queue_names = if socket.state == TcpState::Listen {
        ("accept queue", "backlog")
    } else {
        ("recv-q", "send-q")
    };
    let mut lines = vec![
        field(theme, "state", socket.state.name().to_owned()),
        field(theme, "family", socket.family.name().to_owned()),
        field(theme, "local", endpoint(&socket.local.get())),
        field(theme, "remote", endpoint(&socket.remote.get())),
        field(theme, queue_names.0, grouped(u64::from(socket.recv_q))),
        field(
            theme,
            queue_names.1,
            queue_text(snapshot.send_q(socket).map(u64::from)),
        ),
        field(theme, "timer", timer),
        field(
            theme,
            "in this state",
            format!("{} (at least)", age(aggregator.in_state_since(socket), now)),
        ),
        field(
            theme,
            "first seen",
            aggregator.first_seen(socket).map_or("-".to_owned(), |at| {
                format!("{} ago, {}", age(Some(at), now), clock(at))
            }),
        ),
        field(theme, "uid", socket.uid.to_string()),
        field(theme, "inode", socket.inode.to_string()),
        field(theme, "cookie", format!("{:#x}", socket.cookie)),
    ];
    if snapshot.cgroups.mixed() {
        lines.extend(cgroup_lines(theme, snapshot, socket));
    }
    match snapshot.tcp_info(socket) {
        Some(info) => {
            lines.push(Line::styled("tcp_info", theme.accent()));
            lines.extend(tcp_info_lines(theme, info));
        }
        None => lines.push(field(
            theme,
            "tcp_info",
            if matches!(socket.state, TcpState::TimeWait | TcpState::SynRecv) {
                "none: TIME_WAIT and request sockets have none".to_owned()
            } else {
                "asked for while this pane is open: it comes with the next poll".to_owned()
            },
        )),
    }
    lines.push(Line::styled("processes", theme.accent()));
    let mut any = false;
    for p in snapshot.owners(socket) {
        any = true;
        lines.push(field(
            theme,
            &crate::format::process(&p.comm, p.pid),
            p.cmdline.clone(),
        ));
    }
    if !any {
        let why = if socket.inode == 0 {
            "none: the kernel holds this socket, no process does"
        } else if matches!(snapshot.attribution, Attribution::Partial { .. }) {
            "unknown: its owner's descriptors could not be read"
        } else if matches!(snapshot.attribution, Attribution::Skipped) {
            "not looked up (--no-processes)"
        } else {
            "none found (closed by its process, not yet by the kernel)"
        };
        lines.push(field(theme, "", why.to_owned()));
    }
    lines
}

fn state_lines(theme: Theme, counts: &crate::model::StateCounts) -> Vec<Line<'static>> {
    TcpState::LIFECYCLE
        .iter()
        .filter(|s| counts.get(**s) > 0)
        .map(|s| field(theme, s.name(), grouped(counts.get(*s))))
        .collect()
}

/// A remote host: its sockets and every port of it the endpoint grouping kept, busiest first,
/// and how many of its sockets are on ports that grouping left out.
fn host_lines(theme: Theme, summary: &Summary, ip: IpAddr) -> Vec<Line<'static>> {
    let mut lines = vec![field(theme, "remote host", ip.to_string())];
    let host = summary.by_remote_host.entries.iter().find(|g| g.key == ip);
    if let Some(g) = host {
        lines.push(field(theme, "sockets", grouped(g.count)));
    }
    lines.push(Line::styled(
        "ports on this host, busiest first",
        theme.accent(),
    ));
    let mut listed = 0;
    for g in summary
        .by_remote_endpoint
        .entries
        .iter()
        .filter(|g| g.key.ip() == ip)
    {
        listed += g.count;
        lines.push(field(theme, &endpoint(&g.key), grouped(g.count)));
    }
    let rest = host.map_or(0, |g| g.count.saturating_sub(listed));
    if rest > 0 {
        lines.push(field(
            theme,
            "other ports",
            format!(
                "{}: only the {GROUP_LIMIT} busiest endpoints of all hosts are kept",
                count_of(rest, "socket")
            ),
        ));
    }
    lines
}

/// The breakdown of a group row: a process, the sockets of no process, a remote host, a
/// listener, a counter, a namespace or a group of closes.
pub(super) fn group_lines(theme: Theme, shown: &OnScreen, target: &Target) -> Vec<Line<'static>> {
    let summary: &Summary = shown.table_summary();
    let snapshot = &shown.snapshot;
    match target {
        Target::Process(Some(pid)) => {
            let mut lines = Vec::new();
            if let Some(p) = snapshot.processes.iter().find(|p| p.pid == *pid) {
                lines.push(field(theme, "pid", p.pid.to_string()));
                lines.push(field(theme, "comm", p.comm.clone()));
                lines.push(field(theme, "command line", p.cmdline.clone()));
            }
            if let Some(g) = summary.by_process.iter().find(|g| g.pid == *pid) {
                lines.push(field(theme, "sockets", grouped(g.total())));
                lines.extend(state_lines(theme, &g.counts));
                if shown.has_containers() {
                    lines.extend(container_lines(theme, g.container.as_deref()));
                }
            }
            lines
        }
        Target::Process(None) => {
            let mut lines = vec![Line::raw(
                "Sockets no process holds: TIME_WAIT and request (SYN_RECV) sockets belong to the kernel; others were closed by their process.",
            )];
            lines.extend(state_lines(theme, &summary.unowned));
            lines
        }
        Target::Host(ip) => host_lines(theme, summary, *ip),
        Target::Listener(addr) => {
            let Some(l) = summary.by_listener.iter().find(|l| l.local == *addr) else {
                return Vec::new();
            };
            let mut lines = vec![
                field(theme, "listener", endpoint(&l.local)),
                field(theme, "sockets", l.sockets.to_string()),
                field(theme, "accept queue", grouped(l.accept_queue)),
                field(theme, "backlog", queue_text(l.backlog)),
                field(theme, "SYN_RECV", grouped(l.syn_recv())),
                field(theme, "connections", grouped(l.connections())),
            ];
            lines.extend(state_lines(theme, &l.counts));
            lines.push(Line::styled("owners", theme.accent()));
            for (pid, comm) in &l.owners {
                let cmdline = snapshot
                    .processes
                    .iter()
                    .find(|p| p.pid == *pid)
                    .map_or(String::new(), |p| p.cmdline.clone());
                lines.push(field(theme, &process(comm, *pid), cmdline));
            }
            lines
        }
        Target::Counter(name) => {
            let rate = shown.summary.rate(name);
            vec![
                field(theme, "counter", name.clone()),
                field(
                    theme,
                    "group",
                    rate.map_or("-".to_owned(), |r| r.group.name().to_owned()),
                ),
                field(
                    theme,
                    "since last poll",
                    rate.map_or("-".to_owned(), |r| grouped(r.delta)),
                ),
                field(
                    theme,
                    "per second",
                    rate.and_then(|r| r.per_second)
                        .map_or("-".to_owned(), |r| format!("{r:.2}")),
                ),
            ]
        }
        Target::Churn(key) => churn::churn_lines(theme, shown, key),
        Target::Netns(name, inode) => {
            let mut lines = vec![
                field(theme, "netns", name.clone()),
                field(theme, "inode", inode.to_string()),
            ];
            let row = shown
                .namespaces
                .as_ref()
                .and_then(|n| n.rows.iter().find(|r| r.label.inode == *inode));
            if let Some(row) = row {
                lines.push(field(theme, "sockets", grouped(row.counts.total())));
                lines.extend(state_lines(theme, &row.counts));
            }
            lines
        }
    }
}
