// Linear interpolation of two flat weight tensors: out = a + α·(b − a) = (1 − α)·a + α·b.
// With α = 1/k it is the running mean of k models (uniform and greedy soups, Sup-tickets' superposition); with
// α ∈ [0, 1] it walks the segment between two networks (linear mode connectivity, WiSE-style interpolation).
// Owner: src/kernels/lerp.rs (CPU reference: crate::kernels::lerp_reference).

struct Params {
    // element count, threads per row of the dispatch grid
    n: u32,
    row_threads: u32,
    alpha: f32,
}

@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.row_threads;
    if (i >= params.n) {
        return;
    }
    out[i] = a[i] + params.alpha * (b[i] - a[i]);
}
