//! The machine line: what the numbers depend on, gathered at the start of a run.

use std::process::Command;

use super::results::Machine;

/// The machine line's facts.
pub fn machine(data: &str, threads: usize, quick: bool) -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| cpu_model(&info))
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
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
        rustc,
        blas: matmul_cuda::blas::blas_libraries().into(),
        data: data.to_owned(),
        mode: if quick { "quick" } else { "full" }.into(),
        date: utc_now(),
        gpu: None,
    }
}

/// The CPU's model name from `/proc/cpuinfo`, with its family and model numbers when the
/// name alone is vague (virtual machines often say just "AMD EPYC").
fn cpu_model(cpuinfo: &str) -> Option<String> {
    let field = |key: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let name = field("model name")?;
    Some(match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("{name} (family {family}, model {model})"),
        _ => name,
    })
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
    fn cpu_model_names_family_and_model() {
        let info = "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n";
        assert_eq!(cpu_model(info).unwrap(), "AMD EPYC (family 25, model 17)");
        assert_eq!(cpu_model("model name : X\n").unwrap(), "X");
        assert_eq!(cpu_model("nothing"), None);
    }

    #[test]
    fn utc_dates_look_like_dates() {
        let now = utc_now();
        assert_eq!(now.len(), "2026-11-23 10:40 UTC".len(), "{now}");
        assert!(now.starts_with("20") && now.ends_with(" UTC"));
    }
}
