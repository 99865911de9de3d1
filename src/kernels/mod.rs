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
use burn::cubecl::server::{BufferBinding, KernelArguments, MetadataBindingInfo};
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

/// Launch a kernel with one thread per item over `n` items (as [`launch_grid`]), binding `tensors` as its storage
/// buffers.
fn launch_elementwise(kernel: Wgsl, like: &CubeTensor, n: usize, tensors: Vec<CubeTensor>, params: &[u32]) {
    launch_grid(kernel, like, n, tensors.into_iter().map(|t| t.handle.binding()).collect(), params);
}

/// Launch a kernel with one thread per item over `n` items: a 2-D grid of 256-thread workgroups (one dimension alone
/// is capped at 65 535 workgroups). The bindings are the storage `buffers`, then one uniform: the item count, the
/// threads per row of the grid (so the shader can flatten its index), then the kernel's `params` (32-bit words: u32
/// values or f32 bits). Parameters travel in a uniform because WebGPU guarantees only 8 storage buffers per shader
/// stage (`wgpu::Limits::default()`), and every kernel must run on such a device.
///
/// Every storage buffer is declared `read_write`, inputs included: cubecl sub-allocates tensors from shared wgpu
/// buffers, and wgpu refuses a dispatch that uses one buffer both read-only and read-write ("conflicting usages"),
/// so an input declared `read` fails whenever it shares a buffer with an output. cubecl's own kernels declare every
/// buffer read-write for the same reason (cubecl-wgpu's `backend/wgsl.rs`).
fn launch_grid(kernel: Wgsl, like: &CubeTensor, n: usize, buffers: Vec<BufferBinding>, params: &[u32]) {
    let n = u32::try_from(n).expect("a kernel over more than 2³² items (beyond any storage buffer WebGPU allows)");
    let groups = n.div_ceil(WORKGROUP).max(1);
    let (x, y) = if groups <= MAX_GROUPS_PER_DIM {
        (groups, 1)
    } else {
        (MAX_GROUPS_PER_DIM, groups.div_ceil(MAX_GROUPS_PER_DIM))
    };
    let words = [&[n, x * WORKGROUP][..], params].concat();
    like.client.launch(
        Box::new(SourceKernel::new(kernel, CubeDim::new_1d(WORKGROUP))),
        CubeCount::Static(x, y, 1),
        KernelArguments::new().with_buffers(buffers).with_info(MetadataBindingInfo::custom(uniform_words(&words))),
    );
}

/// 32-bit `words` packed as cubecl's 64-bit info words (the first word of a pair in the low half, as the GPU reads
/// them, little-endian), zero-padded to a multiple of 16 bytes: the layout of a WGSL uniform struct of 32-bit fields.
fn uniform_words(words: &[u32]) -> Vec<u64> {
    let padded = words.len().next_multiple_of(4);
    let word = |i: usize| words.get(i).copied().unwrap_or(0) as u64;
    (0..padded / 2).map(|p| word(2 * p) | word(2 * p + 1) << 32).collect()
}

/// An uninitialised f32 tensor shaped like `like`, on its device.
fn empty_like(like: &CubeTensor) -> CubeTensor {
    let shape = like.meta.shape().clone();
    let handle = like.client.empty(shape.num_elements() * like.dtype.size());
    CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), shape, handle, like.dtype)
}

#[cfg(test)]
mod tests {
    use eframe::egui_wgpu::wgpu;

    /// A binding as a shader declares it: index, address space (`storage` or `uniform`), access, name.
    struct Binding {
        index: u32,
        space: String,
        access: String,
        name: String,
    }

    fn bindings(source: &str) -> Vec<Binding> {
        source
            .lines()
            .filter_map(|line| line.trim().strip_prefix("@group(0) @binding("))
            .map(|rest| {
                let (index, rest) = rest.split_once(')').unwrap();
                let (var, rest) = rest.trim().strip_prefix("var<").unwrap().split_once('>').unwrap();
                let (space, access) = var.split_once(',').unwrap_or((var, ""));
                Binding {
                    index: index.parse().unwrap(),
                    space: space.trim().into(),
                    access: access.trim().into(),
                    name: rest.trim().split(':').next().unwrap().trim().into(),
                }
            })
            .collect()
    }

    /// Every shader in `shaders/` fits WebGPU's default limits, so it runs on any WebGPU adapter: at most
    /// `max_storage_buffers_per_shader_stage` (8) storage buffers, its parameters in one uniform bound last (where
    /// cubecl binds the info words), and a workgroup within the default size. Storage buffers are `read_write` (see
    /// [`super::launch_grid`] for why inputs cannot be `read`). The wgpu tests run each kernel on a device with
    /// exactly these limits.
    #[test]
    fn every_shader_fits_webgpu_default_limits() {
        let limits = wgpu::Limits::default();
        assert!(super::WORKGROUP <= limits.max_compute_invocations_per_workgroup);
        assert!(super::WORKGROUP <= limits.max_compute_workgroup_size_x);
        assert!(super::MAX_GROUPS_PER_DIM <= limits.max_compute_workgroups_per_dimension);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let source = std::fs::read_to_string(&path).unwrap();
            let bindings = bindings(&source);
            let storage: Vec<_> = bindings.iter().filter(|b| b.space == "storage").collect();
            assert!(
                storage.len() as u32 <= limits.max_storage_buffers_per_shader_stage,
                "{name}: {} storage",
                storage.len()
            );
            let uniforms: Vec<_> = bindings.iter().filter(|b| b.space == "uniform").collect();
            assert_eq!(uniforms.len(), 1, "{name}: one uniform for the parameters");
            assert_eq!(uniforms[0].index as usize, bindings.len() - 1, "{name}: the uniform is bound last");
            assert!(bindings.iter().enumerate().all(|(i, b)| b.index as usize == i), "{name}: bindings 0, 1, 2, …");
            for b in storage {
                assert_eq!(b.access, "read_write", "{name}: {} (cubecl may place it in an output's buffer)", b.name);
            }
            checked += 1;
        }
        assert_eq!(checked, 11, "every shader in {}", dir.display());
    }

    #[test]
    fn uniform_words_pack_two_per_word_and_pad_to_16_bytes() {
        assert_eq!(super::uniform_words(&[1, 2, 3]), [1 | 2 << 32, 3]);
        assert_eq!(super::uniform_words(&[7, 8, 9, 10, 11]).len(), 4);
    }
}
