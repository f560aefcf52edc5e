//! `syn_recv_flood` (half-open handshakes piling up on a listener) and `syn_cookies` (the
//! kernel's SYN queue overflowed: it sent cookies or dropped SYNs).

use serde::{Deserialize, Serialize};

use super::super::anomaly::{AnomalyKind, CounterRise, Evidence, Observation, Severity, Subject};
use super::{InvalidSetting, Rule, RuleConfig, RuleInput, fraction_levels, levels, share};
use crate::model::TcpState;

/// Settings of `syn_recv_flood` (`[syn_recv]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynRecvRule {
    /// Run the rule.
    pub enabled: bool,
    /// Warning at this many SYN_RECV sockets on one listener. Default 100: half-open
    /// handshakes ≈ new connections per second × round-trip time, so a listener taking
    /// 1,000 connections/s from clients 100 ms away holds about 100.
    pub per_listener: u64,
    /// Critical at this many. Default 1000: ten times the warning.
    pub per_listener_critical: u64,
    /// Warning also when SYN_RECV reaches this fraction of the listener's SYN backlog
    /// (min(listen backlog, `tcp_max_syn_backlog`)). Default 0.5: half the queue used.
    pub backlog_fraction: f64,
    /// Critical at this fraction. Default 0.9: the next burst overflows it.
    pub backlog_fraction_critical: f64,
    /// The backlog fractions apply only from this many SYN_RECV sockets, so a listener with
    /// a tiny backlog does not warn on a handful of handshakes. Default 10.
    pub min_count: u64,
}

impl Default for SynRecvRule {
    fn default() -> Self {
        SynRecvRule {
            enabled: true,
            per_listener: 100,
            per_listener_critical: 1000,
            backlog_fraction: 0.5,
            backlog_fraction_critical: 0.9,
            min_count: 10,
        }
    }
}

impl Rule for SynRecvRule {
    const SECTION: &'static str = "syn_recv";

    fn of(rules: &RuleConfig) -> &Self {
        &rules.syn_recv
    }

    fn of_mut(rules: &mut RuleConfig) -> &mut Self {
        &mut rules.syn_recv
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), InvalidSetting> {
        levels(
            Self::SECTION,
            ("per_listener", self.per_listener),
            ("per_listener_critical", self.per_listener_critical),
        )?;
        fraction_levels(
            Self::SECTION,
            ("backlog_fraction", self.backlog_fraction),
            ("backlog_fraction_critical", self.backlog_fraction_critical),
        )?;
        levels(
            Self::SECTION,
            ("min_count", self.min_count),
            ("min_count", self.min_count),
        )
    }

    fn evaluate(&self, input: &RuleInput<'_>, out: &mut Vec<Observation>) {
        syn_recv_flood(input, self, out);
    }
}

/// Settings of `syn_cookies` (`[syn_cookies]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynCookiesRule {
    /// Run the rule.
    pub enabled: bool,
    /// Warning when SyncookiesSent / TCPReqQFullDoCookies / TCPReqQFullDrop rose by at least
    /// this much between two polls. Default 1: with `tcp_syncookies` = 1 cookies are sent only
    /// when a SYN queue is full, which a healthy server never sees.
    pub rise: u64,
    /// Critical at this rise (any rise of TCPReqQFullDrop is critical: SYNs were dropped).
    /// Default 1000.
    pub rise_critical: u64,
}

impl Default for SynCookiesRule {
    fn default() -> Self {
        SynCookiesRule {
            enabled: true,
            rise: 1,
            rise_critical: 1000,
        }
    }
}

impl Rule for SynCookiesRule {
    const SECTION: &'static str = "syn_cookies";

    fn of(rules: &RuleConfig) -> &Self {
        &rules.syn_cookies
    }

    fn of_mut(rules: &mut RuleConfig) -> &mut Self {
        &mut rules.syn_cookies
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), InvalidSetting> {
        levels(
            Self::SECTION,
            ("rise", self.rise),
            ("rise_critical", self.rise_critical),
        )
    }

    fn evaluate(&self, input: &RuleInput<'_>, out: &mut Vec<Observation>) {
        syn_cookies(input, self, out);
    }
}

fn syn_recv_flood(input: &RuleInput<'_>, rule: &SynRecvRule, out: &mut Vec<Observation>) {
    let max_syn_backlog = input.snapshot.limits.tcp_max_syn_backlog;
    let backlog_known = input.snapshot.backlog_known();
    for listener in &input.tally.listeners {
        let count = listener.counts.get(TcpState::SynRecv);
        // Without the listen backlog (`/proc/net/tcp`) only the fixed levels apply.
        let syn_backlog = backlog_known
            .then(|| max_syn_backlog.map_or(listener.backlog, |m| m.min(listener.backlog)));
        let by_backlog =
            |fraction| syn_backlog.map_or(u64::MAX, |b| share(fraction, b).max(rule.min_count));
        let warning = rule.per_listener.min(by_backlog(rule.backlog_fraction));
        let critical = rule
            .per_listener_critical
            .min(by_backlog(rule.backlog_fraction_critical))
            .max(warning);
        if !input.worth_reporting(count, warning) {
            continue;
        }
        out.push(Observation {
            kind: AnomalyKind::SynRecvFlood,
            subject: Subject::Listener(listener.local),
            count,
            warning,
            critical,
            forced: None,
            evidence: Evidence {
                distinct_sources: Some(listener.distinct_sources),
                limit: syn_backlog,
                ..Evidence::default()
            },
        });
    }
}

fn syn_cookies(input: &RuleInput<'_>, rule: &SynCookiesRule, out: &mut Vec<Observation>) {
    // With tcp_syncookies = 2 every SYN is answered with a cookie by design: only drops
    // say anything then.
    let always_cookies = input.snapshot.limits.tcp_syncookies == Some(2);
    let counters: &[&'static str] = if always_cookies {
        &["TCPReqQFullDrop"]
    } else {
        &["SyncookiesSent", "TCPReqQFullDoCookies", "TCPReqQFullDrop"]
    };
    let rises: Vec<CounterRise> = counters
        .iter()
        .filter_map(|&counter| {
            let rise = input.rise(counter)?;
            (rise > 0).then_some(CounterRise { counter, rise })
        })
        .collect();
    let of = |name: &str| {
        rises
            .iter()
            .find(|r| r.counter == name)
            .map_or(0, |r| r.rise)
    };
    // One SYN answered with a cookie bumps both SyncookiesSent and TCPReqQFullDoCookies.
    let dropped = of("TCPReqQFullDrop");
    let count = of("SyncookiesSent").max(of("TCPReqQFullDoCookies")) + dropped;
    if !input.worth_reporting(count, rule.rise) {
        return;
    }
    out.push(Observation {
        kind: AnomalyKind::SynCookies,
        subject: Subject::Namespace,
        count,
        warning: rule.rise,
        critical: rule.rise_critical,
        forced: (dropped > 0).then_some(Severity::Critical),
        evidence: Evidence {
            counter_rises: rises,
            counter_interval: input.counter_interval,
            ..Evidence::default()
        },
    });
}
