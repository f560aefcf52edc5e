//! Churn: the connections that open and close between polls, as the kernel's destroy events
//! tell them ([`ClosedSocket`]). Kept per second for the last minute, grouped by maker (as
//! attributed), local port, remote host, container and — for the connections this side
//! opened — destination; each group with its closes, how many were short-lived, its median
//! lifetime and bytes per connection.
//!
//! Bounded: [`SPAN_SECONDS`] one-second buckets, each with at most [`KEYS_PER_SECOND`]
//! keys per grouping (a closed socket past the cap counts in its second's total only).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use crate::hash::{FastMap, KeyedMap};
use crate::model::ClosedSocket;

use super::group::canonical;

/// How many seconds of closes are kept: the last minute.
pub const SPAN_SECONDS: usize = 60;

/// At most this many keys per grouping in one second.
pub const KEYS_PER_SECOND: usize = 1024;

/// How many entries each grouping of [`ChurnSummary`] lists.
pub const CHURN_GROUPS: usize = 50;

/// Lifetime histogram buckets: bucket `i` holds lifetimes in [2^i, 2^(i+1)) ms (the
/// first also holds those under 1 ms, the last everything longer).
const LIFETIME_BUCKETS: usize = 24;

/// Who made a closed connection, as attributed ([`ClosedSocket::owner_from`]): the first
/// owner a poll saw, or the listener's that accepted it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Maker {
    /// Process id.
    pub pid: u32,
    /// Short name (`/proc/PID/comm`).
    pub comm: String,
}

impl Maker {
    /// The maker of `closed`, when one is known.
    pub fn of(closed: &ClosedSocket) -> Option<Maker> {
        closed.owners.first().map(|p| Maker {
            pid: p.pid,
            comm: p.comm.clone(),
        })
    }

    /// `comm[pid]`.
    pub fn label(&self) -> String {
        crate::model::process_label(&self.comm, self.pid)
    }
}

/// What is known of a set of closed connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChurnStats {
    /// Connections closed.
    pub closes: u64,
    /// Of those, short-lived: a poll saw them born and they lived less than the
    /// `short_lived` setting of `[connection_churn]`, or no poll saw them at all.
    pub short_lived: u64,
    /// Of those, no poll saw at all (born and closed between two polls).
    pub unseen: u64,
    /// Bytes sent (acknowledged) and received, summed over the closes with `tcp_info`.
    pub bytes: u64,
    /// How many closes had `tcp_info`.
    pub with_bytes: u64,
    /// Lifetimes of the closes a poll saw born (see [`LIFETIME_BUCKETS`]).
    lifetimes: [u64; LIFETIME_BUCKETS],
}

impl ChurnStats {
    fn add(&mut self, closed: &ClosedSocket, short_lived: Duration) {
        self.closes += 1;
        let lifetime = closed.lifetime();
        if closed.last_state.is_none() {
            self.unseen += 1;
            self.short_lived += 1;
        } else if lifetime.is_some_and(|l| l < short_lived) {
            self.short_lived += 1;
        }
        if let Some(lifetime) = lifetime {
            self.lifetimes[lifetime_bucket(lifetime)] += 1;
        }
        if let Some(info) = &closed.tcp_info {
            self.bytes = self
                .bytes
                .saturating_add(info.bytes_acked.saturating_add(info.bytes_received));
            self.with_bytes += 1;
        }
    }

    /// Add `other`'s closes to these.
    pub(crate) fn merge(&mut self, other: &ChurnStats) {
        self.closes += other.closes;
        self.short_lived += other.short_lived;
        self.unseen += other.unseen;
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.with_bytes += other.with_bytes;
        for (mine, theirs) in self.lifetimes.iter_mut().zip(other.lifetimes) {
            *mine += theirs;
        }
    }

    /// The median lifetime of the closes a poll saw born, to the power of two of
    /// milliseconds it falls under (`None`: no poll saw any born). The others lived less
    /// than a poll interval, or were there before the first poll.
    pub fn median_lifetime(&self) -> Option<Duration> {
        let seen: u64 = self.lifetimes.iter().sum();
        if seen == 0 {
            return None;
        }
        let mut below = 0;
        for (i, &count) in self.lifetimes.iter().enumerate() {
            below += count;
            if below * 2 >= seen {
                return Some(Duration::from_millis(1 << (i + 1)));
            }
        }
        None
    }

