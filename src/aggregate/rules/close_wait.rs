//! `close_wait_backlog`: a process holds many CLOSE_WAIT sockets — the peer closed, the
//! application never called `close()`. Sockets with no known owner are grouped by local port.

use serde::{Deserialize, Serialize};

use super::super::anomaly::{AnomalyKind, Evidence, Observation, PeerCount, Subject};
use super::super::tally::{AgedCount, CloseWaitHolder};
use super::{InvalidSetting, Rule, RuleConfig, RuleInput, levels};
use crate::hash::FastMap;

/// How many peers an anomaly lists.
const TOP_PEERS: usize = 5;

/// Settings of `close_wait_backlog` (`[close_wait]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloseWaitRule {
    /// Run the rule.
    pub enabled: bool,
    /// Warning at this many CLOSE_WAIT sockets held by one process (or on one local port
    /// when the owner is unknown). Default 20: an application closes within milliseconds of
    /// reading EOF, so even at thousands of closes per second a poll catches a handful.
    pub per_process: u64,
    /// Critical at this many. Default 100: five times the warning, a leak that keeps going.
    pub per_process_critical: u64,
}

impl Default for CloseWaitRule {
    fn default() -> Self {
        CloseWaitRule {
            enabled: true,
            per_process: 20,
            per_process_critical: 100,
        }
    }
}

impl Rule for CloseWaitRule {
    const SECTION: &'static str = "close_wait";

    fn of(rules: &RuleConfig) -> &Self {
        &rules.close_wait
    }

    fn of_mut(rules: &mut RuleConfig) -> &mut Self {
        &mut rules.close_wait
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), InvalidSetting> {
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

fn evaluate(input: &RuleInput<'_>, rule: &CloseWaitRule, out: &mut Vec<Observation>) {
    let tally = input.tally;
    let mut holders: FastMap<CloseWaitHolder, (Subject, AgedCount)> = FastMap::default();
    for (index, process) in tally.processes.iter().enumerate() {
        if !input.worth_reporting(process.close_wait.count, rule.per_process) {
            continue;
        }
        let Some(info) = input.snapshot.processes.get(index) else {
            continue;
        };
        let subject = Subject::Process {
            pid: info.pid,
            comm: info.comm.clone(),
        };
        holders.insert(
            CloseWaitHolder::Process(index as u32),
            (subject, process.close_wait),
        );
    }
    for (&port, aged) in &tally.close_wait_ports {
        if input.worth_reporting(aged.count, rule.per_process) {
            holders.insert(
                CloseWaitHolder::Port(port),
                (Subject::LocalPort(port), *aged),
            );
        }
    }
    if holders.is_empty() {
        return;
    }
    let mut peers: FastMap<CloseWaitHolder, Vec<PeerCount>> = FastMap::default();
    for (&(holder, peer), &count) in &tally.close_wait_peers {
        if holders.contains_key(&holder) {
            peers
                .entry(holder)
                .or_default()
                .push(PeerCount { peer, count });
        }
    }
    for (holder, (subject, aged)) in holders {
        let mut top = peers.remove(&holder).unwrap_or_default();
        top.sort_by(|a, b| b.count.cmp(&a.count).then(a.peer.cmp(&b.peer)));
        top.truncate(TOP_PEERS);
        out.push(Observation {
            kind: AnomalyKind::CloseWaitBacklog,
            subject,
            count: aged.count,
            warning: rule.per_process,
            critical: rule.per_process_critical,
            forced: None,
            evidence: Evidence {
                peers: top,
                oldest_age: input.age(aged.oldest_ms),
                ..Evidence::default()
            },
        });
    }
}
