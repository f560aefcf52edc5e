//! `time_wait_excess`: TIME_WAIT sockets toward one destination (local ports running out),
//! or in the whole namespace near `tcp_max_tw_buckets`, or the kernel already destroying
//! them (TCPTimeWaitOverflow).
//!
//! TIME_WAIT lasts a fixed 60 s in Linux (`TCP_TIMEWAIT_LEN`); `tcp_fin_timeout` does not
//! shorten it, and `tcp_tw_recycle` no longer exists (removed in 4.12). Its hints (in
//! [`AnomalyKind::about`]) say so by suggesting only what works.

use serde::{Deserialize, Serialize};

use std::time::Duration;

use super::super::anomaly::{
    AnomalyKind, CounterRise, Evidence, MakerCount, Observation, Severity, Subject,
};
use super::super::churn::SPAN_SECONDS;
use super::super::group::canonical;
use super::{InvalidSetting, Rule, RuleConfig, RuleInput, fraction_levels, levels, share};
use crate::model::TcpState;

/// Settings of `time_wait_excess` (`[time_wait]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeWaitRule {
    /// Run the rule.
    pub enabled: bool,
    /// Warning at this many TIME_WAIT sockets toward one destination address and port.
    /// Default 5000: about 83 new connections per second to one upstream without reuse,
    /// already 18% of the default ephemeral range (32768–60999).
    pub per_destination: u64,
    /// Critical at this many. Default 20000: 70% of the default ephemeral range.
    pub per_destination_critical: u64,
    /// Warning also when TIME_WAIT toward one destination reaches this fraction of the
    /// ephemeral port range (`ip_local_port_range`): matters where the range was narrowed.
    /// Default 0.5.
    pub port_range_fraction: f64,
    /// Critical at this fraction of the port range. Default 0.8.
    pub port_range_fraction_critical: f64,
    /// Warning when all TIME_WAIT sockets reach this fraction of `tcp_max_tw_buckets`.
    /// Default 0.8.
    pub buckets_fraction: f64,
    /// Critical at this fraction (any rise of TCPTimeWaitOverflow is critical too).
    /// Default 0.95.
    pub buckets_fraction_critical: f64,
}

impl Default for TimeWaitRule {
    fn default() -> Self {
        TimeWaitRule {
            enabled: true,
            per_destination: 5000,
            per_destination_critical: 20000,
            port_range_fraction: 0.5,
            port_range_fraction_critical: 0.8,
            buckets_fraction: 0.8,
            buckets_fraction_critical: 0.95,
        }
    }
}

impl Rule for TimeWaitRule {
    const SECTION: &'static str = "time_wait";

    fn of(rules: &RuleConfig) -> &Self {
        &rules.time_wait
    }

    fn of_mut(rules: &mut RuleConfig) -> &mut Self {
        &mut rules.time_wait
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), InvalidSetting> {
        levels(
            Self::SECTION,
            ("per_destination", self.per_destination),
            ("per_destination_critical", self.per_destination_critical),
        )?;
        fraction_levels(
            Self::SECTION,
            ("port_range_fraction", self.port_range_fraction),
            (
                "port_range_fraction_critical",
                self.port_range_fraction_critical,
            ),
        )?;
        fraction_levels(
            Self::SECTION,
            ("buckets_fraction", self.buckets_fraction),
            ("buckets_fraction_critical", self.buckets_fraction_critical),
        )
    }

    fn evaluate(&self, input: &RuleInput<'_>, out: &mut Vec<Observation>) {
        evaluate(input, self, out);
    }
}

fn evaluate(input: &RuleInput<'_>, rule: &TimeWaitRule, out: &mut Vec<Observation>) {
    let before = out.len();
    per_destination(input, rule, out);
    namespace(input, rule, out);
    name_makers(input, &mut out[before..]);
}

/// How many makers a TIME_WAIT anomaly names.
const TOP_MAKERS: usize = 5;

