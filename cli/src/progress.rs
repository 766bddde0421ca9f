//! The progress bar of `put` and `get`: drawn on stderr for large objects
//! when stderr is a terminal, never otherwise (scripts and pipes see
//! nothing).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Objects smaller than this copy too fast for a bar to mean anything.
pub const THRESHOLD: u64 = 32 << 20;

/// Bytes are copied in chunks of this size, between which the bar moves
/// and Ctrl-C is noticed.
pub const CHUNK: usize = 4 << 20;

/// A bar for copying `len` bytes, or a hidden one.
pub fn bar(len: u64, verb: &'static str, enabled: bool) -> ProgressBar {
    if !enabled || len < THRESHOLD || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(verb);
    bar
}
