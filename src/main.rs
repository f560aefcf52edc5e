//! The `sockscope` binary: parses the command line and calls into the library.

fn main() {
    if let Some(code) = sockscope::lab::holder::run_from_args() {
        std::process::exit(code);
    }
}
