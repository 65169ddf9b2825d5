//! Which instruction set this machine's kernels use, and what each instruction set's kernels
//! look like: one detection per process, read by every kernel family of this step (the own
//! GEMM's micro-kernel, the streaming kernel) and by the bench (its FP32 peak and its machine
//! line), so that all of them always agree.
//!
//! `MATMUL_ISA=avx512|avx2|neon|portable` picks one this CPU has instead of the best, to
//! compare the kernels on one machine (or to test the others' code paths on it); it is read
//! once, with the detection.

use std::sync::OnceLock;

/// The environment variable that overrides the detection.
pub const ISA_ENV: &str = "MATMUL_ISA";

/// An instruction set the kernels are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// x86-64 with AVX-512F: 16 lanes, masked loads, 32 vector registers.
    Avx512,
    /// x86-64 with AVX2 and FMA: 8 lanes, 16 vector registers.
    Avx2,
    /// ARM64 (AArch64) with NEON, which every ARM64 CPU has: 4 lanes, fused multiply-add,
    /// 32 vector registers. Apple Silicon, AWS Graviton, a Raspberry Pi 4 or 5.
    Neon,
    /// The portable kernels in plain Rust, compiled for the baseline CPU of the target (SSE2
    /// on x86-64, NEON on ARM64).
    Portable,
}

/// The shape of one instruction set's kernels: their register tiles, from which the GEMM's
/// blocks and the rule that picks between the GEMM and the streaming kernel are derived.
///
/// Each kernel takes its constants from its row of [`Isa::kernels`], so this table and the
/// code cannot disagree; the reasoning behind each number is in the kernel's module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelShape {
    /// `(MR, NR)`: rows and columns of `C` the GEMM's micro-kernel keeps in registers.
    pub gemm_tile: (usize, usize),
    /// `f32` lanes per register of the streaming kernel.
    pub lanes: usize,
    /// `(rows, columns)` of `c` the streaming kernel's many-rows path computes per call, the
    /// widest first: the rows share each load of the packed `b`, the columns each load of a
    /// row of `a`. AVX-512 has two: the driver takes the first where the packed `b` stays in
    /// L1 with the rows streaming past it, and the second (the columns in two calls over the
    /// same rows) where it does not.
    pub dot_tiles: &'static [(usize, usize)],
    /// Rows of `a` the streaming kernel's few-rows path takes per call (they share each load
    /// of a row of `b`).
    pub scale_rows: usize,
    /// Where the streaming kernel has a whole-rows path (a single row of `a` times a wide `b`,
    /// or a few rows with a `b` beyond L3): the most rows of `b` it adds into each register of
    /// `c` between loading and storing it, for one row of `a` (fewer where those rows share a
    /// set of L1, and at most 8 for more rows of `a`).
    pub one_row: Option<usize>,
    /// Whether the kernels multiply and add in one fused instruction (one rounding).
    pub fused: bool,
    /// Whether the GEMM's blocks keep its sliver of `B` in L1 where L1 holds a long enough one
    /// ([`Blocks::for_caches_b_in_l1`](crate::gemm::Blocks::for_caches_b_in_l1)), instead of in
    /// L2 ([`Blocks::for_caches`](crate::gemm::Blocks::for_caches)): only where that measured
    /// faster (module `gemm::blocks`'s page).
    pub gemm_kc_from_l1: bool,
}

