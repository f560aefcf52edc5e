//! `orphan_sockets`: sockets closed by their application but still finishing in the kernel
//! (sockstat `orphan`) approach `tcp_max_orphans`, past which the kernel resets connections
//! ("too many orphaned sockets").

use serde::{Deserialize, Serialize};

use super::super::anomaly::{AnomalyKind, Evidence, Observation, Subject};
use super::{InvalidSetting, Rule, RuleConfig, RuleInput, fraction_levels, share};

/// Settings of `orphan_sockets` (`[orphans]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrphansRule {
    /// Run the rule.
    pub enabled: bool,
    /// Warning at this fraction of `tcp_max_orphans`. Default 0.25, as netdata alarms.
    pub fraction: f64,
    /// Critical at this fraction. Default 0.5, as netdata alarms (the kernel may count
    /// orphans double or quadruple under memory pressure).
    pub fraction_critical: f64,
}

impl Default for OrphansRule {
    fn default() -> Self {
        OrphansRule {
            enabled: true,
            fraction: 0.25,
            fraction_critical: 0.5,
        }
    }
}

impl Rule for OrphansRule {
    const SECTION: &'static str = "orphans";

    fn of(rules: &RuleConfig) -> &Self {
        &rules.orphans
    }

    fn of_mut(rules: &mut RuleConfig) -> &mut Self {
        &mut rules.orphans
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), InvalidSetting> {
        fraction_levels(
            Self::SECTION,
            ("fraction", self.fraction),
            ("fraction_critical", self.fraction_critical),
        )
    }

    fn evaluate(&self, input: &RuleInput<'_>, out: &mut Vec<Observation>) {
        evaluate(input, self, out);
    }
}

fn evaluate(input: &RuleInput<'_>, rule: &OrphansRule, out: &mut Vec<Observation>) {
    let snapshot = input.snapshot;
    let (Some(orphans), Some(max)) = (
        snapshot.counters.sockstat("orphan"),
        snapshot.limits.tcp_max_orphans,
    ) else {
        return;
    };
    let warning = share(rule.fraction, max);
    let critical = share(rule.fraction_critical, max).max(warning);
    if input.worth_reporting(orphans, warning) {
        out.push(Observation {
            kind: AnomalyKind::OrphanSockets,
            subject: Subject::Namespace,
            count: orphans,
            warning,
            critical,
            forced: None,
            evidence: Evidence {
                limit: Some(max),
                ..Evidence::default()
            },
        });
    }
}
