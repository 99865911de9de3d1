// Linear interpolation of two flat weight tensors: out = a + α·(b − a) = (1 − α)·a + α·b.
// With α = 1/k it is the running mean of k models (uniform and greedy soups, Sup-tickets' superposition); with
// α ∈ [0, 1] it walks the segment between two networks (linear mode connectivity, WiSE-style interpolation).
// Owner: src/kernels/lerp.rs (CPU reference: crate::kernels::lerp_reference).

@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
// [α]
@group(0) @binding(3) var<storage, read_write> hyper: array<f32>;
// [element count, threads per row of the dispatch grid]
@group(0) @binding(4) var<storage, read_write> info: array<u32>;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * info[1];
    if (i >= info[0]) {
        return;
    }
    out[i] = a[i] + hyper[0] * (b[i] - a[i]);
}
