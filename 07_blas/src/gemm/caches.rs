//! The cache sizes the blocks are cut to, read from the operating system.

use std::sync::OnceLock;

/// The data cache sizes of one core, in bytes (L3: the whole shared cache).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caches {
    /// Level 1 data cache.
    pub l1: usize,
    /// Level 2 cache.
    pub l2: usize,
    /// Level 3 cache.
    pub l3: usize,
}

impl Caches {
    /// What [`Caches::detect`] assumes for a level it cannot read: 32 KiB of L1, 512 KiB of
    /// L2, 8 MiB of L3 — on the small side of current x86-64 and Arm cores, so the blocks fit.
    pub const DEFAULT: Caches = Caches {
        l1: 32 << 10,
        l2: 512 << 10,
        l3: 8 << 20,
    };

    /// The caches of the first CPU as the operating system reports them (on Linux,
    /// `/sys/devices/system/cpu/cpu0/cache`), with [`Caches::DEFAULT`] for any level it does
    /// not report. Read once per process.
    pub fn detect() -> Caches {
        static DETECTED: OnceLock<Caches> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            let mut caches = Caches::DEFAULT;
            for index in 0..8 {
                let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{index}");
                let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}"));
                let (Ok(level), Ok(kind), Ok(size)) = (read("level"), read("type"), read("size"))
                else {
                    continue;
                };
                let Some(bytes) = parse_size(size.trim()) else {
                    continue;
                };
                match (level.trim(), kind.trim()) {
                    ("1", "Data") => caches.l1 = bytes,
                    ("2", "Unified" | "Data") => caches.l2 = bytes,
                    ("3", "Unified" | "Data") => caches.l3 = bytes,
                    _ => {}
                }
            }
            caches
        })
    }
}

/// `"48K"`, `"1024K"`, `"32M"` or a plain number of bytes.
fn parse_size(text: &str) -> Option<usize> {
    let (digits, unit) = match text.strip_suffix(['K', 'M', 'G']) {
        Some(digits) => (digits, &text[digits.len()..]),
        None => (text, ""),
    };
    let value: usize = digits.parse().ok()?;
    let shift = match unit {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => 0,
    };
    value.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_size("48K"), Some(48 << 10));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn detected_caches_are_at_least_plausible() {
        let caches = Caches::detect();
        assert!(caches.l1 >= 4 << 10 && caches.l2 >= caches.l1 && caches.l3 >= 1 << 20);
    }
}
