//! `sockscope events`: a line per socket the kernel destroyed, as it happens, in text or
//! JSON lines; and a line whenever events were lost.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::SystemTime;

use serde::Serialize;

use crate::filter::Filter;
use crate::format::{self, printable};
use crate::model::{ClosedSocket, Snapshot, TcpState};

use super::json::SocketDoc;

/// `closed` as a snapshot of one socket, so that the filters and the socket document apply
/// as they do to a poll's sockets: its state the one a poll last saw (`CLOSE` when none
/// did), its owners as attributed, its `tcp_info`.
pub fn as_snapshot(closed: &ClosedSocket) -> Snapshot {
    closed.as_snapshot()
}

/// Write `closed` if it passes `filter` (the same keys as everywhere; `state` is the state
/// a poll last saw it in), as a JSON line or a text line. The one-socket snapshot the filter
/// and the JSON read is built once, and not at all for text without a filter.
pub fn write_if_kept(
    filter: &Filter,
    closed: &ClosedSocket,
    json: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let one = (json || !filter.is_empty()).then(|| as_snapshot(closed));
    if let Some(one) = &one
        && !filter.is_empty()
        && !filter.matches(one, &one.sockets[0])
    {
        return Ok(());
    }
    match &one {
        Some(one) if json => write_json_of(closed, one, out),
        _ => write_text(closed, out),
    }
}

/// One text line: time, namespace, endpoints, which side opened it ([`direction`]), the
/// state a poll last saw, the lifetime,
/// `tcp_info`'s traffic (bytes acknowledged by the peer and received, each counting the
/// SYN and FIN too, as the kernel does), the owners and where they come from, the
/// container.
pub fn write_text(closed: &ClosedSocket, out: &mut dyn Write) -> io::Result<()> {
    let mut line = String::with_capacity(160);
    line.push_str(&clock_millis(closed.at));
    line.push(' ');
    line.push_str(&closed.netns);
    line.push_str("  ");
    line.push_str(&closed.socket.local.to_string());
    line.push_str(" → ");
    line.push_str(&closed.socket.remote.to_string());
    line.push_str("  ");
    line.push_str(direction(closed));
    line.push_str("  was ");
    line.push_str(closed.last_state.map_or("?", TcpState::name));
    line.push_str("  lived ");
    match (closed.lifetime(), closed.last_state) {
        (Some(lived), _) => {
            line.push('≥');
            format::short_duration(lived, &mut line);
        }
        (None, Some(_)) => line.push_str("? (there at the first poll)"),
        (None, None) => line.push_str("? (not seen by a poll)"),
    }
    if let Some(info) = &closed.tcp_info {
        let _ = write!(
            line,
            "  sent {} B  received {} B  retrans {}  rtt {:.3} ms",
            info.bytes_acked,
            info.bytes_received,
            info.total_retrans,
            f64::from(info.rtt_us) / 1000.0
        );
    }
    line.push_str("  ");
    if closed.owners.is_empty() {
        line.push('-');
    } else {
        let owners: Vec<String> = closed
            .owners
            .iter()
            .map(|p| format::process(&p.comm, p.pid))
            .collect();
        line.push_str(&owners.join(","));
    }
    line.push_str(" (");
    line.push_str(closed.owner_from.as_str());
    line.push(')');
    if let Some(container) = &closed.container {
        line.push_str("  ");
        line.push_str(container);
    }
    writeln!(out, "{}", printable(&line))
}

/// `accepted` when a listener a poll saw has its local address (this side accepted it: the
/// remote end is the client), else `opened` (this side connected: the remote end is the
/// destination; also an accepted one whose listener no poll saw).
pub fn direction(closed: &ClosedSocket) -> &'static str {
    if closed.accepted {
        "accepted"
    } else {
        "opened"
    }
}

/// `HH:MM:SS.mmm` (UTC) of `at`.
fn clock_millis(at: SystemTime) -> String {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        since.subsec_millis()
    )
}

/// One JSON line: the snapshot's socket object plus what the event adds.
#[derive(Serialize)]
struct EventDoc<'a> {
    event: &'static str,
    at: String,
    netns_name: &'a str,
    /// `accepted` or `opened` ([`direction`]).
    direction: &'static str,
    #[serde(flatten)]
    socket: SocketDoc<'a>,
    last_state: Option<&'static str>,
    first_seen: Option<String>,
    lifetime_ms: Option<u64>,
    owner_from: &'static str,
    /// The container of the owners, listener or namespace the owners come from, as
    /// `Container::label` prints it (the socket object's own `cgroup` and `container` are
    /// `null`: the kernel's event carries no cgroup id).
    owner_container: Option<&'a str>,
}

/// One JSON object on its own line.
pub fn write_json(closed: &ClosedSocket, out: &mut dyn Write) -> io::Result<()> {
    write_json_of(closed, &as_snapshot(closed), out)
}

