//! `fin_wait2_pileup`: many FIN_WAIT2 sockets, in the namespace or held by one process.
//!
//! FIN_WAIT2 means this side closed and the peer acknowledged but has not closed its end.
//! An orphaned FIN_WAIT2 (closed by the application) expires after `tcp_fin_timeout`; one
//! still held by a process (`shutdown()` without `close()`) waits for the peer forever.

use serde::{Deserialize, Serialize};

use super::super::anomaly::{AnomalyKind, Evidence, Observation, Subject};
use super::{InvalidSetting, Rule, RuleConfig, RuleInput, levels};

/// Settings of `fin_wait2_pileup` (`[fin_wait2]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinWait2Rule {
    /// Run the rule.
    pub enabled: bool,
    /// Warning at this many FIN_WAIT2 sockets in the namespace. Default 2000: a server
    /// closing 100 connections per second toward clients that take up to 20 s to close
    /// their end.
    pub total: u64,
    /// Critical at this many. Default 10000.
    pub total_critical: u64,
    /// Warning at this many FIN_WAIT2 sockets held by one process. Default 200: a process
    /// holding its half-closed sockets waits on its peers with no kernel timeout.
    pub per_process: u64,
    /// Critical at this many. Default 1000.
    pub per_process_critical: u64,
}

impl Default for FinWait2Rule {
    fn default() -> Self {
        FinWait2Rule {
            enabled: true,
            total: 2000,
            total_critical: 10000,
            per_process: 200,
            per_process_critical: 1000,
        }
    }
}

impl Rule for FinWait2Rule {
    const SECTION: &'static str = "fin_wait2";

    fn of(rules: &RuleConfig) -> &Self {
        &rules.fin_wait2
    }

    fn of_mut(rules: &mut RuleConfig) -> &mut Self {
        &mut rules.fin_wait2
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), InvalidSetting> {
        levels(
            Self::SECTION,
            ("total", self.total),
            ("total_critical", self.total_critical),
        )?;
        levels(
            Self::SECTION,
            ("per_process", self.per_process),
            ("per_process_critical", self.per_process_critical),
        )
    }

    fn evaluate(&self, input: &RuleInput<'_>, out: &mut Vec<Observation>) {
        evaluate(input, self, out);
    }
}

fn evaluate(input: &RuleInput<'_>, rule: &FinWait2Rule, out: &mut Vec<Observation>) {
    let tally = input.tally;
    if input.worth_reporting(tally.fin_wait2.count, rule.total) {
        out.push(Observation {
            kind: AnomalyKind::FinWait2Pileup,
            subject: Subject::Namespace,
            count: tally.fin_wait2.count,
            warning: rule.total,
            critical: rule.total_critical,
            forced: None,
            evidence: Evidence {
                oldest_age: input.age(tally.fin_wait2.oldest_ms),
                ..Evidence::default()
            },
        });
    }
    for (index, process) in tally.processes.iter().enumerate() {
        if !input.worth_reporting(process.fin_wait2.count, rule.per_process) {
            continue;
        }
        let Some(info) = input.snapshot.processes.get(index) else {
            continue;
        };
        out.push(Observation {
            kind: AnomalyKind::FinWait2Pileup,
            subject: Subject::Process {
                pid: info.pid,
                comm: info.comm.clone(),
            },
            count: process.fin_wait2.count,
            warning: rule.per_process,
            critical: rule.per_process_critical,
            forced: None,
            evidence: Evidence {
                oldest_age: input.age(process.fin_wait2.oldest_ms),
                ..Evidence::default()
            },
        });
    }
}
