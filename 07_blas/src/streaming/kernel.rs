//! What an instruction set brings to the streaming driver: two micro-kernels, and the sizes
//! they work in.
//!
//! The driver ([`super`]) owns everything that does not depend on the instruction set: which
//! kernel a shape needs, packing `bᵀ`, splitting the rows into blocks and across threads, how
//! far ahead to prefetch, and the rows and columns left over at the ends. A kernel owns only
//! the arithmetic of one small block, in its registers. Adding an instruction set is one more
//! implementation of [`Kernel`] with its row of [`Isa::kernels`](crate::isa::Isa::kernels), and
//! one more arm in [`super::matmul`]'s `match`.
//!
//! A kernel is a zero-sized token: its constructor checks the CPU, so holding one is the proof
//! that its instructions may run, and its methods are safe to call.

/// Columns of `c` that one pass of the many-rows path computes: the lesson's 10 classes, in
/// one call of the kernel (`dot_columns`), or in two groups of 5 (AVX2, whose registers hold
/// only half; AVX-512 where L1 is too small for all of `bᵀ`, so that it holds only half at a
/// time).
///
/// With NEON, two rows × 10 columns = 20 accumulators, which fit its 32 registers with room
/// for the loads; a wider `b` takes several passes.
pub const COLUMNS_PER_PASS: usize = 10;

/// Columns of `c` that one call to [`Kernel::scale_rows`] computes at most: one AVX-512
/// register, two AVX2 ones or four NEON ones per row (AVX2 and NEON take only as many as the
/// call's columns fill: AVX2 one for 8 columns or fewer, NEON one per 4).
pub(crate) const COLUMNS_PER_ROW: usize = 16;

/// The first steps of `k`, in whole groups of `group`, that a [`Kernel::scale_rows`] takes by
/// its path for the lesson's weights (`ten_columns`, in the AVX-512 and AVX2 kernels): as many
/// as there are when `b` is one run of 10-float rows (`nc` and `ldb` both
/// [`COLUMNS_PER_PASS`]), none otherwise. Its general loop takes the steps after them.
// Only the x86-64 kernels have such a path.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) fn ten_column_steps(k: usize, ldb: usize, nc: usize, group: usize) -> usize {
    if ten_float_rows(ldb, nc) {
        k / group * group
    } else {
        0
    }
}

/// Whether `nc` columns of a `b` whose rows are `ldb` floats apart are one run of rows of
/// exactly [`COLUMNS_PER_PASS`] floats, as the lesson's weights are: what the kernels' paths
/// for them (`ten_columns`) need.
pub(super) fn ten_float_rows(ldb: usize, nc: usize) -> bool {
    nc == COLUMNS_PER_PASS && ldb == COLUMNS_PER_PASS
}

/// Lanes of the whole registers that `nc` columns take, `lanes` to a register.
pub(super) fn whole_registers(nc: usize, lanes: usize) -> usize {
    nc.div_ceil(lanes) * lanes
}

/// The micro-kernels of one instruction set.
///
/// Both compute a block of `c = a @ b` for `ROWS` consecutive rows of `a` (`rows`: `ROWS`
/// rows of `k` contiguous elements) and return it; the driver stores the columns that exist.
pub(super) trait Kernel: Copy + Send + Sync {
    /// `f32` lanes of one register: the packed columns of `bᵀ` are padded to a multiple of it,
    /// so that [`dot_columns`](Kernel::dot_columns) never reads a partial chunk of `bᵀ`.
    const LANES: usize;

    /// Rows of `a` per call to [`dot_columns`](Kernel::dot_columns): they share each load of
    /// `bᵀ`, at the price of `DOT_ROWS × DOT_COLUMNS` accumulator registers. At most 4.
    const DOT_ROWS: usize;

    /// Packed columns of `bᵀ` per call to [`dot_columns`](Kernel::dot_columns):
    /// [`COLUMNS_PER_PASS`], or a divisor of it, where the registers hold fewer accumulators
    /// (AVX2) or so that L1 holds only part of `bᵀ` at a time (AVX-512's second tile, for an
    /// L1 too small for all of it). The driver then calls the kernel once per group of
    /// columns, over a group of rows.
    const DOT_COLUMNS: usize;

    /// Rows of `a` per call to [`scale_rows`](Kernel::scale_rows): they share each load of a
    /// row of `b`, at the price of up to `SCALE_ROWS × COLUMNS_PER_ROW / LANES` accumulator
    /// registers. At most 8.
    const SCALE_ROWS: usize;

