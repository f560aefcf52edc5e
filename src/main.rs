//! The `sockscope` binary: parses the command line, calls into the library, and turns an
//! error into one line on stderr and an exit code.

use std::process::ExitCode;

use clap::Parser;
use sockscope::{app, cli::Cli};

fn main() -> ExitCode {
    // The lab's socket holders are this same binary run with a hidden first argument.
    if let Some(code) = sockscope::lab::holder::run_from_args() {
        std::process::exit(code);
    }
    let cli = Cli::parse();
    match app::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("sockscope: {err:#}");
            ExitCode::from(app::EXIT_FAILURE)
        }
    }
}
