//! The command line: every subcommand, its arguments and its help text.
//! Values with units (sizes, durations, modes, IDs) are parsed here, so a
//! bad one is a usage error (exit code 1) before any store is touched.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use objstore::ObjectId;

use crate::exit::EXIT_CODES_HELP;
use crate::units;

const STORE_HELP: &str = "Store name (the file /dev/shm/NAME), or a path if it contains a '/'";

#[derive(Parser, Debug)]
#[command(
    name = "objstore",
    version,
    about = "Inspect and manage objstore shared-memory object stores",
    long_about = "Inspect and manage objstore shared-memory object stores.\n\n\
        A store is one file (/dev/shm/NAME, or a path) that processes map to share \
        immutable objects zero-copy. This command creates and destroys stores, shows \
        what is inside, copies objects in and out, deletes them, and reclaims what \
        crashed processes left behind. Commands that inspect a store never create it.",
    after_help = EXIT_CODES_HELP,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new store (fails if it exists)
    #[command(after_help = EXIT_CODES_HELP)]
    Create(CreateArgs),
    /// Remove a store's files (attached processes keep their mappings)
    ///
    /// Processes still attached keep the old store mapped until they close it;
    /// the next create of the name makes a new store. A damaged store can be
    /// destroyed too.
    #[command(after_help = EXIT_CODES_HELP)]
    Destroy(NameArg),
    /// Show a store's capacity, usage, objects and attached processes
    ///
    /// The attached processes are listed with their pids, not counting this
    /// command itself.
    #[command(after_help = EXIT_CODES_HELP)]
    Stat(StatArgs),
    /// List the objects of a store
    ///
    /// Columns: ID; DATA and META sizes; STATE (unsealed: being created, sealed,
    /// spilled: on disk only, deleted: hidden but still pinned); PINS (processes
    /// holding at least one pin); WHERE (memory or disk); AGE (since creation).
    /// The listing is one scan, not a snapshot: objects put or deleted meanwhile
    /// may or may not appear.
    #[command(after_help = EXIT_CODES_HELP)]
    Ls(LsArgs),
    /// Store a file (or stdin) as a new object and print its ID
    ///
    /// A regular file is read straight into the store's memory; standard input
    /// (or a pipe) is read whole first. A progress bar is drawn on stderr for
    /// objects of 32 MiB or more when stderr is a terminal. Ctrl-C abandons the
    /// object.
    #[command(after_help = EXIT_CODES_HELP)]
    Put(PutArgs),
    /// Write an object's data (or metadata) to stdout or a file
    ///
    /// The bytes are written straight from the shared memory. By default an
    /// object that is not there is an error at once; --timeout waits for a
    /// producer to seal it. A progress bar is drawn on stderr for objects of
    /// 32 MiB or more when stderr is a terminal.
    #[command(after_help = EXIT_CODES_HELP)]
    Get(GetArgs),
    /// Delete objects (pinned ones disappear now and are freed at their last release)
    ///
    /// Every ID is tried; the exit code is that of the first failure.
    #[command(after_help = EXIT_CODES_HELP)]
    Rm(RmArgs),
    /// Reclaim what dead processes held (pins, unsealed objects) and report it
    ///
    /// Dead processes are also reclaimed whenever any process attaches to the
    /// store, this command included, as it starts: the report itemises what
    /// the collect itself found, and gives the store's total of dead processes
    /// reclaimed since it was created.
    #[command(after_help = EXIT_CODES_HELP)]
    Gc(GcArgs),
    /// Show a store's counters every second until Ctrl-C
    ///
    /// One line per refresh (or one JSON object per line with --json).
    /// PROCS counts the attached processes other than this command.
    #[command(after_help = EXIT_CODES_HELP)]
    Watch(WatchArgs),
}

#[derive(Args, Debug)]
pub struct NameArg {
    #[arg(help = STORE_HELP)]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[arg(help = STORE_HELP)]
    pub name: String,
    /// Bytes for objects: 4GiB, 512MiB, 1G, 10MB, 1000000 [default: 25% of RAM, capped by free space]
    #[arg(long, short = 'c', value_name = "SIZE", value_parser = units::parse_size)]
    pub capacity: Option<u64>,
    /// Object slots [default: one per 16 KiB of capacity, at least 65536]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_objects: Option<u64>,
    /// Processes attached at once [default: 256]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_processes: Option<u32>,
    /// Directory where objects are spilled when memory runs short (fixed for the store's life)
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Permission mode of the store file, in octal [default: 0600]
    #[arg(long, value_name = "MODE", value_parser = units::parse_mode)]
    pub mode: Option<u32>,
    /// Reserve and map all of the memory now rather than region by region
    #[arg(long)]
    pub prefault: bool,
    /// Ask for transparent huge pages on the object memory
    #[arg(long)]
    pub hugepages: bool,
}

#[derive(Args, Debug)]
pub struct StatArgs {
    #[arg(help = STORE_HELP)]
    pub name: String,
    /// Print JSON (sizes in bytes)
    #[arg(long)]
    pub json: bool,
    /// Print sizes in bytes rather than KiB/MiB/GiB
    #[arg(long, short = 'b')]
    pub bytes: bool,
}