    /// Lanes of multiply-adds that [`scale_rows`](Kernel::scale_rows) spends per step and row
    /// of `a` on `nc ≤ COLUMNS_PER_ROW` columns (or the lanes' worth of FMA time, where its
    /// FMAs wait on each other); `ten_floats` is true when `b` is one run of rows of exactly
    /// [`COLUMNS_PER_PASS`] floats (the lesson's weights). The driver counts the few-rows
    /// path's FMAs by it, to choose between the two paths.
    ///
    /// By default, a whole register for every [`LANES`](Kernel::LANES) columns or fewer.
    fn scale_lanes(nc: usize, ten_floats: bool) -> usize {
        let _ = ten_floats; // only kernels with a path of their own for it care
        whole_registers(nc, Self::LANES)
    }

    /// `sums[r][j] = Σ_p rows[r * k + p] · bt[j * kp + p]` for `j < DOT_COLUMNS`, SIMD across
    /// `p`: the many-rows kernel, with `b`'s columns packed. The sums from `DOT_COLUMNS` on
    /// hold anything.
    ///
    /// - `rows`: `ROWS` rows of `k` elements (`rows.len() == ROWS * k`, `1 ≤ ROWS ≤ DOT_ROWS`);
    /// - `bt`: [`DOT_COLUMNS`](Kernel::DOT_COLUMNS) packed columns of `b`, each `kp` long
    ///   (`kp ≥ k`, a multiple of [`LANES`](Kernel::LANES)), zero past `k`;
    /// - `ahead`: this call's shares of the rows of `a` that the driver wants on their way (see
    ///   [`Asks`] and [`prefetch`]): each `ROWS · k · DOT_COLUMNS / COLUMNS_PER_PASS` floats,
    ///   asked for evenly as the call goes.
    ///
    /// # Panics
    ///
    /// When a slice is shorter than that.
    fn dot_columns<const ROWS: usize, const FAR: usize, const NEAR: usize>(
        self,
        rows: &[f32],
        k: usize,
        bt: &[f32],
        kp: usize,
        ahead: Asks<'_, FAR, NEAR>,
    ) -> [[f32; COLUMNS_PER_PASS]; ROWS];

    /// `sums[r][j] = Σ_p rows[r * k + p] · b[p * ldb + j]` for `j < nc`, SIMD across `j`: the
    /// few-rows kernel, with `b` read in place, each of its rows scaled by `a[r, p]`. The lanes
    /// from `nc` on hold anything.
    ///
    /// - `rows`: `ROWS` rows of `k` elements (`rows.len() == ROWS * k`, `1 ≤ ROWS ≤ SCALE_ROWS`);
    /// - `b`: row `p` at `b[p * ldb..p * ldb + nc]`, `nc ≤ COLUMNS_PER_ROW`.
    ///
    /// # Panics
    ///
    /// When a slice is shorter than that, or `nc > COLUMNS_PER_ROW`.
    fn scale_rows<const ROWS: usize>(
        self,
        rows: &[f32],
        k: usize,
        b: &[f32],
        ldb: usize,
        nc: usize,
    ) -> [[f32; COLUMNS_PER_ROW]; ROWS];

    /// Where the kernel has a [`whole_rows`](Kernel::whole_rows) of its own, in whole registers,
    /// the most rows of `b` it adds into each register of `y` at a time for one row of `a` (its
    /// row of [`Isa::kernels`](crate::isa::Isa::kernels)): the driver takes the whole-rows path
    /// (one row of `a`, or a few with a `b` beyond L3) only then.
    const ONE_ROW: Option<usize> = None;

    /// `y[i][j] += Σ_p a[i][p] · b[p · n + j]` for the `a.count` rows `i` of `a` and of `y`,
    /// `j < n` and `p < steps`, for a row-major `b` of `steps = b.len() / n` whole rows: each row
    /// of `b` scaled by its elements of `a` and added into the rows of `y` — the whole-rows path
    /// — `group` rows of `b` at a time (a power of two, at most [`ONE_ROW`](Kernel::ONE_ROW)'s,
    /// and at most [`WHOLE_ROWS_GROUP`] for more than one row of `a`). By default in plain Rust,
    /// a row of `b` at a time; the driver calls it only where [`ONE_ROW`](Kernel::ONE_ROW) says
    /// the kernel has its own.
    ///
    /// # Panics
    ///
    /// When `a` or `y` is shorter than that, `b` is not whole rows of `n`, or `a` has more than
    /// [`WHOLE_ROWS_MOST`] rows.
    fn whole_rows(self, a: Rows<'_>, b: &[f32], n: usize, y: RowsMut<'_>, group: usize) {
        let _ = group; // a row of `b` at a time
        let steps = whole_rows_steps(a, b, n, &y);
        for i in 0..a.count {
            let x = &a.data[i * a.ld..][..steps];
            let y = &mut y.data[i * y.ld..][..n];
            for (&x, row) in x.iter().zip(b.chunks_exact(n)) {
                for (y, &b) in y.iter_mut().zip(row) {
                    *y += x * b;
                }
            }
        }
    }
}

