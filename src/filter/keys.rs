//! The keys of the vocabulary, in one table: each key's name, aliases, what it takes, how
//! it matches and how it prints. The `/` parser and printer, the error texts, the bare-word
//! guessing and the command line's flags (their help included) all read [`KEYS`]; a new
//! key is one more `static` here, one more entry in [`KEYS`] and one field of [`Filter`].

use std::fmt;
use std::str::FromStr;

use super::spec::{
    AddrBlock, CgroupPrefix, ContainerSpec, NetnsSpec, PortRange, ProcessSpec, StateSpec,
};
use super::{Filter, FilterError, quote};
use crate::model::{Family, Snapshot, Socket, StateSet};

/// One filter key.
pub struct Key {
    /// Its name: `name=value` on the `/` line, and how it prints.
    pub name: &'static str,
    /// Its flag on the command line (`--flag`): the name, unless a flag of that name means
    /// something else (`--netns` picks the namespace to watch; the key is `--netns-match`).
    pub flag: &'static str,
    /// Other names the `/` line accepts for it (`proc`, `pid`).
    pub aliases: &'static [&'static str],
    /// What it takes.
    pub takes: Takes,
    /// Whether a bare word on the `/` line that reads as its value is taken for it. The
    /// first guessed key in [`KEYS`] that reads the word gets it.
    pub guessed: bool,
    /// Its flag's help in `--help`, kept beside the key so a new key does not touch the
    /// command line's code.
    pub help: &'static str,
    /// The command line's argument ids its flag cannot be given with (`no_processes` for
    /// `--process`: no owners are read, so none can match).
    pub conflicts_with: &'static [&'static str],
    slot: &'static (dyn Slot + Sync),
}

/// What a key takes after its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    /// Values, named so in help and errors (`PORT`); several are alternatives.
    Values(&'static str),
    /// Nothing: the key alone turns it on. It is also written `-C` on the `/` line, and
    /// prints so.
    Switch {
        /// The one-letter spelling.
        short: char,
    },
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("takes", &self.takes)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Whether `word` names this key (its name or an alias).
    pub fn is_named(&self, word: &str) -> bool {
        self.name == word || self.aliases.contains(&word)
    }

    /// The filter of this one value: what `name=text` keeps (a switch ignores `text`). The
    /// command line's value parsers use it.
    pub fn parse(&self, text: &str) -> Result<Filter, FilterError> {
        let mut filter = Filter::default();
        self.slot.add(&mut filter, text)?;
        Ok(filter)
    }

    /// Add one value to `filter` (a switch ignores `text` and turns on).
    pub(super) fn add(&self, filter: &mut Filter, text: &str) -> Result<(), FilterError> {
        self.slot.add(filter, text)
    }

    /// Add `word` if it reads as this key's value; `false` leaves `filter` as it was.
    pub(super) fn guess(&self, filter: &mut Filter, word: &str) -> bool {
        self.guessed && self.slot.add(filter, word).is_ok()
    }

    /// Whether `filter` sets this key.
    pub(super) fn is_set(&self, filter: &Filter) -> bool {
        self.slot.is_set(filter)
    }

    /// Write `filter`'s setting of this key as the `/` line spells it (`port=443,8080`,
    /// `-4`); nothing when unset.
    pub(super) fn write(&self, filter: &Filter, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.takes {
            Takes::Values(_) => {
                write!(out, "{}=", self.name)?;
                self.slot.write_values(filter, out)
            }
            Takes::Switch { short } => write!(out, "-{short}"),
        }
    }

    /// Whether `candidate` passes this key (always, when `filter` does not set it).
    pub(super) fn keeps(&self, filter: &Filter, candidate: &Candidate<'_>) -> bool {
        self.slot.keeps(filter, candidate)
    }

    /// Move `from`'s setting of this key into `into` (values add up; a switch set in
    /// `from` is set in `into`).
    pub(super) fn merge(&self, into: &mut Filter, from: &mut Filter) {
        self.slot.merge(into, from);
    }
}

