//! The socket table of the text report, built for a million rows: the order comes from one
//! integer sort key per socket, column widths from arithmetic on the values, and each line
//! is written as bytes — `core::fmt` only for what is rare at scale (IPv6 addresses that
//! are not IPv4-mapped, timers). Sorting and measuring run on two threads, and so does
//! formatting the rows, chunk by chunk, written in order.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use crate::filter::Filter;
use crate::format::{printable, timer_text};
use crate::model::{Attribution, Endpoint, Snapshot, Socket, TimerKind, decimal_len, push_decimal};
use crate::report::chunks::write_in_order;

/// Column titles. `Container` is shown only when a listed socket is in one, `Process`
/// only with attribution.
pub(super) const COLUMNS: [&str; 8] = [
    "State",
    "Local",
    "Remote",
    "Recv-Q",
    "Send-Q",
    "Timer",
    "Container",
    "Process",
];
/// The `Container` column.
const CONTAINER: usize = 6;
/// The socket table of one report: which sockets, in which order, at which widths.
pub(super) struct Listing<'a> {
    order: Vec<u32>,
    table: TableLayout<'a>,
}

impl<'a> Listing<'a> {
    /// Sort the sockets that pass `filter` on this thread while another measures them.
    pub(super) fn new(snapshot: &'a Snapshot, filter: &Filter, with_process: bool) -> Listing<'a> {
        std::thread::scope(|scope| {
            let measuring = scope.spawn(|| TableLayout::new(snapshot, filter, with_process));
            let order = crate::filter::listing_order(snapshot, filter);
            match measuring.join() {
                Ok(table) => Listing { order, table },
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// How many sockets it lists.
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    /// Write the title and every row. Rows are formatted in chunks on two threads and
    /// written in order.
    pub(super) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut title = Vec::new();
        self.table.title(&mut title);
        out.write_all(&title)?;
        write_in_order(
            &self.order,
            |_, rows, buf, scratch: &mut (String, Vec<Socket>)| self.chunk(rows, buf, scratch),
            out,
        )
    }

    /// Format the rows of one chunk. The sockets are first copied out in listing order, in
    /// a loop of nothing but loads: the listing order is the addresses' and the snapshot's
    /// is the kernel's hash buckets', so each row is a cache miss, and a bare copy has the
    /// processor wait for many misses at once where formatting would wait for them one by
    /// one (at a million sockets, a third of the report's time).
    fn chunk(
        &self,
        rows: &[u32],
        buf: &mut Vec<u8>,
        (timer, gathered): &mut (String, Vec<Socket>),
    ) {
        let sockets = &self.table.snapshot.sockets;
        gathered.clear();
        gathered.extend(rows.iter().map(|&i| sockets[i as usize]));
        for socket in gathered.iter() {
            self.table.row(socket, buf, timer);
        }
    }
}

/// Column widths and owner labels for one rendering of the table.
struct TableLayout<'a> {
    snapshot: &'a Snapshot,
    with_process: bool,
    /// Whether a listed socket is in a container.
    with_container: bool,
    widths: [usize; 8],
    /// The label of each of the snapshot's cgroups (`Cgroups::known`, same order): the
    /// container's, or `-`.
    containers: Vec<Vec<u8>>,
    /// `comm[pid]` of each process of the snapshot, by index.
    labels: Vec<Vec<u8>>,
    unreadable: bool,
}

impl<'a> TableLayout<'a> {
    /// Measure the sockets that pass `filter`.
    fn new(snapshot: &'a Snapshot, filter: &Filter, with_process: bool) -> TableLayout<'a> {
        let mut widths = COLUMNS.map(str::len);
        let mut timer = String::new();
        let everything = filter.is_empty();
        let known = snapshot.cgroups.known();
        let containers: Vec<Vec<u8>> = known
            .iter()
            .map(|c| match &c.container {
                Some(c) => printable(&c.label()).into_owned().into_bytes(),
                None => b"-".to_vec(),
            })
            .collect();
        let any_container = snapshot.cgroups.any_container();
        let mut with_container = false;
        for s in snapshot
            .sockets
            .iter()
            .filter(|s| everything || filter.matches(snapshot, s))
        {
            if any_container && let Some(at) = container_at(snapshot, s) {
                with_container |= known[at].container.is_some();
                widths[CONTAINER] = widths[CONTAINER].max(containers[at].len());
            }
            widths[0] = widths[0].max(s.state.name().len());
            widths[1] = widths[1].max(endpoint_len(s.local.get()));
            widths[2] = widths[2].max(endpoint_len(s.remote.get()));
            widths[3] = widths[3].max(decimal_len(u64::from(s.recv_q)));
            widths[4] = widths[4].max(snapshot.send_q(s).map_or(1, |q| decimal_len(u64::from(q))));
            // The last column is not padded: no need to measure it.
            if with_process || any_container {
                widths[5] = widths[5].max(timer_len(s, &mut timer));
            }
        }
        let labels = snapshot
            .processes
            .iter()
            .map(|p| {
                let mut label = printable(&p.comm).as_bytes().to_vec();
                label.push(b'[');
                push_decimal(&mut label, u64::from(p.pid));
                label.push(b']');
                label
            })
            .collect();
        TableLayout {
            snapshot,
            with_process,
            with_container,
            widths,
            containers,
            labels,
            unreadable: matches!(snapshot.attribution, Attribution::Partial { .. }),
        }
    }

    /// Whether column `i` is shown.
    fn shows(&self, i: usize) -> bool {
        match i {
            CONTAINER => self.with_container,
            7 => self.with_process,
            _ => true,
        }
    }

    /// Append the title line.
    fn title(&self, line: &mut Vec<u8>) {
        for (i, title) in COLUMNS.iter().enumerate() {
            if self.shows(i) {
                self.cell(line, i, title.len(), |l| {
                    l.extend_from_slice(title.as_bytes());
                });
            }
        }
        end_line(line);
    }

    /// Append the line of `socket`; `timer` is scratch space.
    fn row(&self, socket: &Socket, line: &mut Vec<u8>, timer: &mut String) {
        let name = socket.state.name().as_bytes();
        self.cell(line, 0, name.len(), |l| l.extend_from_slice(name));
        for (column, addr) in [(1, socket.local.get()), (2, socket.remote.get())] {
            self.cell(line, column, endpoint_len(addr), |l| {
                Endpoint(addr).write_bytes(l);
            });
        }
        let recv_q = u64::from(socket.recv_q);
        self.cell(line, 3, decimal_len(recv_q), |l| push_decimal(l, recv_q));
        // A listener's backlog read from /proc/net/tcp is unknown: `-`, not 0.
        match self.snapshot.send_q(socket) {
            Some(q) => {
                let q = u64::from(q);
                self.cell(line, 4, decimal_len(q), |l| push_decimal(l, q));
            }
            None => self.cell(line, 4, 1, |l| l.push(b'-')),
        }
        let len = timer_len(socket, timer);
        self.cell(line, 5, len, |l| l.extend_from_slice(timer.as_bytes()));
        if self.with_container {
            let label: &[u8] = match container_at(self.snapshot, socket) {
                Some(at) => &self.containers[at],
                None => b"-",
            };
            self.cell(line, CONTAINER, label.len(), |l| l.extend_from_slice(label));
        }
        if self.with_process {
            line.push(b' ');
            self.owners(socket, line);
        }
        end_line(line);
    }

    /// Append one cell of `len` characters written by `write`, padded to its column: right
    /// for the queues, left for the rest; a space before every column but the first.
    fn cell(
        &self,
        line: &mut Vec<u8>,
        column: usize,
        len: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        if column > 0 {
            line.push(b' ');
        }
        let pad = self.widths[column].saturating_sub(len);
        let right = column == 3 || column == 4;
        if right {
            line.resize(line.len() + pad, b' ');
        }
        write(line);
        if !right {
            line.resize(line.len() + pad, b' ');
        }
    }

    /// What `format::owners_text` writes, from the precomputed labels.
    fn owners(&self, socket: &Socket, line: &mut Vec<u8>) {
        let indices = self.snapshot.owner_indices(socket);
        let mut shown = 0;
        for label in indices.iter().filter_map(|&i| self.labels.get(i as usize)) {
            if shown == 3 {
                line.extend_from_slice(b",+");
                push_decimal(line, u64::from(socket.owners.len - 3));
                return;
            }
            if shown > 0 {
                line.push(b',');
            }
            line.extend_from_slice(label);
            shown += 1;
        }
        if shown == 0 {
            line.push(if self.unreadable && socket.inode != 0 {
                b'?'
            } else {
                b'-'
            });
        }
    }
}

/// Where `socket`'s cgroup sits in its snapshot's `Cgroups::known`.
fn container_at(snapshot: &Snapshot, socket: &Socket) -> Option<usize> {
    let id = snapshot.cgroups.id_of(socket)?;
    snapshot
        .cgroups
        .known()
        .binary_search_by_key(&id, |c| c.id)
        .ok()
}

/// Characters of `addr` as [`Endpoint`] writes it.
fn endpoint_len(addr: SocketAddr) -> usize {
    let v4_len = |octets: [u8; 4]| {
        octets
            .iter()
            .map(|o| decimal_len(u64::from(*o)))
            .sum::<usize>()
            + 3
    };
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4_len(v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // [::ffff:a.b.c.d]
            Some(v4) => v4_len(v4.octets()) + 9,
            None => {
                let mut text = Vec::with_capacity(48);
                Endpoint(addr).write_bytes(&mut text);
                return text.len();
            }
        },
    };
    // ":port", or ":*" for port 0
    ip + 1
        + if addr.port() == 0 {
            1
        } else {
            decimal_len(u64::from(addr.port()))
        }
}

/// The timer text of `socket` left in `scratch`, and its length.
fn timer_len(socket: &Socket, scratch: &mut String) -> usize {
    scratch.clear();
    if socket.timer.kind == TimerKind::Off {
        scratch.push('-');
    } else {
        timer_text(&socket.timer, scratch);
    }
    scratch.len()
}

/// Drop the padding after the last cell and end the line.
fn end_line(line: &mut Vec<u8>) {
    let kept = line.iter().rposition(|b| *b != b' ').map_or(0, |i| i + 1);
    line.truncate(kept);
    line.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;
    use crate::model::fixture::socket;

    #[test]
    fn rows_formatted_on_two_threads_come_out_in_order() {
        let mut snapshot = Snapshot::default();
        let rows = 3 * crate::report::chunks::CHUNK_ITEMS + 5;
        for i in 0..rows as u32 {
            let mut s = socket(TcpState::Established).local("10.0.0.1:443");
            s.remote = SocketAddr::from((
                [10, 9, (i >> 16) as u8, (i >> 8) as u8],
                (i & 0xff) as u16 + 1,
            ))
            .into();
            s.recv_q = i;
            snapshot.sockets.push(s);
        }
        let listing = Listing::new(&snapshot, &Filter::default(), false);
        let mut written = Vec::new();
        listing.write(&mut written).unwrap();
        let mut expected = Vec::new();
        let mut timer = String::new();
        listing.table.title(&mut expected);
        for &i in &listing.order {
            listing
                .table
                .row(&snapshot.sockets[i as usize], &mut expected, &mut timer);
        }
        assert_eq!(written, expected);
        let text = String::from_utf8(written).unwrap();
        assert_eq!(text.lines().count(), rows + 1);
        let last = text.lines().last().unwrap();
        assert!(
            last.starts_with("ESTABLISHED 10.0.0.1:443 10.9.0.48:"),
            "{last}"
        );
    }

    #[test]
    fn endpoint_lengths_match_the_text() {
        for text in [
            "1.2.3.4:5",
            "255.255.255.255:65535",
            "0.0.0.0:0",
            "[::ffff:10.0.0.1]:80",
            "[2001:db8::1]:443",
            "[::]:0",
        ] {
            let addr: SocketAddr = text.parse().unwrap();
            let mut bytes = Vec::new();
            Endpoint(addr).write_bytes(&mut bytes);
            assert_eq!(endpoint_len(addr), bytes.len(), "{text}");
        }
    }
}
