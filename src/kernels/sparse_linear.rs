//! Owner of `shaders/sparse_{layout,linear_forward,linear_dx,linear_dw}.wgsl`: a linear layer computed from a
//! compressed weight, forward and backward, as a burn backend extension with its own autodiff backward.
//!
//! **Format.** CSR for the forward pass and dW, plus CSC for dX = dY·W, both as index arrays over the weight's dense
//! flat storage (the layer's parameter stays one flat tensor, as every other parameter; the index says where its
//! active entries are). Why not ELL or blocks: ticketlab's masks are unstructured (random ERK, magnitude pruning,
//! RigL regrowth), so a block format would store mostly zeros at 80–98% sparsity, and ELL pads every row to the
//! longest one (10–20% padding on these shapes) and needs that maximum on the host. CSR pads nothing, and the row
//! lengths of a random mask vary little, so one thread per output loses little to divergence.
//!
//! **Building.** The index is built on the device from the 0/1 mask (count, prefix sum, fill; no read-back), once
//! per mask change; its size needs the exact active count, which the trainer knows (mask updates preserve it).
//!
//! **Autodiff.** The extension lists `Autodiff`: [`SparseLinearBackend`] is implemented for `Autodiff<B, C>` with a
//! hand-written backward step (dX through the CSC index, dW at the active positions only, zero elsewhere), so the op
//! is an ordinary differentiable tensor op on a tracked wgpu device.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::FloatTensorOps;
use burn::backend::wgpu::{CubeTensor, into_contiguous};
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Cube, Dispatch, FloatDType, backend_extension,
    tensor::{FloatTensor, IntTensor},
};
use burn::prelude::*;
use burn::tensor::DType;

use super::{Wgsl, launch_grid, uses_gpu_kernels};

const LAYOUT: Wgsl = Wgsl { id: "sparse_layout", source: include_str!("../../shaders/sparse_layout.wgsl") };
const FORWARD: Wgsl =
    Wgsl { id: "sparse_linear_forward", source: include_str!("../../shaders/sparse_linear_forward.wgsl") };
const DX: Wgsl = Wgsl { id: "sparse_linear_dx", source: include_str!("../../shaders/sparse_linear_dx.wgsl") };
const DW: Wgsl = Wgsl { id: "sparse_linear_dw", source: include_str!("../../shaders/sparse_linear_dw.wgsl") };

/// The shape of a sparse weight: `rows` outputs × `cols` inputs with `nnz` active entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SparseShape {
    pub rows: usize,
    pub cols: usize,
    pub nnz: usize,
}

impl SparseShape {
    /// Length of the index array: row_ptr, col_ptr, col_idx, entry_row, row_idx.
    pub fn index_len(&self) -> usize {
        self.rows + self.cols + 2 + 3 * self.nnz
    }

    pub fn density(&self) -> f64 {
        self.nnz as f64 / (self.rows * self.cols).max(1) as f64
    }
}

#[backend_extension(Cube, Autodiff)]
pub trait SparseLinearBackend: burn::backend::Backend {
    /// The compressed index (see `shaders/sparse_layout.wgsl`) of the 0/1 `mask` of a `rows × cols` weight.
    fn sparse_layout(mask: FloatTensor<Self>, shape: SparseShape) -> IntTensor<Self>;
    /// `x · Wᵀ` for `x` (batch × cols) and the flat row-major `weight` (rows·cols), reading only indexed entries.
    fn sparse_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        index: IntTensor<Self>,
        shape: SparseShape,
    ) -> FloatTensor<Self>;
    /// `dy · W` (batch × cols) for `dy` (batch × rows).
    fn sparse_linear_dx(
        dy: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        index: IntTensor<Self>,
        shape: SparseShape,
    ) -> FloatTensor<Self>;
    /// `dyᵀ · x` at the indexed entries, zero elsewhere, as a flat rows·cols tensor.
    fn sparse_linear_dw(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        index: IntTensor<Self>,
        shape: SparseShape,
    ) -> FloatTensor<Self>;
}

/// The kernels' parameters after the grid's: `[rows, cols, nnz, batch]`.
fn dims(shape: SparseShape, batch: usize) -> [u32; 4] {
    [shape.rows as u32, shape.cols as u32, shape.nnz as u32, batch as u32]
}

