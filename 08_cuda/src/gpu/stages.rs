//! The GPU kernels as [`Stage`]s, so that everything that runs the CPU stages (the
//! conformance checks, the bench) can run them too: one stage per [`Kernel`], each saying that
//! it runs on the GPU. Listing them opens no device; a stage opens the shared one when it is
//! first run.

use ndarray::{Array2, ArrayView2};

use super::{Device, Method};
use crate::kernels::Kernel;
use matmul_data::{MatmulFn, Processor, Stage, assert_inner_dims};

/// The GPU kernels as [`Stage`]s (from host arrays to a host array, copies included), each
/// with `runs_on: Processor::Gpu`. cuBLAS is not a stage: it is the yardstick, measured with
/// [`Device::measure`].
pub fn gpu_stages() -> Vec<Stage> {
    let stage = |kernel: Kernel, matmul| Stage {
        name: kernel.name(),
        summary: kernel.summary(),
        matmul,
        runs_on: Processor::Gpu,
        defined_in: matmul_data::this_crate!(),
        runs_as: None,
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
/// When the inner dimensions differ (naming both shapes), when there is no GPU, and when the
/// GPU fails: a stage has no error channel, and whoever runs GPU stages checks for a device
/// first ([`Device::shared`]).
fn run_stage(kernel: Kernel, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    assert_inner_dims(a.dim(), b.dim());
    let device = Device::shared().unwrap_or_else(|| {
        let reason = Device::open()
            .err()
            .map_or(String::new(), |err| format!(": {err}"));
        panic!(
            "{} runs on a GPU, and none could be opened{reason}",
            kernel.name()
        )
    });
    device
        .matmul(Method::Kernel(kernel), a, b)
        .unwrap_or_else(|err| panic!("{}: {err}", kernel.name()))
}

/// The stage function of each kernel, in the order of [`Kernel::ALL`] (the array's type makes
/// the counts agree): a [`Stage`] holds a plain `fn`, so each kernel needs its own, and
/// `stage_function::<I>` is [`run_stage`] for `Kernel::ALL[I]`. `build.rs` writes the list
/// from the kernel table.
const STAGE_FUNCTIONS: [MatmulFn; Kernel::ALL.len()] =
    include!(concat!(env!("OUT_DIR"), "/stage_functions.rs"));

fn stage_function<const INDEX: usize>(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
) -> Array2<f32> {
    run_stage(Kernel::ALL[INDEX], a, b)
}
