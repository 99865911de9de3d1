//! Hand-written WGSL kernels for masked layers, launched on burn's own wgpu device.
//!
//! Each kernel in `shaders/` has one owner module here and a CPU reference (the tensor-op path it replaces on the
//! CPU backend); the tests run both and compare. Kernels are exposed through a burn backend extension, so they take
//! and return ordinary tensors and queue on burn's stream: nothing is read back to the CPU.

mod adam;
mod lerp;
mod mask_stats;
mod select;
mod sgd;
mod sparse_linear;

pub use adam::{AdamHyper, masked_adam_step};
pub use lerp::{lerp, lerp_reference};
pub use mask_stats::{MaskCounts, mask_stats, mask_stats_reference};
pub use select::{order_key, top_k_mask, top_k_reference};
pub use sgd::{SgdHyper, masked_sgd_step};
#[cfg(not(target_arch = "wasm32"))]
pub use sparse_linear::time_linear;
pub use sparse_linear::{
    SparseLinear, SparsePath, SparseShape, sparse_layout_reference, sparse_linear_reference, sparse_linear_wins,
};

use burn::backend::DispatchDevice;
use burn::backend::wgpu::{CubeTensor, KernelSource, SourceKernel, SourceTemplate};
use burn::cubecl::prelude::KernelId;
use burn::cubecl::server::{BufferBinding, KernelArguments};
use burn::cubecl::{CubeCount, CubeDim};
use burn::prelude::*;

/// Whether tensors on `device` run on burn's cubecl (wgpu) backend, where the WGSL kernels apply.
pub fn uses_gpu_kernels(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), DispatchDevice::Cube(_))
}

/// Threads per workgroup of the elementwise kernels.
const WORKGROUP: u32 = 256;
/// WebGPU's guaranteed limit on workgroups per dispatch dimension.
const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// A WGSL source with its template values filled in.
struct Wgsl {
    id: &'static str,
    source: &'static str,
}

impl KernelSource for Wgsl {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(self.source).register("workgroup_size", WORKGROUP.to_string())
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info(self.id)
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// Launch a kernel with one thread per item over `n` items: a 2-D grid of 256-thread workgroups, with the row length
/// passed in `info[1]` so the shader can flatten the index (one dimension alone is capped at 65 535 workgroups).
/// The bindings are `buffers`, then the `scalars` (if any) as one f32 buffer, then `info`.
fn launch_elementwise(kernel: Wgsl, like: &CubeTensor, n: usize, buffers: Vec<CubeTensor>, scalars: &[f32]) {
    let client = &like.client;
    let mut bindings: Vec<_> = buffers.into_iter().map(|t| t.handle.binding()).collect();
    if !scalars.is_empty() {
        bindings.push(client.create_from_slice(bytemuck::cast_slice(scalars)).binding());
    }
    launch_grid(kernel, like, n, bindings);
}

/// Launch over `n` items (as [`launch_elementwise`]) with raw buffer bindings; `info` is appended.
fn launch_grid(kernel: Wgsl, like: &CubeTensor, n: usize, mut bindings: Vec<BufferBinding>) {
    let groups = (n as u32).div_ceil(WORKGROUP).max(1);
    let (x, y) = if groups <= MAX_GROUPS_PER_DIM {
        (groups, 1)
    } else {
        (MAX_GROUPS_PER_DIM, groups.div_ceil(MAX_GROUPS_PER_DIM))
    };
    let client = &like.client;
    bindings.push(client.create_from_slice(bytemuck::cast_slice(&[n as u32, x * WORKGROUP])).binding());
    client.launch(
        Box::new(SourceKernel::new(kernel, CubeDim::new_1d(WORKGROUP))),
        CubeCount::Static(x, y, 1),
        KernelArguments::new().with_buffers(bindings),
    );
}

/// An uninitialised f32 tensor shaped like `like`, on its device.
fn empty_like(like: &CubeTensor) -> CubeTensor {
    let shape = like.meta.shape().clone();
    let handle = like.client.empty(shape.num_elements() * like.dtype.size());
    CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), shape, handle, like.dtype)
}
