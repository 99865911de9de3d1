// Sparse linear layer, input gradient: dX = dY·W, with W read through its CSC index (see sparse_layout.wgsl).
// dY comes transposed and padded (rows × batch4, as x in the forward pass) and is read as vec4s: one thread per
// (4 batch rows, k), batch groups fastest.
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
@group(0) @binding(1) var<storage, read_write> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.row_threads;
    if (i >= params.n) {
        return;
    }
    let rows = params.rows;
    let cols = params.cols;
    let nnz = params.nnz;
    let batch = params.batch;
    let groups = (batch + 3u) / 4u;
    let col_ptr = rows + 1u;
    let row_idx = rows + cols + 2u + 2u * nnz;
    let g = i % groups;
    let k = i / groups;
    let end = index[col_ptr + k + 1u];
    var acc = vec4<f32>(0.0);
    for (var j = index[col_ptr + k]; j < end; j = j + 1) {
        let o = u32(index[row_idx + u32(j)]);
        acc = acc + dyt[o * groups + g] * weight[o * cols + k];
    }
    for (var l = 0u; l < 4u && 4u * g + l < batch; l = l + 1u) {
        dx[(4u * g + l) * cols + k] = acc[l];
    }
}
