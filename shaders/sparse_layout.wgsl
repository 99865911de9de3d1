// Build the compressed index of a sparse linear weight W (rows × cols, row-major, 0/1 mask given) on the device, in
// three passes over the same bindings (the pass number is params.pass_id):
//   0 count: one thread per row counts its active entries, one thread per column its own;
//   1 scan:  two threads turn the counts into exclusive prefix sums (row_ptr, col_ptr);
//   2 fill:  one thread per row writes its entries' columns (CSR), one per column its entries' rows (CSC).
// The index is one i32 array: [row_ptr (rows + 1) | col_ptr (cols + 1) | col_idx (nnz) | entry_row (nnz) |
// row_idx (nnz)]. CSR (row_ptr, col_idx, entry_row) drives the forward pass and dW; CSC (col_ptr, row_idx) drives
// dX = dY·W. Entries are in increasing column (row) order within a row (column), so the layout is deterministic.
// Owner: src/kernels/sparse_linear.rs (CPU reference: kernels::sparse_layout_reference).

struct Params {
    // thread count, threads per row of the dispatch grid
    n: u32,
    row_threads: u32,
    pass_id: u32,
    rows: u32,
    cols: u32,
    nnz: u32,
}

@group(0) @binding(0) var<storage, read_write> mask: array<f32>;
@group(0) @binding(1) var<storage, read_write> index: array<i32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x + gid.y * params.row_threads;
    if (t >= params.n) {
        return;
    }
    let pass_id = params.pass_id;
    let rows = params.rows;
    let cols = params.cols;
    let nnz = params.nnz;
    let col_ptr = rows + 1u;
    let col_idx = col_ptr + cols + 1u;
    let entry_row = col_idx + nnz;
    let row_idx = entry_row + nnz;
    if (pass_id == 0u) {
        var c = 0;
        if (t < rows) {
            for (var k = 0u; k < cols; k = k + 1u) {
                c = c + select(0, 1, mask[t * cols + k] != 0.0);
            }
            index[t + 1u] = c;
        } else {
            let k = t - rows;
            for (var o = 0u; o < rows; o = o + 1u) {
                c = c + select(0, 1, mask[o * cols + k] != 0.0);
            }
            index[col_ptr + k + 1u] = c;
        }
    } else if (pass_id == 1u) {
        let base = select(col_ptr, 0u, t == 0u);
        let len = select(cols, rows, t == 0u);
        index[base] = 0;
        for (var i = 1u; i <= len; i = i + 1u) {
            index[base + i] = index[base + i] + index[base + i - 1u];
        }
    } else {
        if (t < rows) {
            var p = u32(index[t]);
            for (var k = 0u; k < cols; k = k + 1u) {
                if (mask[t * cols + k] != 0.0 && p < nnz) {
                    index[col_idx + p] = i32(k);
                    index[entry_row + p] = i32(t);
                    p = p + 1u;
                }
            }
        } else {
            let k = t - rows;
            var p = u32(index[col_ptr + k]);
            for (var o = 0u; o < rows; o = o + 1u) {
                if (mask[o * cols + k] != 0.0 && p < nnz) {
                    index[row_idx + p] = i32(o);
                    p = p + 1u;
                }
            }
        }
    }
}