/// An uninitialised contiguous f32 tensor of `shape` on `like`'s device.
fn empty_f32(like: &CubeTensor, shape: Vec<usize>) -> CubeTensor {
    let n: usize = shape.iter().product();
    let handle = like.client.empty(n.max(1) * 4);
    CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), shape.into(), handle, DType::F32)
}

/// The transpose of a 2-D `batch × n` tensor as a contiguous `n × batch4` copy, with `batch4` the batch rounded up
/// to a multiple of 4 and zeros in the padding: the kernels read it as vec4s over the batch.
fn transposed_padded(t: CubeTensor) -> CubeTensor {
    let [batch, n] = [t.meta.shape()[0], t.meta.shape()[1]];
    let pad = batch.next_multiple_of(4) - batch;
    let t = if pad == 0 {
        t
    } else {
        let zeros = Cube::float_zeros([pad, n].into(), &t.device, FloatDType::F32);
        Cube::float_cat(vec![t, zeros], 0)
    };
    into_contiguous(Cube::float_transpose(t))
}

/// Threads of the forward and dX kernels: one per 4 batch rows and output (input) column.
fn vec4_threads(batch: usize, columns: usize) -> usize {
    batch.div_ceil(4) * columns
}

/// The forward pass and dX alike: `kernel` reads the `batch × n` tensor `t` (transposed and padded) and the indexed
/// entries of `weight`, and writes `batch × out` values.
fn gathered(
    kernel: Wgsl,
    t: CubeTensor,
    weight: CubeTensor,
    index: CubeTensor,
    shape: SparseShape,
    out: usize,
) -> CubeTensor {
    let batch = t.meta.shape()[0];
    let (tt, weight, index) = (transposed_padded(t), into_contiguous(weight), into_contiguous(index));
    let y = empty_f32(&tt, vec![batch, out]);
    let bindings =
        vec![tt.handle.clone().binding(), weight.handle.binding(), index.handle.binding(), y.handle.clone().binding()];
    launch_grid(kernel, &tt, vec4_threads(batch, out), bindings, &dims(shape, batch));
    y
}

impl SparseLinearBackend for Cube {
    fn sparse_layout(mask: FloatTensor<Self>, shape: SparseShape) -> IntTensor<Self> {
        let mask = into_contiguous(mask);
        let client = mask.client.clone();
        let len = shape.index_len();
        let handle = client.empty(len * 4);
        let index = CubeTensor::new_contiguous(client.clone(), mask.device.clone(), [len].into(), handle, DType::I32);
        let threads = shape.rows + shape.cols;
        for (pass, n) in [(0u32, threads), (1, 2), (2, threads)] {
            let params = [pass, shape.rows as u32, shape.cols as u32, shape.nnz as u32];
            let bindings = vec![mask.handle.clone().binding(), index.handle.clone().binding()];
            launch_grid(LAYOUT, &mask, n, bindings, &params);
        }
        index
    }

    fn sparse_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        index: IntTensor<Self>,
        shape: SparseShape,
    ) -> FloatTensor<Self> {
        gathered(FORWARD, x, weight, index, shape, shape.rows)
    }

    fn sparse_linear_dx(
        dy: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        index: IntTensor<Self>,
        shape: SparseShape,
    ) -> FloatTensor<Self> {
        gathered(DX, dy, weight, index, shape, shape.cols)
    }

    fn sparse_linear_dw(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        index: IntTensor<Self>,
        shape: SparseShape,
    ) -> FloatTensor<Self> {
        let batch = dy.meta.shape()[0];
        let (dyt, xt, index) = (transposed_padded(dy), transposed_padded(x), into_contiguous(index));
        let dw = Cube::float_zeros([shape.rows * shape.cols].into(), &dyt.device, FloatDType::F32);
        if shape.nnz > 0 {
            let bindings = vec![
                dyt.handle.clone().binding(),
                xt.handle.clone().binding(),
                index.handle.binding(),
                dw.handle.clone().binding(),
            ];
            launch_grid(DW, &dyt, shape.nnz, bindings, &dims(shape, batch));
        }
        dw
    }
}

/// The backward step of [`SparseLinearBackend::sparse_linear`] on a tracked device.
#[derive(Debug)]
struct SparseLinearBackward;

