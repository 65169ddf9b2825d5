//! Quantities as a reader wants to see them: times in a unit that gives one to three digits,
//! percentages and speedups without false precision.
//!
//! A leaf: the runners use it to word a reason (how long one run would take), the
//! renderers to fill the tables.

/// A duration in the unit (ns, µs, ms or s) that gives 1–3 digits before the point, with
/// three significant digits (the tests show examples).
pub fn format_time(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// A percentage with no false precision: one decimal below 10, whole numbers above.
pub fn format_percent(percent: f64) -> String {
    if percent < 10.0 {
        format!("{percent:.1}%")
    } else {
        format!("{percent:.0}%")
    }
}

/// A speedup with thousands separators and no false precision: two significant digits below
/// 10, whole numbers above (the tests show examples).
pub fn format_speedup(x: f64) -> String {
    if x < 10.0 {
        let decimals = if x >= 1.0 {
            1
        } else if x > 0.0 {
            (1 - x.log10().floor() as i32).clamp(2, 12) as usize
        } else {
            2
        };
        return format!("{x:.decimals$}×");
    }
    let digits = format!("{:.0}", x);
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}×")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_pick_a_readable_unit() {
        assert_eq!(format_time(812.0), "812 ns");
        assert_eq!(format_time(1_250.0), "1.25 µs");
        assert_eq!(format_time(46_300_000.0), "46.3 ms");
        assert_eq!(format_time(1.2e9), "1.20 s");
    }

    #[test]
    fn percentages_keep_two_digits() {
        assert_eq!(format_percent(0.42), "0.4%");
        assert_eq!(format_percent(9.95), "9.9%");
        assert_eq!(format_percent(61.4), "61%");
    }

    #[test]
    fn speedups_group_thousands() {
        assert_eq!(format_speedup(0.523), "0.52×");
        assert_eq!(format_speedup(0.000_123), "0.00012×");
        assert_eq!(format_speedup(0.0), "0.00×");
        assert_eq!(format_speedup(3.44), "3.4×");
        assert_eq!(format_speedup(1234.4), "1,234×");
        assert_eq!(format_speedup(1_234_567.0), "1,234,567×");
        assert_eq!(format_speedup(999.6), "1,000×");
    }
}