/// What a key's match may look at: the socket and the snapshot it is in (its owners,
/// and whatever else a later key needs about it).
pub(super) struct Candidate<'a> {
    /// The poll the socket is in.
    pub snapshot: &'a Snapshot,
    /// The socket.
    pub socket: &'a Socket,
}

/// Where a key's setting lives in a [`Filter`] and how it behaves.
trait Slot {
    /// Add one value; on an error `filter` is as it was.
    fn add(&self, filter: &mut Filter, text: &str) -> Result<(), FilterError>;
    fn is_set(&self, filter: &Filter) -> bool;
    fn write_values(&self, filter: &Filter, out: &mut fmt::Formatter<'_>) -> fmt::Result;
    fn keeps(&self, filter: &Filter, candidate: &Candidate<'_>) -> bool;
    fn merge(&self, into: &mut Filter, from: &mut Filter);
}

/// A value a key takes.
trait FilterValue: FromStr<Err = FilterError> + fmt::Display + Sized {
    /// Add to `list` as the values it is made of (one per state for a group of states, so
    /// that what prints parses back to the same filter).
    fn push_into(self, list: &mut Vec<Self>) {
        list.push(self);
    }
}

impl FilterValue for StateSpec {
    fn push_into(self, list: &mut Vec<Self>) {
        list.extend(self.0.iter().map(|s| StateSpec(StateSet::of(&[s]))));
    }
}
impl FilterValue for PortRange {}
impl FilterValue for AddrBlock {}
impl FilterValue for ProcessSpec {}
impl FilterValue for ContainerSpec {}
impl FilterValue for NetnsSpec {}
impl FilterValue for CgroupPrefix {}

/// A key whose values are alternatives kept in one list of [`Filter`].
struct List<T: 'static> {
    values: fn(&Filter) -> &Vec<T>,
    values_mut: fn(&mut Filter) -> &mut Vec<T>,
    /// Whether one value keeps the candidate.
    keeps: fn(&T, &Candidate<'_>) -> bool,
}

impl<T: FilterValue> Slot for List<T> {
    fn add(&self, filter: &mut Filter, text: &str) -> Result<(), FilterError> {
        text.parse::<T>()?.push_into((self.values_mut)(filter));
        Ok(())
    }

    fn is_set(&self, filter: &Filter) -> bool {
        !(self.values)(filter).is_empty()
    }

    fn write_values(&self, filter: &Filter, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, value) in (self.values)(filter).iter().enumerate() {
            if i > 0 {
                out.write_str(",")?;
            }
            quote::write_value(out, &value.to_string())?;
        }
        Ok(())
    }

    fn keeps(&self, filter: &Filter, candidate: &Candidate<'_>) -> bool {
        let list = (self.values)(filter);
        list.is_empty() || list.iter().any(|v| (self.keeps)(v, candidate))
    }

    fn merge(&self, into: &mut Filter, from: &mut Filter) {
        let from = (self.values_mut)(from);
        (self.values_mut)(into).append(from);
    }
}

/// A key that is on or off.
struct Switch {
    is_on: fn(&Filter) -> bool,
    turn_on: fn(&mut Filter),
    /// Whether the candidate passes while it is on.
    keeps: fn(&Candidate<'_>) -> bool,
}

impl Slot for Switch {
    fn add(&self, filter: &mut Filter, _text: &str) -> Result<(), FilterError> {
        (self.turn_on)(filter);
        Ok(())
    }

    fn is_set(&self, filter: &Filter) -> bool {
        (self.is_on)(filter)
    }

    fn write_values(&self, _filter: &Filter, _out: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }

    fn keeps(&self, filter: &Filter, candidate: &Candidate<'_>) -> bool {
        !(self.is_on)(filter) || (self.keeps)(candidate)
    }

