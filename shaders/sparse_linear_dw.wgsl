// Sparse linear layer, weight gradient at the active positions only: dW[o, k] = Σ_b dY[b, o]·X[b, k] for each entry
// (o, k) of the CSR index (see sparse_layout.wgsl), one thread per entry, into a zeroed dense flat gradient.
// dY and X come transposed and padded (rows × batch4, cols × batch4, zeros in the padding), so each thread takes
// the dot product of two contiguous runs of vec4s.
// Owner: src/kernels/sparse_linear.rs (CPU reference: kernels::sparse_linear_reference).

struct Params {
    // thread count, threads per row of the dispatch grid
    n: u32,
    row_threads: u32,
    rows: u32,
    cols: u32,
    nnz: u32,
    batch: u32,
}

@group(0) @binding(0) var<storage, read_write> dyt: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> xt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x + gid.y * params.row_threads;
    if (j >= params.n) {
        return;
    }
    let rows = params.rows;
    let cols = params.cols;
    let nnz = params.nnz;
    let groups = (params.batch + 3u) / 4u;
    let col_idx = rows + cols + 2u;
    let k = u32(index[col_idx + j]);
    let o = u32(index[col_idx + nnz + j]);
    var acc = vec4<f32>(0.0);
    for (var g = 0u; g < groups; g = g + 1u) {
        acc = acc + dyt[o * groups + g] * xt[k * groups + g];
    }
    dw[o * cols + k] = acc.x + acc.y + acc.z + acc.w;
}
