//! Every rule of the list is configurable from its section, and `assets/config.toml` lists
//! every section with every key at its default.

use std::path::Path;

use super::{Config, sections};
use crate::aggregate::{AnomalyKind, Rule, RuleConfig, RuleVisitor, for_rule, section};

/// The shipped example file.
const SHIPPED: &str = include_str!("../../assets/config.toml");

/// Whether a rule is enabled in a configuration.
struct Enabled<'a>(&'a RuleConfig);

impl RuleVisitor for Enabled<'_> {
    type Output = bool;

    fn visit<R: Rule>(&mut self) -> bool {
        R::of(self.0).enabled()
    }
}

/// A rule's defaults as the file writes them.
struct Defaults;

impl RuleVisitor for Defaults {
    type Output = toml::Value;

    fn visit<R: Rule>(&mut self) -> toml::Value {
        toml::Value::try_from(R::default()).expect("settings serialize")
    }
}

#[test]
fn every_rule_is_configurable_from_its_own_section() {
    for &kind in AnomalyKind::ALL {
        let text = format!("[{}]\nenabled = false\n", section(kind));
        let config = Config::parse(&text, Path::new("config.toml")).expect("the file parses");
        let enabled: Vec<AnomalyKind> = AnomalyKind::ALL
            .iter()
            .copied()
            .filter(|&other| for_rule(other, &mut Enabled(&config.rules)))
            .collect();
        let others: Vec<AnomalyKind> = AnomalyKind::ALL
            .iter()
            .copied()
            .filter(|&other| other != kind)
            .collect();
        assert_eq!(enabled, others, "{text}");
    }
}

#[test]
fn every_rule_has_a_section_of_its_own() {
    let mut names: Vec<&str> = AnomalyKind::ALL.iter().map(|&kind| section(kind)).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), AnomalyKind::ALL.len());
    assert!(!names.contains(&"general"));
}

#[test]
fn the_shipped_config_file_has_every_section_with_every_key_at_its_default() {
    let file: toml::Table = SHIPPED.parse().expect("assets/config.toml is TOML");
    let mut in_file: Vec<&str> = file.keys().map(String::as_str).collect();
    in_file.sort_by_key(|name| SHIPPED.find(&format!("\n[{name}]\n")));
    assert_eq!(in_file, sections(), "the sections of assets/config.toml");
    for &kind in AnomalyKind::ALL {
        assert_eq!(
            file.get(section(kind)),
            Some(&for_rule(kind, &mut Defaults)),
            "[{}] in assets/config.toml",
            section(kind)
        );
    }
    let general: toml::Table =
        "interval = \"1s\"\nhistory = \"10m\"\nflight_recorder = \"10m\"\nclear_ratio = 0.8\n"
            .parse()
            .expect("TOML");
    assert_eq!(file.get("general"), Some(&toml::Value::Table(general)));
}
