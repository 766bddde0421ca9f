//! `objstore`: the command-line tool for operators of objstore stores.
//!
//! One module per concept: `args` (the command line), `exit` (exit codes
//! and failure messages), `open` (attaching to an existing store),
//! `units` (sizes, durations), `interrupt` (Ctrl-C), `progress` (the
//! progress bar), and the commands: `lifecycle` (create, destroy, gc),
//! `stat` (stat, watch), `list` (ls), `transfer` (put, get, rm).

mod args;
mod exit;
mod interrupt;
mod lifecycle;
mod list;
mod open;
mod progress;
mod stat;
mod transfer;
mod units;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use exit::Failure;

/// Writes command output to stdout.
pub fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(Failure::output)
}

/// Writes a remark that is not the command's output to stderr.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "objstore: {text}");
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Create(a) => lifecycle::create(a),
        Command::Destroy(a) => lifecycle::destroy(a),
        Command::Gc(a) => lifecycle::gc(a),
        Command::Stat(a) => stat::stat(a),
        Command::Watch(a) => stat::watch(a),
        Command::Ls(a) => list::run(a),
        Command::Put(a) => transfer::put(a),
        Command::Get(a) => transfer::get(a),
        Command::Rm(a) => transfer::rm(a),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version go to stdout and succeed; anything else
            // is a usage error, with clap's message, and exit code 1.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    // Commands return (rather than exit) so that the store handle is
    // dropped, detaching cleanly, before the process ends.
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report();
            ExitCode::from(failure.code)
        }
    }
}
