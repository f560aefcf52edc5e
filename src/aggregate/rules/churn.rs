//! `connection_churn`: many short-lived connections a second toward one destination, or
//! opened by one process — connection reuse (keep-alive, a pool) is missing. Read from the
//! kernel's destroy events ([`Churn`](super::super::churn::Churn)), over the last `window`
//! (or, one-shot, over the counter window listened to).
//!
//! Only the connections this side opened count: a server accepting many short connections
//! from many clients is the clients' churn, seen by them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::super::anomaly::{AnomalyKind, ChurnEvidence, Evidence, MakerCount, Observation};
use super::super::anomaly::{PeerCount, Subject};
use super::super::churn::{ChurnStats, ChurnSummary, Maker};
use super::{InvalidSetting, Rule, RuleConfig, RuleInput, levels};
use crate::hash::FastMap;

/// How many makers or destinations an anomaly lists.
const TOP: usize = 5;

/// The shortest span a rate is judged over: a rate over less says little.
const SHORTEST_SPAN: Duration = Duration::from_millis(500);

/// Settings of `connection_churn` (`[connection_churn]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionChurnRule {
    /// Run the rule.
    pub enabled: bool,
    /// Warning at this many short-lived connections closed per second toward one
    /// destination (address and port). Default 50: 3,000 TIME_WAIT sockets a minute, each
    /// holding a local port for 60 s; a pooled client closes a handful an hour.
    pub per_destination: u64,
    /// Critical at this many. Default 300: 18,000 ports of the default range of 28,232.
    pub per_destination_critical: u64,
    /// Warning at this many short-lived connections closed per second that one process
    /// opened (toward every destination; known only of the connections a poll saw).
    /// Default 100.
    pub per_process: u64,
    /// Critical at this many. Default 500.
    pub per_process_critical: u64,
    /// A connection is short-lived when it lived less than this (from the poll that saw
    /// it born), or when no poll saw it at all. In the file a humantime string. Default
    /// `"5s"`.
    #[serde(with = "humantime_serde_duration")]
    pub short_lived: Duration,
    /// The span the rates are measured over in the dashboard and the exporter (one-shot:
    /// the counter window). In the file a humantime string, 1 s to 60 s. Default `"10s"`.
    #[serde(with = "humantime_serde_duration")]
    pub window: Duration,
}

impl Default for ConnectionChurnRule {
    fn default() -> Self {
        ConnectionChurnRule {
            enabled: true,
            per_destination: 50,
            per_destination_critical: 300,
            per_process: 100,
            per_process_critical: 500,
            short_lived: Duration::from_secs(5),
            window: Duration::from_secs(10),
        }
    }
}

/// A `Duration` as a humantime string (`"5s"`, `"500ms"`).
mod humantime_serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration ({e}); write it like \"5s\" or \"500ms\""
            ))
        })
    }
}

impl Rule for ConnectionChurnRule {
    const SECTION: &'static str = "connection_churn";

    fn of(rules: &RuleConfig) -> &Self {
        &rules.connection_churn
    }

    fn of_mut(rules: &mut RuleConfig) -> &mut Self {
        &mut rules.connection_churn
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
        levels(
            Self::SECTION,
            ("per_process", self.per_process),
            ("per_process_critical", self.per_process_critical),
        )?;
        let invalid = |key, value: Duration, requirement: &str| InvalidSetting {
            section: Self::SECTION,
            key,
            value: format!("\"{}\"", humantime::format_duration(value)),
            requirement: requirement.to_owned(),
        };
        if self.short_lived.is_zero() {
            return Err(invalid(
                "short_lived",
                self.short_lived,
                "it must be above 0 (\"5s\")",
            ));
        }
        if self.window < Duration::from_secs(1) || self.window > Duration::from_secs(60) {
            return Err(invalid(
                "window",
                self.window,
                "it must be from 1s to 60s (\"10s\")",
            ));
        }
        Ok(())
    }

    fn evaluate(&self, input: &RuleInput<'_>, out: &mut Vec<Observation>) {
        let Some(window) = input.churn_window(self.window) else {
            return;
        };
        if window.span < SHORTEST_SPAN {
            return;
        }
        per_destination(input, self, &window, out);
        per_process(input, self, &window, out);
    }
}

/// Short-lived closes per second, rounded to the nearest.
fn short_lived_rate(stats: &ChurnStats, span: Duration) -> u64 {
    (stats.short_lived as f64 / span.as_secs_f64()).round() as u64
}

/// What a rate is made of.
fn churn_evidence(stats: &ChurnStats, span: Duration) -> ChurnEvidence {
    ChurnEvidence {
        closes: stats.closes,
        short_lived: stats.short_lived,
        unseen: stats.unseen,
        span,
        median_lifetime: stats.median_lifetime(),
        bytes_per_connection: stats.bytes_per_connection(),
    }
}

fn per_destination(
    input: &RuleInput<'_>,
    rule: &ConnectionChurnRule,
    window: &ChurnSummary,
    out: &mut Vec<Observation>,
) {
    for group in &window.by_destination {
        let count = short_lived_rate(&group.stats, window.span);
        if !input.worth_reporting(count, rule.per_destination) {
            continue;
        }
        let makers = window
            .makers_toward(group.key)
            .take(TOP)
            .map(|g| MakerCount {
                maker: g.key.1.clone(),
                closes: g.stats.closes,
            })
            .collect();
        out.push(Observation {
            kind: AnomalyKind::ConnectionChurn,
            subject: Subject::Destination(group.key),
            count,
            warning: rule.per_destination,
            critical: rule.per_destination_critical,
            forced: None,
            evidence: Evidence {
                churn: Some(churn_evidence(&group.stats, window.span)),
                makers,
                ..Evidence::default()
            },
        });
    }
}

fn per_process(
    input: &RuleInput<'_>,
    rule: &ConnectionChurnRule,
    window: &ChurnSummary,
    out: &mut Vec<Observation>,
) {
    let mut by_maker: FastMap<&Maker, (ChurnStats, Vec<PeerCount>)> = FastMap::default();
    for group in &window.by_destination_maker {
        let Some(maker) = &group.key.1 else { continue };
        let (stats, peers) = by_maker.entry(maker).or_default();
        stats.merge(&group.stats);
        peers.push(PeerCount {
            peer: group.key.0,
            count: group.stats.closes,
        });
    }
    for (maker, (stats, mut peers)) in by_maker {
        let count = short_lived_rate(&stats, window.span);
        if !input.worth_reporting(count, rule.per_process) {
            continue;
        }
        peers.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.peer.cmp(&b.peer)));
        peers.truncate(TOP);
        out.push(Observation {
            kind: AnomalyKind::ConnectionChurn,
            subject: Subject::Process {
                pid: maker.pid,
                comm: maker.comm.clone(),
            },
            count,
            warning: rule.per_process,
            critical: rule.per_process_critical,
            forced: None,
            evidence: Evidence {
                churn: Some(churn_evidence(&stats, window.span)),
                peers,
                ..Evidence::default()
            },
        });
    }
}

#[cfg(test)]
mod tests;