/// The most rows of `a` the whole-rows path takes at once ([`Kernel::whole_rows`]): the x86
/// kernels keep a register of sums for each.
pub(super) const WHOLE_ROWS_MOST: usize = 8;

/// The most rows of `b` the whole-rows path takes at a time for more than one row of `a`: with
/// 8 rows of `a`, 64 broadcast elements of `a`, which the kernel reads from memory as it goes
/// rather than keep in registers.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the x86 kernels
pub(super) const WHOLE_ROWS_GROUP: usize = 8;

/// `count` rows of a row-major matrix, `ld` floats apart, the first at the start of `data`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rows<'a> {
    /// The floats, from the first row's first.
    pub data: &'a [f32],
    /// Floats from one row to the next.
    pub ld: usize,
    /// How many rows.
    pub count: usize,
}

/// [`Rows`], to write.
#[derive(Debug)]
pub(super) struct RowsMut<'a> {
    /// The floats, from the first row's first.
    pub data: &'a mut [f32],
    /// Floats from one row to the next.
    pub ld: usize,
    /// How many rows.
    pub count: usize,
}

/// The steps (rows of `b`) of [`Kernel::whole_rows`] for these operands, once they are checked
/// to hold what it reads and writes.
///
/// # Panics
///
/// As [`Kernel::whole_rows`] says.
pub(super) fn whole_rows_steps(a: Rows<'_>, b: &[f32], n: usize, y: &RowsMut<'_>) -> usize {
    assert!(
        n > 0 && b.len().is_multiple_of(n),
        "b holds whole rows of n"
    );
    let steps = b.len() / n;
    assert!(
        (1..=WHOLE_ROWS_MOST).contains(&a.count) && y.count == a.count,
        "1 to {WHOLE_ROWS_MOST} rows of a, as many of y"
    );
    assert!(
        a.ld >= steps && holds_rows(a.data.len(), a.count, a.ld, steps),
        "a holds its rows"
    );
    assert!(
        y.ld >= n && holds_rows(y.data.len(), y.count, y.ld, n),
        "y holds its rows"
    );
    steps
}

/// Whether a slice of `len` floats holds `rows` rows of `n` floats, `ld` apart (the last row
/// ending after its `n`): what the kernels assert before reading a `b` through raw pointers.
/// Overflow counts as not holding them.
pub(super) fn holds_rows(len: usize, rows: usize, ld: usize, n: usize) -> bool {
    match rows.checked_sub(1) {
        None => true,
        Some(last) => last
            .checked_mul(ld)
            .and_then(|start| start.checked_add(n))
            .is_some_and(|end| end <= len),
    }
}

