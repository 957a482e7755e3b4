//! The `idv` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::end_quietly_on_closed_stdout(&args);
    cli::init_tracing(&args);
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error[{}]: {}", err.code, err.message);
            ExitCode::from(err.exit)
        }
    }
}
