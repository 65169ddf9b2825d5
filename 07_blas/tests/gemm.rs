//! The own GEMM's four stages, on every instruction set this CPU has, against the naive loop
//! and float64: the conformance shapes and layouts, sizes one off every tile and block size,
//! the threaded path with forced small thresholds, and IEEE special values.

use matmul_blas::gemm::{self, Blocks, Plan};
use matmul_blas::isa::{ISA_ENV, Isa};
use matmul_blas::naive;
use matmul_data::conformance::{LAYOUTS, check_case, check_rejects_mismatched_shapes, with_layout};
use matmul_data::synthetic::uniform;
use matmul_data::{reference_matmul, relative_error};
use ndarray::{Array2, array};

/// The instruction sets this CPU can run, so every micro-kernel is tested where it can be; only
/// the one `MATMUL_ISA` names when it is set, since a run for one kernel (CI's reruns, or an
/// emulator, where every test is hundreds of times slower) need not test the others again.
fn isas() -> Vec<Isa> {
    if std::env::var_os(ISA_ENV).is_some_and(|wanted| !wanted.is_empty()) {
        return vec![Isa::detect()];
    }
    Isa::ALL.into_iter().filter(|isa| isa.runs_here()).collect()
}

/// The four stage plans for `isa`, the last with two threads from the first multiply-add.
fn plans(isa: Isa) -> Vec<(&'static str, Plan)> {
    let (mr, nr) = gemm::tile_shape(isa);
    let blocked = Plan {
        isa,
        ..Plan::blocked()
    };
    // Blocks of one tile plus one row, one column and one step: every loop has a partial last
    // block; three threads from the first multiply-add.
    let tiny = Plan {
        blocks: Blocks {
            kc: 5,
            mc: mr + 1,
            nc: nr + 1,
        },
        threads: 3,
        parallel_from: 0,
        ..blocked
    };
    vec![
        (
            "kernel",
            Plan {
                isa,
                ..Plan::kernel()
            },
        ),
        (
            "packed",
            Plan {
                isa,
                ..Plan::packed()
            },
        ),
        ("blocked", blocked),
        (
            "threaded",
            Plan {
                threads: 2,
                parallel_from: 0,
                ..blocked
            },
        ),
        // The three threads split rows and the packing of `b`.
        ("tiny blocks, 3 threads", tiny),
        (
            // A row-major `a` read in place, its partial last sliver too, and a row-major `b`
            // read in place, its partial last sliver packed.
            "in place, tiny blocks, 2 threads",
            Plan {
                blocks: Blocks {
                    kc: 7,
                    mc: 2 * mr + 1,
                    nc: nr + 1,
                },
                threads: 2,
                parallel_from: 0,
                in_place_up_to: usize::MAX,
                panel_in_place_up_to: usize::MAX,
                ..blocked
            },
        ),
        (
            // Read in place only where a sliver's rows spread over a small L1 of 4 sets of 8
            // ways: with 31 steps a row they do, and stay in place; with `kc` steps (and, for
            // the 14 rows of AVX-512, the 97 of the primes) they do not, and are packed.
            "in place where the rows spread, 2 threads",
            Plan {
                threads: 2,
                parallel_from: 0,
                in_place_up_to: usize::MAX,
                panel_in_place_up_to: usize::MAX,
                in_place_l1: Some((4 * 64, 8)),
                ..blocked
            },
        ),
        (
            "in place, whole",
            Plan {
                in_place_up_to: usize::MAX,
                panel_in_place_up_to: usize::MAX,
                ..blocked
            },
        ),
        (
            // Three threads, each computing all of `c` over its part of `k`, when `k` has a
            // panel or more for each (15 steps or more): parts of whole groups of 8 steps, the
            // last shorter (20 steps: 8, 8 and 4; 31: 16, 8 and 7; 97: 32, 32 and 33), in
            // panels of 5 steps, the last partial.
            "split k, tiny blocks, 3 threads",
            Plan {
                split_k_up_to: usize::MAX,
                ..tiny
            },
        ),
        (
            // `B` read in place, `A` packed, on two threads, in blocks small enough that
            // later panels of columns and steps, the partial last ones among them, take
            // the same mix.
            "B in place, A packed, tiny blocks, 2 threads",
            Plan {
                blocks: Blocks {
                    kc: 6,
                    mc: mr + 1,
                    nc: nr + 1,
                },
                panel_in_place_up_to: usize::MAX,
                threads: 2,
                parallel_from: 0,
                ..blocked
            },
        ),
    ]
}