impl<B: Backend + SparseLinearBackend> Backward<B, 2> for SparseLinearBackward {
    /// The checkpointed input and weight, the index and the shape.
    type State = (NodeId, NodeId, IntTensor<B>, SparseShape);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [x_node, w_node] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x_id, w_id, index, shape) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_id);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(w_id);
        if let Some(node) = w_node {
            grads.register::<B>(node.id, B::sparse_linear_dw(dy.clone(), x, index.clone(), shape));
        }
        if let Some(node) = x_node {
            grads.register::<B>(node.id, B::sparse_linear_dx(dy, weight, index, shape));
        }
    }
}

impl<B: Backend + SparseLinearBackend, C: CheckpointStrategy> SparseLinearBackend for Autodiff<B, C> {
    fn sparse_layout(mask: FloatTensor<Self>, shape: SparseShape) -> IntTensor<Self> {
        B::sparse_layout(Self::inner(mask), shape)
    }

    fn sparse_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        index: IntTensor<Self>,
        shape: SparseShape,
    ) -> FloatTensor<Self> {
        match SparseLinearBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let y = B::sparse_linear(x.into_primitive(), weight.into_primitive(), index.clone(), shape);
                prep.finish((x_state, w_state, index, shape), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::sparse_linear(x.into_primitive(), weight.into_primitive(), index, shape))
            }
        }
    }

    fn sparse_linear_dx(
        dy: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        index: IntTensor<Self>,
        shape: SparseShape,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::sparse_linear_dx(Self::inner(dy), Self::inner(weight), index, shape))
    }

    fn sparse_linear_dw(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        index: IntTensor<Self>,
        shape: SparseShape,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::sparse_linear_dw(Self::inner(dy), Self::inner(x), index, shape))
    }
}

/// A linear layer's weight in compressed form on the device: the index of its active entries. The values stay in
/// the layer's flat parameter, so one index serves every step until the mask changes.
#[derive(Clone, Debug)]
pub struct SparseLinear {
    index: Tensor<1, Int>,
    pub shape: SparseShape,
}

impl SparseLinear {
    /// Build the index of a `rows × cols` layer from its flat 0/1 `mask` with exactly `nnz` active entries, on the
    /// device (no read-back). `None` where the mask is not on a wgpu device (the sparse path is GPU-only).
    pub fn from_mask(mask: &Tensor<1>, rows: usize, cols: usize, nnz: usize) -> Option<Self> {
        if !uses_gpu_kernels(&mask.device()) {
            return None;
        }
        let shape = SparseShape { rows, cols, nnz };
        let index = <Dispatch as SparseLinearBackend>::sparse_layout(mask.clone().into_dispatch(), shape);
        Some(SparseLinear { index: Tensor::from_dispatch(index), shape })
    }

    /// `x · Wᵀ` for `x` (batch × cols) and the layer's flat weight (rows·cols), differentiable in both.
    pub fn forward(&self, x: Tensor<2>, weight: Tensor<1>) -> Tensor<2> {
        Tensor::from_dispatch(<Dispatch as SparseLinearBackend>::sparse_linear(
            x.into_dispatch(),
            weight.into_dispatch(),
            self.index.clone().into_dispatch(),
            self.shape,
        ))
    }

    /// The compressed index (for tests and inspection).
    pub fn index(&self) -> &Tensor<1, Int> {
        &self.index
    }
}