    fn merge(&self, into: &mut Filter, from: &mut Filter) {
        if (self.is_on)(from) {
            (self.turn_on)(into);
        }
    }
}

/// `state`: states to keep.
pub static STATE: Key = Key {
    name: "state",
    flag: "state",
    aliases: &[],
    takes: Takes::Values("STATE"),
    help: "States: ss spelling (close-wait), netstat spelling (CLOSE_WAIT), or a group: all, connected, synchronized, bucket, big",
    conflicts_with: &[],
    guessed: true,
    slot: &List::<StateSpec> {
        values: |f| &f.states,
        values_mut: |f| &mut f.states,
        keeps: |spec, c| spec.0.contains(c.socket.state),
    },
};

/// `sport`: local ports.
pub static SPORT: Key = Key {
    name: "sport",
    flag: "sport",
    aliases: &[],
    takes: Takes::Values("PORT"),
    help: "Local port or range (8000-8100)",
    conflicts_with: &[],
    guessed: false,
    slot: &List::<PortRange> {
        values: |f| &f.sports,
        values_mut: |f| &mut f.sports,
        keeps: |range, c| range.contains(c.socket.local.port()),
    },
};

/// `dport`: remote ports.
pub static DPORT: Key = Key {
    name: "dport",
    flag: "dport",
    aliases: &[],
    takes: Takes::Values("PORT"),
    help: "Remote port or range",
    conflicts_with: &[],
    guessed: false,
    slot: &List::<PortRange> {
        values: |f| &f.dports,
        values_mut: |f| &mut f.dports,
        keeps: |range, c| range.contains(c.socket.remote.port()),
    },
};

/// `port`: local or remote ports.
pub static PORT: Key = Key {
    name: "port",
    flag: "port",
    aliases: &[],
    takes: Takes::Values("PORT"),
    help: "Local or remote port or range",
    conflicts_with: &[],
    guessed: true,
    slot: &List::<PortRange> {
        values: |f| &f.ports,
        values_mut: |f| &mut f.ports,
        keeps: |range, c| {
            range.contains(c.socket.local.port()) || range.contains(c.socket.remote.port())
        },
    },
};

/// `src`: local addresses.
pub static SRC: Key = Key {
    name: "src",
    flag: "src",
    aliases: &[],
    takes: Takes::Values("ADDR[/LEN]"),
    help: "Local address or CIDR block",
    conflicts_with: &[],
    guessed: false,
    slot: &List::<AddrBlock> {
        values: |f| &f.src,
        values_mut: |f| &mut f.src,
        keeps: |block, c| block.contains(c.socket.local.ip()),
    },
};

/// `dst`: remote addresses.
pub static DST: Key = Key {
    name: "dst",
    flag: "dst",
    aliases: &[],
    takes: Takes::Values("ADDR[/LEN]"),
    help: "Remote address or CIDR block",
    conflicts_with: &[],
    guessed: false,
    slot: &List::<AddrBlock> {
        values: |f| &f.dst,
        values_mut: |f| &mut f.dst,
        keeps: |block, c| block.contains(c.socket.remote.ip()),
    },
};

/// `addr`: local or remote addresses.
pub static ADDR: Key = Key {
    name: "addr",
    flag: "addr",
    aliases: &[],
    takes: Takes::Values("ADDR[/LEN]"),
    help: "Local or remote address or CIDR block",
    conflicts_with: &[],
    guessed: true,
    slot: &List::<AddrBlock> {
        values: |f| &f.addrs,
        values_mut: |f| &mut f.addrs,
        keeps: |block, c| {
            block.contains(c.socket.local.ip()) || block.contains(c.socket.remote.ip())
        },
    },
};

/// `process` (`proc`, `pid`): owning processes, by pid or name.
pub static PROCESS: Key = Key {
    name: "process",
    flag: "process",
    aliases: &["proc", "pid"],
    takes: Takes::Values("PID|NAME"),
    help: "Owning process: a pid or a name (as /proc/PID/comm shows it)",
    conflicts_with: &["no_processes"],
    guessed: true,
    slot: &List::<ProcessSpec> {
        values: |f| &f.processes,
        values_mut: |f| &mut f.processes,
        keeps: |spec, c| c.snapshot.owners(c.socket).any(|p| spec.matches(p)),
    },
};

/// `container`: sockets in a container, by id prefix, container name or pod name.
pub static CONTAINER: Key = Key {
    name: "container",
    flag: "container",
    aliases: &[],
    takes: Takes::Values("ID|NAME"),
    help: "Container: the start of its id, its name, or its Kubernetes pod's name",
    conflicts_with: &[],
    guessed: false,
    slot: &List::<ContainerSpec> {
        values: |f| &f.containers,
        values_mut: |f| &mut f.containers,
        keeps: |spec, c| {
            c.snapshot
                .container(c.socket)
                .is_some_and(|k| spec.matches(k))
        },
    },
};

/// `cgroup`: sockets whose cgroup path starts with the value.
pub static CGROUP: Key = Key {
    name: "cgroup",
    flag: "cgroup",
    aliases: &[],
    takes: Takes::Values("PREFIX"),
    help: "Cgroup path prefix, as the JSON's \"cgroup\" shows it (/system.slice, /kubepods)",
    conflicts_with: &[],
    guessed: false,
    slot: &List::<CgroupPrefix> {
        values: |f| &f.cgroups,
        values_mut: |f| &mut f.cgroups,
        keeps: |prefix, c| {
            c.snapshot
                .cgroup(c.socket)
                .is_some_and(|g| prefix.matches(g))
        },
    },
};

/// `netns` (flag `--netns-match`): sockets of one namespace among many, by name or inode.
pub static NETNS: Key = Key {
    name: "netns",
    flag: "netns-match",
    aliases: &[],
    takes: Takes::Values("NAME|INODE"),
    help: "With --all-netns, one namespace among many: its name (as the report prints it) or its inode",
    conflicts_with: &[],
    guessed: false,
    slot: &List::<NetnsSpec> {
        values: |f| &f.netns,
        values_mut: |f| &mut f.netns,
        keeps: |spec, c| spec.matches_socket(c.snapshot, c.socket),
    },
};

/// `ipv4` (`-4`): IPv4 sockets only.
pub static IPV4: Key = Key {
    name: "ipv4",
    flag: "ipv4",
    aliases: &[],
    takes: Takes::Switch { short: '4' },
    help: "IPv4 sockets only",
    conflicts_with: &["ipv6"],
    guessed: false,
    slot: &Switch {
        is_on: |f| f.family == Some(Family::Inet),
        turn_on: |f| f.family = Some(Family::Inet),
        keeps: |c| c.socket.family == Family::Inet,
    },
};

/// `ipv6` (`-6`): IPv6 sockets only.
pub static IPV6: Key = Key {
    name: "ipv6",
    flag: "ipv6",
    aliases: &[],
    takes: Takes::Switch { short: '6' },
    help: "IPv6 sockets only",
    conflicts_with: &[],
    guessed: false,
    slot: &Switch {
        is_on: |f| f.family == Some(Family::Inet6),
        turn_on: |f| f.family = Some(Family::Inet6),
        keeps: |c| c.socket.family == Family::Inet6,
    },
};

/// Every key, in the order a filter prints and bare words are guessed.
pub static KEYS: &[&Key] = &[
    &STATE, &SPORT, &DPORT, &PORT, &SRC, &DST, &ADDR, &PROCESS, &CONTAINER, &CGROUP, &NETNS, &IPV4,
    &IPV6,
];

/// The key `word` names (its name or an alias).
pub fn find(word: &str) -> Option<&'static Key> {
    KEYS.iter().copied().find(|k| k.is_named(word))
}

/// The keys that take values, for errors: `state, sport, … or process`.
pub(super) fn value_key_list() -> String {
    let names: Vec<&str> = KEYS
        .iter()
        .filter(|k| matches!(k.takes, Takes::Values(_)))
        .map(|k| k.name)
        .collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_debugs_as_its_name_and_what_it_takes() {
        let text = format!("{:?}", &STATE);
        assert!(text.starts_with("Key { name: \"state\", takes: "), "{text}");
        assert!(text.ends_with(", .. }"), "{text}");
    }
}