    /// Bytes (sent and received) per connection, over the closes with `tcp_info`.
    pub fn bytes_per_connection(&self) -> Option<u64> {
        (self.with_bytes > 0).then(|| self.bytes / self.with_bytes)
    }
}

/// The bucket of a lifetime: ⌊log2 ms⌋, 0 under 2 ms, capped at the last.
fn lifetime_bucket(lifetime: Duration) -> usize {
    let ms = u64::try_from(lifetime.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    (ms.ilog2() as usize).min(LIFETIME_BUCKETS - 1)
}

/// The groupings of one second (or of a merged span).
#[derive(Clone, Debug, Default)]
struct Groupings {
    total: ChurnStats,
    by_maker: FastMap<Option<Maker>, ChurnStats>,
    /// Accepted connections by local port; `None`: those this side opened.
    by_local_port: FastMap<Option<u16>, ChurnStats>,
    by_remote_host: KeyedMap<IpAddr, ChurnStats>,
    by_container: FastMap<Option<String>, ChurnStats>,
    /// Connections this side opened, by destination and maker.
    opened: KeyedMap<(SocketAddr, Option<Maker>), ChurnStats>,
}

/// Add `closed` under `key` in `map`, unless the map is full and lacks the key.
fn add_to<K: Eq + std::hash::Hash, S: std::hash::BuildHasher>(
    map: &mut std::collections::HashMap<K, ChurnStats, S>,
    key: K,
    closed: &ClosedSocket,
    short_lived: Duration,
) {
    let full = map.len() >= KEYS_PER_SECOND;
    if full && !map.contains_key(&key) {
        return;
    }
    map.entry(key).or_default().add(closed, short_lived);
}

/// Merge `from` into `into`.
fn merge_into<K: Eq + std::hash::Hash + Clone, S: std::hash::BuildHasher>(
    into: &mut std::collections::HashMap<K, ChurnStats, S>,
    from: &std::collections::HashMap<K, ChurnStats, S>,
) {
    for (key, stats) in from {
        into.entry(key.clone()).or_default().merge(stats);
    }
}

impl Groupings {
    fn add(&mut self, closed: &ClosedSocket, short_lived: Duration) {
        self.total.add(closed, short_lived);
        let maker = Maker::of(closed);
        let remote = canonical(&closed.socket.remote.get());
        add_to(&mut self.by_maker, maker.clone(), closed, short_lived);
        let port = closed.accepted.then(|| closed.socket.local.port());
        add_to(&mut self.by_local_port, port, closed, short_lived);
        add_to(&mut self.by_remote_host, remote.ip(), closed, short_lived);
        add_to(
            &mut self.by_container,
            closed.container.clone(),
            closed,
            short_lived,
        );
        if !closed.accepted {
            add_to(&mut self.opened, (remote, maker), closed, short_lived);
        }
    }

    fn merge(&mut self, other: &Groupings) {
        self.total.merge(&other.total);
        merge_into(&mut self.by_maker, &other.by_maker);
        merge_into(&mut self.by_local_port, &other.by_local_port);
        merge_into(&mut self.by_remote_host, &other.by_remote_host);
        merge_into(&mut self.by_container, &other.by_container);
        merge_into(&mut self.opened, &other.opened);
    }
}

/// One second's closes.
#[derive(Clone, Debug)]
struct Second {
    /// Seconds since the Unix epoch.
    at: u64,
    closes: Groupings,
}

/// The closes of the last minute, and since when destroy events were listened to.
#[derive(Clone, Debug)]
pub struct Churn {
    short_lived: Duration,
    seconds: VecDeque<Second>,
    /// The start of the listening, and its latest end.
    listened: Option<(SystemTime, SystemTime)>,
}

/// A group of closes and their rate.
#[derive(Clone, Debug, PartialEq)]
pub struct ChurnGroup<K> {
    /// What they have in common.
    pub key: K,
    /// What is known of them.
    pub stats: ChurnStats,
    /// Closes per second over the span.
    pub per_second: f64,
}

/// The closes of a span: the last minute ([`Churn::summary`]) or a rule's window
/// ([`Churn::window`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChurnSummary {
    /// Whether destroy events were listened to at all (else everything is empty).
    pub listening: bool,
    /// The span the rates are over: the last minute, or less when the listening began
    /// since.
    pub span: Duration,
    /// Closes each second, oldest first, at most [`SPAN_SECONDS`] (a second with none is 0).
    pub per_second: Vec<u64>,
    /// Every close of the span.
    pub total: ChurnStats,
    /// By maker (`None`: not attributed), most closes first.
    pub by_maker: Vec<ChurnGroup<Option<Maker>>>,
    /// Accepted connections by local port (`None`: the connections this side opened).
    pub by_local_port: Vec<ChurnGroup<Option<u16>>>,
    /// By remote host.
    pub by_remote_host: Vec<ChurnGroup<IpAddr>>,
    /// By container label (`None`: none known).
    pub by_container: Vec<ChurnGroup<Option<String>>>,
    /// The connections this side opened, by destination.
    pub by_destination: Vec<ChurnGroup<SocketAddr>>,
    /// The connections this side opened, by destination and maker, most closes first.
    pub by_destination_maker: Vec<ChurnGroup<(SocketAddr, Option<Maker>)>>,
}