/// Medians of one forward + backward pass (input and weight tracked) of a `rows × cols` linear layer at `batch`,
/// through burn's dense matmul and through the sparse path, in seconds: `(dense, sparse)`. The two are interleaved
/// after two warm-up passes each (kernel compilation, autotuning), and each pass ends with a device sync.
#[cfg(not(target_arch = "wasm32"))]
pub fn time_linear(device: &Device, shape: SparseShape, batch: usize, reps: usize) -> (f64, f64) {
    use crate::rng::Rng;
    let SparseShape { rows, cols, nnz } = shape;
    let n = rows * cols;
    let mut rng = Rng::new(0x5ea5e);
    let mut mask = vec![0f32; n];
    for &i in rng.permutation(n).iter().take(nnz.min(n)) {
        mask[i] = 1.0;
    }
    let weight: Vec<f32> = mask.iter().map(|&m| m * rng.normal() * 0.05).collect();
    let x: Vec<f32> = (0..batch * cols).map(|_| rng.normal()).collect();
    let dy: Vec<f32> = (0..batch * rows).map(|_| rng.normal()).collect();
    let upload = |v: Vec<f32>| {
        let len = v.len();
        Tensor::<1>::from_data(TensorData::new(v, [len]), device)
    };
    let mask_t = upload(mask);
    let weight_t = upload(weight);
    let x_t = upload(x).reshape([batch, cols]);
    let dy_t = upload(dy).reshape([batch, rows]);
    let layer = SparseLinear::from_mask(&mask_t, rows, cols, nnz);
    let pass = |sparse: bool| -> f64 {
        let start = web_time::Instant::now();
        let x = x_t.clone().autodiff().require_grad();
        let w = weight_t.clone().autodiff().require_grad();
        let y = match (&layer, sparse) {
            (Some(layer), true) => layer.forward(x.clone(), w.clone()),
            _ => x.clone().matmul(w.clone().reshape([rows, cols]).transpose()),
        };
        let grads = (y * dy_t.clone().autodiff()).sum().backward();
        let keep = (x.grad(&grads), w.grad(&grads));
        let _ = device.sync();
        drop(keep);
        start.elapsed().as_secs_f64()
    };
    for _ in 0..2 {
        pass(false);
        pass(true);
    }
    let (mut dense, mut sparse) = (vec![], vec![]);
    for _ in 0..reps.max(1) {
        dense.push(pass(false));
        sparse.push(pass(true));
    }
    (median(&mut dense), median(&mut sparse))
}

#[cfg(not(target_arch = "wasm32"))]
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// When the trainer computes masked linear layers through the sparse path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SparsePath {
    /// Where [`sparse_linear_wins`] says (linear layers on wgpu: a fixed rule of the layer's shape and density, never
    /// a timing); convolutions on the CPU backend at or below `SparseConv::max_density()`.
    #[default]
    Auto,
    /// Every masked linear layer on a wgpu device and every masked convolution on the CPU backend (for tests and
    /// comparisons).
    Always,
    /// Never: dense matmuls over the masked weights.
    Never,
}

impl SparsePath {
    /// Whether a masked linear layer of `shape` on `device` goes through the sparse path.
    pub fn uses_sparse(self, device: &Device, shape: SparseShape) -> bool {
        match self {
            SparsePath::Auto => uses_gpu_kernels(device) && sparse_linear_wins(shape),
            SparsePath::Always => uses_gpu_kernels(device),
            SparsePath::Never => false,
        }
    }
}

/// The densest layer the automatic rule compresses, in percent (the density rounded to a whole percent, so a layer
/// asked for 10% whose count rounds up by a weight still counts as 10%). Measured on lavapipe, fc1 of conv4
/// (256×8192, batch 64, forward + backward) ran 0.97× the dense matmul at 20% density, 1.56× at 10%, 5.1× at 5%.
pub const AUTO_MAX_DENSITY_PERCENT: u32 = 10;
/// The smallest layer (weights) it compresses: below, either path takes about a millisecond and the choice is noise.
pub const AUTO_MIN_WEIGHTS: usize = 1 << 16;

/// Whether the automatic rule ([`SparsePath::Auto`]) routes a masked linear layer of `shape` through the sparse path
/// on a GPU: at most [`AUTO_MAX_DENSITY_PERCENT`] dense and at least [`AUTO_MIN_WEIGHTS`] weights. A fixed rule, never
/// a timing: the two paths sum in different orders, so a choice made by the clock would let two runs of one link take
/// different numeric paths. The thresholds come from `ticketlab bench --steps 0 --model conv4 --width 1 --backend
/// wgpu`; in the browser the dense path is kept (the sparse kernels have not been tried on its WebGPU).
pub fn sparse_linear_wins(shape: SparseShape) -> bool {
    !cfg!(target_arch = "wasm32")
        && shape.nnz > 0
        && (100.0 * shape.density()).round() as u32 <= AUTO_MAX_DENSITY_PERCENT
        && shape.rows * shape.cols >= AUTO_MIN_WEIGHTS
}

/// The index [`SparseLinear::from_mask`] builds, computed on the CPU: row_ptr, col_ptr, col_idx, entry_row, row_idx.
pub fn sparse_layout_reference(mask: &[f32], rows: usize, cols: usize) -> Vec<i32> {
    let active = |o: usize, k: usize| mask[o * cols + k] != 0.0;
    let mut row_ptr = vec![0i32];
    let (mut col_idx, mut entry_row) = (vec![], vec![]);
    for o in 0..rows {
        for k in (0..cols).filter(|&k| active(o, k)) {
            col_idx.push(k as i32);
            entry_row.push(o as i32);
        }
        row_ptr.push(col_idx.len() as i32);
    }
    let mut col_ptr = vec![0i32];
    let mut row_idx = vec![];
    for k in 0..cols {
        row_idx.extend((0..rows).filter(|&o| active(o, k)).map(|o| o as i32));
        col_ptr.push(row_idx.len() as i32);
    }
    [row_ptr, col_ptr, col_idx, entry_row, row_idx].concat()
}

