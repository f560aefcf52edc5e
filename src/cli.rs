//! The command line: clap definitions only. What each mode does lives in the `app` module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{OsStringValueParser, TypedValueParser as _};
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::collect::NetnsTarget;
use crate::filter::{Filter, KEYS, Key, Takes};

/// Live TCP connection-state monitor: counts per state, who holds them, what is abnormal.
#[derive(Debug, Parser)]
#[command(name = "sockscope", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: `top`, the live dashboard).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Which namespace to watch.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Which sockets to list.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Dashboard options when no subcommand is given.
    #[command(flatten)]
    pub top: TopArgs,
}

/// The modes.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The live dashboard (the default): states, anomalies, sockets, processes, peers,
    /// listeners and kernel counters, refreshed every poll.
    Top(TopArgs),
    /// Build a throw-away lab (root): a CLOSE_WAIT leak, a SYN flood, a TIME_WAIT storm and
    /// an overflowing listener in new network namespaces, open the dashboard on them, and
    /// remove everything on exit.
    Demo(TopArgs),
    /// Poll and print anomalies, counts per state and every socket (like `netstat -anp | grep tcp`).
    #[command(mut_arg("window", |a| a.help(format!("{WINDOW_HELP} [default: over the dump itself]"))))]
    Snapshot(OneShotArgs),
    /// Monitoring plugin: one status line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    #[command(mut_arg("window", |a| a.help(format!("{WINDOW_HELP} [default: 1s]"))))]
    Check(OneShotArgs),
    /// Prometheus exporter: serve /metrics (text format or OpenMetrics), / and /healthz,
    /// polling in the background; or, with --textfile, write the metrics to a file for
    /// node_exporter's textfile collector.
    Serve(ServeArgs),
    /// Every TCP socket the kernel destroys, a line each as it happens (like `ss -E`), with
    /// its lifetime, traffic and who held it (as far as the polls saw: `owner_from` says).
    Events(EventsArgs),
    /// Record every socket of the namespaces watched, with its owners, container, kernel
    /// counters and limits, to a file, poll after poll, until interrupted (SIGINT, SIGTERM)
    /// or --duration passes; `--info FILE` tells what a recording holds. Replay a moment
    /// with `snapshot --from FILE --at TIME` (or `check`). Filters narrow what is recorded
    /// to the sockets they keep (the counts of a replay are then theirs); with -A,
    /// --netns-match picks the namespaces.
    Record(RecordArgs),
    /// The dashboard on a recording (`w` in the dashboard writes one): every view, filter
    /// and detail pane; ←/→ a poll, [/] a minute, a the next anomaly raised, t a time. The
    /// anomalies are judged again by the rules of the config file in force here. Needs no
    /// root and no kernel feature.
    Replay(ReplayArgs),
}

/// Options of `sockscope record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Write to this file (a new file, or a recording to go on with). Default:
    /// /var/lib/sockscope/sockscope-HOST-TIME.ssrec as root, else in the current directory.
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "info")]
    pub output: Option<PathBuf>,
    /// Poll this often.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// When the file would pass this size, it becomes FILE.1 (replacing an older one) and a
    /// new FILE starts: at most about twice this is kept, the oldest polls going first.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Stop after this long (default: run until interrupted).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Tell what the recording FILE holds (time span, polls, namespaces, size, anything
    /// lost) instead of recording.
    #[arg(long, value_name = "FILE")]
    pub info: Option<PathBuf>,
}

/// A size: bytes, or with a unit (`500MiB`, `1GiB`, `64K`; units are powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "{text:?}: use a size such as 1GiB, 500MiB or 1048576"
            ));
        }
    };
    let size = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{text:?}: use a size such as 1GiB, 500MiB or 1048576"))?;
    if size < 1 << 20 {
        return Err(format!("{text:?}: at least 1MiB (a key frame must fit)"));
    }
    Ok(size)
}

/// Options of `sockscope replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recording to replay.
    #[arg(value_name = "FILE")]
    pub file: std::path::PathBuf,
}

/// Options of `sockscope events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Poll the sockets this often, to know who holds them and since when (250ms to 1m).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// The kernel's queue of events for sockscope, in bytes (events arriving while it is
    /// full are lost, and counted). As root it is granted whole; otherwise the kernel caps it
    /// at net.core.rmem_max.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20, value_parser = clap::value_parser!(u64).range(4096..=1 << 30))]
    pub buffer: u64,
    /// Stop after this long (default: run until interrupted).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
}

