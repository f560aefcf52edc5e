//! The values filters take: states (ss and netstat spellings, ss groups), ports or ranges,
//! addresses or CIDR blocks, processes. Each parses from the text a user types and prints
//! back as text that parses to the same value.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::FilterError;
use crate::model::{Process, StateSet, TcpState};

mod container;

pub use container::{CgroupPrefix, ContainerSpec, NetnsSpec};

/// A `--state` value: one state or one of ss's groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSpec(pub StateSet);

/// The spellings `--state` accepts, for error messages and help.
pub const STATE_SPELLINGS: &str = "established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, close (closed), \
close-wait, last-ack, listen (listening), closing — ss or netstat spelling, any case — or the groups \
all, connected, synchronized, bucket, big";

impl FromStr for StateSpec {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        use TcpState::{
            Close, CloseWait, Closing, Established, FinWait1, FinWait2, LastAck, Listen, SynRecv,
            SynSent, TimeWait,
        };
        let key: String = text
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let connected = StateSet::ALL.without(Listen).without(Close);
        let set = match key.as_str() {
            "established" => StateSet::of(&[Established]),
            "synsent" => StateSet::of(&[SynSent]),
            "synrecv" | "synreceived" => StateSet::of(&[SynRecv]),
            "finwait1" => StateSet::of(&[FinWait1]),
            "finwait2" => StateSet::of(&[FinWait2]),
            "timewait" => StateSet::of(&[TimeWait]),
            "close" | "closed" | "unconn" => StateSet::of(&[Close]),
            "closewait" => StateSet::of(&[CloseWait]),
            "lastack" => StateSet::of(&[LastAck]),
            "listen" | "listening" => StateSet::of(&[Listen]),
            "closing" => StateSet::of(&[Closing]),
            "all" => StateSet::ALL,
            "connected" => connected,
            "synchronized" => connected.without(SynSent),
            "bucket" => StateSet::of(&[SynRecv, TimeWait]),
            "big" => StateSet::ALL.without(SynRecv).without(TimeWait),
            _ => {
                return Err(FilterError::UnknownState {
                    text: text.to_owned(),
                });
            }
        };
        Ok(StateSpec(set))
    }
}

/// The states, in netstat spelling, comma-separated (`SYN_RECV,TIME_WAIT` for `bucket`).
impl fmt::Display for StateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, state) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(state.name())?;
        }
        Ok(())
    }
}

/// A port or an inclusive port range (`443`, `8000-8100`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (equal to `first` for a single port).
    pub last: u16,
}

impl PortRange {
    /// Whether `port` is in the range.
    pub fn contains(self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl FromStr for PortRange {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().trim_start_matches(':');
        let parse = |p: &str| {
            p.trim().parse::<u16>().map_err(|_| FilterError::NotAPort {
                text: text.to_owned(),
            })
        };
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let p = parse(text)?;
                (p, p)
            }
        };
        if first > last {
            return Err(FilterError::BackwardsRange {
                text: text.to_owned(),
                first,
                last,
            });
        }
        Ok(PortRange { first, last })
    }
}