/// The sparse layer's forward and backward on the CPU, from the masked weight: `(y, dx, dw)` for `x` (batch × cols),
/// `weight` (rows × cols, row-major), `mask` and the output gradient `dy` (batch × rows). `dw` is zero at inactive
/// positions. The reference the kernels are tested against.
pub fn sparse_linear_reference(
    x: &[f32],
    weight: &[f32],
    mask: &[f32],
    dy: &[f32],
    batch: usize,
    rows: usize,
    cols: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut y = vec![0f32; batch * rows];
    let mut dx = vec![0f32; batch * cols];
    let mut dw = vec![0f32; rows * cols];
    for o in 0..rows {
        for k in 0..cols {
            if mask[o * cols + k] == 0.0 {
                continue;
            }
            let w = weight[o * cols + k];
            let mut g = 0f32;
            for b in 0..batch {
                y[b * rows + o] += x[b * cols + k] * w;
                dx[b * cols + k] += dy[b * rows + o] * w;
                g += dy[b * rows + o] * x[b * cols + k];
            }
            dw[o * cols + k] = g;
        }
    }
    (y, dx, dw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The automatic routing is a function of the layer alone (no device, no clock): conv4's fc1 goes sparse at 10%
    /// density and below, its small layers never, and nothing at 20%.
    #[test]
    fn the_automatic_rule_depends_on_the_shape_alone() {
        let layer = |rows: usize, cols: usize, density: f64| {
            let nnz = (density * (rows * cols) as f64).round() as usize;
            sparse_linear_wins(SparseShape { rows, cols, nnz })
        };
        assert!(layer(256, 8192, 0.1) && layer(256, 8192, 0.02) && layer(128, 4096, 0.05) && layer(256, 256, 0.1));
        assert!(!layer(256, 8192, 0.2) && !layer(128, 128, 0.02) && !layer(10, 256, 0.02) && !layer(256, 8192, 0.0));
        assert!(!SparsePath::Auto.uses_sparse(&Device::flex(), SparseShape { rows: 256, cols: 8192, nnz: 1 }));
    }

    #[test]
    fn reference_layout_is_csr_and_csc() {
        // 2 × 3:  [1 0 1]
        //         [0 1 1]
        let mask = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let index = sparse_layout_reference(&mask, 2, 3);
        let shape = SparseShape { rows: 2, cols: 3, nnz: 4 };
        assert_eq!(index.len(), shape.index_len());
        assert_eq!(
            index,
            [
                0, 2, 4, /* col_ptr */ 0, 1, 2, 4, /* col_idx */ 0, 2, 1, 2, /* entry_row */ 0, 0, 1, 1,
                /* row_idx */ 0, 1, 0, 1
            ]
        );
    }

    #[test]
    fn reference_matches_dense_math() {
        let (batch, rows, cols) = (2, 2, 3);
        let x = [1.0, 2.0, 3.0, -1.0, 0.5, 2.0];
        let w = [0.5, 9.0, -1.0, 9.0, 2.0, 1.0];
        let mask = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let dy = [1.0, -1.0, 0.5, 2.0];
        let (y, dx, dw) = sparse_linear_reference(&x, &w, &mask, &dy, batch, rows, cols);
        let wm: Vec<f32> = w.iter().zip(&mask).map(|(a, m)| a * m).collect();
        for b in 0..batch {
            for o in 0..rows {
                let want: f32 = (0..cols).map(|k| x[b * cols + k] * wm[o * cols + k]).sum();
                assert_eq!(y[b * rows + o], want);
            }
            for k in 0..cols {
                let want: f32 = (0..rows).map(|o| dy[b * rows + o] * wm[o * cols + k]).sum();
                assert_eq!(dx[b * cols + k], want);
            }
        }
        assert_eq!(dw[1], 0.0, "inactive positions get no gradient");
        assert_eq!(dw[0], 1.0 * 1.0 + -0.5);
    }
}
