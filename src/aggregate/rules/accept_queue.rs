//! `accept_queue_overflow`: a listener's accept queue (recv-q of a LISTEN socket) is nearly
//! at its backlog (send-q), or the kernel dropped connections for a full queue
//! (ListenOverflows / ListenDrops rose).

use serde::{Deserialize, Serialize};

use super::super::anomaly::{AnomalyKind, CounterRise, Evidence, Observation, Subject};
use super::{InvalidSetting, Rule, RuleConfig, RuleInput, fraction_levels, levels, share};

/// Settings of `accept_queue_overflow` (`[accept_queue]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcceptQueueRule {
    /// Run the rule.
    pub enabled: bool,
    /// Warning when a listener's accept queue reaches this fraction of its backlog (at
    /// least one connection). Default 0.8: a healthy server accepts as fast as connections
    /// arrive, so the queue is nearly always empty.
    pub fraction: f64,
    /// Critical at this fraction. Default 1.0: the queue is full, the next connection is
    /// dropped.
    pub fraction_critical: f64,
    /// Warning when ListenOverflows or ListenDrops rose by at least this much between two
    /// polls. Default 1: every drop is a client waiting a second or more to retry.
    pub drops_rise: u64,
    /// Critical at this rise. Default 100.
    pub drops_rise_critical: u64,
}

impl Default for AcceptQueueRule {
    fn default() -> Self {
        AcceptQueueRule {
            enabled: true,
            fraction: 0.8,
            fraction_critical: 1.0,
            drops_rise: 1,
            drops_rise_critical: 100,
        }
    }
}

impl Rule for AcceptQueueRule {
    const SECTION: &'static str = "accept_queue";

    fn of(rules: &RuleConfig) -> &Self {
        &rules.accept_queue
    }

    fn of_mut(rules: &mut RuleConfig) -> &mut Self {
        &mut rules.accept_queue
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), InvalidSetting> {
        fraction_levels(
            Self::SECTION,
            ("fraction", self.fraction),
            ("fraction_critical", self.fraction_critical),
        )?;
        levels(
            Self::SECTION,
            ("drops_rise", self.drops_rise),
            ("drops_rise_critical", self.drops_rise_critical),
        )
    }

    fn evaluate(&self, input: &RuleInput<'_>, out: &mut Vec<Observation>) {
        evaluate(input, self, out);
    }
}

fn evaluate(input: &RuleInput<'_>, rule: &AcceptQueueRule, out: &mut Vec<Observation>) {
    // The per-listener levels are shares of the backlog: without it there is nothing to
    // compare with (the namespace's overflow counters below still are).
    let listeners = if input.snapshot.backlog_known() {
        input.tally.listeners.as_slice()
    } else {
        &[]
    };
    for listener in listeners {
        let warning = share(rule.fraction, listener.backlog);
        let critical = share(rule.fraction_critical, listener.backlog).max(warning);
        if input.worth_reporting(listener.accept_queue, warning) {
            out.push(Observation {
                kind: AnomalyKind::AcceptQueueOverflow,
                subject: Subject::Listener(listener.local),
                count: listener.accept_queue,
                warning,
                critical,
                forced: None,
                evidence: Evidence {
                    limit: Some(listener.backlog),
                    ..Evidence::default()
                },
            });
        }
    }
    let rises: Vec<CounterRise> = ["ListenOverflows", "ListenDrops"]
        .into_iter()
        .filter_map(|counter| {
            let rise = input.rise(counter)?;
            (rise > 0).then_some(CounterRise { counter, rise })
        })
        .collect();
    // ListenDrops counts every overflow and more: the larger rise is the number of drops.
    let count = rises.iter().map(|r| r.rise).max().unwrap_or(0);
    if input.worth_reporting(count, rule.drops_rise) {
        out.push(Observation {
            kind: AnomalyKind::AcceptQueueOverflow,
            subject: Subject::Namespace,
            count,
            warning: rule.drops_rise,
            critical: rule.drops_rise_critical,
            forced: None,
            evidence: Evidence {
                counter_rises: rises,
                counter_interval: input.counter_interval,
                ..Evidence::default()
            },
        });
    }
}
