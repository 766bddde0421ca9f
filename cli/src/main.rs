//! `objstore`: the command-line tool for operators of objstore stores.
//!
//! One module per concept: `args` (the command line), `exit` (exit codes
//! and failure messages), `open` (attaching to an existing store),
//! `units` (sizes, durations), `interrupt` (Ctrl-C), `progress` (the
//! progress bar), and the commands: `lifecycle` (create, destroy, gc),
//! `stat` (stat, watch), `list` (ls of a store's objects), `stores` (ls of
//! the stores in a directory), `check`, `transfer` (put, get, rm), and
//! `completions`.

mod args;
mod check;
mod exit;
mod interrupt;
mod lifecycle;
mod list;
mod open;
mod progress;
mod stat;
mod stores;
mod table;
mod transfer;
mod units;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{default_store, store_or_default, Cli, Command};
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
        Command::Gc(a) => lifecycle::gc(&store_or_default(a.name.clone())?, a),
        Command::Stat(a) => stat::stat(&store_or_default(a.name.clone())?, a),
        Command::Watch(a) => stat::watch(&store_or_default(a.name.clone())?, a),
        Command::Check(a) => check::run(&store_or_default(a.name.clone())?, a),
        // No store named and none by default (or --stores, --dir): the stores.
        Command::Ls(a) => {
            match a.name.clone().or_else(|| if a.stores || !a.dir.is_empty() { None } else { default_store() }) {
                Some(name) => list::run(&name, a),
                None => stores::run(a),
            }
        }
        Command::Put(mut a) => {
            a.resolve()?;
            transfer::put(a)
        }
        Command::Get(mut a) => {
            a.resolve()?;
            transfer::get(a)
        }
        Command::Rm(mut a) => {
            a.resolve()?;
            transfer::rm(a)
        }
        Command::Publish(mut a) => {
            a.resolve("publish")?;
            transfer::publish(a, true)
        }
        Command::Unpublish(mut a) => {
            a.resolve("unpublish")?;
            transfer::publish(a, false)
        }
        Command::Completions(a) => completions(a.shell),
    }
}

/// `completions SHELL`: the completion script for the shell, on stdout.
fn completions(shell: args::Shell) -> Result<(), Failure> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let shell = match shell {
        args::Shell::Bash => Shell::Bash,
        args::Shell::Zsh => Shell::Zsh,
        args::Shell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "objstore", &mut script);
    emit(&String::from_utf8_lossy(&script))
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
