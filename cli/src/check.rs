//! `check`: the store's consistency audit, reported with an exit status.
//!
//! The audit reads the tables without stopping anyone, so on a busy store a
//! step another process is in the middle of can look like a problem for a
//! moment. A problem is therefore reported only if every one of a few looks
//! (`--passes`, 100 ms apart) finds it; a store found sound at the first
//! look is sound.

use std::time::Duration;

use serde::Serialize;

use crate::args::CheckArgs;
use crate::exit::{Failure, CORRUPT};
use crate::{emit, open};

/// What `check --json` prints.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub name: String,
    pub path: String,
    /// No problem found.
    pub ok: bool,
    /// The problems every look found, one sentence each.
    pub problems: Vec<String>,
    /// How many looks were taken.
    pub passes: u32,
}

impl CheckReport {
    pub fn render(&self) -> String {
        if self.ok {
            return format!("store '{}' ({}): no problems found\n", self.name, self.path);
        }
        let n = self.problems.len();
        let mut t = format!(
            "store '{}' ({}): {n} problem{} found in each of {} looks:\n",
            self.name,
            self.path,
            if n == 1 { "" } else { "s" },
            self.passes
        );
        for p in &self.problems {
            t += &format!("  {p}\n");
        }
        t
    }
}

/// The problems found by every one of up to `passes` looks, and how many
/// looks were taken.
fn persistent_problems(
    mut look: impl FnMut() -> Result<Vec<String>, Failure>,
    passes: u32,
    pause: Duration,
) -> Result<(Vec<String>, u32), Failure> {
    let mut problems = look()?;
    let mut taken = 1;
    while taken < passes && !problems.is_empty() {
        std::thread::sleep(pause);
        let again = look()?;
        problems.retain(|p| again.contains(p));
        taken += 1;
    }
    Ok((problems, taken))
}

pub fn run(name: &str, args: CheckArgs) -> Result<(), Failure> {
    let store = open::existing(name)?;
    let (problems, passes) =
        persistent_problems(|| store.audit().map_err(Failure::from), args.passes, Duration::from_millis(100))?;
    let report = CheckReport {
        name: name.to_string(),
        path: store.path().display().to_string(),
        ok: problems.is_empty(),
        problems,
        passes,
    };
    drop(store);
    if args.json {
        emit(&(serde_json::to_string_pretty(&report).expect("a report serializes") + "\n"))?;
    } else {
        emit(&report.render())?;
    }
    if report.ok {
        return Ok(());
    }
    let n = report.problems.len();
    Err(Failure::new(CORRUPT, format!("store '{name}' has {n} problem{}", if n == 1 { "" } else { "s" })).hint(
        format!("`objstore gc {name}` reclaims what dead processes left; a store that stays damaged can be destroyed and re-created"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_problems_every_look_finds_are_reported() {
        let looks = [vec!["a", "b", "c"], vec!["b", "c"], vec!["c", "d"]];
        let mut i = 0;
        let (found, taken) = persistent_problems(
            || {
                i += 1;
                Ok(looks[i - 1].iter().map(|s| s.to_string()).collect())
            },
            3,
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!((found, taken), (vec!["c".to_string()], 3));
    }

    #[test]
    fn a_sound_store_takes_one_look() {
        let mut looks = 0;
        let (found, taken) = persistent_problems(
            || {
                looks += 1;
                Ok(vec![])
            },
            5,
            Duration::ZERO,
        )
        .unwrap();
        assert!(found.is_empty());
        assert_eq!((taken, looks), (1, 1));
    }

    #[test]
    fn the_report_lists_each_problem() {
        let r = CheckReport {
            name: "demo".into(),
            path: "/dev/shm/demo".into(),
            ok: false,
            problems: vec!["spilled object 3 has no spill file".into()],
            passes: 3,
        };
        assert_eq!(
            r.render(),
            "store 'demo' (/dev/shm/demo): 1 problem found in each of 3 looks:\n  spilled object 3 has no spill file\n"
        );
        let ok = CheckReport { ok: true, problems: vec![], ..r };
        assert_eq!(ok.render(), "store 'demo' (/dev/shm/demo): no problems found\n");
    }
}
