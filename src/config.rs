//! The configuration file: poll interval, history span and every rule threshold.
//!
//! A TOML file, looked up in this order: the explicit path (`--config PATH`), else
//! `$XDG_CONFIG_HOME/sockscope/config.toml` (or `~/.config/sockscope/config.toml` when
//! `XDG_CONFIG_HOME` is unset), else `/etc/sockscope/config.toml`, else built-in defaults.
//! An explicit file that does not exist is an error; a default location that does not
//! exist is skipped. Every key is optional; an unknown key or a wrong type is an error
//! naming the file, the line and the key. `assets/config.toml` lists every key with its
//! default.

mod diagnose;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::aggregate::{
    Aggregator, AnomalyKind, DEFAULT_CLEAR_RATIO, Rule, RuleConfig, RuleVisitor, for_rule, section,
};

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Config {
    /// `[general]`: polling and history.
    pub general: General,
    /// The rules' thresholds (`clear_ratio` is read from `[general]`).
    pub rules: RuleConfig,
}

/// `[general]` settings other than `clear_ratio`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct General {
    /// Time between two polls. In the file a humantime string: `"1s"`, `"500ms"`, `"30s"`,
    /// from [`MIN_INTERVAL`] to [`MAX_INTERVAL`]. Default 1 s.
    pub interval: Duration,
    /// How far back history (sparklines, trends) reaches; the same notation. Default 10 min.
    pub history: Duration,
    /// How many minutes of polls the dashboard keeps in memory for `w` (its flight
    /// recorder); the same notation, `"0s"` keeps none. Default 10 min.
    pub flight_recorder: Duration,
}

impl Default for General {
    fn default() -> Self {
        General {
            interval: Duration::from_secs(1),
            history: Duration::from_secs(600),
            flight_recorder: Duration::from_secs(600),
        }
    }
}

/// The shortest poll interval accepted, on the command line, in the file and by `-`.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// The longest poll interval accepted, on the command line, in the file and by `+`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// Why `interval` is outside [`MIN_INTERVAL`] … [`MAX_INTERVAL`], or `None` when it is inside.
pub fn interval_out_of_range(interval: Duration) -> Option<String> {
    (interval < MIN_INTERVAL || interval > MAX_INTERVAL).then(|| {
        format!(
            "it must be between {} and {}: faster polls cost more than they show, slower ones miss what a dashboard is for",
            humantime::format_duration(MIN_INTERVAL),
            humantime::format_duration(MAX_INTERVAL)
        )
    })
}

/// Why the configuration could not be loaded. Each message names the file and says what
/// to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` does not exist.
    #[error(
        "config file {} does not exist; check the --config path, or leave --config out to use the default locations",
        .path.display()
    )]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read config file {}: {error}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error (not a `source`: the message already quotes it once).
        error: io::Error,
    },
    /// The file is not valid TOML, has an unknown key, a wrong type or a value out of range.
    #[error("config error in {}{}: {message}", .path.display(), .line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending key or value, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// Where the configuration lookup reads the environment and files: the real system, or a
/// fake in tests.
pub trait ConfigEnv {
    /// An environment variable.
    fn var(&self, name: &str) -> Option<OsString>;
    /// A whole file.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
}

/// The real environment and file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemEnv;

impl ConfigEnv for SystemEnv {
    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        read_config_file(path)
    }
}

/// The largest config file read: every key of `assets/config.toml` takes a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Read `path` if it is a regular file of at most [`MAX_CONFIG_BYTES`]. A device
/// (`/dev/zero`, `/dev/urandom`) would be read without end, and a FIFO would block on open:
/// it is opened without blocking and refused by its type.
fn read_config_file(path: &Path) -> io::Result<String> {
    use crate::untrusted::{self, Refusal};

    let bytes = untrusted::read(path, MAX_CONFIG_BYTES).map_err(|refusal| match refusal {
        Refusal::Io(e) => e,
        refused => io::Error::new(
            io::ErrorKind::InvalidInput,
            refused.of_settings_file("a config file", "TOML"),
        ),
    })?;
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not UTF-8 text: a config file is TOML",
        )
    })
}

/// The system-wide location.
pub const SYSTEM_PATH: &str = "/etc/sockscope/config.toml";

