// Mask statistics in one pass over a layer: exact integer counts of the active weights, the intersection and union
// with another mask (IoU and Hamming distance follow), and the running "ever active" union that gives the in-time
// over-parameterisation rate, which this pass also updates.
// Owner: src/kernels/mask_stats.rs (CPU reference: crate::mask::Bits and Overlap).

struct Params {
    // element count, threads per row of the dispatch grid
    n: u32,
    row_threads: u32,
}

@group(0) @binding(0) var<storage, read_write> mask: array<f32>;
@group(0) @binding(1) var<storage, read_write> other: array<f32>;
@group(0) @binding(2) var<storage, read_write> ever: array<f32>;
@group(0) @binding(3) var<storage, read_write> ever_out: array<f32>;
// [active, intersection, union, ever active], zeroed before the launch
@group(0) @binding(4) var<storage, read_write> counts: array<atomic<i32>>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> partial: array<vec4<u32>, {{ workgroup_size }}>;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = gid.x + gid.y * params.row_threads;
    var c = vec4<u32>(0u);
    if (i < params.n) {
        let m = mask[i] != 0.0;
        let o = other[i] != 0.0;
        let e = m || ever[i] != 0.0;
        ever_out[i] = select(0.0, 1.0, e);
        c = vec4<u32>(u32(m), u32(m && o), u32(m || o), u32(e));
    }
    // Tree reduction in workgroup memory, then one atomic add per counter and workgroup.
    partial[lid] = c;
    workgroupBarrier();
    for (var stride = {{ workgroup_size }}u / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            partial[lid] = partial[lid] + partial[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let total = partial[0];
        atomicAdd(&counts[0], i32(total.x));
        atomicAdd(&counts[1], i32(total.y));
        atomicAdd(&counts[2], i32(total.z));
        atomicAdd(&counts[3], i32(total.w));
    }
}
