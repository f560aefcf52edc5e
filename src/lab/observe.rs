//! What the monitored namespace holds, read independently of the collector: the `st`
//! column of `/proc/net/tcp` and `/proc/net/tcp6`, read from a thread inside the namespace.
//! These tables show every state but bound-inactive CLOSE sockets.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::{LabError, StateTally};
use crate::collect::netns::{self, NetnsTarget};
use crate::model::{Family, TcpState};

/// Counts per family and state in `netns` now (no zero entries, no CLOSE), leaving out
/// every socket whose local or remote endpoint is one of `ignored`.
pub(crate) fn counts(netns: &str, ignored: &[SocketAddr]) -> Result<StateTally, LabError> {
    let ignored: Vec<String> = ignored.iter().copied().map(table_endpoint).collect();
    netns::run_in(&NetnsTarget::Named(netns.to_owned()), || {
        let mut tally = StateTally::new();
        for (family, file) in [(Family::Inet, "tcp"), (Family::Inet6, "tcp6")] {
            let path = format!("/proc/thread-self/net/{file}");
            let text = std::fs::read_to_string(&path).map_err(|source| LabError::Socket {
                what: format!("netns {netns}: reading {path}"),
                error: source,
            })?;
            tally_table(family, &text, &ignored, &mut tally);
        }
        Ok(tally)
    })?
}

/// Add the states of one `/proc/net/tcp`-format table to `tally`, but for the rows whose
/// local or remote endpoint (as the table spells it) is in `ignored`.
fn tally_table(family: Family, text: &str, ignored: &[String], tally: &mut StateTally) {
    for line in text.lines().skip(1) {
        let mut fields = line.split_whitespace();
        let (Some(_), Some(local), Some(remote), Some(st)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if ignored.iter().any(|e| e == local || e == remote) {
            continue;
        }
        let state = u8::from_str_radix(st, 16)
            .ok()
            .and_then(TcpState::from_kernel);
        if let Some(state) = state {
            *tally.entry((family, state)).or_default() += 1;
        }
    }
}

/// An endpoint as `/proc/net/tcp` and `tcp6` spell it: each 32-bit word of the address
/// in host byte order as 8 hex digits, a colon, the port as 4.
fn table_endpoint(addr: SocketAddr) -> String {
    let words: Vec<[u8; 4]> = match addr.ip() {
        IpAddr::V4(ip) => vec![ip.octets()],
        IpAddr::V6(ip) => ip
            .octets()
            .chunks_exact(4)
            .map(|w| [w[0], w[1], w[2], w[3]])
            .collect(),
    };
    let mut out = String::with_capacity(37);
    for word in words {
        let _ = write!(out, "{:08X}", u32::from_ne_bytes(word));
    }
    let _ = write!(out, ":{:04X}", addr.port());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_read_from_the_st_column() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 010200C0:A2D3 820200C0:0009 02 00000001:00000000 01:00000154 00000002     0        0 41 1 0 100 0 0 10 -1\n\
   1: 010200C0:A2D4 820200C0:0009 02 00000001:00000000 01:00000154 00000002     0        0 42 1 0 100 0 0 10 -1\n\
   2: 010200C0:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 43 1 0 100 0 0 10 0\n";
        let mut tally = StateTally::new();
        tally_table(Family::Inet, table, &[], &mut tally);
        assert_eq!(
            tally.into_iter().collect::<Vec<_>>(),
            vec![
                ((Family::Inet, TcpState::SynSent), 2),
                ((Family::Inet, TcpState::Listen), 1)
            ]
        );
    }

    /// The tables print each address word as the kernel holds it: on this (little-endian)
    /// machine 192.0.2.1 reads `010200C0`.
    #[cfg(target_endian = "little")]
    #[test]
    fn endpoints_are_spelled_as_the_tables_spell_them() {
        assert_eq!(
            table_endpoint("192.0.2.1:41683".parse().unwrap()),
            "010200C0:A2D3"
        );
        assert_eq!(
            table_endpoint("[2001:db8::1:7]:9090".parse().unwrap()),
            "B80D0120000000000000000007000100:2382"
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn sockets_on_or_toward_an_ignored_endpoint_are_left_out() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 010200C0:A2D3 010200C0:2382 06 00000000:00000000 03:00001771 00000000     0        0 0 3 0\n\
   1: 010200C0:2382 010200C0:A2D4 01 00000000:00000000 00:00000000 00000000     0        0 44 1 0 20 4 30 10 -1\n\
   2: 010200C0:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 43 1 0 100 0 0 10 0\n\
   3: 010200C0:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 45 1 0 100 0 0 10 0\n";
        let ignored = [table_endpoint("192.0.2.1:9090".parse().unwrap())];
        let mut tally = StateTally::new();
        tally_table(Family::Inet, table, &ignored, &mut tally);
        assert_eq!(
            tally.into_iter().collect::<Vec<_>>(),
            vec![((Family::Inet, TcpState::Listen), 1)]
        );
    }
}
