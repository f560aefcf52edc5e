//! The anomaly rules and their thresholds.
//!
//! Each rule turns one poll's tallies into [`Observation`]s: a subject, a count, a warning
//! and a critical level. The [`Tracker`](super::anomaly::Tracker) then raises, keeps and
//! clears anomalies with hysteresis. Every threshold is a key of the configuration file,
//! spelled as the field here; the defaults are meant for a busy production server, where a
//! healthy box raises nothing.
//!
//! A rule is a value: its settings struct implements [`Rule`] (its section of the file, its
//! defaults, validation and evaluation) in its own file, and [`for_rule`] lists every rule
//! once, by the [`AnomalyKind`] it raises. Validation, evaluation and the configuration
//! file's sections all iterate [`AnomalyKind::ALL`] through that list.

mod accept_queue;
mod churn;
mod close_wait;
mod fd_exhaustion;
mod fin_wait2;
#[cfg(test)]
mod listed;
mod orphans;
mod syn;
mod time_wait;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::anomaly::{AnomalyKind, Observation};
use super::churn::{Churn, ChurnSummary};
use super::rates::{CounterRate, rise};
use super::tally::Tally;
use crate::model::{Limits, Snapshot, TcpState};

pub use accept_queue::AcceptQueueRule;
pub use churn::ConnectionChurnRule;
pub use close_wait::CloseWaitRule;
pub use fd_exhaustion::FdExhaustionRule;
pub use fin_wait2::FinWait2Rule;
pub use orphans::OrphansRule;
pub use syn::{SynCookiesRule, SynRecvRule};
pub use time_wait::TimeWaitRule;

/// Every rule's settings, plus the hysteresis shared by all.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleConfig {
    /// A raised anomaly clears only when its count falls below `clear_ratio` × its warning
    /// level (and drops from critical to warning below `clear_ratio` × its critical level),
    /// so a value hovering at a threshold does not flap. Default 0.8.
    pub clear_ratio: f64,
    /// `close_wait_backlog`.
    pub close_wait: CloseWaitRule,
    /// `syn_recv_flood`.
    pub syn_recv: SynRecvRule,
    /// `syn_cookies`.
    pub syn_cookies: SynCookiesRule,
    /// `time_wait_excess`.
    pub time_wait: TimeWaitRule,
    /// `connection_churn`.
    pub connection_churn: ConnectionChurnRule,
    /// `accept_queue_overflow`.
    pub accept_queue: AcceptQueueRule,
    /// `fin_wait2_pileup`.
    pub fin_wait2: FinWait2Rule,
    /// `orphan_sockets`.
    pub orphans: OrphansRule,
    /// `fd_exhaustion`.
    pub fd_exhaustion: FdExhaustionRule,
}

/// The default [`RuleConfig::clear_ratio`].
pub const DEFAULT_CLEAR_RATIO: f64 = 0.8;

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            clear_ratio: DEFAULT_CLEAR_RATIO,
            close_wait: CloseWaitRule::default(),
            syn_recv: SynRecvRule::default(),
            syn_cookies: SynCookiesRule::default(),
            time_wait: TimeWaitRule::default(),
            connection_churn: ConnectionChurnRule::default(),
            accept_queue: AcceptQueueRule::default(),
            fin_wait2: FinWait2Rule::default(),
            orphans: OrphansRule::default(),
            fd_exhaustion: FdExhaustionRule::default(),
        }
    }
}

/// A setting outside the range it must be in.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("'{key}' in [{section}] is {value}; {requirement}")]
pub struct InvalidSetting {
    /// The configuration section (`close_wait`).
    pub section: &'static str,
    /// The key (`per_process`).
    pub key: &'static str,
    /// The value as given.
    pub value: String,
    /// What it must be.
    pub requirement: String,
}

impl RuleConfig {
    /// Check every setting: counts at least 1, fractions in (0, 1], critical levels not
    /// below warning levels. The first bad setting is the error.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        fraction("general", "clear_ratio", self.clear_ratio)?;
        AnomalyKind::ALL
            .iter()
            .try_for_each(|&kind| for_rule(kind, &mut Validate(self)))
    }
}