fn check(
    case: &str,
    plan: &Plan,
    a: ndarray::ArrayView2<'_, f32>,
    b: ndarray::ArrayView2<'_, f32>,
) {
    let actual = gemm::matmul_with(a, b, plan);
    let exact = reference_matmul(a, b);
    assert_eq!(actual.dim(), exact.dim(), "{case}");
    let error = relative_error(&actual, &exact);
    assert!(error < 1e-5, "{case}, {plan:?}: relative error {error:e}");
}

#[test]
fn the_public_stages_agree_with_naive_on_every_shape_and_layout() {
    use matmul_data::conformance::check_stage;
    check_stage(gemm::matmul_kernel, naive::matmul);
    check_stage(gemm::matmul_packed, naive::matmul);
    check_stage(gemm::matmul_blocked, naive::matmul);
    check_stage(gemm::matmul, naive::matmul);
    check_rejects_mismatched_shapes(gemm::matmul_kernel);
    check_rejects_mismatched_shapes(gemm::matmul);
}

#[test]
fn every_kernel_and_plan_is_right_one_off_every_tile_and_block_size() {
    for isa in isas() {
        let (mr, nr) = gemm::tile_shape(isa);
        let blocks = Plan {
            isa,
            ..Plan::blocked()
        }
        .blocks;
        let sizes = |tile: usize| [1, 2, tile - 1, tile, tile + 1, 2 * tile + 1, 37];
        // And right edges of exactly a half tile and one column more: the AVX2 kernel computes
        // the first where it is, from a sliver of `B` read in place, and the AVX-512 kernel any
        // edge, the second with one lane of its second vector.
        let widths = sizes(nr)
            .into_iter()
            .chain([nr / 2, nr / 2 + 1, nr + nr / 2]);
        for (name, plan) in plans(isa) {
            for m in sizes(mr) {
                for n in widths.clone() {
                    for k in [1, 3, 31] {
                        let (a, b) = (uniform(m, k, 1), uniform(k, n, 2));
                        check(
                            &format!("{isa:?} {name} ({m}, {k}) @ ({k}, {n})"),
                            &plan,
                            a.view(),
                            b.view(),
                        );
                    }
                }
            }
            // Every height of an edge tile (1 .. MR rows), each under whole tiles and in a
            // corner at the right edge.
            for m in 1..=mr + 1 {
                for n in [nr, nr + 1, nr + nr / 2, nr + nr / 2 + 1] {
                    let (a, b) = (uniform(m, 5, 9), uniform(5, n, 10));
                    check(
                        &format!("{isa:?} {name} ({m}, 5) @ (5, {n})"),
                        &plan,
                        a.view(),
                        b.view(),
                    );
                }
            }
            // An `A` shorter than a sliver whose rows all fall in one set of L1 (64 steps a row:
            // 256 bytes, one way of the small L1 of "in place where the rows spread"), read in
            // place up to its 8 ways of rows and packed beyond.
            for m in [1, 5, 8, 9, mr - 1] {
                let (a, b) = (uniform(m, 64, 11), uniform(64, nr + 3, 12));
                check(
                    &format!("{isa:?} {name} ({m}, 64) @ (64, {})", nr + 3),
                    &plan,
                    a.view(),
                    b.view(),
                );
            }
            // k one off the detected kc, m one off mc (with a narrow n to stay quick).
            // (With right edges of a few columns, half a tile and all but one: the panels
            // after the first add into them.)
            for k in [blocks.kc - 1, blocks.kc, blocks.kc + 1] {
                for m in [blocks.mc - 1, blocks.mc + 1] {
                    for n in [nr + 3, nr + nr / 2, nr + nr / 2 + 1, 2 * nr - 1] {
                        let (a, b) = (uniform(m, k, 3), uniform(k, n, 4));
                        check(
                            &format!("{isa:?} {name} ({m}, {k}) @ ({k}, {n})"),
                            &plan,
                            a.view(),
                            b.view(),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn threads_with_many_rows_each_pack_their_own_copies_of_b_correctly() {
    // Three threads of 131 rows each, from 100 rows a thread on own copies: each thread packs
    // every panel of a row-major `b` within the copies' limit for itself, reads the others in
    // place, and packs a panel of any other layout once, for all. Tiny blocks make several
    // panels of columns and of steps, with partial last ones: with `k = 23` (panels of 7, 7,
    // 7 and 2 steps) and `n = 3 · NR + 2` (panels of `2 · NR + 1` and `NR + 1` columns), a
    // limit of `7 · (NR + 1)` elements copies every panel but those of 7 steps and
    // `2 · NR + 1` columns.
    for isa in isas() {
        let (mr, nr) = gemm::tile_shape(isa);
        for copies_up_to in [usize::MAX, 7 * (nr + 1) * size_of::<f32>()] {
            let plan = Plan {
                isa,
                blocks: Blocks {
                    kc: 7,
                    mc: 2 * mr + 1,
                    nc: 2 * nr + 1,
                },
                threads: 3,
                parallel_from: 0,
                in_place_up_to: usize::MAX,
                panel_in_place_up_to: usize::MAX,
                own_copies_up_to: copies_up_to,
                own_copies_from_rows: 100,
                ..Plan::blocked()
            };
            let (a, b) = (uniform(3 * 129 + 5, 23, 11), uniform(23, 3 * nr + 2, 12));
            for layout in LAYOUTS {
                with_layout(&b, layout, |b| {
                    let case = format!(
                        "{isa:?} ({}, 23) @ (23, {}), b {layout:?}, copies up to {copies_up_to} \
                         bytes",
                        a.nrows(),
                        b.ncols()
                    );
                    check(&case, &plan, a.view(), b);
                });
            }
        }
    }
}

#[test]
fn threads_sharing_the_columns_of_a_wide_b_compute_every_part() {
    // A short `A` (fewer than two blocks of rows per thread) and a wide `b`: the threads share
    // each panel's columns in parts of whole slivers, each part for all the blocks of rows.
    // Tiny blocks make one or two blocks of rows (one partial), panels of columns (the last
    // partial, its parts uneven) and panels of steps; `b` in every layout (packed where not
    // row-major). With the usual limit on panels read in place, and with almost none: then a
    // row-major `b` is read in place only where the rows are one block of a few tiles
    // (whatever its size: `mr + 2` rows, one block of two tiles, the second partial, and
    // `2 mr`), and otherwise packed into runs, one for each part (`3 mr + 2`, two blocks).
    for isa in isas() {
        let (mr, nr) = gemm::tile_shape(isa);
        let plan = Plan {
            isa,
            blocks: Blocks {
                kc: 7,
                mc: 2 * mr + 1,
                nc: 4 * nr + 1,
            },
            threads: 3,
            parallel_from: 0,
            // Sharing `C`, not splitting `k`, is what this test is about.
            split_k_up_to: 0,
            ..Plan::threaded()
        };
        let tiny_panels = Plan {
            panel_in_place_up_to: 4,
            ..plan
        };
        for plan in [plan, tiny_panels] {
            for m in [1, mr, mr + 2, 2 * mr, 3 * mr + 2] {
                let n = 9 * nr + 5;
                let (a, b) = (uniform(m, 23, 13), uniform(23, n, 14));
                for layout in LAYOUTS {
                    with_layout(&b, layout, |b| {
                        let case = format!(
                            "{isa:?} ({m}, 23) @ (23, {n}), b {layout:?}, panels in place up \
                             to {} bytes",
                            plan.panel_in_place_up_to
                        );
                        check(&case, &plan, a.view(), b);
                    });
                }
            }
        }
    }
}

#[test]
fn every_kernel_and_plan_is_right_on_primes_in_every_layout() {
    for isa in isas() {
        for (name, plan) in plans(isa) {
            let (a, b) = (uniform(53, 97, 5), uniform(97, 61, 6));
            for a_layout in LAYOUTS {
                for b_layout in LAYOUTS {
                    with_layout(&a, a_layout, |a| {
                        with_layout(&b, b_layout, |b| {
                            let case = format!(
                                "{isa:?} {name} (53, 97) @ (97, 61), a {a_layout:?}, b {b_layout:?}"
                            );
                            check(&case, &plan, a, b);
                        })
                    });
                }
            }
        }
    }
}

#[test]
fn the_thread_threshold_is_timed_or_the_break_even_time_at_the_kernels_measured_rate() {
    for isa in Isa::ALL {
        if !isa.runs_here() {
            assert_eq!(gemm::kernel_rate(isa), None, "{isa:?} lacks a kernel here");
            assert_eq!(gemm::sharing(isa), None, "{isa:?} lacks a kernel here");
            assert_eq!(gemm::parallel_from(isa), usize::MAX, "{isa:?}");
            continue;
        }
        let rate = gemm::kernel_rate(isa).expect("a kernel that runs here is timed");
        // One core of any machine, from an emulator to a server: 100 thousand to a trillion (a
        // core with two 16-lane FMA units at 5 GHz does 160 billion).
        assert!(
            (1e5..1e12).contains(&rate),
            "{isa:?}: {rate} multiply-adds per second"
        );
        assert_eq!(
            gemm::kernel_rate(isa),
            Some(rate),
            "{isa:?}: measured once, then kept"
        );
        let from = gemm::parallel_from(isa);
        let side = gemm::SHARING_PROBE;
        let (mr, nr) = gemm::tile_shape(isa);
        let tiles = side.next_multiple_of(mr) * side * side.next_multiple_of(nr);
        match gemm::sharing(isa) {
            Some(sharing) => {
                assert!(sharing.threads >= 2, "{isa:?}: {sharing:?}");
                assert_eq!(sharing.multiply_adds, tiles, "{isa:?}");
                // Times a product of that size could take on any machine: its multiply-adds
                // at the kernel's rate or slower, alone; shared, neither faster than an even
                // split over the threads at that rate, nor a thousand times slower than alone.
                let at_rate = tiles as f64 / rate;
                assert!(
                    sharing.alone > 0.5 * at_rate && sharing.alone < 1e3 * at_rate,
                    "{isa:?}: {sharing:?} against {at_rate} s at the kernel's rate"
                );
                assert!(
                    sharing.shared > 0.5 * at_rate / sharing.threads as f64
                        && sharing.shared < 1e3 * sharing.alone,
                    "{isa:?}: {sharing:?}"
                );
                // Within a factor of 8 of the timed product, as `Sharing::parallel_from` keeps it.
                assert!(
                    (tiles / 8..=tiles * 8).contains(&from),
                    "{isa:?}: {sharing:?} → {from}"
                );
                assert_eq!(from, sharing.parallel_from(), "{isa:?}: {sharing:?}");
                assert_eq!(gemm::sharing(isa), Some(sharing), "{isa:?}: timed once");
            }
            // Within the same factor of 8.
            None => assert_eq!(
                from,
                ((gemm::PARALLEL_SECONDS * rate) as usize).clamp(tiles / 8, tiles * 8),
                "{isa:?}"
            ),
        }
    }
}

#[test]
fn the_threaded_stage_splits_a_large_product_correctly() {
    // Above parallel_from, with the machine's own thread count and blocks, sizes no tile divides.
    let (a, b) = (uniform(341, 337, 7), uniform(337, 301, 8));
    let from = gemm::parallel_from(matmul_blas::isa::Isa::detect());
    assert!(
        341 * 337 * 301 >= from,
        "parallel_from is {from} on this machine"
    );
    let case = "(341, 337) @ (337, 301)";
    check_case(case, gemm::matmul, naive::matmul, a.view(), b.view());
    check_case(
        case,
        matmul_blas::matmul,
        naive::matmul,
        a.view(),
        b.t().t(),
    );
}

#[test]
fn zero_sized_and_one_by_one_products_have_the_right_shape() {
    for isa in isas() {
        for (name, plan) in plans(isa) {
            for (m, k, n) in [(0, 5, 5), (5, 0, 5), (5, 5, 0), (0, 0, 0), (1, 1, 1)] {
                let (a, b) = (
                    Array2::from_elem((m, k), 2.0f32),
                    Array2::from_elem((k, n), 3.0f32),
                );
                let c = gemm::matmul_with(a.view(), b.view(), &plan);
                let expected = Array2::from_elem((m, n), 6.0 * k as f32);
                assert_eq!(c, expected, "{isa:?} {name} ({m}, {k}) @ ({k}, {n})");
            }
        }
    }
}

#[test]
fn every_element_of_c_is_written_whatever_memory_it_is_given() {
    // The packed stages do not zero `c`: the first panel of `k` writes every element, the
    // later ones add to it. Memory just freed with NaN in it is what the allocator most
    // likely hands out next for the same size, so an element no panel wrote shows up as NaN.
    for isa in isas() {
        let (mr, nr) = gemm::tile_shape(isa);
        for (name, plan) in plans(isa) {
            for (m, k, n) in [(1, 1, 1), (mr + 1, 9, nr + 1), (2 * mr + 3, 20, 3 * nr - 1)] {
                let (a, b) = (uniform(m, k, 1), uniform(k, n, 2));
                // Named first: nothing else may take the freed block before the product does.
                let case = format!("{isa:?} {name} ({m}, {k}) @ ({k}, {n})");
                drop(std::hint::black_box(vec![f32::NAN; m * n]));
                check(&case, &plan, a.view(), b.view());
            }
        }
    }
}

#[test]
fn nan_and_infinity_propagate_as_ieee_arithmetic_says() {
    // Row 0 of `a` has an infinity, meeting a zero in column 0 of `b` (inf · 0 = NaN) and a
    // non-zero in column 1 (inf); row 1 has a NaN; row 2 is finite and must stay finite,
    // even with the zero padding of the partial tiles beside it.
    let a = array![[f32::INFINITY, 1.0], [f32::NAN, 1.0], [1.0, 2.0]];
    let b = array![[0.0, 1.0, -1.0], [1.0, 1.0, 0.0]];
    // The same over 40 steps, the special values in steps 30 and 35: with `k` split among
    // threads, they arrive in the later parts' sums, added at the end.
    let mut long_a = ndarray::Array2::<f32>::ones((3, 40));
    long_a.row_mut(0).fill(0.0);
    long_a.row_mut(1).fill(0.0);
    (long_a[[0, 30]], long_a[[1, 35]]) = (f32::INFINITY, f32::NAN);
    let mut long_b = ndarray::Array2::<f32>::zeros((40, 3));
    long_b.row_mut(30).assign(&array![0.0, 1.0, -1.0]);
    long_b.row_mut(35).assign(&array![1.0, 1.0, 0.0]);
    long_b.row_mut(0).assign(&array![1.0, 1.0, 0.0]);
    for (a, b, row_2) in [
        (a, b, array![2.0, 3.0, -1.0]),
        (long_a, long_b, array![2.0, 3.0, -1.0]),
    ] {
        for isa in isas() {
            for (name, plan) in plans(isa) {
                let c = gemm::matmul_with(a.view(), b.view(), &plan);
                let case = format!("{isa:?} {name}, k = {}: {c}", a.ncols());
                assert!(c[[0, 0]].is_nan(), "{case}");
                assert_eq!(c[[0, 1]], f32::INFINITY, "{case}");
                assert_eq!(c[[0, 2]], f32::NEG_INFINITY, "{case}");
                assert!(c.row(1).iter().all(|x| x.is_nan()), "{case}");
                assert_eq!(c.row(2), row_2, "{case}");
            }
        }
    }
}

#[test]
fn a_kernel_this_cpu_lacks_is_refused_not_run() {
    // At least the other architecture's instruction sets.
    let lacking: Vec<Isa> = Isa::ALL
        .into_iter()
        .filter(|isa| !isa.runs_here())
        .collect();
    assert!(!lacking.is_empty());
    for isa in lacking {
        let plan = Plan {
            isa,
            ..Plan::kernel()
        };
        let outcome = std::panic::catch_unwind(|| {
            gemm::matmul_with(array![[1.0]].view(), array![[1.0]].view(), &plan)
        });
        assert!(outcome.is_err(), "{isa:?} ran");
    }
}
