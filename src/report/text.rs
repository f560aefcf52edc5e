//! The text report of `sockscope snapshot`: a header, a count per state (all eleven, zeros
//! included, in lifecycle order), then one aligned line per socket.

use std::fmt::Write as _;
use std::io::{self, Write};

use std::time::SystemTime;

mod all_netns;
mod rows;

pub use all_netns::render_all;

use crate::aggregate::Anomaly;
use crate::filter::Filter;
use crate::format::{count_of, grouped, printable};
use crate::model::{Attribution, Snapshot, SourceKind, StateCounts, TcpState};

/// The report's first line, its names as read (`write` escapes it).
pub fn header(snapshot: &Snapshot) -> String {
    let mut line = String::from("sockscope snapshot");
    let _ = write!(line, " · host {}", snapshot.host);
    let _ = write!(line, " · netns {}", snapshot.netns);
    if let Some(t) = snapshot.taken_at {
        let _ = write!(line, " · {}", humantime::format_rfc3339_seconds(t));
    }
    let _ = write!(
        line,
        " · {}",
        count_of(snapshot.sockets.len() as u64, "TCP socket")
    );
    if snapshot.source == SourceKind::ProcNet {
        line.push_str(" (from /proc/net/tcp)");
    }
    line
}

/// Render the whole report for the sockets of `snapshot` that pass `filter`: the header,
/// the anomalies (most severe first), the count per state, the socket table.
pub fn render(
    snapshot: &Snapshot,
    filter: &Filter,
    anomalies: &[Anomaly],
    out: &mut dyn Write,
) -> io::Result<()> {
    let listing = rows::Listing::new(snapshot, filter, with_process(snapshot));
    write(
        &header(snapshot),
        snapshot,
        filter,
        anomalies,
        &listing,
        out,
    )
}

/// [`render`], with the anomalies raised by `judge`, which runs on this thread while
/// others sort and measure the socket table. Returns the anomalies.
pub fn render_judging<J>(
    snapshot: &Snapshot,
    filter: &Filter,
    judge: J,
    out: &mut dyn Write,
) -> io::Result<Vec<Anomaly>>
where
    J: FnOnce() -> Vec<Anomaly> + Send,
{
    let (anomalies, listing) = std::thread::scope(|scope| {
        let listing = scope.spawn(|| rows::Listing::new(snapshot, filter, with_process(snapshot)));
        let anomalies = judge();
        let listing = listing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (anomalies, listing)
    });
    write(
        &header(snapshot),
        snapshot,
        filter,
        &anomalies,
        &listing,
        out,
    )?;
    Ok(anomalies)
}

/// Whether the table has a process column.
fn with_process(snapshot: &Snapshot) -> bool {
    snapshot.attribution != Attribution::Skipped
}

/// One block of the report: the `header` line, the anomalies, the counts per state and the
/// sockets of `listing`. The whole report of one namespace is one block; with
/// `--all-netns` each namespace has one (see `text/all_netns.rs`).
fn write(
    header: &str,
    snapshot: &Snapshot,
    filter: &Filter,
    anomalies: &[Anomaly],
    listing: &rows::Listing<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "{}", printable(header))?;
    writeln!(out)?;
    if !anomalies.is_empty() {
        let now = snapshot.taken_at.unwrap_or_else(SystemTime::now);
        writeln!(out, "ANOMALIES")?;
        for a in anomalies {
            writeln!(out, "{}", printable(&crate::format::anomaly::line(a, now)))?;
            writeln!(out, "  hint: {}", a.hint)?;
        }
        writeln!(out)?;
    }
    write_counts(&snapshot.state_counts(), out)?;

    if !filter.is_empty() {
        writeln!(
            out,
            "{} of {} sockets match the filters.",
            grouped(listing.len() as u64),
            grouped(snapshot.sockets.len() as u64)
        )?;
        writeln!(out)?;
    }
    if listing.len() == 0 {
        return Ok(());
    }
    listing.write(out)
}

