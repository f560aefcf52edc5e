//! The configuration file: defaults, overrides, located errors, lookup order.

#![allow(clippy::unwrap_used, clippy::float_cmp)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sockscope::config::{Config, ConfigEnv, ConfigError};

/// A fake environment: variables and files in memory.
#[derive(Default)]
struct FakeEnv {
    vars: HashMap<&'static str, &'static str>,
    files: HashMap<PathBuf, String>,
}

impl FakeEnv {
    fn var(mut self, name: &'static str, value: &'static str) -> FakeEnv {
        self.vars.insert(name, value);
        self
    }

    fn file(mut self, path: &str, text: &str) -> FakeEnv {
        self.files.insert(PathBuf::from(path), text.to_owned());
        self
    }
}

impl ConfigEnv for FakeEnv {
    fn var(&self, name: &str) -> Option<OsString> {
        self.vars.get(name).map(OsString::from)
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/sockscope/config.toml"))
}

#[test]
fn defaults_are_sane() {
    let config = Config::default();
    assert_eq!(config.general.interval, Duration::from_secs(1));
    assert_eq!(config.general.history, Duration::from_secs(600));
    assert_eq!(config.rules.clear_ratio, 0.8);
    assert_eq!(config.rules.close_wait.per_process, 20);
    assert_eq!(config.rules.syn_recv.per_listener, 100);
    assert_eq!(config.rules.time_wait.per_destination, 5000);
    assert!(config.validate().is_ok());
}

#[test]
fn shipped_config_file_equals_defaults() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/config.toml"))
        .unwrap();
    assert_eq!(parse(&text).unwrap(), Config::default());
}

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn file_overrides_only_the_keys_it_sets() {
    let config = parse(
        "[general]\ninterval = \"500ms\"\nclear_ratio = 0.5\n\n[close_wait]\nper_process = 5\n\n[time_wait]\nenabled = false\n",
    )
    .unwrap();
    let mut expected = Config::default();
    expected.general.interval = Duration::from_millis(500);
    expected.rules.clear_ratio = 0.5;
    expected.rules.close_wait.per_process = 5;
    expected.rules.time_wait.enabled = false;
    assert_eq!(config, expected);
}

#[test]
fn unknown_key_names_file_line_section_and_expected_keys() {
    let err = parse("[general]\ninterval = \"1s\"\n\n[close_wait]\nper_proces = 5\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error in /etc/sockscope/config.toml line 5: unknown key 'per_proces' in [close_wait]; expected one of: enabled, per_process, per_process_critical"
    );
}

#[test]
fn unknown_section_lists_the_sections() {
    let err = parse("[close_wiat]\nper_process = 5\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error in /etc/sockscope/config.toml line 1: unknown section [close_wiat]; expected one of: general, close_wait, syn_recv, syn_cookies, time_wait, connection_churn, accept_queue, fin_wait2, orphans, fd_exhaustion"
    );
}

#[test]
fn fd_exhaustion_ratios_must_be_fractions_with_critical_not_below_warning() {
    let config = parse("[fd_exhaustion]\nwarning_ratio = 0.7\ncritical_ratio = 0.9\n").unwrap();
    assert_eq!(
        config.rules.fd_exhaustion,
        sockscope::aggregate::FdExhaustionRule {
            enabled: true,
            warning_ratio: 0.7,
            critical_ratio: 0.9,
        }
    );
    for (text, message) in [
        (
            "[fd_exhaustion]\nwarning_ratio = 0\n",
            " line 2: 'warning_ratio' in [fd_exhaustion] is 0; it must be above 0 and at most 1",
        ),
        (
            "[fd_exhaustion]\ncritical_ratio = 1.2\n",
            " line 2: 'critical_ratio' in [fd_exhaustion] is 1.2; it must be above 0 and at most 1",
        ),
        (
            "[fd_exhaustion]\nwarning_ratio = 0.9\ncritical_ratio = 0.85\n",
            " line 3: 'critical_ratio' in [fd_exhaustion] is 0.85; it must be at least warning_ratio (0.9)",
        ),
        (
            "[fd_exhaustion]\nwarning_ratio = 0.99\n",
            ": 'critical_ratio' in [fd_exhaustion] is 0.95; it must be at least warning_ratio (0.99)",
        ),
        (
            "[fd_exhaustion]\nenabled = \"yes\"\n",
            " line 2: wrong type for 'enabled' in [fd_exhaustion]: expected true or false, found string \"yes\"",
        ),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("config error in /etc/sockscope/config.toml{message}"),
            "{text}"
        );
    }
}