impl ChurnSummary {
    /// Closes per second over the span, in all.
    pub fn per_second_total(&self) -> f64 {
        rate(self.total.closes, self.span)
    }

    /// The makers of the connections this side opened toward `destination`, most closes
    /// first.
    pub fn makers_toward(
        &self,
        destination: SocketAddr,
    ) -> impl Iterator<Item = &ChurnGroup<(SocketAddr, Option<Maker>)>> {
        let destination = canonical(&destination);
        self.by_destination_maker
            .iter()
            .filter(move |g| g.key.0 == destination)
    }
}

fn rate(closes: u64, span: Duration) -> f64 {
    if span.is_zero() {
        0.0
    } else {
        closes as f64 / span.as_secs_f64()
    }
}

/// The groups of `map`, most closes first (ties by key), at most `limit`.
fn ranked<K: Clone + Ord, S>(
    map: &std::collections::HashMap<K, ChurnStats, S>,
    span: Duration,
    limit: usize,
) -> Vec<ChurnGroup<K>> {
    let mut groups: Vec<ChurnGroup<K>> = map
        .iter()
        .map(|(key, stats)| ChurnGroup {
            key: key.clone(),
            stats: stats.clone(),
            per_second: rate(stats.closes, span),
        })
        .collect();
    groups.sort_by(|a, b| {
        b.stats
            .closes
            .cmp(&a.stats.closes)
            .then_with(|| a.key.cmp(&b.key))
    });
    groups.truncate(limit);
    groups
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Churn {
    /// No closes yet; a close is short-lived below `short_lived` (or when no poll saw it).
    pub fn new(short_lived: Duration) -> Churn {
        Churn {
            short_lived,
            seconds: VecDeque::with_capacity(SPAN_SECONDS + 1),
            listened: None,
        }
    }

    /// Destroy events were listened to from `from` to `to` (each round says so): the
    /// rates are over the time listened, not over a minute that began before.
    pub fn listened(&mut self, from: SystemTime, to: SystemTime) {
        self.listened = Some(match self.listened {
            Some((start, end)) => (start.min(from), end.max(to)),
            None => (from, to),
        });
    }

    /// Whether destroy events are listened to.
    pub fn is_listening(&self) -> bool {
        self.listened.is_some()
    }

    /// Take in one closed connection.
    pub fn add(&mut self, closed: &ClosedSocket) {
        let index = self.second_at(unix_seconds(closed.at));
        self.seconds[index].closes.add(closed, self.short_lived);
        self.expire();
    }

    /// Take in `other`'s closes and the span it listened to (a watcher's closes of one
    /// round, grouped on its collector thread).
    pub fn merge(&mut self, other: &Churn) {
        if let Some((from, to)) = other.listened {
            self.listened(from, to);
        }
        for second in &other.seconds {
            let index = self.second_at(second.at);
            self.seconds[index].closes.merge(&second.closes);
        }
        self.expire();
    }

    /// Whether it holds no close.
    pub fn is_empty(&self) -> bool {
        self.seconds.is_empty()
    }

    /// The index of the bucket of second `at`, made now if there is none.
    fn second_at(&mut self, at: u64) -> usize {
        match self.seconds.iter().rposition(|s| s.at <= at) {
            Some(i) if self.seconds[i].at == at => i,
            Some(i) => {
                self.seconds.insert(
                    i + 1,
                    Second {
                        at,
                        closes: Groupings::default(),
                    },
                );
                i + 1
            }
            None => {
                self.seconds.push_front(Second {
                    at,
                    closes: Groupings::default(),
                });
                0
            }
        }
    }

    /// Drop the seconds older than the last minute of the newest.
    fn expire(&mut self) {
        let newest = self.seconds.back().map_or(0, |s| s.at);
        while self
            .seconds
            .front()
            .is_some_and(|s| s.at + SPAN_SECONDS as u64 <= newest)
        {
            self.seconds.pop_front();
        }
    }

    /// The closes of the last `span` up to `now` (whole seconds: the second `now` is in
    /// and those before it), with the span the rates are over — shorter when the listening
    /// began since; `None` when nothing was listened to.
    pub fn window(&self, now: SystemTime, span: Duration) -> Option<ChurnSummary> {
        self.summarize(now, span, false)
    }

    /// The last minute up to `now`, every grouping ranked (the dashboard's Churn view).
    pub fn summary(&self, now: SystemTime) -> ChurnSummary {
        self.summarize(now, Duration::from_secs(SPAN_SECONDS as u64), true)
            .unwrap_or_default()
    }

    fn summarize(&self, now: SystemTime, span: Duration, every: bool) -> Option<ChurnSummary> {
        let (start, end) = self.listened?;
        let end = end.max(now);
        let seconds = span.as_secs().clamp(1, SPAN_SECONDS as u64);
        // The last second is the one `end` falls in, or the one it closes when it falls on
        // a second's start.
        let end_ms = end
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let last = end_ms.div_ceil(1_000).saturating_sub(1);
        let first = (last + 1).saturating_sub(seconds);
        // The rates are over the whole seconds merged, from the later of their start and
        // the start of the listening, to `end`.
        let from = (SystemTime::UNIX_EPOCH + Duration::from_secs(first)).max(start);
        let over = end.duration_since(from).unwrap_or_default();
        let mut merged = Groupings::default();
        let mut per_second = vec![0; seconds as usize];
        for second in self
            .seconds
            .iter()
            .filter(|s| s.at >= first && s.at <= last)
        {
            per_second[(second.at - first) as usize] = second.closes.total.closes;
            merged.merge(&second.closes);
        }
        let limit = if every { CHURN_GROUPS } else { usize::MAX };
        let mut by_destination: KeyedMap<SocketAddr, ChurnStats> = KeyedMap::default();
        for ((destination, _), stats) in &merged.opened {
            by_destination.entry(*destination).or_default().merge(stats);
        }
        Some(ChurnSummary {
            listening: true,
            span: over,
            per_second,
            by_maker: ranked(&merged.by_maker, over, limit),
            by_local_port: if every {
                ranked(&merged.by_local_port, over, limit)
            } else {
                Vec::new()
            },
            by_remote_host: if every {
                ranked(&merged.by_remote_host, over, limit)
            } else {
                Vec::new()
            },
            by_container: if every {
                ranked(&merged.by_container, over, limit)
            } else {
                Vec::new()
            },
            by_destination: ranked(&by_destination, over, limit),
            by_destination_maker: ranked(&merged.opened, over, usize::MAX),
            total: merged.total,
        })
    }
}

#[cfg(test)]
mod tests;