/// Name who made the connections behind each TIME_WAIT observation, as the destroy events
/// of the last minute tell: toward its destination, or toward every one for the namespace.
/// A client's socket is destroyed as it enters TIME_WAIT, so these are the connections the
/// TIME_WAIT sockets are left of.
fn name_makers(input: &RuleInput<'_>, observations: &mut [Observation]) {
    if observations.is_empty() {
        return;
    }
    let Some(minute) = input.churn_window(Duration::from_secs(SPAN_SECONDS as u64)) else {
        return;
    };
    for observation in observations {
        let mut makers: Vec<MakerCount> = Vec::new();
        let toward = match observation.subject {
            Subject::Destination(destination) => Some(destination),
            _ => None,
        };
        for group in &minute.by_destination_maker {
            if toward.is_some_and(|d| canonical(&d) != group.key.0) {
                continue;
            }
            match makers.iter_mut().find(|m| m.maker == group.key.1) {
                Some(known) => known.closes += group.stats.closes,
                None => makers.push(MakerCount {
                    maker: group.key.1.clone(),
                    closes: group.stats.closes,
                }),
            }
        }
        makers.sort_by(|a, b| b.closes.cmp(&a.closes).then_with(|| a.maker.cmp(&b.maker)));
        makers.truncate(TOP_MAKERS);
        observation.evidence.makers = makers;
    }
}

fn per_destination(input: &RuleInput<'_>, rule: &TimeWaitRule, out: &mut Vec<Observation>) {
    let range = input
        .snapshot
        .limits
        .ip_local_port_range
        .filter(|(low, high)| low <= high)
        .map(|(low, high)| u64::from(high - low) + 1);
    let (warning, critical) = match range {
        Some(ports) => {
            let warning = rule
                .per_destination
                .min(share(rule.port_range_fraction, ports));
            let critical = rule
                .per_destination_critical
                .min(share(rule.port_range_fraction_critical, ports))
                .max(warning);
            (warning, critical)
        }
        None => (rule.per_destination, rule.per_destination_critical),
    };
    for (&destination, &count) in &input.tally.time_wait_destinations {
        if input.worth_reporting(count, warning) {
            out.push(Observation {
                kind: AnomalyKind::TimeWaitExcess,
                subject: Subject::Destination(destination),
                count,
                warning,
                critical,
                forced: None,
                evidence: Evidence {
                    limit: range,
                    ..Evidence::default()
                },
            });
        }
    }
}

impl TimeWaitRule {
    /// The (warning, critical) levels of the namespace's TIME_WAIT count for a
    /// `tcp_max_tw_buckets` of `max`: `buckets_fraction` and `buckets_fraction_critical` of it.
    pub(crate) fn namespace_levels(&self, max: u64) -> (u64, u64) {
        let warning = share(self.buckets_fraction, max);
        (
            warning,
            share(self.buckets_fraction_critical, max).max(warning),
        )
    }
}

fn namespace(input: &RuleInput<'_>, rule: &TimeWaitRule, out: &mut Vec<Observation>) {
    let total = input.tally.counts.get(TcpState::TimeWait);
    let overflow = input
        .rise("TCPTimeWaitOverflow")
        .filter(|rise| *rise > 0)
        .map(|rise| CounterRise {
            counter: "TCPTimeWaitOverflow",
            rise,
        });
    let buckets = input.snapshot.limits.tcp_max_tw_buckets;
    let (warning, critical) = match buckets.map(|max| rule.namespace_levels(max)) {
        Some(levels) => levels,
        // Without the limit only the overflow counter speaks; the count is then its own mark.
        None if overflow.is_some() => (total.max(1), total.max(1)),
        None => return,
    };
    if overflow.is_none() && !input.worth_reporting(total, warning) {
        return;
    }
    out.push(Observation {
        kind: AnomalyKind::TimeWaitExcess,
        subject: Subject::Namespace,
        count: total,
        warning,
        critical,
        forced: overflow.map(|_| Severity::Critical),
        evidence: Evidence {
            counter_rises: overflow.into_iter().collect(),
            counter_interval: overflow.and(input.counter_interval),
            limit: buckets,
            ..Evidence::default()
        },
    });
}