impl Config {
    /// An aggregator running these rules, with history sized from the `history` span and
    /// the poll `interval`.
    pub fn aggregator(&self) -> Aggregator {
        Aggregator::new(self.rules.clone())
            .with_history(self.general.history, self.general.interval)
    }

    /// Load the configuration: `explicit` if given, else the first default location that
    /// exists, else the defaults. Returns the file it came from (`None`: built-in defaults).
    pub fn load(explicit: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
        Config::load_with(explicit, &SystemEnv)
    }

    /// [`Config::load`] reading through `env`.
    pub fn load_with(
        explicit: Option<&Path>,
        env: &dyn ConfigEnv,
    ) -> Result<(Config, Option<PathBuf>), ConfigError> {
        if let Some(path) = explicit {
            let text = env.read_to_string(path).map_err(|source| {
                if source.kind() == io::ErrorKind::NotFound {
                    ConfigError::NotFound {
                        path: path.to_owned(),
                    }
                } else {
                    ConfigError::Read {
                        path: path.to_owned(),
                        error: source,
                    }
                }
            })?;
            return Ok((Config::parse(&text, path)?, Some(path.to_owned())));
        }
        for path in Config::default_locations(env) {
            match env.read_to_string(&path) {
                Ok(text) => return Ok((Config::parse(&text, &path)?, Some(path))),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) => {}
                // A HOME the user cannot enter (`sudo -u` keeping root's HOME) hides no file
                // of theirs; the system file, though, is the admin's and must be readable.
                Err(e)
                    if e.kind() == io::ErrorKind::PermissionDenied
                        && path != Path::new(SYSTEM_PATH) => {}
                Err(error) => return Err(ConfigError::Read { path, error }),
            }
        }
        Ok((Config::default(), None))
    }

    /// The default locations, in lookup order: the user's, then the system's.
    pub fn default_locations(env: &dyn ConfigEnv) -> Vec<PathBuf> {
        let non_empty = |name| env.var(name).filter(|v| !v.is_empty());
        let user = match non_empty("XDG_CONFIG_HOME") {
            Some(xdg) => Some(PathBuf::from(xdg)),
            None => non_empty("HOME").map(|home| PathBuf::from(home).join(".config")),
        };
        user.map(|dir| dir.join("sockscope").join("config.toml"))
            .into_iter()
            .chain([PathBuf::from(SYSTEM_PATH)])
            .collect()
    }

    /// Parse the text of a configuration file; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| diagnose::toml_error(&e, text, path))?;
        let config = Config {
            general: General {
                interval: file.general.interval,
                history: file.general.history,
                flight_recorder: file.general.flight_recorder,
            },
            rules: RuleConfig {
                clear_ratio: file.general.clear_ratio,
                ..file.rules
            },
        };
        config
            .validate()
            .map_err(|e| diagnose::invalid_setting(&e, text, path))?;
        Ok(config)
    }

    /// Check every value's range that every mode reads: the rules'. `[general] interval`
    /// is the dashboard's alone (`serve` polls at its `--interval`, `snapshot` and `check`
    /// once): [`Config::check_dashboard`] checks it where the dashboard starts.
    pub fn validate(&self) -> Result<(), crate::aggregate::InvalidSetting> {
        self.rules.validate()
    }

    /// Check what the dashboard reads besides the rules: `interval` within
    /// [`MIN_INTERVAL`] … [`MAX_INTERVAL`] and `history` at least `interval`. `path` is the
    /// file the configuration came from (`None`: the defaults), read again to locate the
    /// key in the error.
    pub fn check_dashboard(&self, path: Option<&Path>) -> Result<(), ConfigError> {
        let (Err(error), Some(path)) = (self.dashboard_settings(), path) else {
            return Ok(());
        };
        let text = read_config_file(path).unwrap_or_default();
        Err(diagnose::invalid_setting(&error, &text, path))
    }

    /// [`Config::check_dashboard`], unlocated.
    fn dashboard_settings(&self) -> Result<(), crate::aggregate::InvalidSetting> {
        let invalid = |key, value: Duration, requirement: String| {
            Err(crate::aggregate::InvalidSetting {
                section: "general",
                key,
                value: format!("\"{}\"", humantime::format_duration(value)),
                requirement,
            })
        };
        if let Some(requirement) = interval_out_of_range(self.general.interval) {
            return invalid("interval", self.general.interval, requirement);
        }
        if self.general.history < self.general.interval {
            return invalid(
                "history",
                self.general.history,
                "it must be at least the interval".to_owned(),
            );
        }
        Ok(())
    }
}