/// `443`, or `8000-8100` for a range.
impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// An address or CIDR block (`192.0.2.7`, `10.0.0.0/8`, `2001:db8::/32`).
///
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.7`) match IPv4 blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrBlock {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl AddrBlock {
    /// Whether `ip` is inside the block.
    pub fn contains(self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

impl FromStr for AddrBlock {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || FilterError::NotAnAddress {
            text: text.to_owned(),
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let addr = canonical(
            addr.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|_| bad())?,
        );
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(AddrBlock { addr, prefix })
    }
}

/// The address alone when the block is one address, else `ADDR/LEN`.
impl fmt::Display for AddrBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == full {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// A `--process` value: a pid, or a process name as `/proc/PID/comm` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessSpec {
    /// A process id.
    Pid(u32),
    /// A command name. Names longer than the kernel's 15-byte comm also match their truncation.
    Name(String),
}

impl ProcessSpec {
    /// Whether `process` is the one meant.
    pub fn matches(&self, process: &Process) -> bool {
        match self {
            ProcessSpec::Pid(pid) => process.pid == *pid,
            ProcessSpec::Name(name) => {
                process.comm == *name
                    || (process.comm.len() == 15 && name.starts_with(process.comm.as_str()))
            }
        }
    }
}

impl FromStr for ProcessSpec {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(FilterError::EmptyProcess);
        }
        Ok(match text.parse::<u32>() {
            Ok(pid) => ProcessSpec::Pid(pid),
            Err(_) => ProcessSpec::Name(text.to_owned()),
        })
    }
}

impl fmt::Display for ProcessSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessSpec::Pid(pid) => write!(f, "{pid}"),
            ProcessSpec::Name(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_print_in_netstat_spelling_apart_by_commas() {
        let spec: StateSpec = "bucket".parse().unwrap();
        assert_eq!(spec.to_string(), "SYN_RECV,TIME_WAIT");
        let one: StateSpec = "listen".parse().unwrap();
        assert_eq!(one.to_string(), "LISTEN");
    }

    fn states(text: &str) -> Vec<TcpState> {
        text.parse::<StateSpec>()
            .map(|s| s.0.iter().collect())
            .unwrap_or_default()
    }

    #[test]
    fn ss_and_netstat_spellings_name_the_same_state() {
        use TcpState::*;
        for (a, b, s) in [
            ("close-wait", "CLOSE_WAIT", CloseWait),
            ("fin-wait-1", "FIN_WAIT1", FinWait1),
            ("fin-wait-2", "FIN_WAIT2", FinWait2),
            ("syn-recv", "SYN_RECV", SynRecv),
            ("listening", "LISTEN", Listen),
            ("closed", "CLOSE", Close),
            ("time-wait", "TIME_WAIT", TimeWait),
        ] {
            assert_eq!(states(a), vec![s]);
            assert_eq!(states(b), vec![s]);
        }
    }

    #[test]
    fn ss_groups_expand_like_ss() {
        use TcpState::*;
        assert_eq!(states("bucket"), vec![SynRecv, TimeWait]);
        assert_eq!(
            states("connected"),
            vec![
                SynSent,
                SynRecv,
                Established,
                FinWait1,
                FinWait2,
                Closing,
                TimeWait,
                CloseWait,
                LastAck
            ]
        );
        assert_eq!(
            states("synchronized"),
            vec![
                SynRecv,
                Established,
                FinWait1,
                FinWait2,
                Closing,
                TimeWait,
                CloseWait,
                LastAck
            ]
        );
        assert_eq!(
            states("big"),
            vec![
                Listen,
                SynSent,
                Established,
                FinWait1,
                FinWait2,
                Closing,
                CloseWait,
                LastAck,
                Close
            ]
        );
        assert_eq!(states("all").len(), 11);
    }

    #[test]
    fn unknown_state_lists_the_spellings() {
        let err = "close_wiat"
            .parse::<StateSpec>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("unknown state \"close_wiat\"; use one of: established,"),
            "{err}"
        );
    }

    #[test]
    fn a_port_range_holds_both_its_ends_and_nothing_past_them() {
        let range: PortRange = "8000-8100".parse().unwrap();
        assert!(range.contains(8000) && range.contains(8100));
        assert!(!range.contains(7999) && !range.contains(8101));
        let one: PortRange = "443".parse().unwrap();
        assert!(one.contains(443) && !one.contains(442) && !one.contains(444));
    }

    #[test]
    fn ports_and_ranges() {
        assert_eq!(
            "443".parse(),
            Ok(PortRange {
                first: 443,
                last: 443
            })
        );
        assert_eq!(
            ":80".parse(),
            Ok(PortRange {
                first: 80,
                last: 80
            })
        );
        assert_eq!(
            "8000-8100".parse(),
            Ok(PortRange {
                first: 8000,
                last: 8100
            })
        );
        assert!("9-1".parse::<PortRange>().is_err());
        assert!("70000".parse::<PortRange>().is_err());
    }

    #[test]
    fn cidr_blocks_match_their_members_and_mapped_addresses() {
        let block: AddrBlock = "192.0.2.0/24".parse().unwrap_or(AddrBlock {
            addr: IpAddr::from([0, 0, 0, 0]),
            prefix: 32,
        });
        assert!(block.contains("192.0.2.200".parse().unwrap_or(block.addr)));
        assert!(block.contains("::ffff:192.0.2.9".parse().unwrap_or(block.addr)));
        assert!(!block.contains("192.0.3.1".parse().unwrap_or(block.addr)));
        let all: Result<AddrBlock, _> = "0.0.0.0/0".parse();
        assert!(all.is_ok_and(|b| b.contains("203.0.113.1".parse().unwrap_or(b.addr))));
        let v6: Result<AddrBlock, _> = "2001:db8::/32".parse();
        assert!(
            v6.is_ok_and(|b| b.contains("2001:db8:1::5".parse().unwrap_or(b.addr))
                && !b.contains("2001:db9::1".parse().unwrap_or(b.addr)))
        );
        assert!("10.0.0.0/33".parse::<AddrBlock>().is_err());
        assert!("nonsense".parse::<AddrBlock>().is_err());
    }

    #[test]
    fn long_names_match_their_truncated_comm() {
        let p = Process {
            pid: 7,
            comm: "my-long-service".to_owned(),
            cmdline: String::new(),
            ..Process::default()
        };
        assert!(ProcessSpec::Name("my-long-service-name".into()).matches(&p));
        assert!(ProcessSpec::Pid(7).matches(&p));
        assert!(!ProcessSpec::Name("my-long".into()).matches(&p));
    }
}
