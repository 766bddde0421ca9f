//! The units the command reads and prints: byte sizes, durations, ages and
//! file modes.
//!
//! Sizes follow coreutils (`truncate -s`, `dd`): a bare number is bytes,
//! `K`/`M`/`G`/`T`/`P` and `KiB`/`MiB`/... are powers of 1024, `KB`/`MB`/...
//! powers of 1000. Units are case-insensitive, a decimal point is allowed
//! (`1.5GiB`), and the result is rounded down to whole bytes. Printed sizes
//! are always binary (`KiB`, `MiB`, ...), so what `stat` shows can be pasted
//! back into `create --capacity`.

use std::time::Duration;

/// Parses a byte size: `4GiB`, `512MiB`, `1G`, `10MB`, `1000000`, `1.5 KiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = (&s[..split], s[split..].trim());
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "ki" | "kib" => 1 << 10,
        "m" | "mi" | "mib" => 1 << 20,
        "g" | "gi" | "gib" => 1 << 30,
        "t" | "ti" | "tib" => 1 << 40,
        "p" | "pi" | "pib" => 1 << 50,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "pb" => 1_000_000_000_000_000,
        _ => {
            return Err(format!(
                "'{text}' is not a size: unknown unit '{unit}' (use B, KiB, MiB, GiB, TiB, K, M, G, KB, MB, GB...)"
            ))
        }
    };
    let value = scale(number, multiplier as u128)
        .ok_or_else(|| format!("'{text}' is not a size (e.g. 4GiB, 512MiB, 1G, 1000000)"))?;
    u64::try_from(value).map_err(|_| format!("'{text}' is too large"))
}

/// `number` (digits with at most one '.') times `multiplier`, rounded down.
fn scale(number: &str, multiplier: u128) -> Option<u128> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Enough digits for any u64 result; more could overflow u128.
    if int.len() > 20 || frac.len() > 18 {
        return None;
    }
    let int_value: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_value: u128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    let frac_scale = 10u128.pow(frac.len() as u32);
    int_value.checked_mul(multiplier)?.checked_add(frac_value * multiplier / frac_scale)
}

/// A size for people: `0 B`, `1023 B`, `1.5 KiB`, `4 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    let mut scaled = bytes as f64 / 1024.0;
    while scaled >= 1024.0 && unit < UNITS.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    if bytes % (1u64 << (10 * (unit + 1))) == 0 {
        format!("{} {}", bytes >> (10 * (unit + 1)), UNITS[unit])
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

/// Parses a wait: `0`, `1.5` (seconds), `500ms`, `10s`, `2m`, `1h`, or
/// `forever`. Returns None for forever.
pub fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
    let s = text.trim().to_ascii_lowercase();
    if matches!(s.as_str(), "forever" | "inf" | "infinite" | "never") {
        return Ok(None);
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let nanos_per_unit: u128 = match s[split..].trim() {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "" | "s" | "sec" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(format!("'{text}' is not a duration (e.g. 0, 1.5, 500ms, 10s, 2m, forever)")),
    };
    let nanos = scale(&s[..split], nanos_per_unit)
        .ok_or_else(|| format!("'{text}' is not a duration (e.g. 0, 1.5, 500ms, 10s, 2m, forever)"))?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| format!("'{text}' is too long; use 'forever'"))?;
    Ok(Some(Duration::new(secs, (nanos % 1_000_000_000) as u32)))
}

/// A duration for people: `0s`, `42s`, `7m03s`, `2h05m`, `3d04h`.
pub fn format_age(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// A timeout for messages: `500ms`, `10s`, `1.5s`.
pub fn format_timeout(t: Duration) -> String {
    if t.subsec_nanos() == 0 {
        format!("{}s", t.as_secs())
    } else if t < Duration::from_secs(1) && t.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", t.as_millis())
    } else {
        format!("{:.3}s", t.as_secs_f64())
    }
}

/// Parses an octal permission mode: `0640`, `640`, `0o640`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m != 0 && m <= 0o7777 && !digits.is_empty() => Ok(m),
        Ok(0) => Err(format!("mode '{text}' would make the store unreadable even by its owner")),
        _ => Err(format!("'{text}' is not an octal file mode (e.g. 0600, 0640)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_coreutils() {
        assert_eq!(parse_size("1000000"), Ok(1_000_000));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("4gib"), Ok(4 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1.5 KiB"), Ok(1536));
        assert_eq!(parse_size("0.5k"), Ok(512));
        assert_eq!(parse_size("7B"), Ok(7));
        assert_eq!(parse_size(" 2 M "), Ok(2 << 20));
        assert_eq!(parse_size("16EiB").map_err(|_| ()), Err(()));
        assert_eq!(parse_size("15PiB"), Ok(15 << 50));
        for bad in ["", "G", "-1", "1.2.3", "4 GiBs", "1e9", "abc", "18446744073709551616", ".", "1Q"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1 KiB");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(4 << 30), "4 GiB");
        assert_eq!(format_size((4 << 30) + 1), "4.0 GiB");
        assert_eq!(format_size(u64::MAX), "16.0 EiB");
        // What is printed for an exact size parses back to it.
        for n in [1u64 << 10, 3 << 20, 5 << 30, 7 << 40] {
            assert_eq!(parse_size(&format_size(n)), Ok(n));
        }
    }

    #[test]
    fn timeouts_parse() {
        assert_eq!(parse_timeout("0"), Ok(Some(Duration::ZERO)));
        assert_eq!(parse_timeout("1.5"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(parse_timeout("500ms"), Ok(Some(Duration::from_millis(500))));
        assert_eq!(parse_timeout("10s"), Ok(Some(Duration::from_secs(10))));
        assert_eq!(parse_timeout("2m"), Ok(Some(Duration::from_secs(120))));
        assert_eq!(parse_timeout("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(parse_timeout("forever"), Ok(None));
        for bad in ["", "soon", "-1", "1d", "1.2.3s"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(format_timeout(Duration::from_millis(250)), "250ms");
        assert_eq!(format_timeout(Duration::from_secs(3)), "3s");
        assert_eq!(format_timeout(Duration::from_millis(1500)), "1.500s");
    }

    #[test]
    fn ages_print_compactly() {
        assert_eq!(format_age(0), "0s");
        assert_eq!(format_age(59), "59s");
        assert_eq!(format_age(60), "1m00s");
        assert_eq!(format_age(423), "7m03s");
        assert_eq!(format_age(7500), "2h05m");
        assert_eq!(format_age(273_600), "3d04h");
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0640"), Ok(0o640));
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0o660"), Ok(0o660));
        for bad in ["", "0", "0000", "0800", "rw-r-----", "17777"] {
            assert!(parse_mode(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