/// The count per state, every state in lifecycle order, and a blank line.
fn write_counts(counts: &StateCounts, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{:<12}{:>9}", "STATE", "COUNT")?;
    for state in TcpState::LIFECYCLE {
        writeln!(out, "{:<12}{:>9}", state.name(), grouped(counts.get(state)))?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Owners, Process, Socket, Timer, TimerKind};

    fn sample() -> Snapshot {
        let mut listen = Socket::new(
            TcpState::Listen,
            "0.0.0.0:80".parse().unwrap(),
            "0.0.0.0:0".parse().unwrap(),
        );
        listen.send_q = 511;
        listen.inode = 100;
        listen.owners = Owners { start: 0, len: 1 };
        let mut cw = Socket::new(
            TcpState::CloseWait,
            "[2001:db8::1]:80".parse().unwrap(),
            "[2001:db8::2]:51000".parse().unwrap(),
        );
        cw.recv_q = 1;
        cw.inode = 101;
        cw.owners = Owners { start: 0, len: 1 };
        let mut tw = Socket::new(
            TcpState::TimeWait,
            "192.0.2.1:40000".parse().unwrap(),
            "192.0.2.9:443".parse().unwrap(),
        );
        tw.timer = Timer {
            kind: TimerKind::TimeWait,
            expires_ms: 59_400,
            retransmits: 0,
        };
        Snapshot {
            sockets: vec![listen, cw, tw],
            ..super::super::fixture("nginx", "nginx: worker")
        }
    }

    fn rendered(filter: &Filter) -> String {
        let mut out = Vec::new();
        render(&sample(), filter, &[], &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn report_counts_every_state_then_aligns_sockets() {
        let expected = "\
sockscope snapshot · host web-1 · netns host · 2026-09-21T14:13:20Z · 3 TCP sockets

STATE           COUNT
LISTEN              1
SYN_SENT            0
SYN_RECV            0
ESTABLISHED         0
FIN_WAIT1           0
FIN_WAIT2           0
CLOSING             0
TIME_WAIT           1
CLOSE_WAIT          1
LAST_ACK            0
CLOSE               0

State      Local            Remote              Recv-Q Send-Q Timer        Process
LISTEN     0.0.0.0:80       0.0.0.0:*                0    511 -            nginx[4242]
TIME_WAIT  192.0.2.1:40000  192.0.2.9:443            0      0 timewait 59s -
CLOSE_WAIT [2001:db8::1]:80 [2001:db8::2]:51000      1      0 -            nginx[4242]
";
        assert_eq!(rendered(&Filter::default()), expected);
    }

    #[test]
    fn a_shared_socket_lists_three_owners_then_how_many_more() {
        let mut snapshot = sample();
        snapshot.processes = (1..=5)
            .map(|pid| Process {
                pid,
                comm: format!("w{pid}"),
                ..Process::default()
            })
            .collect();
        snapshot.owner_index = vec![0, 1, 0, 1, 2, 3, 4];
        snapshot.sockets[0].owners = Owners { start: 0, len: 2 };
        snapshot.sockets[1].owners = Owners { start: 2, len: 5 };
        let mut out = Vec::new();
        render(&snapshot, &Filter::default(), &[], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().skip(15).map(str::trim_end).collect();
        assert_eq!(
            rows,
            [
                "State      Local            Remote              Recv-Q Send-Q Timer        Process",
                "LISTEN     0.0.0.0:80       0.0.0.0:*                0    511 -            w1[1],w2[2]",
                "TIME_WAIT  192.0.2.1:40000  192.0.2.9:443            0      0 timewait 59s -",
                "CLOSE_WAIT [2001:db8::1]:80 [2001:db8::2]:51000      1      0 -            w1[1],w2[2],w3[3],+2",
            ]
        );
    }

    #[test]
    fn a_container_column_appears_when_a_listed_socket_is_in_one() {
        use crate::model::{Cgroup, Container, Runtime};
        let mut snapshot = sample();
        for (i, s) in snapshot.sockets.iter_mut().enumerate() {
            s.cookie = i as u64 + 1;
        }
        snapshot.cgroups.insert(1, 10);
        snapshot.cgroups.insert(2, 10);
        snapshot.cgroups.insert(3, 11);
        snapshot.cgroups.set_known(vec![
            Cgroup {
                id: 10,
                path: Some("/system.slice/docker-3f2a1c9e0b7d4c5a.scope".into()),
                container: Some(std::sync::Arc::new(Container {
                    id: "3f2a1c9e0b7d4c5a".into(),
                    name: Some("web-1".into()),
                    runtime: Runtime::Docker,
                    pod: None,
                })),
            },
            Cgroup {
                id: 11,
                path: Some("/user.slice".into()),
                container: None,
            },
        ]);
        let mut out = Vec::new();
        render(&snapshot, &Filter::default(), &[], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let table: Vec<&str> = text.lines().skip(15).collect();
        assert_eq!(
            table,
            [
                "State      Local            Remote              Recv-Q Send-Q Timer        Container                   Process",
                "LISTEN     0.0.0.0:80       0.0.0.0:*                0    511 -            docker:3f2a1c9e0b7d (web-1) nginx[4242]",
                "TIME_WAIT  192.0.2.1:40000  192.0.2.9:443            0      0 timewait 59s -                           -",
                "CLOSE_WAIT [2001:db8::1]:80 [2001:db8::2]:51000      1      0 -            docker:3f2a1c9e0b7d (web-1) nginx[4242]",
            ]
        );
        let only_tw: Filter = "state=time-wait".parse().unwrap();
        let mut out = Vec::new();
        render(&snapshot, &only_tw, &[], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("Container"), "{text}");
    }

    #[test]
    fn a_process_name_with_escape_sequences_is_printed_escaped() {
        let mut snapshot = sample();
        snapshot.processes[0].comm = "\u{1b}[31mEVIL\u{1b}]2;X\u{7}".into();
        let mut out = Vec::new();
        render(&snapshot, &Filter::default(), &[], &mut out).unwrap();
        assert!(
            !out.iter().any(|b| b.is_ascii_control() && *b != b'\n'),
            "no control byte but newlines reaches the terminal"
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "0.0.0.0:*                0    511 -            \\x1b[31mEVIL\\x1b]2;X\\x07[4242]\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_listener_read_from_proc_net_tcp_has_an_unknown_backlog() {
        let mut snapshot = sample();
        snapshot.source = SourceKind::ProcNet;
        let mut out = Vec::new();
        render(&snapshot, &Filter::default(), &[], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\nLISTEN     0.0.0.0:80       0.0.0.0:*                0      - -            nginx[4242]\n"),
            "{text}"
        );
        let mut out = Vec::new();
        crate::report::json::render(&snapshot, &Filter::default(), &[], &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["sockets"][0]["state"], "LISTEN");
        assert_eq!(doc["sockets"][0]["send_q"], serde_json::Value::Null);
        assert_eq!(doc["sockets"][1]["send_q"], 0);
    }

    #[test]
    fn filters_narrow_the_list_but_not_the_counts() {
        let filter = Filter {
            states: vec!["close-wait".parse().unwrap()],
            ..Filter::default()
        };
        let text = rendered(&filter);
        assert!(text.contains("CLOSE_WAIT          1\n"));
        assert!(text.contains("LISTEN              1\n"));
        assert!(text.contains("1 of 3 sockets match the filters.\n"));
        assert!(text.ends_with(
            "State      Local            Remote              Recv-Q Send-Q Timer Process\n\
             CLOSE_WAIT [2001:db8::1]:80 [2001:db8::2]:51000      1      0 -     nginx[4242]\n"
        ));
    }

    #[test]
    fn judging_while_the_table_is_sorted_gives_the_report_of_its_anomalies() {
        use crate::aggregate::{Aggregator, AnomalyKind, RuleConfig};
        let mut snapshot = sample();
        let cw = snapshot.sockets[1];
        for port in 0..25 {
            let mut s = cw;
            s.remote = crate::model::Addr::new(std::net::SocketAddr::new(
                "2001:db8::2".parse().unwrap(),
                40_000 + port,
            ));
            snapshot.sockets.push(s);
        }
        let mut aggregator = Aggregator::new(RuleConfig::default());
        let mut out = Vec::new();
        let judge = || aggregator.ingest(&snapshot).anomalies.clone();
        let anomalies = render_judging(&snapshot, &Filter::default(), judge, &mut out).unwrap();
        assert_eq!(anomalies.len(), 1);
        assert_eq!(
            (anomalies[0].kind, anomalies[0].count),
            (AnomalyKind::CloseWaitBacklog, 26)
        );
        let mut expected = Vec::new();
        render(&snapshot, &Filter::default(), &anomalies, &mut expected).unwrap();
        assert_eq!(out, expected);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "\nANOMALIES\nWARNING close_wait_backlog nginx[4242]: 26 CLOSE_WAIT sockets"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_churn_anomaly_reads_its_rate_and_makers_with_their_names_escaped() {
        let (snapshot, anomalies) = crate::report::churning("cli\u{1b}]0;X\u{7}ent");
        let mut out = Vec::new();
        render(&snapshot, &Filter::default(), &anomalies, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().skip(2).take(3).collect();
        assert_eq!(
            lines,
            [
                "ANOMALIES",
                "WARNING connection_churn destination 10.0.0.2:5432: 80 short-lived connections \
                 closed per second (warning 50, critical 300), 80.0 closes/s over 10s, 100% \
                 short-lived, 87% closed between polls, median lifetime ≤64ms, 1.2 KiB/connection, \
                 made by cli\\x1b]0;X\\x07ent[77] ×100, not attributed ×700",
                "  hint: connections are opened and closed again within seconds instead of reused: \
                 keep-alive or a connection pool is missing; each one leaves a TIME_WAIT socket \
                 holding a local port for 60 s and costs a handshake; makers are named where a poll \
                 saw their connections (most close between polls, unattributed)",
            ]
        );
    }

    #[test]
    fn an_owner_that_could_not_be_read_is_a_question_mark_and_no_owner_a_dash() {
        let mut snapshot = sample();
        snapshot.attribution = Attribution::Partial { unreadable: 1 };
        snapshot.sockets[1].owners = Owners::default();
        let mut out = Vec::new();
        render(&snapshot, &Filter::default(), &[], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().skip(16).map(str::trim_end).collect();
        assert_eq!(
            rows,
            [
                "LISTEN     0.0.0.0:80       0.0.0.0:*                0    511 -            nginx[4242]",
                "TIME_WAIT  192.0.2.1:40000  192.0.2.9:443            0      0 timewait 59s -",
                "CLOSE_WAIT [2001:db8::1]:80 [2001:db8::2]:51000      1      0 -            ?",
            ]
        );
    }
}
