//! Which instruction set this machine's kernels use: one detection per process, read by
//! every kernel family of this step (the own GEMM's micro-kernel, the streaming kernel) and by
//! the bench (its FP32 peak and its machine line), so that all of them always agree.
//!
//! `MATMUL_ISA=avx512|avx2|portable` picks one this CPU has instead of the best, to compare
//! the kernels on one machine (or to test the others' code paths on it); it is read once,
//! with the detection.

use std::sync::OnceLock;

/// The environment variable that overrides the detection.
pub const ISA_ENV: &str = "MATMUL_ISA";

/// An instruction set the kernels are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// AVX-512F intrinsics: 16 lanes, masked loads, 32 vector registers.
    Avx512,
    /// AVX2 and FMA: 8 lanes, 16 vector registers.
    Avx2,
    /// The portable kernels for the baseline CPU (SSE2 on x86-64).
    Portable,
}

impl Isa {
    /// Every instruction set, widest first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

    /// The instruction set the kernels use in this process: the best this CPU supports, or
    /// the one `MATMUL_ISA` names. Detected once.
    ///
    /// # Panics
    ///
    /// When `MATMUL_ISA` names no instruction set, or one this CPU lacks: a wrong setting
    /// must not quietly measure something else.
    pub fn detect() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            let wanted = std::env::var(ISA_ENV).unwrap_or_default();
            match Isa::chosen(&wanted, Isa::best()) {
                Ok(isa) => isa,
                Err(message) => panic!("{message}"),
            }
        })
    }

    /// The instruction set `wanted` names (`""`: `best`), or why it cannot be used on a CPU
    /// whose best is `best`.
    ///
    /// ```
    /// use matmul_blas::isa::Isa;
    ///
    /// assert_eq!(Isa::chosen("", Isa::Avx2), Ok(Isa::Avx2));
    /// assert_eq!(Isa::chosen("portable", Isa::Avx512), Ok(Isa::Portable));
    /// assert!(Isa::chosen("avx512", Isa::Avx2).unwrap_err().contains("this CPU has"));
    /// assert!(Isa::chosen("sse", Isa::Avx2).unwrap_err().contains("`avx512`, `avx2` or `portable`"));
    /// ```
    pub fn chosen(wanted: &str, best: Isa) -> Result<Isa, String> {
        if wanted.is_empty() {
            return Ok(best);
        }
        let isa = Isa::ALL
            .into_iter()
            .find(|isa| isa.env_name() == wanted)
            .ok_or_else(|| {
                format!("{ISA_ENV}: expected `avx512`, `avx2` or `portable`, found `{wanted}`")
            })?;
        if isa.rank() < best.rank() {
            return Err(format!(
                "{ISA_ENV}: expected an instruction set this CPU has (at most `{}`), found `{wanted}`",
                best.env_name()
            ));
        }
        Ok(isa)
    }

    /// The best instruction set this CPU supports.
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Its value of `MATMUL_ISA`.
    pub fn env_name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }

    /// Its name for people: the machine line, the floors' notes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2 + FMA",
            Isa::Portable => "portable (baseline target)",
        }
    }

    /// 0 for the widest: an instruction set of a higher rank runs wherever a lower one does.
    fn rank(self) -> usize {
        Isa::ALL
            .iter()
            .position(|&isa| isa == self)
            .expect("every Isa is in Isa::ALL")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under `MATMUL_ISA` (as CI runs this crate's tests with `avx2` and `portable`), the
    /// kernels use exactly what it names.
    #[test]
    fn the_detection_obeys_the_override() {
        match std::env::var(ISA_ENV) {
            Ok(wanted) if !wanted.is_empty() => assert_eq!(Isa::detect().env_name(), wanted),
            _ => assert_eq!(Isa::detect(), Isa::best()),
        }
    }

    #[test]
    fn a_narrower_set_runs_where_a_wider_one_does() {
        for best in Isa::ALL {
            for wanted in Isa::ALL {
                let allowed = Isa::chosen(wanted.env_name(), best).is_ok();
                assert_eq!(
                    allowed,
                    wanted.rank() >= best.rank(),
                    "{wanted:?} on {best:?}"
                );
            }
        }
    }
}