/// What one call of [`Kernel::dot_columns`] asks the memory system for as it goes: slices of
/// `a`, all of one length, each asked for from its start at the pace of the call's reads. The
/// driver picks them ([`super`]'s `dot_rows`) and how many of each kind (by the CPU's maker:
/// [`super`]'s `Reading`); a kernel only spreads them over its loop ([`prefetch`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Asks<'a, const FAR: usize, const NEAR: usize> {
    /// Into L2, the farthest first: the call's shares of the rows of `a` ahead of its own, on
    /// their way from memory.
    pub(super) far: [&'a [f32]; FAR],
    /// Into L1 (none, or one): the call's own row from [`NEAR_BYTES`] on, where the driver
    /// reads one row a call, so that each line of the row is in L1 before its read.
    pub(super) near: [&'a [f32]; NEAR],
}

/// How far ahead of its read a line of a row is asked for into L1 where the driver asks for
/// it so ([`Asks::near`]): 2 KiB, 32 lines, the distance at which the read floor asks for its
/// lines; on the Intel Xeon this was measured on, 1 KiB and 4 KiB were no different.
pub(super) const NEAR_BYTES: usize = 2048;

/// Asks for the cache lines of `ahead.far[s][from..from + len]` of every slice `s` to be
/// brought into L2, and of `ahead.near[s][from..from + len]` into L1: the kernels call it
/// once per chunk of `k` (or pair of chunks), so that over a call they ask for all of each
/// slice, their shares of the rows of `a` the driver wants on their way. A hint, with no
/// effect on the results ([`crate::prefetch::to_l2`]).
///
/// The hardware prefetcher stops at every 4 KiB page (a row of 784 floats is 3 KiB) and the
/// core is busy with many FMAs per 64-byte line it reads, so on its own it keeps too few lines
/// in flight. Into L2, because L2 can track many more outstanding misses than L1, and L1 stays
/// free for `bᵀ`; on the x86 machines this was measured on, asking for L1 instead (`t0` or
/// `nta`) was clearly slower, and no prefetch slower still. (AMD's cores before Zen 4 fill L1
/// with every kind of prefetch: there the hint choice measured alike, the prefetched rows
/// share L1 with `bᵀ`, and the arithmetic runs measurably slower while lines are on their way
/// from memory, even on rows already in cache. Asking for only the first lines of each page,
/// and leaving the rest to the hardware prefetcher, was much slower than asking for every
/// line; on the Intel Xeon, so was asking for every other line.)
#[inline(always)]
pub(super) fn prefetch<const FAR: usize, const NEAR: usize>(
    ahead: &Asks<'_, FAR, NEAR>,
    from: usize,
    len: usize,
) {
    // No bounds check and no branch: `len` is a constant where the kernels call this, so the
    // loop unrolls into a few bare prefetches (a branch inside the kernel's loop costs it
    // registers: its accumulators get spilled), and a prefetch never faults, whatever the
    // address. The callers keep `from + len ≤ ahead.far[s].len()` all the same.
    for slice in ahead.far {
        ask(slice, from, len);
    }
    for slice in ahead.near {
        ask_with(slice, from, len, crate::prefetch::to_l1);
    }
}

/// Asks for the cache lines of `slice[from..from + len]` to be brought into L2, as
/// [`prefetch`] does for each of its slices.
#[inline(always)]
pub(super) fn ask(slice: &[f32], from: usize, len: usize) {
    ask_with(slice, from, len, crate::prefetch::to_l2);
}

/// [`ask`] with `hint`.
#[inline(always)]
fn ask_with(slice: &[f32], from: usize, len: usize, hint: impl Fn(*const f32)) {
    use crate::prefetch::{Start, ask_for_run};
    // A kernel asks for a slice in adjoining runs, from its start.
    ask_for_run(
        slice.as_ptr().wrapping_add(from),
        len,
        Start::Adjoining,
        hint,
    );
}

/// A kernel's whole-rows path ([`Kernel::whole_rows`]) in groups of rows of `b`, written once
/// for the kernels that have one (AVX-512 and AVX2): `whole_rows(a, lda, m, b, steps, n, y, ldy,
/// group)` takes `group` rows of `b` at a time, rounded down to one of the powers of two listed
/// (`$one` for one row of `a`, from the kernel's most, `$most`; `$many` for more), and the rows
/// left over one at a time, each group by the kernel's own `add_rows::<R, M>(a, lda, rows, n,
/// y, ldy)` for `M` rows of `a`, compiled with `$feature`.
#[cfg(target_arch = "x86_64")]
macro_rules! whole_rows_in_groups {
    ($feature:literal, $most:ident: [$($one:literal)*] [$($many:literal)*]) => {
        /// [`Kernel::whole_rows`](super::kernel::Kernel::whole_rows) for this kernel: its
        /// operands checked ([`whole_rows_steps`](super::kernel::whole_rows_steps)), then
        /// [`whole_rows`].
        ///
        /// # Safety
        ///
        #[doc = concat!("The CPU has `", $feature, "`.")]
        unsafe fn checked_whole_rows(
            a: super::kernel::Rows<'_>,
            b: &[f32],
            n: usize,
            y: super::kernel::RowsMut<'_>,
            group: usize,
        ) {
            let steps = super::kernel::whole_rows_steps(a, b, n, &y);
            // SAFETY: the CPU has the feature (this function's contract), and the operands
            // hold what `whole_rows` reads and writes (`whole_rows_steps` checked them).
            unsafe {
                whole_rows(
                    a.data.as_ptr(),
                    a.ld,
                    a.count,
                    b.as_ptr(),
                    steps,
                    n,
                    y.data.as_mut_ptr(),
                    y.ld,
                    group,
                )
            }
        }

        /// [`Kernel::whole_rows`](super::kernel::Kernel::whole_rows), its operands checked:
        /// `m` rows of `a` (`lda` apart) and of `y` (`ldy` apart), `steps` rows of `b` of `n`.
        ///
        /// # Safety
        ///
        #[doc = concat!("The CPU has `", $feature, "`; `a` holds `1 ≤ m ≤ 8` rows of `steps`")]
        /// floats, `lda` apart, `b` `steps` rows of `n` floats, one after another, and `y` `m`
        /// rows of `n` floats, `ldy` apart.
        #[expect(clippy::too_many_arguments, reason = "two matrices of rows and their strides")]
        #[target_feature(enable = $feature)]
        unsafe fn whole_rows(
            a: *const f32,
            lda: usize,
            m: usize,
            b: *const f32,
            steps: usize,
            n: usize,
            y: *mut f32,
            ldy: usize,
            group: usize,
        ) {
            // The groups listed are the powers of two up to the kernel's most, and to
            // `WHOLE_ROWS_GROUP` for more than one row of `a`.
            const {
                assert!($most == [$($one),*][0] && $most.is_power_of_two());
                assert!(super::kernel::WHOLE_ROWS_GROUP == [$($many),*][0]);
                assert!(super::kernel::WHOLE_ROWS_MOST == 8);
            };
            // SAFETY: this function's contract.
            unsafe {
                match m {
                    1 => by_rows::<1>(a, lda, b, steps, n, y, ldy, group),
                    2 => by_rows::<2>(a, lda, b, steps, n, y, ldy, group),
                    3 => by_rows::<3>(a, lda, b, steps, n, y, ldy, group),
                    4 => by_rows::<4>(a, lda, b, steps, n, y, ldy, group),
                    5 => by_rows::<5>(a, lda, b, steps, n, y, ldy, group),
                    6 => by_rows::<6>(a, lda, b, steps, n, y, ldy, group),
                    7 => by_rows::<7>(a, lda, b, steps, n, y, ldy, group),
                    8 => by_rows::<8>(a, lda, b, steps, n, y, ldy, group),
                    _ => unreachable!("1 to 8 rows of `a`, as the caller promised"),
                }
            }
        }

        /// [`whole_rows`] for `M` rows of `a`: the group of rows of `b` rounded down to one listed.
        ///
        /// # Safety
        ///
        /// As [`whole_rows`]'s, with `m = M`.
        #[expect(clippy::too_many_arguments, reason = "two matrices of rows and their strides")]
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn by_rows<const M: usize>(
            a: *const f32,
            lda: usize,
            b: *const f32,
            steps: usize,
            n: usize,
            y: *mut f32,
            ldy: usize,
            group: usize,
        ) {
            // SAFETY: this function's contract.
            unsafe {
                if M == 1 {
                    $(
                        if group >= $one {
                            return in_groups::<$one, 1>(a, lda, b, steps, n, y, ldy);
                        }
                    )*
                } else {
                    $(
                        if group >= $many {
                            return in_groups::<$many, M>(a, lda, b, steps, n, y, ldy);
                        }
                    )*
                }
                in_groups::<1, M>(a, lda, b, steps, n, y, ldy)
            }
        }

        /// [`whole_rows`] in groups of `R` rows of `b` for `M` rows of `a`: each group by
        /// `add_rows`, then the rows of `b` left over one at a time.
        ///
        /// # Safety
        ///
        /// As [`whole_rows`]'s, with `m = M`.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn in_groups<const R: usize, const M: usize>(
            a: *const f32,
            lda: usize,
            b: *const f32,
            steps: usize,
            n: usize,
            y: *mut f32,
            ldy: usize,
        ) {
            let whole = steps / R * R;
            for p in (0..whole).step_by(R) {
                // SAFETY: steps `p .. p + R ≤ steps` of `a`'s rows and rows of `b`.
                unsafe { add_rows::<R, M>(a.add(p), lda, b.add(p * n), n, y, ldy) };
            }
            for p in whole..steps {
                // SAFETY: step `p < steps`.
                unsafe { add_rows::<1, M>(a.add(p), lda, b.add(p * n), n, y, ldy) };
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(super) use whole_rows_in_groups;
