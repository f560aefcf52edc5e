//! The rows of the Churn view: one per group of the grouping chosen, from the summary's
//! last minute of closes ([`ChurnSummary`]).

use std::net::IpAddr;
use std::time::Duration;

use crate::aggregate::{ChurnGroup, ChurnStats, ChurnSummary, Maker};
use crate::format::{bytes, grouped, short_duration};
use crate::tui::columns::ChurnColumn;
use crate::tui::view::ChurnGrouping;

use super::{GroupRow, SortKey, Target, count, row};

/// What a row of the Churn view groups (its [`Target`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChurnKey {
    /// A maker, as attributed (`None`: not attributed).
    Maker(Option<Maker>),
    /// The local port of accepted connections (`None`: those this side opened).
    LocalPort(Option<u16>),
    /// A remote host.
    RemoteHost(IpAddr),
    /// A container label (`None`: no container known).
    Container(Option<String>),
}

/// The text of a maker no poll and no listener named.
const NOT_ATTRIBUTED: &str = "not attributed (closed between polls)";

/// The text of the connections this side opened, in the local-port grouping.
const OPENED_HERE: &str = "opened here (ephemeral)";

/// The text of the closes of no container.
const NO_CONTAINER: &str = "no container";

impl ChurnKey {
    /// Its first cell as read (names are escaped where they are written) and sort key:
    /// the groups with no name after the named ones.
    fn cell(&self) -> (String, SortKey) {
        match self {
            ChurnKey::Maker(Some(maker)) => {
                let label = maker.label();
                (label.clone(), SortKey::Text(label))
            }
            ChurnKey::Maker(None) => (NOT_ATTRIBUTED.to_owned(), SortKey::Text("~".to_owned())),
            ChurnKey::LocalPort(Some(port)) => {
                (port.to_string(), SortKey::Number(f64::from(*port)))
            }
            ChurnKey::LocalPort(None) => (OPENED_HERE.to_owned(), SortKey::Number(f64::MAX)),
            ChurnKey::RemoteHost(ip) => (ip.to_string(), SortKey::Addr(*ip, 0)),
            ChurnKey::Container(Some(label)) => (label.clone(), SortKey::Text(label.clone())),
            ChurnKey::Container(None) => (NO_CONTAINER.to_owned(), SortKey::Text("~".to_owned())),
        }
    }

    /// Its group's stats in `churn`, if it is still there.
    pub fn stats<'a>(&self, churn: &'a ChurnSummary) -> Option<(&'a ChurnStats, f64)> {
        fn find<'a, K: PartialEq>(
            groups: &'a [ChurnGroup<K>],
            key: &K,
        ) -> Option<(&'a ChurnStats, f64)> {
            groups
                .iter()
                .find(|g| g.key == *key)
                .map(|g| (&g.stats, g.per_second))
        }
        match self {
            ChurnKey::Maker(key) => find(&churn.by_maker, key),
            ChurnKey::LocalPort(key) => find(&churn.by_local_port, key),
            ChurnKey::RemoteHost(key) => find(&churn.by_remote_host, key),
            ChurnKey::Container(key) => find(&churn.by_container, key),
        }
    }
}

/// A rate of closes: `0.02`, `20.6`, `1,234`.
pub fn rate_text(rate: f64) -> String {
    if rate < 1.0 {
        format!("{rate:.2}")
    } else if rate < 100.0 {
        format!("{rate:.1}")
    } else {
        grouped(rate.round() as u64)
    }
}

/// `part` of `whole` in percent, one decimal.
pub fn percent(part: u64, whole: u64) -> (String, SortKey) {
    let share = if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    };
    (format!("{share:.1}%"), SortKey::Number(share))
}

/// A median lifetime as the power of two it falls under: `≤512ms`, `≤2.0s`; `—` when no
/// poll saw any of them born.
pub fn lifetime_text(median: Option<Duration>) -> String {
    match median {
        Some(median) => {
            let mut out = "≤".to_owned();
            short_duration(median, &mut out);
            out
        }
        None => "—".to_owned(),
    }
}

impl ChurnColumn {
    /// The cell of the group `key`, whose closes are `stats`, `per_second`.
    fn cell(self, key: &ChurnKey, stats: &ChurnStats, per_second: f64) -> (String, SortKey) {
        match self {
            ChurnColumn::Key => key.cell(),
            ChurnColumn::PerSecond => (rate_text(per_second), SortKey::Number(per_second)),
            ChurnColumn::Closes => count(stats.closes),
            ChurnColumn::ShortLived => percent(stats.short_lived, stats.closes),
            ChurnColumn::Unseen => percent(stats.unseen, stats.closes),
            ChurnColumn::MedianLifetime => {
                let median = stats.median_lifetime();
                (
                    lifetime_text(median),
                    SortKey::Number(median.map_or(-1.0, |m| m.as_secs_f64())),
                )
            }
            ChurnColumn::BytesPerConnection => match stats.bytes_per_connection() {
                Some(n) => (bytes(n), SortKey::Number(n as f64)),
                None => ("—".to_owned(), SortKey::Number(-1.0)),
            },
        }
    }
}

/// One row per group of `churn` by `grouping`, unsorted.
pub(super) fn churn_rows(churn: &ChurnSummary, grouping: ChurnGrouping) -> Vec<GroupRow> {
    fn rows<K>(groups: &[ChurnGroup<K>], key: impl Fn(&K) -> ChurnKey) -> Vec<GroupRow> {
        groups
            .iter()
            .map(|g| {
                let key = key(&g.key);
                row(
                    |c: ChurnColumn| c.cell(&key, &g.stats, g.per_second),
                    Target::Churn(key.clone()),
                )
            })
            .collect()
    }
    match grouping {
        ChurnGrouping::Process => rows(&churn.by_maker, |k| ChurnKey::Maker(k.clone())),
        ChurnGrouping::LocalPort => rows(&churn.by_local_port, |k| ChurnKey::LocalPort(*k)),
        ChurnGrouping::RemoteHost => rows(&churn.by_remote_host, |k| ChurnKey::RemoteHost(*k)),
        ChurnGrouping::Container => rows(&churn.by_container, |k| ChurnKey::Container(k.clone())),
    }
}
