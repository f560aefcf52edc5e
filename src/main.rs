//! The `sockscope` binary: parses the command line, calls into the library, and turns an
//! error into one line on stderr and an exit code — or, for `check`, into the monitoring
//! plugin's UNKNOWN status line and exit 3, since a plugin that cannot run is not CRITICAL.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser};
use sockscope::report::check::{Status, render_unknown};
use sockscope::{app, cli::Cli};

/// Exit code for a malformed command line.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    // The lab's socket holders are this same binary run with a hidden first argument.
    if let Some(code) = sockscope::lab::holder::run_from_args() {
        std::process::exit(code);
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            err.exit()
        }
        Err(err) => {
            let message = format!("{} (see sockscope --help)", usage_line(&err));
            return usage_failure(&args, &message);
        }
    };
    match app::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) if err.is::<app::UsageError>() => {
            usage_failure(&args, &format!("{err} (see sockscope --help)"))
        }
        Err(err) => {
            sockscope::stderr_line!("sockscope: {err:#}");
            ExitCode::from(app::EXIT_FAILURE)
        }
    }
}

/// A command line that cannot run: one line on stderr and exit 2, or for `check` the UNKNOWN
/// status line (JSON with `--json`) on stdout and exit 3.
fn usage_failure(args: &[OsString], message: &str) -> ExitCode {
    match check_json(args) {
        Some(json) => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = render_unknown(message, json, &mut out) {
                sockscope::stderr_line!("sockscope: writing the check result: {e}");
            }
            ExitCode::from(Status::Unknown.exit_code())
        }
        None => {
            sockscope::stderr_line!("sockscope: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Whether `args` ask for `check` (and then whether for `--json`), read as far as they
/// parse: clap, told to ignore errors, still finds the subcommand.
fn check_json(args: &[OsString]) -> Option<bool> {
    let matches = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()?;
    let check = matches.subcommand_matches("check")?;
    Some(matches!(check.try_get_one::<bool>("json"), Ok(Some(true))))
}

/// clap's message without its `error: ` prefix and its trailing usage block: one line.
fn usage_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}
