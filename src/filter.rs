//! The filter vocabulary, shared by every mode: states (ss and netstat spellings, ss
//! groups), ports, addresses or CIDR blocks, process, family. Counts never pass through a
//! filter; filters narrow the list of sockets shown.
//!
//! One table of keys ([`KEYS`]) says what each key is called, what it takes, how it
//! matches and how it prints; the `/` line ([`Filter`]'s `FromStr` and `Display`), the
//! errors ([`FilterError`]) and the command line's flags are all built on it. A new key
//! is a field of [`Filter`], a value type in [`spec`] if it needs one, an entry in
//! [`keys`], and its flag in `cli::FilterArgs`.
//!
//! ```
//! use sockscope::filter::Filter;
//!
//! let filter: Filter = "close-wait port=443 10.0.0.0/8 nginx".parse().unwrap();
//! assert_eq!(
//!     filter.to_string(),
//!     "state=CLOSE_WAIT port=443 addr=10.0.0.0/8 process=nginx"
//! );
//! ```

mod error;
pub mod keys;
mod query;
pub mod spec;

use crate::model::{Family, Snapshot, Socket, StateSet};
use keys::Candidate;

pub use error::FilterError;
pub use keys::{KEYS, Key, Takes};
pub use spec::{AddrBlock, PortRange, ProcessSpec, STATE_SPELLINGS, StateSpec};

/// Every filter at once. Within one kind, values are alternatives (OR); kinds combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// States to keep (empty: all).
    pub states: Vec<StateSpec>,
    /// Local ports.
    pub sports: Vec<PortRange>,
    /// Remote ports.
    pub dports: Vec<PortRange>,
    /// Local or remote ports.
    pub ports: Vec<PortRange>,
    /// Local addresses.
    pub src: Vec<AddrBlock>,
    /// Remote addresses.
    pub dst: Vec<AddrBlock>,
    /// Local or remote addresses.
    pub addrs: Vec<AddrBlock>,
    /// Owning processes.
    pub processes: Vec<ProcessSpec>,
    /// Address family (None: both).
    pub family: Option<Family>,
}

impl Filter {
    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The union of the `--state` values (all states when none was given).
    pub fn state_set(&self) -> StateSet {
        if self.states.is_empty() {
            StateSet::ALL
        } else {
            self.states
                .iter()
                .fold(StateSet::EMPTY, |set, spec| set.union(spec.0))
        }
    }

    /// The sockets of `snapshot` this filter keeps, as a snapshot of their own (processes,
    /// counters and limits unchanged).
    pub fn narrow(&self, snapshot: &Snapshot) -> Snapshot {
        Snapshot {
            sockets: snapshot
                .sockets
                .iter()
                .filter(|s| self.matches(snapshot, s))
                .copied()
                .collect(),
            tcp_infos: snapshot.tcp_infos.clone(),
            taken_at: snapshot.taken_at,
            host: snapshot.host.clone(),
            netns: snapshot.netns.clone(),
            source: snapshot.source,
            processes: snapshot.processes.clone(),
            owner_index: snapshot.owner_index.clone(),
            attribution: snapshot.attribution.clone(),
            counters: snapshot.counters.clone(),
            limits: snapshot.limits.clone(),
            established_tier: snapshot.established_tier,
        }
    }

    /// Whether `socket` of `snapshot` passes every filter.
    pub fn matches(&self, snapshot: &Snapshot, socket: &Socket) -> bool {
        let candidate = Candidate { snapshot, socket };
        KEYS.iter().all(|key| key.keeps(self, &candidate))
    }

    /// Add `other`'s values to this filter's (a switch `other` sets is set here too).
    pub fn merge(&mut self, mut other: Filter) {
        for key in KEYS {
            key.merge(self, &mut other);
        }
    }
}
