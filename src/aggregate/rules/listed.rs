//! The list of rules is complete: every rule's settings are validated. (Evaluation is pinned
//! in `tests/it/aggregate_rules.rs`, the configuration file in `config/tests.rs`.)

use super::{Rule, RuleConfig, RuleVisitor, for_rule};
use crate::aggregate::AnomalyKind;

/// For one rule: each numeric setting set to 0 alone, and what validation says of it.
struct ZeroEach;

impl RuleVisitor for ZeroEach {
    type Output = (
        &'static str,
        Vec<(String, Result<(), super::InvalidSetting>)>,
    );

    fn visit<R: Rule>(&mut self) -> Self::Output {
        let defaults = toml::Table::try_from(R::default()).expect("settings serialize");
        let mut verdicts = Vec::new();
        for (key, value) in &defaults {
            let zero = match value {
                toml::Value::Integer(_) => toml::Value::Integer(0),
                toml::Value::Float(_) => toml::Value::Float(0.0),
                _ => continue,
            };
            let mut settings = defaults.clone();
            settings.insert(key.clone(), zero);
            let mut rules = RuleConfig::default();
            *R::of_mut(&mut rules) = settings.try_into().expect("settings deserialize");
            verdicts.push((key.clone(), rules.validate()));
        }
        (R::SECTION, verdicts)
    }
}

#[test]
fn every_rule_is_validated_a_zero_in_any_of_its_settings_is_refused_naming_it() {
    for &kind in AnomalyKind::ALL {
        let (section, verdicts) = for_rule(kind, &mut ZeroEach);
        assert!(!verdicts.is_empty(), "[{section}] has no numeric setting");
        for (key, verdict) in verdicts {
            let refused = verdict.expect_err(&format!("{key} = 0 in [{section}] accepted"));
            assert_eq!(
                (refused.section, refused.key, refused.value.as_str()),
                (section, key.as_str(), "0"),
                "{kind}"
            );
        }
    }
}

#[test]
fn the_default_settings_of_every_rule_are_valid() {
    assert_eq!(RuleConfig::default().validate(), Ok(()));
}