/// `serve --listen`'s default: loopback, on a port outside Prometheus's list of default
/// exporter ports (its standard range, 9100–9999, is fully allocated; README says more).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:19417";

/// Options of the Prometheus exporter.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen on this address and port.
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Poll this often, 1s to 1h; a scrape returns the latest poll.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_serve_interval)]
    pub interval: Duration,
    /// Export this many processes (by name) with the most sockets; the rest are summed
    /// under comm="other".
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top_processes: u16,
    /// Export this many listeners with the fullest accept queues.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top_listeners: u16,
    /// Write the metrics to this file after each poll (atomically: a temporary file in the
    /// same directory, then a rename), for node_exporter's textfile collector; no HTTP
    /// server then.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["listen", "web_config"])]
    pub textfile: Option<PathBuf>,
    /// TLS and basic auth, in the web configuration format Prometheus exporters share
    /// (`tls_server_config`, `basic_auth_users` with bcrypt hashes).
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
}

fn parse_serve_interval(text: &str) -> Result<Duration, String> {
    let interval =
        humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e} (use e.g. 15s, 1m)"))?;
    if interval < Duration::from_secs(1) || interval > Duration::from_secs(3600) {
        return Err(format!(
            "{text:?}: it must be between 1s and 1h (Prometheus scrapes every 15s to 1m)"
        ));
    }
    Ok(interval)
}

/// Options of the dashboard.
#[derive(Debug, Default, Args)]
pub struct TopArgs {
    /// Poll this often, 250ms to 1m (default: `interval` in the config file, else 1s); `+`
    /// and `-` change it while running, within the same range.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub interval: Option<Duration>,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?}: {e} (use e.g. 1s, 500ms, 5s)"))?;
    match crate::config::interval_out_of_range(interval) {
        Some(requirement) => Err(format!("{text:?}: {requirement}")),
        None => Ok(interval),
    }
}

/// The help of `--window`, before each mode's default.
const WINDOW_HELP: &str = "Read the kernel counters this far apart for the rules on their rises (SYN cookies, listen overflows, TIME_WAIT overflow); the sockets are dumped once either way";

/// Options of the one-shot modes (`snapshot`, `check`).
#[derive(Debug, Default, Args)]
pub struct OneShotArgs {
    /// Print JSON instead of text (shape documented in README, `schema_version`).
    #[arg(long)]
    pub json: bool,
    /// Read the kernel counters this far apart (default: `snapshot` when its dump starts and
    /// ends, `check` 1s); the sockets are dumped once either way.
    #[arg(long, value_name = "DURATION", value_parser = parse_window)]
    pub window: Option<Duration>,
    /// Report from this recording (made by `sockscope record`) instead of the kernel: no
    /// root needed; the counter rules compare with the poll before.
    #[arg(long, value_name = "FILE", conflicts_with = "window")]
    pub from: Option<PathBuf>,
    /// With --from: the last poll at or before TIME: RFC 3339 UTC
    /// (2026-12-07T03:12:00Z), relative to the recording's end (-10m), or a time of day
    /// (03:12, 03:12:30, UTC, on the recording's last day). Default: the last poll.
    #[arg(
        long,
        value_name = "TIME",
        requires = "from",
        allow_hyphen_values = true
    )]
    pub at: Option<String>,
}

fn parse_window(text: &str) -> Result<Duration, String> {
    let window = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?}: {e} (use e.g. 1s, 500ms, 0s)"))?;
    if window > Duration::from_secs(60) {
        return Err(format!(
            "{text:?} is longer than a minute: a one-shot check should not wait that long"
        ));
    }
    Ok(window)
}

