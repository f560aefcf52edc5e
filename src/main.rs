//! The `sockscope` binary: parses the command line, calls into the library, and turns an
//! error into one line on stderr and an exit code.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use sockscope::{app, cli::Cli};

/// Exit code for a malformed command line.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    // The lab's socket holders are this same binary run with a hidden first argument.
    if let Some(code) = sockscope::lab::holder::run_from_args() {
        std::process::exit(code);
    }
    let cli = match Cli::try_parse() {
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
            eprintln!("sockscope: {} (see sockscope --help)", usage_line(&err));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match app::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) if err.is::<app::UsageError>() => {
            eprintln!("sockscope: {err} (see sockscope --help)");
            ExitCode::from(EXIT_USAGE)
        }
        Err(err) => {
            eprintln!("sockscope: {err:#}");
            ExitCode::from(app::EXIT_FAILURE)
        }
    }
}

/// clap's message without its `error: ` prefix and its trailing usage block: one line.
fn usage_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}
