//! Samples, their summaries, and the markdown tables the suite prints.
//!
//! A sample is the time per operation of one batch (or one event, where an
//! event is long enough to time alone, as a wake-up). Medians and p99s are
//! over those samples; with fewer than 100 samples the p99 is the slowest
//! one, and the tables say how many samples each figure has.

use std::time::Instant;

/// Per-operation times in nanoseconds, sorted.
#[derive(Clone, Debug)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn new(mut v: Vec<f64>) -> Samples {
        assert!(!v.is_empty(), "no samples");
        v.sort_by(|a, b| a.total_cmp(b));
        Samples(v)
    }

    pub fn median(&self) -> f64 {
        let v = &self.0;
        if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        }
    }

    /// The 99th percentile (nearest rank): the slowest sample below 100 samples.
    pub fn p99(&self) -> f64 {
        let v = &self.0;
        let rank = ((v.len() as f64) * 0.99).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Times `batches` batches of `per_batch` calls of `f(i)`; one sample per
/// batch (time per call). `f` gets the call's index within its batch.
pub fn measure(batches: usize, per_batch: usize, mut f: impl FnMut(usize)) -> Samples {
    let mut out = Vec::with_capacity(batches);
    for _ in 0..batches {
        let t = Instant::now();
        for i in 0..per_batch {
            f(i);
        }
        out.push(t.elapsed().as_nanos() as f64 / per_batch as f64);
    }
    Samples::new(out)
}

/// Like `measure`, with an untimed `after` step after each batch (e.g.
/// deleting what the batch put), and `f` returning a value kept for it.
pub fn measure_with<T>(
    batches: usize,
    per_batch: usize,
    mut f: impl FnMut(usize) -> T,
    mut after: impl FnMut(Vec<T>),
) -> Samples {
    let mut out = Vec::with_capacity(batches);
    for _ in 0..batches {
        let mut kept = Vec::with_capacity(per_batch);
        let t = Instant::now();
        for i in 0..per_batch {
            kept.push(f(i));
        }
        out.push(t.elapsed().as_nanos() as f64 / per_batch as f64);
        after(kept);
    }
    Samples::new(out)
}

/// A time for a human: ns, µs, ms or s with three significant digits.
pub fn time(ns: f64) -> String {
    let (v, unit) = match ns {
        n if n < 1e3 => (n, "ns"),
        n if n < 1e6 => (n / 1e3, "µs"),
        n if n < 1e9 => (n / 1e6, "ms"),
        n => (n / 1e9, "s"),
    };
    if v < 10.0 {
        format!("{v:.2} {unit}")
    } else if v < 100.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

/// A byte count as B, KiB, MiB or GiB (exact powers print without decimals).
pub fn bytes(n: u64) -> String {
    let (v, unit) = match n {
        n if n >= 1 << 30 => (n as f64 / (1u64 << 30) as f64, "GiB"),
        n if n >= 1 << 20 => (n as f64 / (1u64 << 20) as f64, "MiB"),
        n if n >= 1 << 10 => (n as f64 / (1u64 << 10) as f64, "KiB"),
        n => return format!("{n} B"),
    };
    if v.fract() == 0.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// Bytes per nanosecond is GB/s.
pub fn gbps(size: u64, ns: f64) -> String {
    format!("{:.1} GB/s", size as f64 / ns)
}

pub fn ratio(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}×")
    } else if x >= 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.2}×")
    }
}

/// One markdown table with a title and notes, printed as soon as it is done.
pub struct Table {
    title: String,
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

impl Table {
    pub fn new(title: &str, head: &[&str]) -> Table {
        Table { title: title.into(), head: head.iter().map(|s| s.to_string()).collect(), rows: vec![], notes: vec![] }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.head.len(), "row width");
        self.rows.push(cells);
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn print(&self) {
        println!("### {}\n", self.title);
        println!("| {} |", self.head.join(" | "));
        let align: Vec<&str> = (0..self.head.len()).map(|i| if i == 0 { "---" } else { "---:" }).collect();
        println!("|{}|", align.join("|"));
        for r in &self.rows {
            println!("| {} |", r.join(" | "));
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("{n}");
            }
        }
        println!();
    }
}

/// The standard row of a single-process figure: name, median, p99,
/// samples, baseline name and median, ratio, and a free-form extra cell.
pub fn figure_row(name: &str, s: &Samples, base_name: &str, base: &Samples, extra: String) -> Vec<String> {
    vec![
        name.to_string(),
        time(s.median()),
        time(s.p99()),
        s.len().to_string(),
        format!("{base_name}: {}", time(base.median())),
        ratio(s.median() / base.median()),
        extra,
    ]
}

pub const FIGURE_HEAD: [&str; 7] = ["figure", "median", "p99", "n", "baseline (median)", "ratio", "note"];