impl Isa {
    /// Every instruction set, on every architecture.
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Portable];

    /// The instruction sets a CPU of the architecture this was compiled for can have, widest
    /// first: any of them runs on a CPU that has one before it.
    pub const HERE: &'static [Isa] = if cfg!(target_arch = "x86_64") {
        &[Isa::Avx512, Isa::Avx2, Isa::Portable]
    } else if cfg!(target_arch = "aarch64") {
        &[Isa::Neon, Isa::Portable]
    } else {
        &[Isa::Portable]
    };

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
            match Isa::chosen(&wanted, Isa::best(), Isa::HERE) {
                Ok(isa) => isa,
                Err(message) => panic!("{message}"),
            }
        })
    }

    /// The instruction set `wanted` names (`""`: `best`), or why it cannot be used on a CPU
    /// whose best is `best`, on an architecture whose instruction sets are `here` (widest
    /// first, as [`Isa::HERE`]).
    ///
    /// ```
    /// use matmul_blas::isa::Isa;
    ///
    /// let x86 = [Isa::Avx512, Isa::Avx2, Isa::Portable];
    /// assert_eq!(Isa::chosen("", Isa::Avx2, &x86), Ok(Isa::Avx2));
    /// assert_eq!(Isa::chosen("portable", Isa::Avx512, &x86), Ok(Isa::Portable));
    /// assert!(Isa::chosen("avx512", Isa::Avx2, &x86).unwrap_err().contains("this CPU has"));
    /// assert!(Isa::chosen("neon", Isa::Avx2, &x86).unwrap_err().contains("of this architecture"));
    /// assert!(Isa::chosen("sse", Isa::Avx2, &x86).unwrap_err().contains("found `sse`"));
    /// ```
    pub fn chosen(wanted: &str, best: Isa, here: &[Isa]) -> Result<Isa, String> {
        if wanted.is_empty() {
            return Ok(best);
        }
        let names = |isas: &[Isa]| {
            let names: Vec<String> = isas.iter().map(|i| format!("`{}`", i.env_name())).collect();
            names.join(", ")
        };
        let isa = Isa::ALL
            .into_iter()
            .find(|isa| isa.env_name() == wanted)
            .ok_or_else(|| {
                format!(
                    "{ISA_ENV}: expected one of {}, found `{wanted}`",
                    names(&Isa::ALL)
                )
            })?;
        let rank = |isa: Isa| here.iter().position(|&h| h == isa);
        match (rank(isa), rank(best)) {
            (None, _) => Err(format!(
                "{ISA_ENV}: expected an instruction set of this architecture ({}), found `{wanted}`",
                names(here)
            )),
            (Some(wanted_rank), Some(best_rank)) if wanted_rank < best_rank => Err(format!(
                "{ISA_ENV}: expected an instruction set this CPU has (at most `{}`), found `{wanted}`",
                best.env_name()
            )),
            _ => Ok(isa),
        }
    }

    /// Whether this CPU can run it: it is of this architecture, and no wider than
    /// [`Isa::best`].
    ///
    /// ```
    /// use matmul_blas::isa::Isa;
    ///
    /// assert!(Isa::Portable.runs_here() && Isa::best().runs_here());
    /// assert!(!Isa::ALL.iter().all(|isa| isa.runs_here())); // x86-64 lacks NEON, and ARM64 AVX
    /// ```
    pub fn runs_here(self) -> bool {
        Isa::chosen(self.env_name(), Isa::best(), Isa::HERE).is_ok()
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
        // NEON is part of the ARM64 baseline: every CPU of the architecture has it.
        if cfg!(target_arch = "aarch64") {
            return Isa::Neon;
        }
        Isa::Portable
    }

    /// Its value of `MATMUL_ISA`.
    pub fn env_name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Neon => "neon",
            Isa::Portable => "portable",
        }
    }

    /// Its name for people: the machine line, the floors' notes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2 + FMA",
            Isa::Neon => "NEON",
            Isa::Portable => "portable (baseline target)",
        }
    }

    /// The machines it is for, in words.
    pub fn machines(self) -> &'static str {
        match self {
            Isa::Avx512 => "x86-64 with AVX-512 (recent AMD Zen, Intel Xeon)",
            Isa::Avx2 => "x86-64 with AVX2 (most x86 laptops and desktops since 2013)",
            Isa::Neon => "ARM64 (Apple Silicon, Graviton, Raspberry Pi 4 and 5)",
            Isa::Portable => "any other CPU, or any of these with `MATMUL_ISA=portable`",
        }
    }

    /// The shape of its kernels. The portable kernels are 8 lanes wide in the streaming kernel
    /// (what the compiler makes of them: one AVX2 register, two SSE or NEON ones) and fused
    /// only where the target's baseline has a fused multiply-add (ARM64 does, x86-64 does not).
    pub const fn kernels(self) -> KernelShape {
        match self {
            Isa::Avx512 => KernelShape {
                gemm_tile: (14, 32),
                lanes: 16,
                dot_tiles: &[(2, 10), (4, 5)],
                scale_rows: 8,
                one_row: Some(16),
                fused: true,
                gemm_kc_from_l1: false,
            },
            Isa::Avx2 => KernelShape {
                gemm_tile: (6, 16),
                lanes: 8,
                dot_tiles: &[(2, 5)],
                scale_rows: 5,
                one_row: Some(8),
                fused: true,
                gemm_kc_from_l1: true,
            },
            Isa::Neon => KernelShape {
                gemm_tile: (8, 12),
                lanes: 4,
                dot_tiles: &[(2, 10)],
                scale_rows: 6,
                one_row: None,
                fused: true,
                gemm_kc_from_l1: false,
            },
            Isa::Portable => KernelShape {
                gemm_tile: (4, 8),
                lanes: 8,
                dot_tiles: &[(1, 10)],
                scale_rows: 4,
                one_row: None,
                fused: BASELINE_FMA,
                gemm_kc_from_l1: false,
            },
        }
    }
}

/// Whether the target's baseline CPU has a fused multiply-add instruction: ARM64 always, x86-64
/// only when the build enables it (`-C target-cpu=native` on a CPU with FMA). Where it has
/// none, `f32::mul_add` is a library call per element, so the portable kernels multiply and
/// add instead.
pub const BASELINE_FMA: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

/// `x · y + acc`: in one fused instruction when `FUSED` (one rounding), as a multiply and an
/// add otherwise. The portable kernels' one multiply-add, so that a kernel compiled where the
/// CPU has FMA uses it.
#[inline(always)]
pub(crate) fn multiply_add<const FUSED: bool>(x: f32, y: f32, acc: f32) -> f32 {
    if FUSED {
        x.mul_add(y, acc)
    } else {
        acc + x * y
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
        assert!(Isa::HERE.contains(&Isa::detect()));
    }

    #[test]
    fn a_narrower_set_runs_where_a_wider_one_does() {
        let x86 = [Isa::Avx512, Isa::Avx2, Isa::Portable];
        let arm = [Isa::Neon, Isa::Portable];
        for here in [&x86[..], &arm[..]] {
            for (best_rank, &best) in here.iter().enumerate() {
                for wanted in Isa::ALL {
                    let allowed = Isa::chosen(wanted.env_name(), best, here).is_ok();
                    let rank = here.iter().position(|&h| h == wanted);
                    assert_eq!(
                        allowed,
                        rank.is_some_and(|rank| rank >= best_rank),
                        "{wanted:?} on {best:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_instruction_set_of_this_architecture_ends_with_the_portable_one() {
        assert_eq!(Isa::HERE.last(), Some(&Isa::Portable));
        assert!(Isa::HERE.contains(&Isa::best()));
    }
}