#[test]
fn wrong_type_names_key_and_expected_type() {
    let err = parse("[close_wait]\nenabled = true\nper_process = \"many\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error in /etc/sockscope/config.toml line 3: wrong type for 'per_process' in [close_wait]: expected a whole number (0 or more), found string \"many\""
    );
    let err = parse("[general]\ninterval = 2\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error in /etc/sockscope/config.toml line 2: wrong type for 'interval' in [general]: expected a duration such as \"1s\" or \"500ms\", found integer 2"
    );
}

#[test]
fn out_of_range_value_is_located_at_its_key() {
    let err = parse("[orphans]\n\nfraction = 1.5\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error in /etc/sockscope/config.toml line 3: 'fraction' in [orphans] is 1.5; it must be above 0 and at most 1"
    );
    let err = parse("[close_wait]\nper_process = 200\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error in /etc/sockscope/config.toml: 'per_process_critical' in [close_wait] is 100; it must be at least per_process (200)"
    );
}

/// The dashboard's check of a config file holding `text`: its error, located in the file.
fn dashboard_error(text: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let (config, from) = Config::load(Some(&path)).unwrap();
    config
        .check_dashboard(from.as_deref())
        .err()
        .map(|e| e.to_string().replace(&path.display().to_string(), "FILE"))
}

#[test]
fn the_interval_range_is_checked_by_the_dashboard_that_polls_at_it() {
    // The same range as the command line and the `+`/`-` keys.
    assert_eq!(
        dashboard_error("[general]\ninterval = \"10ms\"\n").as_deref(),
        Some(
            "config error in FILE line 2: 'interval' in [general] is \"10ms\"; it must be between 250ms and 1m: faster polls cost more than they show, slower ones miss what a dashboard is for"
        )
    );
    assert_eq!(
        dashboard_error("[general]\n\ninterval = \"2h\"\nhistory = \"1d\"\n").as_deref(),
        Some(
            "config error in FILE line 3: 'interval' in [general] is \"2h\"; it must be between 250ms and 1m: faster polls cost more than they show, slower ones miss what a dashboard is for"
        )
    );
    assert_eq!(
        dashboard_error("[general]\ninterval = \"5s\"\nhistory = \"2s\"\n").as_deref(),
        Some(
            "config error in FILE line 3: 'history' in [general] is \"2s\"; it must be at least the interval"
        )
    );
    assert_eq!(dashboard_error("[general]\ninterval = \"250ms\"\n"), None);
    assert_eq!(dashboard_error("[general]\ninterval = \"1m\"\n"), None);
    // The modes that do not poll at it read the file as it is.
    assert_eq!(
        parse("[general]\ninterval = \"2h\"\n")
            .unwrap()
            .general
            .interval,
        Duration::from_secs(7200)
    );
}

