//! Plain-text tables for the commands that print one (`ls` of objects and
//! of stores): a header line, columns as wide as their widest cell, numbers
//! right-aligned, two spaces between columns, no trailing blanks.

use std::fmt::Write as _;

/// `rows` under `header`; `right[i]` right-aligns column i.
pub fn render<const N: usize>(header: [&str; N], right: [bool; N], rows: &[[String; N]]) -> String {
    let mut width = header.map(|h| h.chars().count());
    for row in rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; N]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            if right[i] {
                let _ = write!(l, "{c:>w$}", w = width[i]);
            } else {
                let _ = write!(l, "{c:<w$}", w = width[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
    out
}
