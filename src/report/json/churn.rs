//! The `"churn"` and `"makers"` keys of an anomaly: the closes behind a churn rate, and
//! who made the connections that closed.

use serde::Serialize;

use crate::aggregate::{ChurnEvidence, MakerCount};

/// `{"closes", "per_second", "short_lived", "unseen", "span_ms", "median_lifetime_ms",
/// "bytes_per_connection"}`; the last two `null` when unknown.
#[derive(Serialize)]
pub struct ChurnDoc {
    /// Connections closed over the span.
    pub closes: u64,
    /// `closes` per second over the span.
    pub per_second: f64,
    /// Of those, short-lived (`[connection_churn] short_lived`, or seen by no poll).
    pub short_lived: u64,
    /// Of those, seen by no poll: born and closed between two polls.
    pub unseen: u64,
    /// The span the closes were counted over, in milliseconds.
    pub span_ms: u64,
    /// The median lifetime of the closes a poll saw born, as the power of two of
    /// milliseconds it falls under (an upper bound); `null` when no poll saw one born.
    pub median_lifetime_ms: Option<u64>,
    /// Bytes sent and received per connection; `null` when no close had `tcp_info`.
    pub bytes_per_connection: Option<u64>,
}

impl ChurnDoc {
    /// The document for `churn`.
    pub fn new(churn: &ChurnEvidence) -> ChurnDoc {
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        ChurnDoc {
            closes: churn.closes,
            per_second: churn.per_second(),
            short_lived: churn.short_lived,
            unseen: churn.unseen,
            span_ms: ms(churn.span),
            median_lifetime_ms: churn.median_lifetime.map(ms),
            bytes_per_connection: churn.bytes_per_connection,
        }
    }
}

/// `{"pid", "comm", "closes"}`: a maker and the connections it closed; `pid` and `comm`
/// `null` for the closes no poll or listener attributed.
#[derive(Serialize)]
pub struct MakerDoc<'a> {
    /// Its process id.
    pub pid: Option<u32>,
    /// Its short name, as read.
    pub comm: Option<&'a str>,
    /// Connections it closed.
    pub closes: u64,
}

impl<'a> MakerDoc<'a> {
    /// The document for `maker`.
    pub fn new(maker: &'a MakerCount) -> MakerDoc<'a> {
        MakerDoc {
            pid: maker.maker.as_ref().map(|m| m.pid),
            comm: maker.maker.as_ref().map(|m| m.comm.as_str()),
            closes: maker.closes,
        }
    }
}
