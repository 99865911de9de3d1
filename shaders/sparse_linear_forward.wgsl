// Sparse linear layer, forward: y = x·Wᵀ with W (rows × cols) read through its CSR index (see sparse_layout.wgsl).
// x comes transposed and padded (cols × batch4, batch4 = batch rounded up to 4, zeros in the padding) and is read as
// vec4s: one thread computes 4 consecutive batch rows of one output o, so each index and weight load serves 4
// multiply-adds and the x loads are 16-byte vectors. Batch groups are fastest, so the threads of a workgroup share
// the row's index and weights. The weights stay in their dense flat storage: the index says where.
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

@group(0) @binding(0) var<storage, read_write> xt: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.row_threads;
    if (i >= params.n) {
        return;
    }
    let rows = params.rows;
    let cols = params.cols;
    let batch = params.batch;
    let groups = (batch + 3u) / 4u;
    let col_idx = rows + cols + 2u;
    let g = i % groups;
    let o = i / groups;
    let end = index[o + 1u];
    var acc = vec4<f32>(0.0);
    for (var j = index[o]; j < end; j = j + 1) {
        let k = u32(index[col_idx + u32(j)]);
        acc = acc + xt[k * groups + g] * weight[o * cols + k];
    }
    for (var l = 0u; l < 4u && 4u * g + l < batch; l = l + 1u) {
        y[(4u * g + l) * rows + o] = acc[l];
    }
}
