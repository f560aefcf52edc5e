//! What the monitored namespace holds, read independently of the collector: the `st`
//! column of `/proc/net/tcp` and `/proc/net/tcp6`, read from a thread inside the namespace.
//! These tables show every state but bound-inactive CLOSE sockets.

use super::{LabError, StateTally};
use crate::collect::netns::{self, NetnsTarget};
use crate::model::{Family, TcpState};

/// Counts per family and state in `netns` now (no zero entries, no CLOSE).
pub(crate) fn counts(netns: &str) -> Result<StateTally, LabError> {
    netns::run_in(&NetnsTarget::Named(netns.to_owned()), || {
        let mut tally = StateTally::new();
        for (family, file) in [(Family::Inet, "tcp"), (Family::Inet6, "tcp6")] {
            let path = format!("/proc/thread-self/net/{file}");
            let text = std::fs::read_to_string(&path).map_err(|source| LabError::Socket {
                what: format!("netns {netns}: reading {path}"),
                error: source,
            })?;
            tally_table(family, &text, &mut tally);
        }
        Ok(tally)
    })?
}

/// Add the states of one `/proc/net/tcp`-format table to `tally`.
fn tally_table(family: Family, text: &str, tally: &mut StateTally) {
    for line in text.lines().skip(1) {
        let state = line
            .split_whitespace()
            .nth(3)
            .and_then(|st| u8::from_str_radix(st, 16).ok())
            .and_then(TcpState::from_kernel);
        if let Some(state) = state {
            *tally.entry((family, state)).or_default() += 1;
        }
    }
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
        tally_table(Family::Inet, table, &mut tally);
        assert_eq!(
            tally.into_iter().collect::<Vec<_>>(),
            vec![
                ((Family::Inet, TcpState::SynSent), 2),
                ((Family::Inet, TcpState::Listen), 1)
            ]
        );
    }
}
