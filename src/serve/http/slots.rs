//! The connection slots: at most [`ConnectionLimits::connections`](super::ConnectionLimits) connections are
//! served at once, each in a [`Phase`] with a deadline for the whole phase. A watchdog
//! thread shuts down a connection whose phase outlives its deadline, however many reads
//! or writes the phase takes (a TLS handshake loops over socket reads inside one read:
//! a per-read timeout never ends it). When every slot is taken, a newcomer takes the slot
//! of the connection that has waited the longest (idle between requests first, then one
//! still sending its head, then one whose response has been stuck for over a second), so
//! neither idle keep-alive connections nor slow clients lock a scrape out; only when
//! every connection is busy answering is the newcomer refused.

use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

/// What a connection is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the next request on a kept-alive connection.
    Idle,
    /// Receiving a request head (for the first request, the TLS handshake too).
    Head,
    /// Writing a response.
    Answer,
}

/// A response stuck this long may make way for a newcomer: a client that reads what it
/// asked for takes a few KB in far less.
const STUCK_ANSWER: Duration = Duration::from_secs(1);

/// How late after its deadline the watchdog cuts a connection: the connection's own
/// timeouts come first, so that a plain client still gets its 408.
const GRACE: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct Entry {
    id: u64,
    socket: TcpStream,
    phase: Phase,
    since: Instant,
    deadline: Instant,
    /// Shut down by the watchdog or to make way: its thread is on its way out and its
    /// slot already counts as free.
    closed: bool,
}

#[derive(Debug, Default)]
struct Table {
    entries: Vec<Entry>,
    next_id: u64,
}

/// The slots of one server.
#[derive(Debug)]
pub struct Slots {
    cap: usize,
    table: Mutex<Table>,
    changed: Condvar,
}

/// A connection's claim on a slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Ticket {
    slots: Arc<Slots>,
    id: u64,
}

impl Slots {
    /// `cap` slots, and their watchdog thread (which ends when the slots are dropped).
    pub fn new(cap: usize) -> Arc<Slots> {
        let slots = Arc::new(Slots {
            cap,
            table: Mutex::new(Table::default()),
            changed: Condvar::new(),
        });
        let weak = Arc::downgrade(&slots);
        // Without a watchdog the per-read timeouts still bound a plain connection.
        let _ = thread::Builder::new()
            .name("sockscope-watchdog".to_owned())
            .stack_size(64 * 1024)
            .spawn(move || watch(&weak));
        slots
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for `socket`, receiving its head until `deadline`: a free one, or the slot
    /// of the connection that has waited the longest (shut down here). `None` when every
    /// connection is busy answering.
    pub fn claim(self: &Arc<Slots>, socket: &TcpStream, deadline: Instant) -> Option<Ticket> {
        let now = Instant::now();
        let mut table = self.lock();
        let open = table.entries.iter().filter(|e| !e.closed).count();
        // A connection shut down to make way leaves within moments; still, never more
        // threads than twice the cap.
        if open >= self.cap {
            if table.entries.len() >= 2 * self.cap.max(1) {
                return None;
            }
            let victim = make_way(&table.entries, now)?;
            let victim = &mut table.entries[victim];
            let _ = victim.socket.shutdown(Shutdown::Both);
            victim.closed = true;
        }
        let socket = socket.try_clone().ok()?;
        let id = table.next_id;
        table.next_id += 1;
        table.entries.push(Entry {
            id,
            socket,
            phase: Phase::Head,
            since: now,
            deadline,
            closed: false,
        });
        drop(table);
        self.changed.notify_one();
        Some(Ticket {
            slots: Arc::clone(self),
            id,
        })
    }

    /// Connections in each phase that hold a slot: (idle, head, answer).
    #[cfg(test)]
    fn census(&self) -> (usize, usize, usize) {
        let table = self.lock();
        let open = || table.entries.iter().filter(|e| !e.closed);
        let count = |phase| open().filter(|e| e.phase == phase).count();
        (count(Phase::Idle), count(Phase::Head), count(Phase::Answer))
    }
}

/// Which connection makes way for a newcomer: the one idle the longest, else the one
/// sending its head the longest, else the one whose answer has been stuck the longest
/// (over [`STUCK_ANSWER`]).
fn make_way(entries: &[Entry], now: Instant) -> Option<usize> {
    let oldest = |phase: Phase| {
        entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.closed && e.phase == phase)
            .min_by_key(|(_, e)| e.since)
            .map(|(i, e)| (i, e.since))
    };
    oldest(Phase::Idle)
        .or_else(|| oldest(Phase::Head))
        .or_else(|| oldest(Phase::Answer).filter(|(_, since)| now - *since > STUCK_ANSWER))
        .map(|(i, _)| i)
}