/// A rule: its settings (read from its section of the configuration file, with their
/// defaults), their validation and the evaluation that turns a poll into observations.
/// [`for_rule`] lists every rule once; `RuleConfig`'s validation, the evaluation and the
/// configuration file's sections all go through that list.
pub(crate) trait Rule: Default + DeserializeOwned + Serialize {
    /// Its section of the configuration file (`close_wait`).
    const SECTION: &'static str;
    /// Its settings in `rules`.
    fn of(rules: &RuleConfig) -> &Self;
    /// Its settings in `rules`, to replace them.
    fn of_mut(rules: &mut RuleConfig) -> &mut Self;
    /// Whether it runs (`enabled`).
    fn enabled(&self) -> bool;
    /// Check its settings; the first bad one is the error.
    fn validate(&self) -> Result<(), InvalidSetting>;
    /// Add what it sees in `input` to `out`.
    fn evaluate(&self, input: &RuleInput<'_>, out: &mut Vec<Observation>);
}

/// Something done with one rule, whichever it is: see [`for_rule`].
pub(crate) trait RuleVisitor {
    /// What it gives back.
    type Output;
    /// Do it with rule `R`.
    fn visit<R: Rule>(&mut self) -> Self::Output;
}

/// The list of rules: the one that raises `kind`, handed to `visitor`. The `match` is
/// exhaustive, so a new [`AnomalyKind`] without its rule does not compile; the outputs,
/// the configuration file and the evaluation iterate [`AnomalyKind::ALL`] through it.
pub(crate) fn for_rule<V: RuleVisitor>(kind: AnomalyKind, visitor: &mut V) -> V::Output {
    match kind {
        AnomalyKind::CloseWaitBacklog => visitor.visit::<CloseWaitRule>(),
        AnomalyKind::SynRecvFlood => visitor.visit::<SynRecvRule>(),
        AnomalyKind::SynCookies => visitor.visit::<SynCookiesRule>(),
        AnomalyKind::TimeWaitExcess => visitor.visit::<TimeWaitRule>(),
        AnomalyKind::ConnectionChurn => visitor.visit::<ConnectionChurnRule>(),
        AnomalyKind::AcceptQueueOverflow => visitor.visit::<AcceptQueueRule>(),
        AnomalyKind::FinWait2Pileup => visitor.visit::<FinWait2Rule>(),
        AnomalyKind::OrphanSockets => visitor.visit::<OrphansRule>(),
        AnomalyKind::FdExhaustion => visitor.visit::<FdExhaustionRule>(),
    }
}

/// The configuration section of the rule that raises `kind` (`close_wait`).
pub(crate) fn section(kind: AnomalyKind) -> &'static str {
    struct Section;
    impl RuleVisitor for Section {
        type Output = &'static str;
        fn visit<R: Rule>(&mut self) -> &'static str {
            R::SECTION
        }
    }
    for_rule(kind, &mut Section)
}

/// [`RuleConfig::validate`] of one rule.
struct Validate<'a>(&'a RuleConfig);

impl RuleVisitor for Validate<'_> {
    type Output = Result<(), InvalidSetting>;
    fn visit<R: Rule>(&mut self) -> Self::Output {
        R::of(self.0).validate()
    }
}

/// [`evaluate`] of one rule, when it is enabled.
struct Evaluate<'a, 'b> {
    input: &'a RuleInput<'b>,
    config: &'a RuleConfig,
    out: &'a mut Vec<Observation>,
}

impl RuleVisitor for Evaluate<'_, '_> {
    type Output = ();
    fn visit<R: Rule>(&mut self) {
        let rule = R::of(self.config);
        if rule.enabled() {
            rule.evaluate(self.input, self.out);
        }
    }
}

/// The warning and critical levels a rule compares a whole namespace's count of one state
/// with, as a check's performance data gives them: `time_wait_excess` (its `buckets_fraction`
/// levels of `tcp_max_tw_buckets`) and `fin_wait2_pileup` (its `total` levels). No other rule
/// judges a namespace's count per state (CLOSE_WAIT and SYN_RECV are judged per process and
/// per listener): those states have no levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateLevels {
    /// TIME_WAIT's (warning, critical); `None` when the rule is off or the limit unknown.
    pub time_wait: Option<(u64, u64)>,
    /// FIN_WAIT2's (warning, critical); `None` when the rule is off.
    pub fin_wait2: Option<(u64, u64)>,
}

