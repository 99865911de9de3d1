// The end of an exact radix select: mark the candidates whose key is at least the k-th largest key the passes
// found. Keys are distinct (the index is part of the key), so exactly k candidates are marked.
// Owner: src/kernels/select.rs (CPU reference: kernels::top_k_reference).

struct Params {
    // element count, threads per row of the dispatch grid
    n: u32,
    row_threads: u32,
}

@group(0) @binding(0) var<storage, read_write> scores: array<f32>;
@group(0) @binding(1) var<storage, read_write> candidates: array<f32>;
// [k-th largest key hi, k-th largest key lo, remaining]
@group(0) @binding(2) var<storage, read_write> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> selected: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

fn order_key(s: f32) -> u32 {
    let u = bitcast<u32>(s);
    if ((u & 0x80000000u) != 0u) {
        return ~u;
    }
    return u | 0x80000000u;
}

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = params.n;
    let i = gid.x + gid.y * params.row_threads;
    if (i >= n) {
        return;
    }
    let hi = order_key(scores[i]);
    let lo = n - 1u - i;
    let above = hi > state[0] || (hi == state[0] && lo >= state[1]);
    selected[i] = select(0.0, 1.0, candidates[i] != 0.0 && above);
}
