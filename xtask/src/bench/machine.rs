//! The machine line: what the numbers depend on, gathered at the start of a run.

use std::process::Command;

use matmul_cuda::blas::machine;

use super::results::Machine;

/// The machine line's facts.
pub fn machine(data: &str, threads: usize, quick: bool) -> Machine {
    let cpu = machine::cpu_name()
        .unwrap_or_else(|| format!("{} CPU (unnamed by the system)", std::env::consts::ARCH));
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "rustc (version unknown)".into());
    Machine {
        cpu,
        cores: threads,
        threads,
        simd: matmul_cuda::blas::isa::Isa::detect().name().into(),
        caches: machine::Caches::detection().describe(),
        rustc,
        blas: matmul_cuda::blas::blas_libraries().into(),
        data: data.to_owned(),
        mode: if quick { "quick" } else { "full" }.into(),
        date: utc_now(),
        gpu: None,
    }
}

/// The current time as `YYYY-MM-DD HH:MM UTC` (civil-from-days, Howard Hinnant's algorithm).
pub fn utc_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_look_like_dates() {
        let now = utc_now();
        assert_eq!(now.len(), "2026-11-23 10:40 UTC".len(), "{now}");
        assert!(now.starts_with("20") && now.ends_with(" UTC"));
    }
}
