//! # Going further: a GEMM built in front of you
//!
//! Step 7's page uses GEMMs — ndarray's `dot`, the `gemm` crate, OpenBLAS, and the `gemm`
//! stage of this crate — and measures them. This page builds that last one, one idea at a
//! time, each a stage of its own: a register **micro-kernel**, then **packing**, then **cache
//! blocking**, then **threads**, the design of Goto & van de Geijn (2008) that OpenBLAS, BLIS
//! and the `matrixmultiply` crate share. Each stage is timed in the same run as the others:
//! the [step's table](crate#measured) reads in this page's order, each `gemm-*` row one idea
//! more than the row above it.
//!
//! ## What a GEMM computes, and why the earlier stages wait on memory
//!
//! A GEMM (general matrix multiply) computes `C ← α·A·B + β·C`; here always `C ← A·B` for
//! `A: (m, k)` and `B: (k, n)`, each a pointer with a row and a column stride. That is
//! `2·m·n·k` floating-point operations on `m·k + k·n` inputs: for squares of 1024, 1024
//! operations per element read. Step 5's `i, k, j` loop streams rows of `b` through SIMD
//! registers, but it loads and stores a row of `c` for every multiply-add and reads all of `b`
//! once per row of `a`, so for large squares it waits on memory. A core can do far more
//! arithmetic per cycle than it can fetch operands from memory — a core with two 16-lane FMA
//! units (AMD's desktop and server Zen 5, most of Intel's AVX-512 server cores) does 64
//! single-precision floating-point operations per cycle — and the whole job of a GEMM is to reuse
//! each loaded element many times from registers and caches.
//!
//! ## (a) `gemm-kernel`: a tile of `C` in registers
//!
//! The innermost code computes an `MR × NR` tile of `C`, held in vector registers from start to
//! end, as `k` rank-1 (outer-product) updates: per step `p` (on this page a *step* is one
//! iteration along `k`, not a step of the tutorial), a column sliver of `a` (`MR` elements)
//! times a row sliver of `b` (`NR` elements).
//!
//! **The contract.** Every kernel, whatever its instruction set, implements one trait,
//! `MicroKernel` (`gemm/kernel.rs`): a tile size `MR × NR`, whether this CPU can run it, the tile
//! itself, a shorter tile for the bottom edge, and how to pack `B` (both explained in (b)). The
//! tile is told what to do with its sums, a `Store`: write them into `C`, or add them to what is
//! there (why both, in (c)); this stage only writes. A `Sliver` says where the kernel finds
//! `a[i, p]` and `b[p, j]`: in the matrices as they are (`Strided`) or in a packing buffer
//! (`Packed`):
//!
#![doc = concat!("```rust,ignore\n", include_str!("gemm/kernel.rs"), "```")]
//!
//! **In plain Rust.** The portable kernel (`gemm/portable.rs`) is the contract written out
//! with arrays: a `4 × 8` tile of sums, one row of `b` and four elements of `a` per step. It
//! runs on any CPU and is what the compiler makes of it:
//!
#![doc = concat!("```rust,ignore\n", include_str!("gemm/portable.rs"), "```")]
//!
//! **Choosing `MR × NR`.** Per step, the kernel loads `NR / 16` vectors of `b`, broadcasts `MR`
//! elements of `a`, and issues `MR · NR / 16` fused multiply-adds. The accumulators take
//! `MR · NR / 16` registers, the row of `b` `NR / 16` more, and what is left must hold the
//! broadcasts. AVX-512 has 32 vector registers:
//!
//! | tile | accumulators | + `b` | FMAs per step | loads per FMA |
//! |---|--:|--:|--:|--:|
//! | 16 × 16 | 16 | 1 | 16 | 17 / 16 = 1.06 |
//! | 6 × 64 | 24 | 4 | 24 | 10 / 24 = 0.42 |
//! | 12 × 32 | 24 | 2 | 24 | 14 / 24 = 0.58 |
//! | **14 × 32** | **28** | **2** | **28** | **16 / 28 = 0.57** |
//!
//! 14 × 32 uses 28 + 2 + 1 = 31 registers (each broadcast of `a` goes into one register, which
//! both FMAs of its row read): the most accumulators that fit beside two rows of `b` and a
//! broadcast, so the most FMAs per step (28) and 28 independent sums, where an FMA latency of
//! 4 cycles on two units needs 8. Its 16 loads per 28 FMAs are well within what a core issues (two
//! or more loads per cycle, at most two FMAs). 6 × 64 needs fewer loads still, but loads are not
//! the limit, and its slivers of `b` are twice as wide: twice the cache for the same depth, and up
//! to 63 wasted columns at the right edge instead of 31. The 32 columns of 14 × 32 divide every
//! power of two from 32 up, so square products waste no column. With AVX2's 16 registers the
//! classic 6 × 16 fits: 12 accumulators, 2 rows of `b`, 1 broadcast. ARM64's NEON (every Apple
//! Silicon Mac) has 32 registers of 4 lanes, and its `fmla` takes one factor straight from a lane
//! of another register, so `a` needs no broadcast: 8 × 12 keeps 24 accumulators beside 3 vectors of
//! `b` and the 8 elements of `a` (`gemm/neon.rs`), where an Apple core, four FMA pipes of 4 cycles,
//! needs 16 sums in flight. Anywhere else, a 4 × 8 tile in plain Rust. (matrixmultiply's AVX-512
//! kernel is 16 × 16, its NEON one 8 × 8.) Which tile runs is decided once, at run time, for the
//! whole step ([`isa::Isa::detect`](crate::isa::Isa::detect)); the table at the end of
//! [step 7's page](crate#measured) lists each instruction set's kernels.
//!
//! **With AVX-512.** The same contract with intrinsics, for the tile chosen above
//! (`gemm/avx512.rs`):
//!
#![doc = concat!("```rust,ignore\n", include_str!("gemm/avx512.rs"), "```")]
//!
//! Driven over the matrices as they are (`gemm/unpacked.rs`):
//!
#![doc = concat!("```rust,ignore\n", include_str!("gemm/unpacked.rs"), "```")]
//!
//! **Why it is not fast yet.** The arithmetic is now a register-resident stream of FMAs, but
//! its operands come from anywhere: each step touches `MR` rows of `a` (14 cache lines, and
//! with a large row stride 14 pages), and each tile walks all of `k` through `a` and `b`, so `a`
//! is read `n / NR` times and `b` `m / MR` times from wherever they happen to be cached.
//!
//! ## (b) `gemm-packed`: operands in the order the kernel reads them
//!
//! Before the kernel runs, `A` is copied into slivers of `MR` rows and `B` into slivers of `NR`
//! columns, each stored step by step: the kernel then reads two unit-stride streams, whatever the
//! strides of the input (transposed, stepped, reversed: only the copy cares). Edges are zero-padded
//! to a whole sliver. A tile at the bottom edge, with fewer than `MR` rows, runs the kernel's
//! `tile_rows`: one kernel per height, compiled from the same code, so no padding row is computed
//! or read. A tile at the right edge, with fewer than `NR` columns, is computed into a scratch
//! tile and only its inside is stored in `C`; where the edge has no more columns than half a
//! tile, the AVX2 kernel computes only that half (one vector a row: half the FMAs and half the
//! loads of `b`), and where it has exactly that many, it writes them straight into `C`. The
//! AVX-512 kernel needs no scratch at all: it loads the last vector of `b` and stores that of `C`
//! under a mask of the edge's columns (`_mm512_maskz_loadu_ps`, `_mm512_mask_storeu_ps`), which
//! neither reads nor writes a lane past the edge. So `(33, 3000) @ (3000, 33)` with AVX-512, a
//! whole sliver of 32 columns and one column more, pays for a sliver and a half instead of two,
//! and `(5, 784) @ (784, 10)`, one edge of 10 columns, is one vector a row. The copy
//! of `B` is compiled with each kernel's
//! instruction set (its `pack_b`, listed with the kernel above), so that a step of a row-major `B`
//! moves in whole vectors of that set. A step of a row-major `A` is one element of each of `MR`
//! rows, which the plain copy gathers one by one; the AVX-512 and AVX2 kernels copy sixteen (eight)
//! steps at a time instead, one vector load from each row and a transpose in registers (their
//! `pack_a`). The packed slivers of `B` start on a cache line (`buffers::line_aligned`): on x86 a
//! step of 16 or 32 floats is then one or two whole lines, where from the 16-byte boundary an
//! allocator usually gives, it would span one line more and some of its vector loads would straddle
//! two. The copy (`gemm/pack.rs`):
//!
#![doc = concat!("```rust,ignore\n", include_str!("gemm/pack.rs"), "```")]
//!
//! The copy costs `O(m·k + k·n)` and is paid back by `O(m·n·k)` arithmetic on it. It packs all
//! of `A` and `B` at once, though: for large matrices neither fits in L2, or even L3, so every
//! sliver the kernel reads comes from further out than it needs to.
//!
//! ## (c) `gemm-blocked`: blocks sized to the caches
//!
//! The loops over `k`, `m` and `n` are cut into `kc`, `mc` and `nc` blocks so that each packed
//! piece stays in the cache level it is reused from. The sizes follow from the caches, read at run
//! time ([`gemm::Caches::detect`](crate::gemm::Caches::detect), with stated defaults where the
//! system does not say) (`gemm/blocks.rs`):
//!
#![doc = concat!("```rust,ignore\n", include_str!("gemm/blocks.rs"), "```")]
//!
//! Cut into panels of `kc` steps, `k` brings each tile of `C` back once per panel. The first
//! panel writes the kernel's sums into `C`, and only the later ones add to what is there, so
//! the packed stages never zero `C` beforehand, and no tile of it is read before it holds
//! anything (BLAS's `C = α·A·B + β·C` with `β = 0` for the first panel and `β = 1` after; the
//! kernel's `Store`, in (a)).
//!
//! With panels up to 1024 steps deep (module `blocks`), a sliver of `A` and one of `B` do not fit
//! in L1 beside each other, so both stream from L2 while the kernel runs. (Where L1 keeps a long
//! enough sliver of `B`, as it does the AVX2 kernel's on the Intel Xeon it was measured on, `kc`
//! is cut to fit, and only `A` streams.) The AVX-512 and AVX2 kernels ask L1 for each sliver's
//! steps a few ahead of the ones they read (`B_STEPS_AHEAD` in `gemm/avx512.rs` and
//! `gemm/avx2.rs`): on the Intel Xeon they were measured on, the hardware prefetcher alone left
//! them waiting on those lines. The AVX2 kernel, whose steps are short, takes them four at a time,
//! so that the asks and the loop's own instructions come once every four steps (`each_step!` in
//! `gemm/kernel.rs`).
//!
//! ## (d) `gemm`: threads
//!
//! The blocks of `C` are independent, so the threads share them out: for each panel of `B`, the
//! rows of `C` are cut into blocks that the threads take one at a time, each packing its own rows
//! of `A`. A thread that the operating system delays takes fewer blocks instead of holding the
//! others up; the blocks are as even as whole tiles allow, so that no short block at the end leaves
//! one thread working while the other waits. The packed panel of `B` is what they have in common,
//! cut into runs of adjacent slivers, at most one per thread, each run packed once: every thread
//! first packs its own, so the copies proceed in parallel, and a thread needing a sliver of a run
//! that another is still packing waits for it. A run, not a sliver, because the copy then reads
//! each row of `B` along the run's whole width, not `NR` floats of it before jumping a row of `B`
//! ahead. (A small panel of a row-major `B` is read in place, or packed by every thread for itself:
//! see below.) Where `A` is short, too short for its blocks of rows to go round (fewer than two a
//! thread), or no taller than one block and under a quarter as tall as a panel is wide, the threads
//! share the panel's columns instead, in parts of whole slivers, each part for all the rows, as
//! long as the slivers keep as many threads busy: every thread then reads all of `A`, which is
//! small, and only its own part of `B`, which stays in its caches from one block of rows to the
//! next. One image through a layer of 1000 outputs, `(1, 784) @ (784, 1000)`, is such a product,
//! and would otherwise run on one core (with the AVX-512 and AVX2 kernels,
//! [`matmul`](crate::matmul) streams it instead: a single row of `a` is a read of `b`, which the
//! streaming kernel's one-row path does row by row). While the SIMD kernels work on a tile of a
//! large `C`, they ask for the tile's rows (each in its own page): into L2 as they start, into L1
//! near the end of their loop, so that their last act, storing into `C`, does not wait on memory.
//! (The driver used to ask L1 for them before each tile as well; once the kernels asked, that saved
//! nothing.) A `C` small enough to stay in cache (no larger than the blocks read in place, below)
//! is not asked for: it is there already, and in a small product the requests cost more than they
//! save (the kernel's `TileOfC`). A large `C` is also a new allocation, and each of its 4 KiB pages
//! costs a page fault at its first store: on Linux, an output of 4 MiB or more asks for 2 MiB pages
//! (`madvise`, as NumPy does for its arrays), which made `(3000, 64) @ (64, 3000)`, whose 36 MB
//! output is larger than the blocks the allocator reuses, take about half the time on the Intel
//! Xeon this was measured on. The calling thread works too, helped by a pool of one thread fewer
//! than the cores, whose threads wait between products, since starting a thread costs as much as a
//! small product (with a helper for every core, an idle one looking for work took a core from a
//! busy one and made `square-256` land at one of two speeds from run to run). A helper stays awake
//! for a moment after each product, as waking a sleeping thread can cost as much again, and the
//! caller does the part of a helper that has not started by the time its own part is done, so a
//! slow wake never costs more than one core's time (the crate's module `pool`). They are used from
//! [`gemm::parallel_from`](crate::gemm::parallel_from) multiply-adds, counted as the kernel does
//! them, in whole tiles (a single row costs about a whole tile's time). What sharing costs differs
//! from machine to machine (how fast one core's cache lines reach another, how fast a helper
//! wakes), so it is timed, once, by the first product that might be shared (smaller ones never
//! wait for it: [`gemm::sharing`](crate::gemm::sharing)): a `64³` product on one thread and
//! shared, in turns. What the shared product takes beyond an even
//! split of the other is the cost, and the threads are used from where it leaves a product at
//! least a sixth faster. Where it cannot be timed (one core, helpers that do not wake in time or
//! are busy with another thread's product), they are used from a product that would keep one
//! core busy for [`gemm::PARALLEL_SECONDS`](crate::gemm::PARALLEL_SECONDS) at the rate its
//! micro-kernel runs at on this machine. The number of threads is
//! [`std::thread::available_parallelism`].
//!
//! Sharing `C` has its limits when `C` is small and `k` long, as in `(100, 10000) @ (10000,
//! 100)`: the threads meet at the end of every panel of `k`, and a `C` of a few tiles splits
//! unevenly between them (100 rows are seven tiles of 14 and one of 2). There the threads split
//! `k` instead, where `C` fits in an eighth of L2 and `k` has a panel or more for each thread:
//! each computes all of `C` over its own part of `k`, alone, into `C` or a buffer of its own, and
//! the buffers are added into `C` at the end
//! ([`gemm::Plan::split_k_up_to`](crate::gemm::Plan::split_k_up_to)). They meet once, with equal
//! work, for the price of one more small `C` per thread to write and add.
//!
//! This stage also skips the copies that (b) made where a copy costs more than it saves. When `A`
//! is row-major and a block of it is small (a quarter of L2,
//! [`gemm::Plan::in_place_up_to`](crate::gemm::Plan::in_place_up_to)), the kernel reads it where it
//! is: each step broadcasts the sliver's `MR` elements one by one anyway, so they need not be
//! adjacent. (The AVX2 kernel does so only while the block meets at most 8 slivers of `B`: its
//! steps are short, and the rows' addresses at every step cost it more than one copy of a block
//! that many slivers reuse.) The last, partial sliver is read in place too, since `tile_rows` reads
//! no row past the block: packing it costs as many shuffles as a whole sliver, for its few rows. A
//! large block is still packed: its rows, a row of the matrix apart, would compete for the same few
//! sets of L1 for as long as the block is used. So is a block of any size whose rows are a large
//! power of two of bytes apart, as for the AVX-512 kernel's 14 rows in the squares from 512 up: the
//! `MR` rows of each sliver then fall in so few sets of L1 that their lines, with the others those
//! sets serve, outnumber the ways, and they evict each other within the sixteen steps a line lasts
//! ([`gemm::rows_spread_over_l1`](crate::gemm::rows_spread_over_l1), with the ways that
//! [`gemm::Caches::detect`](crate::gemm::Caches::detect) finds). On the Intel Xeon this was
//! measured on, packing those blocks made `square-512` clearly faster. An `A` shorter than one
//! sliver may fill its set, for the same reason as the partial sliver. A panel of a row-major `B`
//! that fits in L2 ([`gemm::Plan::panel_in_place_up_to`](crate::gemm::Plan::panel_in_place_up_to))
//! is read in place too, while the threads have few rows of `C` each: a step of a sliver is `NR`
//! adjacent elements of one row of `B`, just as the kernel loads them, so a copy would have to earn
//! itself back on few tiles. So is a panel of any size where `A`'s rows are one block of a few
//! tiles, which meets each sliver once, its tiles one after another while the sliver is in cache
//! (up to eight tiles in one block). Only its last, partial sliver is packed, with its zero
//! columns, by each thread that needs it, for itself: packed by one thread and read by another, it
//! travelled from core to core line by line, for every panel of `k`. Where the kernel computes that
//! edge where it is, reading only its columns (with AVX-512 any edge, with AVX2 one exactly half a
//! tile wide), it is read in place like the others. (For AVX2 only up to a quarter of L2: its
//! packed step, 16 floats, is one whole line, which from a row that starts inside a line becomes
//! two, and on a larger panel the doubled lines cost more than the copy.) From 128 rows a thread on
//! (a setting, where copies began to pay on the machine this was measured on), each thread packs
//! such a panel whole for itself instead: read in place, a sliver's steps are a row of `B` apart
//! and fall into a fraction of L1's sets, so it does not stay in L1 from one tile to the next,
//! where a packed one does; and a packed sliver shared between threads would have to travel from
//! the core that packed it to the others, where a thread's own copy stays in its L2. Where several
//! threads share an L2 (two threads of a core, or a cluster of cores, as on Apple's chips;
//! [`Caches::l2_shared_by`](crate::machine::Caches::l2_shared_by)), their copies share it too, so a
//! thread copies only panels that fit its share
//! ([`gemm::Plan::own_copies_up_to`](crate::gemm::Plan::own_copies_up_to)) and reads larger ones in
//! place. On a core that runs 512-bit instructions as two halves
//! ([`machine::splits_512_bit_ops`](crate::machine::splits_512_bit_ops)), the threads make no
//! copies of their own for the AVX-512 kernel and read those panels in place: that kernel starts
//! one 16-lane FMA a cycle there, and a step's 28 FMAs seem to leave L2 time enough for the extra
//! line a step read in place takes; on the AMD Zen 4 this was measured on, own copies were slower.
//! When the whole panel of `B` fits within `A`'s limit, a quarter of L2 (the lesson's ten columns),
//! it stays in L2 with room to spare, so a tall block of `A` saves no fetches from L3; the block is
//! then cut to the rows that can be read in place, saving the copy of `A`. And when one thread does
//! the whole product, in one panel of `k` and of columns, and both `A` and `B` are read in place
//! whole (each within its limit, and `B` only where it is not copied), the driver goes straight to
//! the kernels: one block, one panel, nothing to share and nothing to pack but the last, partial
//! sliver of `B`, so none of the bookkeeping above (BLIS's small-matrix path and OpenBLAS's
//! small-matrix kernels skip it likewise). The same driver runs (b) and (c) with one thread and
//! every block packed, and (b) with blocks as large as the matrices; the micro-kernel is its only
//! parameter (`gemm/driver.rs`):
//!
#![doc = concat!("```rust,ignore\n", include_str!("gemm/driver.rs"), "```")]
//!