impl Ticket {
    /// The connection enters `phase`, which must end by `deadline`.
    pub fn enter(&self, phase: Phase, deadline: Instant) {
        let mut table = self.slots.lock();
        if let Some(entry) = table.entries.iter_mut().find(|e| e.id == self.id) {
            entry.phase = phase;
            entry.since = Instant::now();
            entry.deadline = deadline;
        }
        drop(table);
        self.slots.changed.notify_one();
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.slots.lock().entries.retain(|e| e.id != self.id);
    }
}

/// Shut down every connection past its phase's deadline, until the slots are dropped.
fn watch(slots: &Weak<Slots>) {
    while let Some(slots) = slots.upgrade() {
        let mut table = slots.lock();
        let now = Instant::now();
        let mut next = now + Duration::from_secs(1);
        for entry in table.entries.iter_mut().filter(|e| !e.closed) {
            let cut_at = entry.deadline + GRACE;
            if cut_at <= now {
                let _ = entry.socket.shutdown(Shutdown::Both);
                entry.closed = true;
            } else {
                next = next.min(cut_at);
            }
        }
        let wait = next.saturating_duration_since(now);
        let _ = slots
            .changed
            .wait_timeout(table, wait)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::net::TcpListener;

    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    fn entry(id: u64, phase: Phase, since: Instant, socket: &TcpStream) -> Entry {
        Entry {
            id,
            socket: socket.try_clone().unwrap(),
            phase,
            since,
            deadline: since + Duration::from_secs(10),
            closed: false,
        }
    }

    #[test]
    fn the_longest_idle_makes_way_first_then_the_slowest_head_then_a_stuck_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (_client, socket) = pair(&listener);
        let now = Instant::now();
        let ago = |ms| now.checked_sub(Duration::from_millis(ms)).unwrap();
        let mut entries = vec![
            entry(0, Phase::Head, ago(5000), &socket),
            entry(1, Phase::Idle, ago(100), &socket),
            entry(2, Phase::Idle, ago(300), &socket),
            entry(3, Phase::Answer, ago(2000), &socket),
            entry(4, Phase::Head, ago(6000), &socket),
        ];
        assert_eq!(make_way(&entries, now), Some(2));
        entries.retain(|e| e.phase != Phase::Idle);
        assert_eq!(make_way(&entries, now), Some(2));
        entries.retain(|e| e.phase != Phase::Head);
        assert_eq!(make_way(&entries, now), Some(0));
        entries[0].since = ago(500);
        assert_eq!(make_way(&entries, now), None);
    }

    #[test]
    fn a_full_table_hands_the_slowest_slot_to_the_newcomer_and_shuts_it_down_within_twice_the_cap()
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let slots = Slots::new(2);
        let later = Instant::now() + Duration::from_secs(10);
        let (mut first_client, first) = pair(&listener);
        let (_c2, second) = pair(&listener);
        let (_c3, third) = pair(&listener);
        let _first = slots.claim(&first, later).unwrap();
        let second_ticket = slots.claim(&second, later).unwrap();
        second_ticket.enter(Phase::Answer, later);
        let _third = slots.claim(&third, later).unwrap();
        assert_eq!(slots.census(), (0, 1, 1));
        let mut byte = [0u8; 1];
        first_client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(first_client.read(&mut byte).unwrap(), 0);
        let (_c4, fourth) = pair(&listener);
        let fourth = slots.claim(&fourth, later);
        assert!(fourth.is_some());
        assert_eq!(slots.census(), (0, 1, 1));
        let (_c5, fifth) = pair(&listener);
        assert!(slots.claim(&fifth, later).is_none());
    }
}
