//! The GPU kernels as [`Stage`]s, so that everything that runs the CPU stages (the
//! conformance checks, the bench) runs them too: one stage per [`Kernel`], listed only when a
//! device opened.

use ndarray::{Array2, ArrayView2};

use super::{Device, Method};
use crate::kernels::Kernel;
use matmul_data::{MatmulFn, Stage, assert_inner_dims};

/// The GPU kernels as [`Stage`]s (timed from host arrays to a host array, copies included),
/// or an empty list when no device is present. cuBLAS is not a stage: it is the yardstick,
/// measured with [`Device::measure`].
pub fn gpu_stages() -> Vec<Stage> {
    if Device::shared().is_none() {
        return Vec::new();
    }
    let stage = |kernel: Kernel, matmul| Stage {
        name: kernel.name(),
        package: env!("CARGO_PKG_NAME"),
        summary: kernel.summary(),
        matmul,
    };
    Kernel::ALL
        .into_iter()
        .zip(STAGE_FUNCTIONS)
        .map(|(kernel, matmul)| stage(kernel, matmul))
        .collect()
}

/// The body of every GPU stage function.
///
/// # Panics
///
/// When the inner dimensions differ (naming both shapes), and when the GPU fails — a stage
/// has no error channel, and [`gpu_stages`] lists GPU stages only where a device opened.
fn run_stage(kernel: Kernel, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    assert_inner_dims(a.dim(), b.dim());
    let device = Device::shared().expect("GPU stages are listed only when a device is present");
    device
        .matmul(Method::Kernel(kernel), a, b)
        .unwrap_or_else(|err| panic!("{}: {err}", kernel.name()))
}

/// The stage function of each kernel, in the order of [`Kernel::ALL`] (the array's type makes
/// the counts agree): a [`Stage`] holds a plain `fn`, so each kernel needs its own, and
/// `stage_function::<I>` is [`run_stage`] for `Kernel::ALL[I]`.
const STAGE_FUNCTIONS: [MatmulFn; Kernel::ALL.len()] = [
    stage_function::<0>,
    stage_function::<1>,
    stage_function::<2>,
    stage_function::<3>,
    stage_function::<4>,
    stage_function::<5>,
    stage_function::<6>,
];

fn stage_function<const INDEX: usize>(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
) -> Array2<f32> {
    run_stage(Kernel::ALL[INDEX], a, b)
}