/// The states `ls --state` can select.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateFilter {
    /// Created, not sealed yet
    Unsealed,
    /// Sealed, in memory
    Sealed,
    /// Sealed, on disk only
    Spilled,
    /// Deleted while pinned: hidden, freed at the last release
    Deleted,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// By ID
    Id,
    /// By size (data + metadata)
    Size,
    /// By age, youngest first
    Age,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    #[arg(help = STORE_HELP)]
    pub name: String,
    /// Only objects in these states (repeat or separate with commas)
    #[arg(long, short = 's', value_enum, value_delimiter = ',', value_name = "STATE")]
    pub state: Vec<StateFilter>,
    /// Only objects of at least this size (data + metadata), e.g. 1MiB
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub min_size: Option<u64>,
    /// Only objects of at most this size (data + metadata)
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub max_size: Option<u64>,
    /// Only objects pinned by at least one process
    #[arg(long)]
    pub pinned: bool,
    /// Sort order (ascending unless --reverse)
    #[arg(long, value_enum, default_value_t = SortKey::Id)]
    pub sort: SortKey,
    /// Reverse the order
    #[arg(long, short = 'r')]
    pub reverse: bool,
    /// Show at most N objects (after filtering and sorting)
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
    /// Print only the IDs, one a line
    #[arg(long, short = 'q', conflicts_with = "json")]
    pub ids_only: bool,
    /// Print JSON (an array; sizes in bytes)
    #[arg(long)]
    pub json: bool,
    /// Print sizes in bytes rather than KiB/MiB/GiB
    #[arg(long, short = 'b')]
    pub bytes: bool,
}

#[derive(Args, Debug)]
pub struct PutArgs {
    #[arg(help = STORE_HELP)]
    pub name: String,
    /// The file to store, or - for standard input
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    /// Metadata to store with the object, as text
    #[arg(long, value_name = "TEXT", conflicts_with = "meta_file")]
    pub meta: Option<String>,
    /// Metadata to store with the object, read from a file
    #[arg(long, value_name = "FILE")]
    pub meta_file: Option<PathBuf>,
    /// Use this ID (40 hex characters) instead of a fresh one
    #[arg(long, value_name = "HEX", value_parser = parse_id)]
    pub id: Option<ObjectId>,
    /// Never draw a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    #[arg(help = STORE_HELP)]
    pub name: String,
    /// The object's ID (40 hex characters)
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub id: ObjectId,
    /// Write to this file instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the object's metadata instead of its data
    #[arg(long)]
    pub meta: bool,
    /// Wait this long for the object to be sealed: 0, 1.5, 500ms, 10s, 2m, forever
    #[arg(long, short = 't', value_name = "DURATION", default_value = "0", value_parser = parse_wait)]
    pub timeout: Wait,
    /// Never draw a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[arg(help = STORE_HELP)]
    pub name: String,
    /// IDs of the objects to delete (40 hex characters each)
    #[arg(value_name = "ID", required = true, value_parser = parse_id)]
    pub ids: Vec<ObjectId>,
    /// Objects that are not there are not an error
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Say what was deleted
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    #[arg(help = STORE_HELP)]
    pub name: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[arg(help = STORE_HELP)]
    pub name: String,
    /// Time between refreshes: 1s, 500ms, 2.5
    #[arg(long, short = 'i', value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Stop after N refreshes [default: run until Ctrl-C]
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Print one JSON object per refresh, one per line
    #[arg(long)]
    pub json: bool,
    /// Print sizes in bytes rather than KiB/MiB/GiB
    #[arg(long, short = 'b')]
    pub bytes: bool,
}

/// How long `get` waits for a seal; None: forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait(pub Option<Duration>);

fn parse_wait(text: &str) -> Result<Wait, String> {
    units::parse_timeout(text).map(Wait)
}

/// An object ID as 40 hex characters.
pub fn parse_id(text: &str) -> Result<ObjectId, String> {
    ObjectId::from_hex(text).map_err(|e| format!("bad object ID '{text}': {e}"))
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    match units::parse_timeout(text)? {
        Some(d) if d >= Duration::from_millis(10) => Ok(d),
        _ => Err(format!("interval '{text}' must be at least 10ms")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ids_are_checked_at_parse_time() {
        let e = Cli::try_parse_from(["objstore", "get", "s", "nothex"]).unwrap_err();
        assert!(e.to_string().contains("bad object ID 'nothex'"), "{e}");
        let ok = Cli::try_parse_from(["objstore", "rm", "s", &"ab".repeat(20), &"CD".repeat(20)]).unwrap();
        let Command::Rm(rm) = ok.command else { panic!("not rm") };
        assert_eq!(rm.ids, vec![ObjectId([0xab; 20]), ObjectId([0xcd; 20])]);
    }

    #[test]
    fn sizes_and_timeouts_parse_at_parse_time() {
        let c = Cli::try_parse_from(["objstore", "create", "s", "--capacity", "4GiB", "--mode", "0640"]).unwrap();
        let Command::Create(c) = c.command else { panic!("not create") };
        assert_eq!((c.capacity, c.mode), (Some(4 << 30), Some(0o640)));
        let g = Cli::try_parse_from(["objstore", "get", "s", &"00".repeat(20)]).unwrap();
        let Command::Get(g) = g.command else { panic!("not get") };
        assert_eq!(g.timeout, Wait(Some(Duration::ZERO)), "get does not wait by default");
        let g = Cli::try_parse_from(["objstore", "get", "s", &"00".repeat(20), "--timeout", "forever"]).unwrap();
        let Command::Get(g) = g.command else { panic!("not get") };
        assert_eq!(g.timeout, Wait(None));
        assert!(Cli::try_parse_from(["objstore", "create", "s", "--capacity", "lots"]).is_err());
        assert!(Cli::try_parse_from(["objstore", "put", "s", "f", "--meta", "a", "--meta-file", "b"]).is_err());
    }
}
