//! `fd_exhaustion`: a process's open descriptors approach its soft `RLIMIT_NOFILE`. At the
//! limit every `accept()`, `connect()` and `open()` it makes fails with EMFILE ("Too many
//! open files") — where a CLOSE_WAIT leak usually ends. Only processes that hold a socket
//! of the snapshot are known to the model, so only they are judged.

use serde::{Deserialize, Serialize};

use super::super::anomaly::{AnomalyKind, Evidence, Observation, Subject};
use super::{InvalidSetting, Rule, RuleConfig, RuleInput, fraction_levels};

/// Settings of `fd_exhaustion` (`[fd_exhaustion]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FdExhaustionRule {
    /// Run the rule.
    pub enabled: bool,
    /// Warning when a process's open descriptors reach this fraction of its soft
    /// RLIMIT_NOFILE. Default 0.8: a server sized for its load stays well below its limit,
    /// and at 80 % a leak still leaves time to act.
    pub warning_ratio: f64,
    /// Critical at this fraction. Default 0.95: the next burst of connections fails.
    pub critical_ratio: f64,
}

impl Default for FdExhaustionRule {
    fn default() -> Self {
        FdExhaustionRule {
            enabled: true,
            warning_ratio: 0.8,
            critical_ratio: 0.95,
        }
    }
}

impl Rule for FdExhaustionRule {
    const SECTION: &'static str = "fd_exhaustion";

    fn of(rules: &RuleConfig) -> &Self {
        &rules.fd_exhaustion
    }

    fn of_mut(rules: &mut RuleConfig) -> &mut Self {
        &mut rules.fd_exhaustion
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), InvalidSetting> {
        fraction_levels(
            Self::SECTION,
            ("warning_ratio", self.warning_ratio),
            ("critical_ratio", self.critical_ratio),
        )
    }

    fn evaluate(&self, input: &RuleInput<'_>, out: &mut Vec<Observation>) {
        evaluate(input, self, out);
    }
}

/// The smallest descriptor count that reaches `ratio` × `limit` (at least 1). A product
/// that is mathematically whole (0.8 × 200) must not round up past it: the tolerance is
/// far below one descriptor at any limit a kernel allows (`fs.nr_open` ≤ 2^30).
fn level(ratio: f64, limit: u64) -> u64 {
    ((ratio * limit as f64 - 1e-6).ceil() as u64).max(1)
}

fn evaluate(input: &RuleInput<'_>, rule: &FdExhaustionRule, out: &mut Vec<Observation>) {
    for (index, process) in input.snapshot.processes.iter().enumerate() {
        let (Some(open), Some(limit)) = (process.descriptors, process.fd_limit) else {
            continue;
        };
        let warning = level(rule.warning_ratio, limit);
        let critical = level(rule.critical_ratio, limit).max(warning);
        if !input.worth_reporting(open, warning) {
            continue;
        }
        let tally = input.tally.processes.get(index);
        out.push(Observation {
            kind: AnomalyKind::FdExhaustion,
            subject: Subject::Process {
                pid: process.pid,
                comm: process.comm.clone(),
            },
            count: open,
            warning,
            critical,
            forced: None,
            evidence: Evidence {
                limit: Some(limit),
                tcp_sockets: Some(tally.map_or(0, |t| t.counts.total())),
                close_wait: Some(tally.map_or(0, |t| t.close_wait.count)),
                ..Evidence::default()
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::level;

    #[test]
    fn levels_are_the_first_count_reaching_the_ratio() {
        assert_eq!(level(0.8, 200), 160);
        assert_eq!(level(0.95, 200), 190);
        assert_eq!(level(0.8, 1024), 820, "819.2 is reached at 820");
        assert_eq!(level(0.95, 1024), 973, "972.8 is reached at 973");
        assert_eq!(level(0.8, 1000), 800);
        assert_eq!(
            level(0.95, 1_048_576),
            996_148,
            "996,147.2 is reached at 996,148"
        );
        assert_eq!(level(0.8, 0), 1);
        assert_eq!(level(1.0, 20_000), 20_000);
    }
}
