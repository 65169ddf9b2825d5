//! Listing the stages opens no device (feature `cuda`): the GPU stages are in the list on any
//! machine, and only running one looks for a GPU. Its own test binary, so that no other test
//! has opened the device first.
#![cfg(feature = "cuda")]

use matmul_cuda::gpu::Device;
use matmul_data::Processor;

#[test]
fn listing_the_stages_opens_no_device() {
    let stages = matmul_cuda::stages();
    assert!(stages.iter().any(|stage| stage.runs_on == Processor::Gpu));
    assert!(stages.iter().any(|stage| stage.runs_on == Processor::Cpu));
    assert!(
        !Device::shared_was_opened(),
        "listing the stages opened the device"
    );
}
