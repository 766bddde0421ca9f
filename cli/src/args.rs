//! The command line: every subcommand, its arguments and its help text.
//! Values with units (sizes, durations, modes, IDs) are parsed here, so a
//! bad one is a usage error (exit code 1) before any store is touched.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use objstore::ObjectId;

use crate::exit::{Failure, HELP_AFTER};
use crate::units;

const STORE_HELP: &str = "Store name (the file /dev/shm/NAME), or a path if it contains a '/'";
const STORE_OR_DEFAULT_HELP: &str =
    "Store name (the file /dev/shm/NAME), or a path if it contains a '/' [default: $OBJSTORE_STORE]";

/// The variable naming the store of commands that are given none.
pub const STORE_ENV: &str = "OBJSTORE_STORE";

/// The default store, from $OBJSTORE_STORE, if it is set (and not empty).
pub fn default_store() -> Option<String> {
    std::env::var(STORE_ENV).ok().filter(|s| !s.is_empty())
}

/// The store a command works on: the one named, else the default store.
pub fn store_or_default(name: Option<String>) -> Result<String, Failure> {
    name.or_else(default_store).ok_or_else(|| {
        Failure::usage(format!("no store given: name it (<NAME>), or set {STORE_ENV} to a default store"))
    })
}

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
    after_help = HELP_AFTER,
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
    #[command(after_help = HELP_AFTER)]
    Create(CreateArgs),
    /// Remove a store's files (attached processes keep their mappings)
    ///
    /// Processes still attached keep the old store mapped until they close it;
    /// the next create of the name makes a new store. A damaged store can be
    /// destroyed too.
    #[command(after_help = HELP_AFTER)]
    Destroy(NameArg),
    /// Show a store's capacity, usage, objects and attached processes
    ///
    /// The attached processes are listed with their pids, not counting this
    /// command itself.
    #[command(after_help = HELP_AFTER)]
    Stat(StatArgs),
    /// List the objects of a store, or (given no store) the stores
    ///
    /// With a store: one line per object. Columns: ID; DATA and META sizes;
    /// STATE (unsealed: being created, sealed, spilled: on disk only, deleted:
    /// hidden but still pinned); PINS (processes holding at least one pin);
    /// REFS (processes holding at least one reference);
    /// WHERE (memory or disk); AGE (since creation). The listing is one scan,
    /// not a snapshot: objects put or deleted meanwhile may or may not appear.
    ///
    /// With no store named and no $OBJSTORE_STORE (or with --stores, or
    /// --dir): one line per store file in /dev/shm (or in each --dir), like
    /// `ipcs -m`. Columns: NAME; OWNER; MODE; SIZE (capacity); USED and USE%;
    /// OBJECTS; PROCS (processes attached, this command left out); STATUS.
    /// Files that are not stores are left out. Stores are read-only
    /// inspected: attached (never created) only if this user may, else
    /// described from their header alone.
    #[command(after_help = HELP_AFTER)]
    Ls(LsArgs),
    /// Store a file (or stdin) as a new object and print its ID
    ///
    /// A regular file is read straight into the store's memory; standard input
    /// (or a pipe) is read whole first. A progress bar is drawn on stderr for
    /// objects of 32 MiB or more when stderr is a terminal. Ctrl-C abandons the
    /// object.
    #[command(after_help = HELP_AFTER)]
    Put(PutArgs),
    /// Write an object's data (or metadata) to stdout or a file
    ///
    /// The bytes are written straight from the shared memory. By default an
    /// object that is not there is an error at once; --timeout waits for a
    /// producer to seal it. A progress bar is drawn on stderr for objects of
    /// 32 MiB or more when stderr is a terminal.
    #[command(after_help = HELP_AFTER)]
    Get(GetArgs),
    /// Upload objects to the store's remote, where `get` on another machine finds them
    ///
    /// The store must have been created with --remote. An object published
    /// already is not uploaded again. Every ID is tried; the exit code is that
    /// of the first failure.
    #[command(after_help = HELP_AFTER)]
    Publish(PublishArgs),
    /// Remove objects' published copies from the store's remote (the local objects stay)
    #[command(after_help = HELP_AFTER)]
    Unpublish(PublishArgs),
    /// Delete objects (pinned ones disappear now and are freed at their last release)
    ///
    /// Every ID is tried; the exit code is that of the first failure.
    #[command(after_help = HELP_AFTER)]
    Rm(RmArgs),
    /// Reclaim what dead processes held (pins, unsealed objects) and report it
    ///
    /// Dead processes are also reclaimed whenever any process attaches to the
    /// store, this command included, as it starts: the report itemises what
    /// the collect itself found, and gives the store's total of dead processes
    /// reclaimed since it was created.
    #[command(after_help = HELP_AFTER)]
    Gc(GcArgs),
    /// Show a store's counters every second until Ctrl-C
    ///
    /// One line per refresh (or one JSON object per line with --json).
    /// PROCS counts the attached processes other than this command.
    #[command(after_help = HELP_AFTER)]
    Watch(WatchArgs),
    /// Check a store's consistency and report the problems (exit code 10 if any)
    ///
    /// Every byte of object memory must be free or held by exactly one object,
    /// every object indexed once, nothing left to a dead process, every spilled
    /// object's file present. The tables are read without stopping anyone, so a
    /// step another process is in the middle of could look like a problem:
    /// only what is still there after a few looks (--passes, 100 ms apart) is
    /// reported.
    #[command(after_help = HELP_AFTER)]
    Check(CheckArgs),
    /// Print a shell completion script: bash, zsh or fish
    ///
    /// bash: `source <(objstore completions bash)`, or save it as
    /// /usr/share/bash-completion/completions/objstore. zsh: save it as _objstore
    /// in a directory of $fpath. fish: save it as
    /// ~/.config/fish/completions/objstore.fish.
    #[command(after_help = HELP_AFTER)]
    Completions(CompletionsArgs),
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
    /// The remote tier (fixed for the store's life): s3://BUCKET/PREFIX, or file:///DIR; credentials
    /// and endpoint from the AWS_* environment. `get` of an ID not in the store fetches it from there
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
}

