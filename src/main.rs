//! The `sockscope` binary: parses the command line, calls into the library, and turns an
//! error into one line on stderr and an exit code.

use std::process::ExitCode;

use clap::Parser;
use sockscope::{app, cli::Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match app::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("sockscope: {err:#}");
            ExitCode::from(app::EXIT_FAILURE)
        }
    }
}