/// The file's shape: `[general]` and one section per rule (its [`Rule::SECTION`]), in
/// [`AnomalyKind::ALL`] order; every section optional, an unknown one an error.
struct ConfigFile {
    general: GeneralFile,
    /// The rules' sections (`clear_ratio` stays the default: it is read from `[general]`).
    rules: RuleConfig,
}

/// Every section name, `general` first: what an unknown section's error lists.
fn sections() -> &'static [&'static str] {
    static SECTIONS: OnceLock<Vec<&'static str>> = OnceLock::new();
    SECTIONS.get_or_init(|| {
        std::iter::once("general")
            .chain(AnomalyKind::ALL.iter().map(|&kind| section(kind)))
            .collect()
    })
}

/// A section header of the file: `general` or a rule's.
enum SectionName {
    General,
    Rule(AnomalyKind),
}

impl<'de> Deserialize<'de> for SectionName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;

        impl Visitor<'_> for Name {
            type Value = SectionName;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a section name")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<SectionName, E> {
                if value == "general" {
                    return Ok(SectionName::General);
                }
                AnomalyKind::ALL
                    .iter()
                    .find(|&&kind| section(kind) == value)
                    .map(|&kind| SectionName::Rule(kind))
                    .ok_or_else(|| E::unknown_field(value, sections()))
            }
        }

        deserializer.deserialize_identifier(Name)
    }
}

impl<'de> Deserialize<'de> for ConfigFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct File;

        impl<'de> Visitor<'de> for File {
            type Value = ConfigFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct ConfigFile")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConfigFile, A::Error> {
                let mut file = ConfigFile {
                    general: GeneralFile::default(),
                    rules: RuleConfig::default(),
                };
                while let Some(name) = map.next_key::<SectionName>()? {
                    match name {
                        SectionName::General => file.general = map.next_value()?,
                        SectionName::Rule(kind) => for_rule(
                            kind,
                            &mut ReadSection {
                                map: &mut map,
                                rules: &mut file.rules,
                                de: std::marker::PhantomData,
                            },
                        )?,
                    }
                }
                Ok(file)
            }
        }

        deserializer.deserialize_struct("ConfigFile", sections(), File)
    }
}

/// Reads one rule's section into its settings.
struct ReadSection<'a, 'de, A> {
    map: &'a mut A,
    rules: &'a mut RuleConfig,
    /// The lifetime of the text `map` reads.
    de: std::marker::PhantomData<&'de ()>,
}

impl<'de, A: MapAccess<'de>> RuleVisitor for ReadSection<'_, 'de, A> {
    type Output = Result<(), A::Error>;

    fn visit<R: Rule>(&mut self) -> Self::Output {
        *R::of_mut(self.rules) = self.map.next_value::<R>()?;
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct GeneralFile {
    #[serde(deserialize_with = "duration")]
    interval: Duration,
    #[serde(deserialize_with = "duration")]
    history: Duration,
    #[serde(deserialize_with = "duration")]
    flight_recorder: Duration,
    clear_ratio: f64,
}

impl Default for GeneralFile {
    fn default() -> Self {
        let general = General::default();
        GeneralFile {
            interval: general.interval,
            history: general.history,
            flight_recorder: general.flight_recorder,
            clear_ratio: DEFAULT_CLEAR_RATIO,
        }
    }
}

/// A humantime duration string (`"1s"`, `"500ms"`).
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct HumanTime;

    impl Visitor<'_> for HumanTime {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"1s\" or \"500ms\"")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
            humantime::parse_duration(value).map_err(|e| {
                E::custom(format!(
                    "invalid duration \"{value}\" ({e}); write it like \"1s\" or \"500ms\""
                ))
            })
        }
    }

    deserializer.deserialize_str(HumanTime)
}