#[derive(Args, Debug)]
pub struct StatArgs {
    #[arg(help = STORE_OR_DEFAULT_HELP)]
    pub name: Option<String>,
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
    /// Store name (the file /dev/shm/NAME), or a path if it contains a '/' [default: $OBJSTORE_STORE; with neither, list the stores]
    pub name: Option<String>,
    /// List the stores (in /dev/shm, or in each --dir), even if $OBJSTORE_STORE is set
    #[arg(long, conflicts_with = "name")]
    pub stores: bool,
    /// List the stores in this directory instead of /dev/shm (repeatable)
    #[arg(long, value_name = "DIR", conflicts_with = "name")]
    pub dir: Vec<PathBuf>,
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
    /// Only objects referenced by at least one process (or a ticket)
    #[arg(long)]
    pub referenced: bool,
    /// Show which processes (pids) pin and reference each object
    #[arg(long, short = 'H')]
    pub holders: bool,
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
#[command(override_usage = "objstore put [OPTIONS] [NAME] <FILE|->")]
pub struct PutArgs {
    /// Store name, then the file; or the file alone, to put into $OBJSTORE_STORE
    #[arg(value_name = "NAME")]
    pub first: String,
    /// The file to store, or - for standard input
    #[arg(value_name = "FILE|-")]
    pub second: Option<PathBuf>,
    #[arg(skip)]
    pub name: String,
    #[arg(skip)]
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
#[command(override_usage = "objstore get [OPTIONS] [NAME] <ID>")]
pub struct GetArgs {
    /// Store name, then the ID; or the ID alone, to get from $OBJSTORE_STORE
    #[arg(value_name = "NAME")]
    pub first: String,
    /// The object's ID (40 hex characters)
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub second: Option<ObjectId>,
    #[arg(skip)]
    pub name: String,
    #[arg(skip = ObjectId([0; 20]))]
    pub id: ObjectId,
    /// Write to this file instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the object's metadata instead of its data
    #[arg(long)]
    pub meta: bool,
    /// Wait this long for the object to be sealed: 0 (not at all), 1.5, 500ms, 10s, 2m, forever
    #[arg(long, short = 't', value_name = "DURATION", default_value = "forever", value_parser = parse_wait)]
    pub timeout: Wait,
    /// Never draw a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Args, Debug)]
#[command(override_usage = "objstore rm [OPTIONS] [NAME] <ID>...")]
pub struct RmArgs {
    /// Store name, then the IDs of the objects to delete (40 hex characters
    /// each); with $OBJSTORE_STORE set, IDs alone delete from it
    #[arg(value_name = "NAME", required = true)]
    pub operands: Vec<String>,
    #[arg(skip)]
    pub name: String,
    #[arg(skip)]
    pub ids: Vec<ObjectId>,
    /// Objects that are not there are not an error
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Say what was deleted
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Store name, then the IDs of the objects (40 hex characters each);
    /// with $OBJSTORE_STORE set, IDs alone
    #[arg(value_name = "NAME", required = true)]
    pub operands: Vec<String>,
    #[arg(skip)]
    pub name: String,
    #[arg(skip)]
    pub ids: Vec<ObjectId>,
    /// Give up on an object after this long: 1.5, 500ms, 10s, 2m, forever (the client's own retries
    /// still give up on an endpoint that does not answer within seconds)
    #[arg(long, short = 't', value_name = "DURATION", default_value = "forever", value_parser = parse_wait)]
    pub timeout: Wait,
    /// Say what was done
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

impl PublishArgs {
    /// Settles the store and the IDs, as for `rm`.
    pub fn resolve(&mut self, verb: &str) -> Result<(), Failure> {
        let first_is_id = ObjectId::from_hex(&self.operands[0]).is_ok();
        let (name, ids) = match default_store() {
            Some(store) if first_is_id => (store, &self.operands[..]),
            _ => (self.operands[0].clone(), &self.operands[1..]),
        };
        if ids.is_empty() {
            return Err(Failure::usage(format!(
                "{verb} needs a store and IDs: `objstore {verb} NAME ID...`, or set {STORE_ENV} and give the IDs alone"
            )));
        }
        self.ids = ids.iter().map(|t| parse_id(t)).collect::<Result<_, _>>().map_err(Failure::usage)?;
        self.name = name;
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct GcArgs {
    #[arg(help = STORE_OR_DEFAULT_HELP)]
    pub name: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[arg(help = STORE_OR_DEFAULT_HELP)]
    pub name: Option<String>,
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

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[arg(help = STORE_OR_DEFAULT_HELP)]
    pub name: Option<String>,
    /// Looks at the store, 100 ms apart; a problem is reported if every look finds it
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub passes: u32,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// The shells `completions` writes for.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

impl GetArgs {
    /// Settles which operand is the store and which the ID.
    pub fn resolve(&mut self) -> Result<(), Failure> {
        match self.second {
            Some(id) => (self.name, self.id) = (self.first.clone(), id),
            None => {
                self.id = parse_id(&self.first).map_err(Failure::usage)?;
                self.name = default_store().ok_or_else(|| {
                    Failure::usage(format!(
                        "get needs a store and an ID: `objstore get NAME ID`, or set {STORE_ENV} and give the ID alone"
                    ))
                })?;
            }
        }
        Ok(())
    }
}

impl PutArgs {
    /// Settles which operand is the store and which the file.
    pub fn resolve(&mut self) -> Result<(), Failure> {
        match self.second.take() {
            Some(file) => (self.name, self.file) = (self.first.clone(), file),
            None => {
                self.file = PathBuf::from(&self.first);
                self.name = default_store().ok_or_else(|| {
                    Failure::usage(format!(
                        "put needs a store and a file: `objstore put NAME FILE`, or set {STORE_ENV} and give the file alone"
                    ))
                })?;
            }
        }
        Ok(())
    }
}

impl RmArgs {
    /// Settles the store and the IDs: the first operand names the store,
    /// unless $OBJSTORE_STORE is set and it is an ID (then all are IDs).
    pub fn resolve(&mut self) -> Result<(), Failure> {
        let first_is_id = ObjectId::from_hex(&self.operands[0]).is_ok();
        let (name, ids) = match default_store() {
            Some(store) if first_is_id => (store, &self.operands[..]),
            _ => (self.operands[0].clone(), &self.operands[1..]),
        };
        if ids.is_empty() {
            return Err(Failure::usage(format!(
                "rm needs a store and IDs: `objstore rm NAME ID...`, or set {STORE_ENV} and give the IDs alone"
            )));
        }
        // Every ID is checked before anything is deleted.
        self.ids = ids.iter().map(|t| parse_id(t)).collect::<Result<_, _>>().map_err(Failure::usage)?;
        self.name = name;
        Ok(())
    }
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
    fn ids_are_checked_before_any_store_is_touched() {
        let e = Cli::try_parse_from(["objstore", "get", "s", "nothex"]).unwrap_err();
        assert!(e.to_string().contains("bad object ID 'nothex'"), "{e}");
        let ok = Cli::try_parse_from(["objstore", "rm", "s", &"ab".repeat(20), &"CD".repeat(20)]).unwrap();
        let Command::Rm(mut rm) = ok.command else { panic!("not rm") };
        rm.resolve().unwrap();
        assert_eq!(rm.name, "s");
        assert_eq!(rm.ids, vec![ObjectId([0xab; 20]), ObjectId([0xcd; 20])]);
        let bad = Cli::try_parse_from(["objstore", "rm", "s", &"ab".repeat(20), "nothex"]).unwrap();
        let Command::Rm(mut rm) = bad.command else { panic!("not rm") };
        assert!(rm.resolve().unwrap_err().message.contains("bad object ID 'nothex'"));
    }

    #[test]
    fn sizes_and_timeouts_parse_at_parse_time() {
        let c = Cli::try_parse_from(["objstore", "create", "s", "--capacity", "4GiB", "--mode", "0640"]).unwrap();
        let Command::Create(c) = c.command else { panic!("not create") };
        assert_eq!((c.capacity, c.mode), (Some(4 << 30), Some(0o640)));
        let g = Cli::try_parse_from(["objstore", "get", "s", &"00".repeat(20)]).unwrap();
        let Command::Get(g) = g.command else { panic!("not get") };
        assert_eq!(g.timeout, Wait(None), "no timeout given: get waits for the seal, as every binding does");
        let g = Cli::try_parse_from(["objstore", "get", "s", &"00".repeat(20), "-t", "0"]).unwrap();
        let Command::Get(g) = g.command else { panic!("not get") };
        assert_eq!(g.timeout, Wait(Some(Duration::ZERO)));
        let g = Cli::try_parse_from(["objstore", "get", "s", &"00".repeat(20), "--timeout", "forever"]).unwrap();
        let Command::Get(g) = g.command else { panic!("not get") };
        assert_eq!(g.timeout, Wait(None));
        assert!(Cli::try_parse_from(["objstore", "create", "s", "--capacity", "lots"]).is_err());
        assert!(Cli::try_parse_from(["objstore", "put", "s", "f", "--meta", "a", "--meta-file", "b"]).is_err());
    }
}