/// Where to look.
#[derive(Debug, Default, Args)]
pub struct TargetArgs {
    /// Watch the named network namespace (a name under /run/netns, as `ip netns list` shows).
    #[arg(long, value_name = "NAME", global = true, conflicts_with = "netns_pid")]
    pub netns: Option<String>,
    /// Watch the network namespace of process PID (e.g. a container's main process).
    #[arg(long, value_name = "PID", global = true)]
    pub netns_pid: Option<u32>,
    /// Watch every network namespace of the host at once (root; `snapshot`, `check` and
    /// `serve`): the host's, `ip netns` names, Docker's and every container's.
    #[arg(short = 'A', long, global = true, conflicts_with_all = ["netns", "netns_pid"])]
    pub all_netns: bool,
    /// Do not attribute sockets to processes (skips the /proc/*/fd walk).
    #[arg(long, global = true)]
    pub no_processes: bool,
    /// Thresholds file (default: $SOCKSCOPE_CONFIG when set and not empty, else
    /// $XDG_CONFIG_HOME/sockscope/config.toml, then /etc/sockscope/config.toml, then
    /// built-in defaults).
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

/// The variable that names the config file when `--config` is not given.
pub const CONFIG_VAR: &str = "SOCKSCOPE_CONFIG";

impl TargetArgs {
    /// The config file to read: `--config`, else [`CONFIG_VAR`] when it is set and not
    /// empty (an empty variable is an unset one, as shells and unit files leave it).
    pub fn config_path(&self) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            std::env::var_os(CONFIG_VAR)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// The namespace these flags name.
    pub fn netns(&self) -> NetnsTarget {
        match (&self.netns, self.netns_pid) {
            (Some(name), _) => NetnsTarget::Named(name.clone()),
            (None, Some(pid)) => NetnsTarget::Pid(pid),
            (None, None) => NetnsTarget::Own,
        }
    }
}

/// Socket filters; repeat a flag or separate values with commas for alternatives.
///
/// Each flag is one key of the filter vocabulary (`filter/keys.rs`): its name and
/// value name come from the key, its values parse straight into a [`Filter`], and the
/// filter is gathered from the keys' table, so a new key needs nothing here: its flag, help
/// and conflicts come from [`KEYS`].
#[derive(Clone, Debug, Default)]
pub struct FilterArgs(Filter);

impl FilterArgs {
    /// The filter these flags describe.
    pub fn filter(&self) -> Filter {
        self.0.clone()
    }
}

impl Args for FilterArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let cmd = cmd.next_help_heading("Filters (counts per state always cover every socket)");
        KEYS.iter().fold(cmd, |cmd, key| cmd.arg(filter_flag(key)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        FilterArgs::augment_args(cmd)
    }
}

/// The flag of one filter key: `--name VALUE`, comma-separated or repeated, before or after
/// the mode; `-C, --name` for a switch. Its help and conflicts come from the key.
fn filter_flag(key: &'static Key) -> Arg {
    let arg = Arg::new(key.flag)
        .long(key.flag)
        .global(true)
        .help(key.help)
        .conflicts_with_all(key.conflicts_with);
    match key.takes {
        Takes::Values(value) => arg
            .value_name(value)
            .value_delimiter(',')
            .action(ArgAction::Append)
            // Values are bytes (a process name need not be UTF-8); they are read as the
            // collector reads names from /proc, with U+FFFD for what is not UTF-8.
            .value_parser(
                OsStringValueParser::new().try_map(move |text| key.parse(&text.to_string_lossy())),
            ),
        Takes::Switch { short } => arg.short(short).action(ArgAction::SetTrue),
    }
}

impl FromArgMatches for FilterArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut filter = Filter::default();
        for key in KEYS {
            let unread = |e: &dyn std::fmt::Display| {
                clap::Error::raw(
                    ErrorKind::InvalidValue,
                    format!("filter key {}: {e}", key.name),
                )
            };
            match key.takes {
                Takes::Values(_) => {
                    let values = matches
                        .try_get_many::<Filter>(key.flag)
                        .map_err(|e| unread(&e))?;
                    for value in values.into_iter().flatten() {
                        filter.merge(value.clone());
                    }
                }
                Takes::Switch { .. } => {
                    let on = matches
                        .try_get_one::<bool>(key.flag)
                        .map_err(|e| unread(&e))?;
                    if on == Some(&true) {
                        filter.merge(key.parse("").map_err(|e| unread(&e))?);
                    }
                }
            }
        }
        Ok(FilterArgs(filter))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = FilterArgs::from_arg_matches(matches)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{PortRange, keys};
    use crate::model::Family;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_filter_key_has_its_flag() {
        let command = Cli::command();
        for key in KEYS {
            let flag = command.get_arguments().find(|a| a.get_id() == key.flag);
            assert_eq!(flag.and_then(Arg::get_long), Some(key.flag), "{key:?}");
        }
    }

