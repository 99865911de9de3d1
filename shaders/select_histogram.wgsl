// One pass of an exact radix select: a 256-bin histogram of one byte of each candidate's key, counting only the
// candidates whose higher key bytes equal the prefix chosen by the previous passes.
//
// A key is 64 bits: hi = the score mapped to an order-preserving u32, lo = (n − 1 − index), so every key is distinct
// and, among equal scores, the lower index ranks higher. Selecting the k largest keys therefore gives exactly k
// elements, with a deterministic tie-break.
// Owner: src/kernels/select.rs (CPU reference: kernels::top_k_reference).

struct Params {
    // element count, threads per row of the dispatch grid
    n: u32,
    row_threads: u32,
    // which key word this pass reads (0 = hi, 1 = lo), the bit shift of its byte, and the masks of the hi and lo
    // bits the previous passes fixed
    word: u32,
    shift: u32,
    fixed_hi: u32,
    fixed_lo: u32,
}

@group(0) @binding(0) var<storage, read_write> scores: array<f32>;
@group(0) @binding(1) var<storage, read_write> candidates: array<f32>;
// [prefix hi, prefix lo, how many of the k are still to be found below the prefix]
@group(0) @binding(2) var<storage, read_write> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> params: Params;

var<workgroup> local_hist: array<atomic<u32>, 256>;

fn order_key(s: f32) -> u32 {
    let u = bitcast<u32>(s);
    if ((u & 0x80000000u) != 0u) {
        return ~u;
    }
    return u | 0x80000000u;
}

// The workgroup size is 256: one bin per thread for clearing and flushing the workgroup's histogram.
@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    atomicStore(&local_hist[lid], 0u);
    workgroupBarrier();
    let n = params.n;
    let i = gid.x + gid.y * params.row_threads;
    if (i < n && candidates[i] != 0.0) {
        let hi = order_key(scores[i]);
        let lo = n - 1u - i;
        let prefix_hi = (hi & params.fixed_hi) == (state[0] & params.fixed_hi);
        let prefix_lo = (lo & params.fixed_lo) == (state[1] & params.fixed_lo);
        if (prefix_hi && prefix_lo) {
            let word = select(hi, lo, params.word == 1u);
            atomicAdd(&local_hist[(word >> params.shift) & 255u], 1u);
        }
    }
    workgroupBarrier();
    let c = atomicLoad(&local_hist[lid]);
    if (c > 0u) {
        atomicAdd(&hist[lid], c);
    }
}
