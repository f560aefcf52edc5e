//! The tracker: keeps an anomaly raised across polls (first-seen time, hysteresis, trend).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use super::{Anomaly, AnomalyKind, Observation, Severity, Subject};

/// The window the trend is computed over.
const TREND_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Tracked {
    raised: Option<(SystemTime, Severity)>,
    samples: VecDeque<(SystemTime, u64)>,
}

/// Keeps anomalies across polls: raise at the warning level, clear only below
/// `clear_ratio` × the level (hysteresis), remember when each was first raised.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    tracked: HashMap<(AnomalyKind, Subject), Tracked>,
}

impl Tracker {
    /// Apply one poll's observations; returns the raised anomalies, most severe first, then
    /// by kind, largest count, subject.
    pub fn update(
        &mut self,
        observations: Vec<Observation>,
        now: SystemTime,
        clear_ratio: f64,
    ) -> Vec<Anomaly> {
        let mut previous = std::mem::take(&mut self.tracked);
        let mut anomalies = Vec::new();
        for obs in observations {
            let key = (obs.kind, obs.subject.clone());
            if self.tracked.contains_key(&key) {
                continue;
            }
            let mut tracked = previous.remove(&key).unwrap_or(Tracked {
                raised: None,
                samples: VecDeque::new(),
            });
            tracked.samples.push_back((now, obs.count));
            while tracked.samples.len() > 2
                && tracked.samples.get(1).is_some_and(|(at, _)| {
                    now.duration_since(*at).unwrap_or_default() >= TREND_WINDOW
                })
            {
                tracked.samples.pop_front();
            }
            tracked.raised = judge(&obs, tracked.raised, now, clear_ratio);
            if let Some((first_seen, severity)) = tracked.raised {
                let hint = obs.kind.hint(&obs.subject);
                anomalies.push(Anomaly {
                    kind: obs.kind,
                    severity,
                    subject: obs.subject,
                    count: obs.count,
                    threshold: obs.warning,
                    critical_threshold: obs.critical,
                    first_seen,
                    trend: trend(&tracked.samples),
                    hint,
                    evidence: obs.evidence,
                    container: None,
                    netns: None,
                });
            }
            self.tracked.insert(key, tracked);
        }
        anomalies.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.kind.cmp(&b.kind))
                .then(b.count.cmp(&a.count))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        anomalies
    }
}

/// The new raised state of one subject: `(first raised, severity)` or `None`.
fn judge(
    obs: &Observation,
    raised: Option<(SystemTime, Severity)>,
    now: SystemTime,
    clear_ratio: f64,
) -> Option<(SystemTime, Severity)> {
    let count = obs.count as f64;
    let holds = |level: u64, was: bool| {
        count >= level as f64 || (was && count >= clear_ratio * level as f64)
    };
    let was_critical = matches!(raised, Some((_, Severity::Critical)));
    let measured = if holds(obs.critical, was_critical) {
        Some(Severity::Critical)
    } else if holds(obs.warning, raised.is_some()) {
        Some(Severity::Warning)
    } else {
        None
    };
    let severity = measured.max(obs.forced)?;
    Some((raised.map_or(now, |(since, _)| since), severity))
}

/// Change per minute between the oldest and newest sample in the window.
fn trend(samples: &VecDeque<(SystemTime, u64)>) -> Option<f64> {
    let (first_at, first) = samples.front()?;
    let (last_at, last) = samples.back()?;
    let seconds = last_at.duration_since(*first_at).ok()?.as_secs_f64();
    (samples.len() >= 2 && seconds > 0.0).then(|| (*last as f64 - *first as f64) / seconds * 60.0)
}