/// [`write_json`] with `one`, [`as_snapshot`] of `closed`, made already.
fn write_json_of(closed: &ClosedSocket, one: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
    let doc = EventDoc {
        event: "destroyed",
        at: humantime::format_rfc3339_millis(closed.at).to_string(),
        netns_name: &closed.netns,
        direction: direction(closed),
        socket: SocketDoc::new(one, 0),
        last_state: closed.last_state.map(TcpState::name),
        first_seen: closed
            .first_seen
            .map(|t| humantime::format_rfc3339_millis(t).to_string()),
        lifetime_ms: closed
            .lifetime()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        owner_from: closed.owner_from.as_str(),
        owner_container: closed.container.as_deref(),
    };
    serde_json::to_writer(&mut *out, &doc).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// The line saying `lost` more events of namespace `netns` were dropped by the kernel
/// (the receive buffer was full), `total` since the start.
pub fn write_lost(
    netns: &str,
    lost: u64,
    total: u64,
    json: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    if json {
        let doc = serde_json::json!({
            "event": "lost",
            "at": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "netns_name": netns,
            "lost": lost,
            "lost_total": total,
        });
        serde_json::to_writer(&mut *out, &doc).map_err(io::Error::other)?;
        out.write_all(b"\n")
    } else {
        let line = format!(
            "{} {netns}  events lost: {lost} ({total} since the start): the kernel's queue for sockscope was full",
            clock_millis(SystemTime::now())
        );
        writeln!(out, "{}", printable(&line))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::fixture::socket;
    use crate::model::{OwnerFrom, Process, TcpInfo};

    fn closed() -> ClosedSocket {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_790_000_463_118);
        ClosedSocket {
            at,
            netns: "web".into(),
            socket: socket(TcpState::Close)
                .local("10.0.0.5:8080")
                .remote("10.0.0.9:51234")
                .cookie(77),
            tcp_info: Some(TcpInfo {
                rtt_us: 211,
                bytes_acked: 1_002,
                bytes_received: 301,
                ..TcpInfo::default()
            }),
            last_state: Some(TcpState::Established),
            first_seen: Some(at - Duration::from_millis(4_200)),
            owners: vec![Process {
                pid: 4242,
                comm: "api\x1b[2J".into(),
                ..Process::default()
            }],
            owner_from: OwnerFrom::Poll,
            container: None,
            accepted: true,
        }
    }

    #[test]
    fn a_text_line_says_when_where_what_it_was_how_long_and_who_escaped() {
        let mut out = Vec::new();
        write_text(&closed(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "14:21:03.118 web  10.0.0.5:8080 → 10.0.0.9:51234  accepted  was ESTABLISHED  \
             lived ≥4.2s  sent 1002 B  received 301 B  retrans 0  rtt 0.211 ms  \
             api\\x1b[2J[4242] (poll)\n"
        );
    }

    #[test]
    fn a_connection_this_side_opened_says_so_in_text_and_json() {
        let opened = ClosedSocket {
            socket: socket(TcpState::Close)
                .local("10.0.0.5:40112")
                .remote("10.0.0.7:5432")
                .cookie(78),
            tcp_info: None,
            last_state: None,
            first_seen: None,
            owners: Vec::new(),
            owner_from: OwnerFrom::Unknown,
            accepted: false,
            ..closed()
        };
        let mut out = Vec::new();
        write_text(&opened, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "14:21:03.118 web  10.0.0.5:40112 → 10.0.0.7:5432  opened  was ?  \
             lived ? (not seen by a poll)  - (unknown)\n"
        );
        let mut out = Vec::new();
        write_json(&opened, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"event\":\"destroyed\",\"at\":\"2026-09-21T14:21:03.118Z\",\"netns_name\":\"web\",\
             \"direction\":\"opened\",\"state\":\"CLOSE\",\"family\":\"inet\",\
             \"local\":\"10.0.0.5:40112\",\"remote\":\"10.0.0.7:5432\",\"recv_q\":0,\"send_q\":0,\
             \"timer\":{\"kind\":\"off\",\"expires_ms\":0,\"retransmits\":0},\"uid\":0,\"inode\":0,\
             \"cookie\":78,\"processes\":[],\"cgroup\":null,\"container\":null,\"last_state\":null,\
             \"first_seen\":null,\"lifetime_ms\":null,\"owner_from\":\"unknown\",\
             \"owner_container\":null}\n"
        );
    }

    #[test]
    fn a_json_line_is_the_socket_object_with_the_event_fields() {
        let mut out = Vec::new();
        write_json(&closed(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["event"], "destroyed");
        assert_eq!(doc["at"], "2026-09-21T14:21:03.118Z");
        assert_eq!(doc["netns_name"], "web");
        assert_eq!(doc["direction"], "accepted");
        assert_eq!(doc["state"], "ESTABLISHED", "the state a poll last saw");
        assert_eq!(doc["last_state"], "ESTABLISHED");
        assert_eq!(doc["local"], "10.0.0.5:8080");
        assert_eq!(doc["cookie"], 77);
        assert_eq!(doc["lifetime_ms"], 4_200);
        assert_eq!(doc["owner_from"], "poll");
        assert_eq!(doc["processes"][0]["comm"], "api\x1b[2J");
        assert_eq!(doc["tcp_info"]["rtt_us"], 211);
        assert_eq!(doc["owner_container"], serde_json::Value::Null);
        assert_eq!(doc["container"], serde_json::Value::Null);
    }

    #[test]
    fn a_lost_line_counts_what_the_kernel_dropped() {
        let mut out = Vec::new();
        write_lost("web", 17, 40, true, &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (&doc["event"], &doc["lost"], &doc["lost_total"]),
            (&"lost".into(), &17.into(), &40.into())
        );
    }
}
