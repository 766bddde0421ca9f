//! A store's life: `create`, `destroy`, and `gc` (reclaiming what dead
//! processes left behind).

use std::os::unix::fs::MetadataExt;

use objstore::{ErrorKind, Options, Reclaimed, Store};
use serde::Serialize;

use crate::args::{CreateArgs, GcArgs, NameArg};
use crate::exit::{self, Failure};
use crate::units::format_size;
use crate::{emit, note, open};

pub fn create(args: CreateArgs) -> Result<(), Failure> {
    if args.capacity == Some(0) {
        return Err(Failure::usage("--capacity must be more than 0 bytes"));
    }
    let spill_dir = args.spill_dir.clone();
    let opts = Options {
        capacity_bytes: args.capacity.unwrap_or(0),
        max_objects: args.max_objects.unwrap_or(0),
        max_processes: args.max_processes.unwrap_or(0),
        spill_dir,
        mode: args.mode.unwrap_or(0),
        create_only: true,
        prefault: args.prefault,
        hugepages: args.hugepages,
        remote_url: args.remote.clone(),
        ..Options::default()
    };
    let store = Store::open(&args.name, &opts).map_err(|e| match e.kind() {
        // Not a missing store (we are creating it): a missing directory.
        ErrorKind::NotFound => Failure::from(e).hint("the directory the store goes in must exist"),
        _ => open::explain(&args.name, e),
    })?;
    let stats = store.stats()?;
    let mode =
        std::fs::metadata(store.path()).map(|m| format!("{:04o}", m.mode() & 0o7777)).unwrap_or_else(|_| "?".into());
    let mut text = format!(
        "created store '{}' ({}): capacity {}, {} object slots, {} process slots, mode {mode}",
        args.name,
        store.path().display(),
        format_size(stats.capacity_bytes),
        stats.max_objects,
        stats.max_processes,
    );
    if let Some(dir) = &opts.spill_dir {
        text += &format!(", spilling to {}", dir.display());
    }
    if let Some(url) = store.remote_url() {
        text += &format!(", remote {url}");
    }
    drop(store);
    emit(&(text + "\n"))
}

pub fn destroy(args: NameArg) -> Result<(), Failure> {
    // Attach first, to warn about processes still using the store. A store
    // that cannot be attached (damaged, of another version) can still be
    // destroyed: that is often why one destroys it.
    let others = match open::existing(&args.name) {
        Ok(store) => {
            let me = store.process_slot();
            store.processes().map(|ps| ps.iter().filter(|p| p.slot != me).count()).unwrap_or(0)
        }
        Err(f) if f.code == exit::NOT_FOUND => return Err(f),
        Err(_) => 0,
    };
    let path = open::path_of(&args.name);
    Store::destroy(&args.name).map_err(|e| open::explain(&args.name, e))?;
    if others > 0 {
        let (s, verb) = if others == 1 { ("", "keeps") } else { ("es", "keep") };
        note(&format!("{others} process{s} still attached {verb} the old store mapped until closing it"));
    }
    emit(&format!("destroyed store '{}' ({path})\n", args.name))
}

/// What `gc --json` prints.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    /// Dead processes this collect cleaned up.
    pub processes: u32,
    /// Objects they had pinned (one per object and process).
    pub pins: u64,
    /// Objects they created and never sealed, now aborted.
    pub unsealed_objects: u64,
    /// Steps they were in the middle of, finished or undone.
    pub interrupted_steps: u64,
    /// Deleted objects freed because their last pin was a dead process's.
    pub deleted_objects_freed: u64,
    /// References they held (one per object and process) and tickets they
    /// gave that no one took, dropped.
    pub references: u64,
    /// Arena pages they had claimed and not used.
    pub pages: u64,
    /// Dead processes reclaimed since the store was created, by anyone.
    pub reclaimed_processes_total: u64,
}

impl GcReport {
    fn new(r: &Reclaimed, total: u64) -> GcReport {
        GcReport {
            processes: r.processes,
            pins: r.pins,
            unsealed_objects: r.unsealed_objects,
            interrupted_steps: r.interrupted_steps,
            deleted_objects_freed: r.deleted_objects_freed,
            references: r.references,
            pages: r.pages,
            reclaimed_processes_total: total,
        }
    }

    pub fn render(&self) -> String {
        let n = |count: u64, one: &str, many: &str| format!("{count} {}", if count == 1 { one } else { many });
        let mut t = if self.processes == 0 {
            "no dead process to reclaim\n".to_string()
        } else {
            format!(
                "reclaimed {}: {} released, {} aborted, {} finished or undone, {} freed, {} dropped, {} returned\n",
                n(self.processes as u64, "dead process", "dead processes"),
                n(self.pins, "pin", "pins"),
                n(self.unsealed_objects, "unsealed object", "unsealed objects"),
                n(self.interrupted_steps, "interrupted step", "interrupted steps"),
                n(self.deleted_objects_freed, "deleted object", "deleted objects"),
                n(self.references, "reference or ticket", "references and tickets"),
                n(self.pages, "page", "pages"),
            )
        };
        t += &format!("dead processes reclaimed since the store was created: {}\n", self.reclaimed_processes_total);
        t
    }
}

pub fn gc(name: &str, args: GcArgs) -> Result<(), Failure> {
    let store = open::existing(name)?;
    // Attaching already reclaims dead processes; report that and the collect.
    let reclaimed = store.reclaimed_at_open() + store.collect()?;
    let total = store.stats()?.reclaimed_processes;
    drop(store);
    let report = GcReport::new(&reclaimed, total);
    if args.json {
        emit(&(serde_json::to_string_pretty(&report).expect("a report serializes") + "\n"))
    } else {
        emit(&report.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_report_says_what_was_reclaimed() {
        let r = Reclaimed {
            processes: 1,
            pins: 2,
            unsealed_objects: 1,
            interrupted_steps: 0,
            deleted_objects_freed: 0,
            references: 2,
            pages: 3,
        };
        let report = GcReport::new(&r, 4);
        assert_eq!(
            report.render(),
            "reclaimed 1 dead process: 2 pins released, 1 unsealed object aborted, 0 interrupted steps finished or undone, \
             0 deleted objects freed, 2 references and tickets dropped, 3 pages returned\n\
             dead processes reclaimed since the store was created: 4\n"
        );
        let json: serde_json::Value = serde_json::to_value(report).unwrap();
        assert_eq!(json["processes"], 1);
        assert_eq!(json["pins"], 2);
        assert_eq!(json["unsealed_objects"], 1);
        assert_eq!(json["pages"], 3);
        assert_eq!(json["reclaimed_processes_total"], 4);
        assert_eq!(GcReport::new(&Reclaimed::default(), 0).render().lines().next(), Some("no dead process to reclaim"));
    }
}