impl StateLevels {
    /// The levels of `state`, if a rule judges its namespace-wide count.
    pub fn of(&self, state: TcpState) -> Option<(u64, u64)> {
        match state {
            TcpState::TimeWait => self.time_wait,
            TcpState::FinWait2 => self.fin_wait2,
            _ => None,
        }
    }
}

impl RuleConfig {
    /// The levels the rules compare a namespace's counts per state with, given its `limits`.
    pub fn state_levels(&self, limits: &Limits) -> StateLevels {
        StateLevels {
            time_wait: limits
                .tcp_max_tw_buckets
                .filter(|_| self.time_wait.enabled)
                .map(|max| self.time_wait.namespace_levels(max)),
            fin_wait2: self
                .fin_wait2
                .enabled
                .then_some((self.fin_wait2.total, self.fin_wait2.total_critical)),
        }
    }
}

/// A count threshold and its critical level: at least 1, critical not below warning.
pub(crate) fn levels(
    section: &'static str,
    (key, warning): (&'static str, u64),
    (critical_key, critical): (&'static str, u64),
) -> Result<(), InvalidSetting> {
    if warning == 0 {
        return Err(InvalidSetting {
            section,
            key,
            value: "0".to_owned(),
            requirement: "it must be at least 1 (set enabled = false to turn the rule off)"
                .to_owned(),
        });
    }
    if critical < warning {
        return Err(InvalidSetting {
            section,
            key: critical_key,
            value: critical.to_string(),
            requirement: format!("it must be at least {key} ({warning})"),
        });
    }
    Ok(())
}

/// A fraction in (0, 1].
pub(crate) fn fraction(
    section: &'static str,
    key: &'static str,
    value: f64,
) -> Result<(), InvalidSetting> {
    if value > 0.0 && value <= 1.0 {
        return Ok(());
    }
    Err(InvalidSetting {
        section,
        key,
        value: value.to_string(),
        requirement: "it must be above 0 and at most 1".to_owned(),
    })
}

/// Two fractions in (0, 1], the critical one not below the warning one.
pub(crate) fn fraction_levels(
    section: &'static str,
    (key, warning): (&'static str, f64),
    (critical_key, critical): (&'static str, f64),
) -> Result<(), InvalidSetting> {
    fraction(section, key, warning)?;
    fraction(section, critical_key, critical)?;
    if critical < warning {
        return Err(InvalidSetting {
            section,
            key: critical_key,
            value: critical.to_string(),
            requirement: format!("it must be at least {key} ({warning})"),
        });
    }
    Ok(())
}

/// `fraction` × `limit`, rounded up, at least 1.
pub(crate) fn share(fraction: f64, limit: u64) -> u64 {
    ((fraction * limit as f64).ceil() as u64).max(1)
}

/// What the rules read: the snapshot, its tally, and the counter rises since the previous
/// poll (`None` on the first poll).
pub(crate) struct RuleInput<'a> {
    pub snapshot: &'a Snapshot,
    pub tally: &'a Tally,
    pub rates: Option<&'a [CounterRate]>,
    /// The time between the two counter readings `rates` compares.
    pub counter_interval: Option<std::time::Duration>,
    pub now_ms: u64,
    pub clear_ratio: f64,
    /// The closes the destroy events told (`None`: not listened to).
    pub churn: Option<&'a Churn>,
}

impl RuleInput<'_> {
    /// Whether a subject with `count` against `warning` must be reported: at or above the
    /// clear mark (below it, a raised anomaly clears anyway).
    pub fn worth_reporting(&self, count: u64, warning: u64) -> bool {
        count > 0 && count as f64 >= self.clear_ratio * warning as f64
    }

    /// The closes of the last `span` (`None`: destroy events are not listened to).
    pub fn churn_window(&self, span: std::time::Duration) -> Option<ChurnSummary> {
        let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(self.now_ms);
        self.churn?.window(now, span)
    }

    /// How much a kernel counter rose since the previous poll; `None` on the first poll,
    /// after a reset, or when the kernel lacks it.
    pub fn rise(&self, counter: &str) -> Option<u64> {
        rise(self.rates?, counter)
    }

    /// How long, at least, since `since_ms`: `None` when the socket was first seen in its
    /// state by this very poll (one look, as in every one-shot mode, says nothing of its age).
    pub fn age(&self, since_ms: Option<u64>) -> Option<std::time::Duration> {
        since_ms
            .filter(|&s| s < self.now_ms)
            .map(|s| std::time::Duration::from_millis(self.now_ms - s))
    }
}

/// Run every enabled rule, in report order.
pub(crate) fn evaluate(input: &RuleInput<'_>, config: &RuleConfig) -> Vec<Observation> {
    let mut out = Vec::new();
    let mut each = Evaluate {
        input,
        config,
        out: &mut out,
    };
    for &kind in AnomalyKind::ALL {
        for_rule(kind, &mut each);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_critical_level_equal_to_the_warning_level_is_accepted() {
        assert_eq!(
            fraction_levels(
                "fd_exhaustion",
                ("warning_ratio", 0.9),
                ("critical_ratio", 0.9)
            ),
            Ok(())
        );
        assert_eq!(
            levels("close_wait", ("per_process", 20), ("critical", 20)),
            Ok(())
        );
    }

    #[test]
    fn a_critical_level_below_the_warning_level_names_both_keys() {
        let err = fraction_levels(
            "fd_exhaustion",
            ("warning_ratio", 0.9),
            ("critical_ratio", 0.8),
        )
        .unwrap_err();
        assert_eq!(
            (err.section, err.key, err.value.as_str()),
            ("fd_exhaustion", "critical_ratio", "0.8")
        );
        assert_eq!(err.requirement, "it must be at least warning_ratio (0.9)");
    }

    #[test]
    fn a_fraction_must_lie_above_0_and_at_most_1() {
        assert!(fraction("general", "clear_ratio", 1.0).is_ok());
        assert!(fraction("general", "clear_ratio", 0.000_1).is_ok());
        for bad in [0.0, -0.5, 1.000_1, f64::NAN] {
            assert!(fraction("general", "clear_ratio", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_share_rounds_up_and_is_at_least_one() {
        assert_eq!(share(0.8, 128), 103);
        assert_eq!(share(0.8, 125), 100);
        assert_eq!(share(0.01, 10), 1);
        assert_eq!(share(0.5, 0), 1);
    }

    fn input<'a>(snapshot: &'a Snapshot, tally: &'a Tally, clear_ratio: f64) -> RuleInput<'a> {
        RuleInput {
            snapshot,
            tally,
            rates: None,
            counter_interval: None,
            now_ms: 5_000,
            clear_ratio,
            churn: None,
        }
    }

    #[test]
    fn a_subject_is_worth_reporting_from_the_clear_mark_on() {
        let (snapshot, tally) = (Snapshot::default(), Tally::default());
        let input = input(&snapshot, &tally, 0.8);
        assert!(!input.worth_reporting(15, 20));
        assert!(input.worth_reporting(16, 20));
        assert!(input.worth_reporting(400, 20));
        assert!(!input.worth_reporting(0, 1));
        assert!(input.worth_reporting(1, 1));
        let strict = self::input(&snapshot, &tally, 1.0);
        assert!(!strict.worth_reporting(19, 20));
        assert!(strict.worth_reporting(20, 20));
    }

    #[test]
    fn an_age_is_known_only_for_what_an_earlier_poll_saw() {
        let (snapshot, tally) = (Snapshot::default(), Tally::default());
        let input = input(&snapshot, &tally, 0.8);
        assert_eq!(input.age(Some(5_000)), None);
        assert_eq!(input.age(None), None);
        assert_eq!(
            input.age(Some(3_500)),
            Some(std::time::Duration::from_millis(1_500))
        );
    }
}
