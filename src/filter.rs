//! The filter vocabulary, shared by every mode: states (ss and netstat spellings, ss
//! groups), ports, addresses or CIDR blocks, process, family. Counts never pass through a
//! filter; filters narrow the list of sockets shown.
//!
//! One table of keys ([`KEYS`]) says what each key is called, what it takes, how it
//! matches and how it prints; the `/` line ([`Filter`]'s `FromStr` and `Display`), the
//! errors ([`FilterError`]) and the command line's flags are all built on it. A new key
//! is a field of [`Filter`], a value type in `filter/spec.rs` if it needs one, an entry in
//! [`KEYS`] (`filter/keys.rs`), and its flag in `cli::FilterArgs`.
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
pub(crate) mod keys;
mod order;
mod query;
mod quote;
pub(crate) mod spec;

use crate::model::{ClosedSocket, Family, Snapshot, Socket, StateSet};
use keys::Candidate;

pub use error::FilterError;
pub use keys::{KEYS, Key, Takes};
pub use order::listing_order;
pub use spec::{
    AddrBlock, CgroupPrefix, ContainerSpec, NetnsSpec, PortRange, ProcessSpec, STATE_SPELLINGS,
    StateSpec,
};

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
    /// Containers (id prefix, container name or pod name).
    pub containers: Vec<ContainerSpec>,
    /// Cgroup path prefixes.
    pub cgroups: Vec<CgroupPrefix>,
    /// Namespaces, by name or inode (`--all-netns`).
    pub netns: Vec<NetnsSpec>,
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
        let kept: Vec<bool> = snapshot
            .sockets
            .iter()
            .map(|s| self.matches(snapshot, s))
            .collect();
        Snapshot {
            sockets: snapshot
                .sockets
                .iter()
                .zip(&kept)
                .filter_map(|(s, keep)| keep.then_some(*s))
                .collect(),
            tcp_infos: snapshot.tcp_infos.retain_by_index(|i| kept[i]),
            cgroups: snapshot.cgroups.clone(),
            namespaces: snapshot.namespaces.clone(),
            taken_at: snapshot.taken_at,
            host: snapshot.host.clone(),
            netns: snapshot.netns.clone(),
            netns_inode: snapshot.netns_inode,
            netns_container: snapshot.netns_container.clone(),
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
        // The JSON report asks this of every socket, a million of them, mostly unfiltered.
        if self.is_empty() {
            return true;
        }
        let candidate = Candidate { snapshot, socket };
        KEYS.iter().all(|key| key.keeps(self, &candidate))
    }

    /// Whether a socket the kernel destroyed passes every filter (its state is the one a
    /// poll last saw it in, `CLOSE` if none did).
    pub fn keeps_closed(&self, closed: &ClosedSocket) -> bool {
        if self.is_empty() {
            return true;
        }
        let one = closed.as_snapshot();
        self.matches(&one, &one.sockets[0])
    }

    /// Add `other`'s values to this filter's (a switch `other` sets is set here too).
    pub fn merge(&mut self, mut other: Filter) {
        for key in KEYS {
            key.merge(self, &mut other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Owners, Process, TcpState};

    /// The cgroups of the sample: the LISTEN socket in Docker container `web-1`, the
    /// CLOSE_WAIT one in pod `shop/cart-0`, the TIME_WAIT one in none.
    fn cgroups() -> crate::model::Cgroups {
        use crate::model::{Cgroup, Cgroups, Container, Pod, Runtime};
        use std::sync::Arc;
        let mut cgroups = Cgroups::default();
        cgroups.insert(1, 10);
        cgroups.insert(2, 20);
        cgroups.set_known(vec![
            Cgroup {
                id: 10,
                path: Some("/system.slice/docker-3f2a1c9e0b7d.scope".into()),
                container: Some(Arc::new(Container {
                    id: "3f2a1c9e0b7d".into(),
                    name: Some("web-1".into()),
                    runtime: Runtime::Docker,
                    pod: None,
                })),
            },
            Cgroup {
                id: 20,
                path: Some("/kubepods.slice/kubepods-pod1.slice/crio-5c1f00aa0000.scope".into()),
                container: Some(Arc::new(Container {
                    id: "5c1f00aa0000".into(),
                    name: None,
                    runtime: Runtime::Crio,
                    pod: Some(Pod {
                        namespace: Some("shop".into()),
                        name: Some("cart-0".into()),
                        uid: "1".into(),
                    }),
                })),
            },
        ]);
        cgroups
    }

    /// A LISTEN socket of nginx on 0.0.0.0:80, a CLOSE_WAIT one of nginx on IPv6, a
    /// TIME_WAIT one of nobody from 192.0.2.1:40000 to 192.0.2.9:443 (cookies 1, 2, 3;
    /// cgroups as [`cgroups`] says).
    fn sample() -> Snapshot {
        let socket = |state, local: &str, remote: &str| {
            Socket::new(state, local.parse().unwrap(), remote.parse().unwrap())
        };
        let mut listen = socket(TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0");
        listen.owners = Owners { start: 0, len: 1 };
        let mut cw = socket(
            TcpState::CloseWait,
            "[2001:db8::1]:80",
            "[2001:db8::2]:51000",
        );
        cw.owners = Owners { start: 0, len: 1 };
        let mut tw = socket(TcpState::TimeWait, "192.0.2.1:40000", "192.0.2.9:443");
        (listen.cookie, cw.cookie, tw.cookie) = (1, 2, 3);
        Snapshot {
            sockets: vec![listen, cw, tw],
            cgroups: cgroups(),
            processes: vec![Process {
                pid: 4242,
                comm: "nginx".into(),
                cmdline: "nginx: worker".into(),
                ..Process::default()
            }],
            owner_index: vec![0],
            ..Snapshot::default()
        }
    }

    /// Which of the sample's sockets (0 LISTEN, 1 CLOSE_WAIT, 2 TIME_WAIT) `line` keeps.
    fn kept(line: &str) -> Vec<usize> {
        let snapshot = sample();
        let filter: Filter = line.parse().unwrap();
        (0..snapshot.sockets.len())
            .filter(|&i| filter.matches(&snapshot, &snapshot.sockets[i]))
            .collect()
    }

    #[test]
    fn every_key_keeps_exactly_its_sockets() {
        for (line, expected) in [
            ("", vec![0, 1, 2]),
            ("state=bucket", vec![2]),
            ("state=listen,close-wait", vec![0, 1]),
            ("sport=80", vec![0, 1]),
            ("dport=443", vec![2]),
            ("port=443", vec![2]),
            ("port=40000-51000", vec![1, 2]),
            ("src=192.0.2.0/24", vec![2]),
            ("dst=2001:db8::/32", vec![1]),
            ("addr=192.0.2.9", vec![2]),
            ("process=nginx", vec![0, 1]),
            ("pid=4242", vec![0, 1]),
            ("pid=1", vec![]),
            ("-4", vec![0, 2]),
            ("-6", vec![1]),
            ("-6 port=443", vec![]),
            ("nginx 80", vec![0, 1]),
            ("container=web-1", vec![0]),
            ("container=3f2a", vec![0]),
            ("container=cart-0", vec![1]),
            ("container=5c1f,web-1", vec![0, 1]),
            ("container=shop", vec![]),
            ("cgroup=/kubepods", vec![1]),
            ("cgroup=/", vec![0, 1]),
            ("cgroup=/system.slice container=cart-0", vec![]),
        ] {
            assert_eq!(kept(line), expected, "{line:?}");
        }
    }

    #[test]
    fn container_and_cgroup_keys_print_and_parse_back() {
        let filter: Filter = "container=web-1,3f2a cgroup=/kubepods -4".parse().unwrap();
        assert_eq!(
            filter.to_string(),
            "container=web-1,3f2a cgroup=/kubepods -4"
        );
        assert_eq!(filter.to_string().parse::<Filter>().unwrap(), filter);
        assert_eq!(
            "cgroup=kubepods".parse::<Filter>().unwrap_err().to_string(),
            "\"kubepods\" is not a cgroup path: start it with '/', e.g. /system.slice or /kubepods"
        );
    }

    #[test]
    fn merged_filters_add_up_values_and_keep_switches() {
        let mut filter: Filter = "port=80 -4".parse().unwrap();
        filter.merge("port=443 state=listen".parse().unwrap());
        assert_eq!(filter.to_string(), "state=LISTEN port=80,443 -4");
        filter.merge("-6".parse().unwrap());
        assert_eq!(filter.family, Some(Family::Inet6));
    }

    #[test]
    fn narrowing_keeps_the_matching_sockets_and_everything_else() {
        let mut snapshot = sample();
        for (i, s) in snapshot.sockets.clone().iter().enumerate() {
            let info = crate::model::TcpInfo {
                rtt_us: 100 + i as u32,
                ..Default::default()
            };
            snapshot.tcp_infos.push(s.cookie, (i != 0).then_some(info));
        }
        let filter: Filter = "process=nginx".parse().unwrap();
        let narrowed = filter.narrow(&snapshot);
        assert_eq!(narrowed.sockets, snapshot.sockets[..2].to_vec());
        let rtts: Vec<Option<u32>> = (0..3)
            .map(|i| narrowed.tcp_info_at(i).map(|t| t.rtt_us))
            .collect();
        assert_eq!(
            rtts,
            [None, Some(101), None],
            "each kept socket keeps its own"
        );
        assert_eq!(narrowed.processes, snapshot.processes);
        assert_eq!(narrowed.owner_index, snapshot.owner_index);
    }
}