#[test]
fn a_file_interval_the_dashboard_refuses_is_no_concern_of_serve_snapshot_or_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "[general]\ninterval = \"2h\"\n").unwrap();
    let path = path.to_str().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .args(args)
            .args(["--config", path])
            .output()
            .unwrap()
    };
    let refused = format!(
        "sockscope: config error in {path} line 2: 'interval' in [general] is \"2h\"; it must be between 250ms and 1m: faster polls cost more than they show, slower ones miss what a dashboard is for\n"
    );
    let out = run(&["top"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), refused);
    // `--interval` replaces the file's: nothing to refuse (it then needs a terminal).
    let out = run(&["top", "--interval", "2s"]);
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("sockscope: the dashboard needs a terminal"),
    );
    let out = run(&["snapshot", "--no-processes"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = run(&["check", "--no-processes", "--window", "0s"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.starts_with("SOCKSCOPE UNKNOWN"), "{stdout}");
    assert!(matches!(out.status.code(), Some(0..=2)), "{stdout}");
    // serve goes on to its own work: an address not on this host is what stops it.
    let out = run(&["serve", "--listen", "192.0.2.1:9"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("sockscope: --listen 192.0.2.1:9: cannot listen there"),
        "{stderr}"
    );
}

#[test]
fn missing_explicit_file_is_an_error_naming_it() {
    let err =
        Config::load_with(Some(Path::new("/srv/sockscope.toml")), &FakeEnv::default()).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        "config file /srv/sockscope.toml does not exist; check the --config path, or leave --config out to use the default locations"
    );
}

#[test]
fn explicit_file_wins_over_default_locations() {
    let env = FakeEnv::default()
        .var("XDG_CONFIG_HOME", "/home/ops/.xdg")
        .file("/srv/s.toml", "[close_wait]\nper_process = 7\n")
        .file(
            "/home/ops/.xdg/sockscope/config.toml",
            "[close_wait]\nper_process = 8\n",
        );
    let (config, path) = Config::load_with(Some(Path::new("/srv/s.toml")), &env).unwrap();
    assert_eq!(
        (config.rules.close_wait.per_process, path),
        (7, Some(PathBuf::from("/srv/s.toml")))
    );
}

#[test]
fn xdg_config_home_comes_before_etc() {
    let env = FakeEnv::default()
        .var("XDG_CONFIG_HOME", "/home/ops/.xdg")
        .var("HOME", "/home/ops")
        .file(
            "/home/ops/.xdg/sockscope/config.toml",
            "[close_wait]\nper_process = 8\n",
        )
        .file(
            "/home/ops/.config/sockscope/config.toml",
            "[close_wait]\nper_process = 9\n",
        )
        .file(
            "/etc/sockscope/config.toml",
            "[close_wait]\nper_process = 10\n",
        );
    let (config, path) = Config::load_with(None, &env).unwrap();
    assert_eq!(config.rules.close_wait.per_process, 8);
    assert_eq!(
        path,
        Some(PathBuf::from("/home/ops/.xdg/sockscope/config.toml"))
    );
}

#[test]
fn home_dot_config_is_used_when_xdg_is_unset() {
    let env = FakeEnv::default()
        .var("HOME", "/home/ops")
        .file(
            "/home/ops/.config/sockscope/config.toml",
            "[close_wait]\nper_process = 9\n",
        )
        .file(
            "/etc/sockscope/config.toml",
            "[close_wait]\nper_process = 10\n",
        );
    let (config, _) = Config::load_with(None, &env).unwrap();
    assert_eq!(config.rules.close_wait.per_process, 9);
}

#[test]
fn missing_user_file_falls_back_to_etc_then_defaults() {
    let env = FakeEnv::default().var("HOME", "/home/ops").file(
        "/etc/sockscope/config.toml",
        "[close_wait]\nper_process = 10\n",
    );
    let (config, path) = Config::load_with(None, &env).unwrap();
    assert_eq!(
        (config.rules.close_wait.per_process, path),
        (10, Some(PathBuf::from("/etc/sockscope/config.toml")))
    );

    let (config, path) =
        Config::load_with(None, &FakeEnv::default().var("HOME", "/home/ops")).unwrap();
    assert_eq!((config, path), (Config::default(), None));
}

#[test]
fn default_locations_are_listed_in_lookup_order() {
    let env = FakeEnv::default()
        .var("XDG_CONFIG_HOME", "/x")
        .var("HOME", "/h");
    assert_eq!(
        Config::default_locations(&env),
        vec![
            PathBuf::from("/x/sockscope/config.toml"),
            PathBuf::from("/etc/sockscope/config.toml")
        ]
    );
    let env = FakeEnv::default()
        .var("XDG_CONFIG_HOME", "")
        .var("HOME", "/h");
    assert_eq!(
        Config::default_locations(&env)[0],
        PathBuf::from("/h/.config/sockscope/config.toml")
    );
}

#[test]
fn error_in_default_location_file_is_reported_with_its_path() {
    let env = FakeEnv::default().file(
        "/etc/sockscope/config.toml",
        "[syn_recv]\nper_listner = 1\n",
    );
    let err = Config::load_with(None, &env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error in /etc/sockscope/config.toml line 2: unknown key 'per_listner' in [syn_recv]; expected one of: enabled, per_listener, per_listener_critical, backlog_fraction, backlog_fraction_critical, min_count"
    );
}

/// `Config::load` on a real path: the message of its error.
fn load_error(path: &Path) -> String {
    match Config::load(Some(path)) {
        Ok(_) => panic!("{} loaded as a config file", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn devices_pipes_and_directories_are_refused_by_their_type() {
    assert_eq!(
        load_error(Path::new("/dev/zero")),
        "cannot read config file /dev/zero: it is a device, not a regular file: give the path of a TOML file"
    );
    assert_eq!(
        load_error(Path::new("/dev/urandom")),
        "cannot read config file /dev/urandom: it is a device, not a regular file: give the path of a TOML file"
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Opening a FIFO with no writer would block for ever: it is refused at once.
    assert_eq!(
        load_error(&fifo),
        format!(
            "cannot read config file {}: it is a named pipe, not a regular file: give the path of a TOML file",
            fifo.display()
        )
    );
    assert_eq!(
        load_error(dir.path()),
        format!(
            "cannot read config file {}: it is a directory, not a regular file: give the path of a TOML file",
            dir.path().display()
        )
    );
}

#[test]
fn a_config_file_over_a_mebibyte_is_refused_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("config.toml");
    std::fs::write(&big, "#".repeat(2_000_000)).unwrap();
    assert_eq!(
        load_error(&big),
        format!(
            "cannot read config file {}: it is 2000000 bytes; a config file may be at most 1048576 bytes (1 MiB)",
            big.display()
        )
    );
    // At the cap exactly it is read (and is a valid file of comments).
    std::fs::write(&big, "#".repeat(1 << 20)).unwrap();
    assert!(Config::load(Some(&big)).is_ok());
}

#[test]
fn config_errors_name_the_key_and_say_what_to_do() {
    let message = |text: &str| parse(text).unwrap_err().to_string();
    assert_eq!(
        message("[close_wait]\nper_process = 5\nper_process = 6\n"),
        "config error in /etc/sockscope/config.toml line 3: 'per_process' is set twice in [close_wait]: keep one"
    );
    assert_eq!(
        message("[close_wait]\nper_process = 5\n[close_wait]\nenabled = true\n"),
        "config error in /etc/sockscope/config.toml line 3: section [close_wait] appears twice: put all its keys under one [close_wait] header"
    );
    assert_eq!(
        message("[close_wait]\nper_process = 99999999999999999999\n"),
        "config error in /etc/sockscope/config.toml line 2: wrong type for 'per_process' in [close_wait]: expected a whole number (0 or more), found integer 99999999999999999999, which is too large"
    );
    assert_eq!(
        message("close_wait = 5\n"),
        "config error in /etc/sockscope/config.toml line 1: 'close_wait' is a section, not a key: write a [close_wait] header and put its keys under it, found integer 5"
    );
    assert_eq!(
        message("per_process = 5\n"),
        "config error in /etc/sockscope/config.toml line 1: unknown key 'per_process' at the top of the file, outside any section; keys go under a section header: general, close_wait, syn_recv, syn_cookies, time_wait, connection_churn, accept_queue, fin_wait2, orphans, fd_exhaustion"
    );
}

#[test]
fn every_section_refuses_a_critical_level_below_its_warning_level() {
    for (section, warning, critical, warn_value, crit_value) in [
        (
            "close_wait",
            "per_process",
            "per_process_critical",
            "50",
            "40",
        ),
        (
            "syn_recv",
            "per_listener",
            "per_listener_critical",
            "50",
            "40",
        ),
        (
            "syn_recv",
            "backlog_fraction",
            "backlog_fraction_critical",
            "0.5",
            "0.4",
        ),
        ("syn_cookies", "rise", "rise_critical", "50", "40"),
        (
            "time_wait",
            "per_destination",
            "per_destination_critical",
            "50",
            "40",
        ),
        (
            "time_wait",
            "port_range_fraction",
            "port_range_fraction_critical",
            "0.5",
            "0.4",
        ),
        (
            "time_wait",
            "buckets_fraction",
            "buckets_fraction_critical",
            "0.5",
            "0.4",
        ),
        (
            "accept_queue",
            "fraction",
            "fraction_critical",
            "0.5",
            "0.4",
        ),
        (
            "accept_queue",
            "drops_rise",
            "drops_rise_critical",
            "50",
            "40",
        ),
        ("fin_wait2", "total", "total_critical", "50", "40"),
        (
            "fin_wait2",
            "per_process",
            "per_process_critical",
            "50",
            "40",
        ),
        ("orphans", "fraction", "fraction_critical", "0.5", "0.4"),
        (
            "fd_exhaustion",
            "warning_ratio",
            "critical_ratio",
            "0.5",
            "0.4",
        ),
    ] {
        let text = format!("[{section}]\n{warning} = {warn_value}\n{critical} = {crit_value}\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "config error in /etc/sockscope/config.toml line 3: '{critical}' in [{section}] is {crit_value}; it must be at least {warning} ({warn_value})"
            ),
            "{text}"
        );
        let equal = format!("[{section}]\n{warning} = {warn_value}\n{critical} = {warn_value}\n");
        assert!(parse(&equal).is_ok(), "{equal}");
    }
}
