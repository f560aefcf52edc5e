//! The text report of `sockscope snapshot --all-netns`: a first line for the whole host,
//! then per namespace a block (its header line, its anomalies, its counts per state, its
//! listed sockets), then a `TOTAL` block with the counts per state summed over every
//! namespace. Each block is written as the one-namespace report writes its body, rows
//! formatted as bytes on two threads.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{rows, with_process, write, write_counts};
use crate::filter::Filter;
use crate::format::{count_of, grouped, printable};
use crate::model::{Snapshot, StateCounts};
use crate::report::NamespaceReport;

/// The report's first line: host, how many namespaces, when, how many sockets in all.
pub fn header_all(namespaces: &[NamespaceReport]) -> String {
    let first = namespaces.first().map(|n| &n.snapshot);
    let mut line = String::from("sockscope snapshot");
    let _ = write!(line, " · host {}", first.map_or("", |s| s.host.as_str()));
    let _ = write!(
        line,
        " · {}",
        count_of(namespaces.len() as u64, "network namespace")
    );
    if let Some(t) = first.and_then(|s| s.taken_at) {
        let _ = write!(line, " · {}", humantime::format_rfc3339_seconds(t));
    }
    let total: usize = namespaces.iter().map(|n| n.snapshot.sockets.len()).sum();
    let _ = write!(line, " · {}", count_of(total as u64, "TCP socket"));
    line
}

/// A namespace block's first line, its names as read (`write` escapes it): `== netns lab-3 · inode 4026532841 · container
/// docker:3f2a1c9e0b7d (web-1) · 12 TCP sockets` (no container part when it has none).
pub fn block_header(snapshot: &Snapshot) -> String {
    let mut line = format!("== netns {}", snapshot.netns);
    if let Some(inode) = snapshot.netns_inode {
        let _ = write!(line, " · inode {inode}");
    }
    if let Some(container) = &snapshot.netns_container {
        let _ = write!(line, " · container {container}");
    }
    let _ = write!(
        line,
        " · {}",
        count_of(snapshot.sockets.len() as u64, "TCP socket")
    );
    line
}

/// Write the whole report: the first line, a block per namespace, the `TOTAL` block.
/// Filters narrow each block's listed sockets, never its counts.
pub fn render_all(
    namespaces: &[NamespaceReport],
    filter: &Filter,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "{}", printable(&header_all(namespaces)))?;
    writeln!(out)?;
    let mut total = StateCounts::default();
    for namespace in namespaces {
        let snapshot = &namespace.snapshot;
        for socket in &snapshot.sockets {
            total.add(socket.state);
        }
        let listing = rows::Listing::new(snapshot, filter, with_process(snapshot));
        write(
            &block_header(snapshot),
            snapshot,
            filter,
            &namespace.anomalies,
            &listing,
            out,
        )?;
        if listing.len() > 0 {
            writeln!(out)?;
        }
    }
    let anomalies: usize = namespaces.iter().map(|n| n.anomalies.len()).sum();
    writeln!(
        out,
        "== TOTAL · {} · {} · {}",
        count_of(namespaces.len() as u64, "network namespace"),
        match anomalies {
            1 => "1 anomaly".to_owned(),
            n => format!("{} anomalies", grouped(n as u64)),
        },
        count_of(total.total(), "TCP socket")
    )?;
    writeln!(out)?;
    write_counts(&total, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_namespace_has_a_block_and_the_total_sums_them() {
        let mut out = Vec::new();
        render_all(
            &crate::report::two_namespaces(),
            &Filter::default(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = "\
sockscope snapshot · host web-1 · 2 network namespaces · 2026-09-21T14:13:20Z · 4 TCP sockets

== netns host · inode 4026531840 · 1 TCP socket

STATE           COUNT
LISTEN              1
SYN_SENT            0
SYN_RECV            0
ESTABLISHED         0
FIN_WAIT1           0
FIN_WAIT2           0
CLOSING             0
TIME_WAIT           0
CLOSE_WAIT          0
LAST_ACK            0
CLOSE               0

State  Local      Remote    Recv-Q Send-Q Timer Process
LISTEN 0.0.0.0:22 0.0.0.0:*      0      0 -     sshd[4242]

== netns lab-1 · inode 4026532841 · container docker:3f2a1c9e0b7d (web-1) · 3 TCP sockets

STATE           COUNT
LISTEN              1
SYN_SENT            0
SYN_RECV            0
ESTABLISHED         0
FIN_WAIT1           0
FIN_WAIT2           0
CLOSING             0
TIME_WAIT           0
CLOSE_WAIT          2
LAST_ACK            0
CLOSE               0

State      Local       Remote         Recv-Q Send-Q Timer Process
LISTEN     10.0.0.1:80 0.0.0.0:*           0      0 -     leaky-app[4242]
CLOSE_WAIT 10.0.0.1:80 10.0.0.2:40000      0      0 -     leaky-app[4242]
CLOSE_WAIT 10.0.0.1:80 10.0.0.2:40001      0      0 -     leaky-app[4242]

== TOTAL · 2 network namespaces · 0 anomalies · 4 TCP sockets

STATE           COUNT
LISTEN              2
SYN_SENT            0
SYN_RECV            0
ESTABLISHED         0
FIN_WAIT1           0
FIN_WAIT2           0
CLOSING             0
TIME_WAIT           0
CLOSE_WAIT          2
LAST_ACK            0
CLOSE               0

";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_filter_narrows_each_block_s_listing_but_no_count() {
        let filter: Filter = "state=close-wait".parse().unwrap();
        let mut out = Vec::new();
        render_all(&crate::report::two_namespaces(), &filter, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("0 of 1 sockets match the filters.\n"),
            "{text}"
        );
        assert!(
            text.contains("2 of 3 sockets match the filters.\n"),
            "{text}"
        );
        assert!(!text.contains("sshd[4242]"), "{text}");
        assert!(text.contains("LISTEN              2\n"), "{text}");
    }
}
