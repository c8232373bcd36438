//! The `sluice` binary: PgBouncer's command line, logging, pidfile and
//! signals around `sluice_core::Sluice`. All behaviour lives in the
//! library; this file only wires the process.

mod cli;
mod process;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sluice: {message}");
            ExitCode::FAILURE
        }
    }
}
