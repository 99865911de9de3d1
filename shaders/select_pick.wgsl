// One pass of an exact radix select, after its histogram: walk the bins from the largest byte down to the bin that
// holds the k-th largest key, append that byte to the prefix, keep how many keys are still to be found inside the
// bin, and clear the histogram for the next pass. One thread does it: 256 bins.
// Owner: src/kernels/select.rs (CPU reference: kernels::top_k_reference).

struct Params {
    // thread count (1), threads per row of the dispatch grid
    n: u32,
    row_threads: u32,
    // which key word this pass fixes (0 = hi, 1 = lo) and the bit shift of its byte (as the histogram pass)
    word: u32,
    shift: u32,
}

// [prefix hi, prefix lo, remaining]
@group(0) @binding(0) var<storage, read_write> state: array<u32>;
@group(0) @binding(1) var<storage, read_write> hist: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x + gid.y * params.row_threads >= params.n) {
        return;
    }
    let remaining = state[2];
    var above = 0u;
    var chosen = 0u;
    for (var b = 255i; b >= 0; b = b - 1i) {
        let c = hist[b];
        if (above + c >= remaining) {
            chosen = u32(b);
            break;
        }
        above = above + c;
    }
    state[2] = remaining - above;
    if (params.word == 0u) {
        state[0] = state[0] | (chosen << params.shift);
    } else {
        state[1] = state[1] | (chosen << params.shift);
    }
    for (var b = 0u; b < 256u; b = b + 1u) {
        hist[b] = 0u;
    }
}