    #[test]
    fn every_filter_flag_takes_its_help_and_conflicts_from_its_key() {
        let command = Cli::command();
        for key in KEYS {
            let Some(flag) = command.get_arguments().find(|a| a.get_id() == key.flag) else {
                panic!("no flag for {key:?}");
            };
            assert_eq!(
                flag.get_help().map(ToString::to_string).as_deref(),
                Some(key.help),
                "{key:?}"
            );
        }
        assert_eq!(keys::PROCESS.conflicts_with, ["no_processes"]);
        assert_eq!(keys::IPV4.conflicts_with, ["ipv6"]);
        let help = command
            .get_arguments()
            .find(|a| a.get_id() == "cgroup")
            .and_then(Arg::get_help)
            .map(ToString::to_string);
        assert_eq!(
            help.as_deref(),
            Some(
                "Cgroup path prefix, as the JSON's \"cgroup\" shows it (/system.slice, /kubepods)"
            )
        );
        let both = Cli::try_parse_from(["sockscope", "-4", "-6", "snapshot"]).unwrap_err();
        assert_eq!(both.kind(), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn flags_and_the_filter_line_read_the_same_filter() {
        let cli = Cli::try_parse_from([
            "sockscope",
            "--state",
            "bucket",
            "--port=443,8000-8100",
            "--dst",
            "10.0.0.0/8",
            "check",
            "--process",
            "nginx,42",
            "--ipv4",
        ])
        .unwrap();
        let line: Filter = "state=bucket port=443,8000-8100 dst=10.0.0.0/8 process=nginx,42 -4"
            .parse()
            .unwrap();
        assert_eq!(cli.filters.filter(), line);
        assert_eq!(
            Cli::try_parse_from(["sockscope"]).unwrap().filters.filter(),
            Filter::default()
        );
    }

    #[test]
    fn filters_parse_before_and_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "sockscope",
            "--state",
            "close-wait,TIME_WAIT",
            "snapshot",
            "--sport",
            "80",
            "-6",
        ])
        .unwrap();
        let f = cli.filters.filter();
        assert_eq!(f.states.len(), 2);
        assert_eq!(
            f.sports,
            vec![PortRange {
                first: 80,
                last: 80
            }]
        );
        assert_eq!(f.family, Some(Family::Inet6));
    }

    #[test]
    fn window_is_unset_by_default_and_its_help_names_each_modes_default() {
        let window = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Some(Command::Snapshot(a) | Command::Check(a)) => a.window,
            other => panic!("{other:?}"),
        };
        assert_eq!(window(&["sockscope", "snapshot"]), None);
        assert_eq!(window(&["sockscope", "check"]), None);
        assert_eq!(
            window(&["sockscope", "check", "--window", "0s"]),
            Some(Duration::ZERO)
        );
        let help = |mode: &str| {
            let mut cli = Cli::command();
            let sub = cli.find_subcommand_mut(mode).unwrap();
            let arg = sub
                .get_arguments()
                .find(|a| a.get_id() == "window")
                .unwrap();
            arg.get_help().unwrap().to_string()
        };
        assert_eq!(
            help("snapshot"),
            format!("{WINDOW_HELP} [default: over the dump itself]")
        );
        assert_eq!(help("check"), format!("{WINDOW_HELP} [default: 1s]"));
    }

    #[test]
    fn serve_defaults_to_loopback_every_15s_and_top_50_processes() {
        let Some(Command::Serve(args)) =
            Cli::try_parse_from(["sockscope", "serve"]).unwrap().command
        else {
            panic!("not serve");
        };
        assert_eq!(args.listen, "127.0.0.1:19417".parse().unwrap());
        assert_eq!(args.interval, Duration::from_secs(15));
        assert_eq!((args.top_processes, args.top_listeners), (50, 20));
        assert_eq!((args.textfile, args.web_config), (None, None));
    }

    #[test]
    fn serve_refuses_an_interval_out_of_range_and_textfile_with_listen() {
        let err = |args: &[&str]| Cli::try_parse_from(args).unwrap_err().to_string();
        assert!(
            err(&["sockscope", "serve", "--interval", "500ms"])
                .contains("\"500ms\": it must be between 1s and 1h"),
        );
        assert!(
            err(&[
                "sockscope",
                "serve",
                "--textfile",
                "x.prom",
                "--listen",
                "0.0.0.0:1"
            ])
            .contains("cannot be used with")
        );
        assert!(
            err(&["sockscope", "serve", "--top-processes", "0"]).contains("0 is not in 1..=1000")
        );
    }

    #[test]
    fn process_filter_needs_attribution() {
        let err = Cli::try_parse_from([
            "sockscope",
            "snapshot",
            "--process",
            "nginx",
            "--no-processes",
        ]);
        assert!(err.is_err());
    }
}
