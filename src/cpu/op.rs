//! The CPU convolution as a burn operation on the flex backend, differentiable through a hand-written backward
//! step (as `kernels/sparse_linear.rs` on wgpu): [`CpuConvBackend`] is implemented for `Flex` and for
//! `Autodiff<B, C>`, whose backward computes the input, weight and bias gradients in one pass (`conv.rs`). With a
//! [`SparseConv`] layout the weight is read only at its active entries and its gradient is zero elsewhere.

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
    tensor::{FloatTensor, IntTensor},
};
use burn::prelude::*;

use super::conv::{ConvGrads, Epilogue, Forward, Saved, Wanted, Weight, conv_backward, conv_forward};
use super::grid::ConvShape;
use super::simd::Isa;
use super::sparse::SparseConv;
use crate::kernels::SparsePath;

/// A convolution's static settings: square kernel `k`, `pad` zeros per side, stride 1, and what follows it in the
/// same operation: ReLU, then 2×2 max pooling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConvSpec {
    pub k: usize,
    pub pad: usize,
    pub relu: bool,
    pub pool: bool,
    /// With a sparse layout: still compute the weight gradient at every position (what a RigL update scores
    /// regrowth with), while the forward pass and the input gradient use only the active weights.
    pub dense_weight_grad: bool,
}

impl ConvSpec {
    fn epilogue(&self) -> Epilogue {
        Epilogue { relu: self.relu, pool: self.pool }
    }

    /// The full shape for an NCHW input of `x_dims` and `c_out` output channels.
    pub fn shape(&self, x_dims: [usize; 4], c_out: usize) -> ConvShape {
        let [batch, c_in, h, w] = x_dims;
        ConvShape { batch, c_in, c_out, h, w, k: self.k, pad: self.pad }
    }
}

#[backend_extension(Flex, Autodiff)]
pub trait CpuConvBackend: burn::backend::Backend {
    /// `pool?(relu?(conv(x, weight) + bias))` for NCHW `x`, a `[c_out, c_in, k, k]` weight and a `[c_out]` bias,
    /// stride 1; with a layout, only its entries of the weight are read. Also, where it pools, which input each
    /// output took (u8; empty otherwise).
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
        layout: Option<Arc<SparseConv>>,
    ) -> (FloatTensor<Self>, IntTensor<Self>);
    /// The gradients of [`CpuConvBackend::cpu_conv2d`] from the output gradient `dy`, its `output` (read where
    /// the layer applies ReLU) and `argmax` (where it pools): input, weight and bias, each empty unless `wanted`.
    #[allow(clippy::too_many_arguments)]
    fn cpu_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        output: FloatTensor<Self>,
        argmax: IntTensor<Self>,
        spec: ConvSpec,
        layout: Option<Arc<SparseConv>>,
        wanted: Wanted,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

fn weight_form<'a>(values: &'a [f32], layout: &'a Option<Arc<SparseConv>>) -> Weight<'a> {
    match layout {
        Some(layout) => Weight::Sparse(values, layout),
        None => Weight::Dense(values),
    }
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

fn flex<E: burn::tensor::Element>(values: Vec<E>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// A tensor for a result that was not asked for.
fn empty() -> FlexTensor {
    flex(Vec::<f32>::new(), vec![0])
}

impl CpuConvBackend for Flex {
    fn cpu_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        spec: ConvSpec,
        layout: Option<Arc<SparseConv>>,
    ) -> (FlexTensor, FlexTensor) {
        let (x, weight, bias) = (x.to_contiguous(), weight.to_contiguous(), bias.to_contiguous());
        let shape = spec.shape(dims4(&x), weight.shape()[0]);
        let w = weight_form(weight.storage(), &layout);
        let Forward { y, argmax } = conv_forward(&shape, x.storage(), w, Some(bias.storage()), spec.epilogue());
        let (oh, ow) = if spec.pool { (shape.out_h() / 2, shape.out_w() / 2) } else { (shape.out_h(), shape.out_w()) };
        let dims = vec![shape.batch, shape.c_out, oh, ow];
        let argmax = argmax.map_or_else(|| flex(Vec::<u8>::new(), vec![0]), |a| flex(a, dims.clone()));
        (flex(y, dims), argmax)
    }

    fn cpu_conv2d_backward(
        x: FlexTensor,
        weight: FlexTensor,
        dy: FlexTensor,
        output: FlexTensor,
        argmax: FlexTensor,
        spec: ConvSpec,
        layout: Option<Arc<SparseConv>>,
        wanted: Wanted,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (x, weight, dy) = (x.to_contiguous(), weight.to_contiguous(), dy.to_contiguous());
        let (output, argmax) = (output.to_contiguous(), argmax.to_contiguous());
        let shape = spec.shape(dims4(&x), weight.shape()[0]);
        let saved =
            Saved { relu_output: spec.relu.then(|| output.storage()), argmax: spec.pool.then(|| argmax.storage()) };
        let w = weight_form(weight.storage(), &layout);
        let ConvGrads { input, weight: dw, bias } = conv_backward(&shape, x.storage(), w, dy.storage(), saved, wanted);
        (
            input.map_or_else(empty, |v| flex(v, dims4(&x).to_vec())),
            dw.map_or_else(empty, |v| flex(v, weight.shape().to_vec())),
            bias.map_or_else(empty, |v| flex(v, vec![shape.c_out])),
        )
    }
}

/// The backward step of [`CpuConvBackend::cpu_conv2d`] on a tracked device; parents: input, weight, bias.
#[derive(Debug)]
struct CpuConvBackward;

/// Checkpointed input and weight, the output and the pooling's choices, the settings and the layout.
struct ConvState<B: Backend> {
    x: NodeId,
    weight: NodeId,
    output: FloatTensor<B>,
    argmax: IntTensor<B>,
    spec: ConvSpec,
    layout: Option<Arc<SparseConv>>,
}

impl<B: Backend> Clone for ConvState<B> {
    fn clone(&self) -> Self {
        ConvState {
            x: self.x,
            weight: self.weight,
            output: self.output.clone(),
            argmax: self.argmax.clone(),
            spec: self.spec,
            layout: self.layout.clone(),
        }
    }
}

impl<B: Backend> std::fmt::Debug for ConvState<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConvState").field("spec", &self.spec).finish_non_exhaustive()
    }
}

impl<B: Backend + CpuConvBackend> Backward<B, 3> for CpuConvBackward {
    type State = ConvState<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let ConvState { x, weight, output, argmax, spec, layout } = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight);
        let [x_node, w_node, b_node] = ops.parents;
        let wanted = Wanted {
            input: x_node.is_some(),
            weight: w_node.is_some(),
            bias: b_node.is_some(),
            dense_weight: spec.dense_weight_grad,
        };
        let (dx, dw, db) = B::cpu_conv2d_backward(x, weight, dy, output, argmax, spec, layout, wanted);
        for (node, grad) in [(x_node, dx), (w_node, dw), (b_node, db)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + CpuConvBackend, C: CheckpointStrategy> CpuConvBackend for Autodiff<B, C> {
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: ConvSpec,
        layout: Option<Arc<SparseConv>>,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        let parents = [x.node(), weight.node(), bias.node()];
        match CpuConvBackward.prepare::<C>(parents).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let (x_state, w_state) = (prep.checkpoint(&x), prep.checkpoint(&weight));
                let (y, argmax) = B::cpu_conv2d(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    spec,
                    layout.clone(),
                );
                let state =
                    ConvState { x: x_state, weight: w_state, output: y.clone(), argmax: argmax.clone(), spec, layout };
                (prep.finish(state, y), argmax)
            }
            OpsKind::UnTracked(prep) => {
                let (y, argmax) =
                    B::cpu_conv2d(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), spec, layout);
                (prep.finish(y), argmax)
            }
        }
    }

    fn cpu_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        output: FloatTensor<Self>,
        argmax: IntTensor<Self>,
        spec: ConvSpec,
        layout: Option<Arc<SparseConv>>,
        wanted: Wanted,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, dw, db) = B::cpu_conv2d_backward(
            Self::inner(x),
            Self::inner(weight),
            Self::inner(dy),
            Self::inner(output),
            argmax,
            spec,
            layout,
            wanted,
        );
        (Self::from_inner(dx), Self::from_inner(dw), Self::from_inner(db))
    }
}

/// Whether tensors on `device` run on burn's flex CPU backend, where these kernels apply.
pub fn uses_cpu_kernels(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), burn::backend::DispatchDevice::Flex(_))
}

impl SparseConv {
    /// Density at or below which a masked convolution runs through the sparse kernels by default. Measured on this
    /// project's layer shapes (`ticketlab bench --sparsities …`): the sparse kernels are 1.4–2.3× faster than the
    /// dense ones with f32 products at 30% density and break even near 50%. Against bfloat16 products on vectors
    /// they are 0.87–0.98× as fast at 30% and 1.06–1.31× at 20% (airbench ×0.5, 2026-12-07), but the rule stays one
    /// for both, so that a run takes the same paths whatever its vector products and differs only by their rounding.
    pub const MAX_DENSITY: f64 = 0.3;
    /// The same where the dense products run on AMX tiles ([`Isa::Amx`]), which are 2–3 times as fast: on airbench
    /// ×0.5's convolutions at batch 256 (2-core Sapphire Rapids Xeon, 2026-12-07) the sparse kernels are 0.53–0.97×
    /// as fast at 20% density, 0.69–1.29× at 10% and 1.49–1.69× at 5%.
    pub const MAX_DENSITY_AMX: f64 = 0.08;

    /// [`SparseConv::MAX_DENSITY`] or [`SparseConv::MAX_DENSITY_AMX`], for the products of this thread's
    /// instruction set.
    pub fn max_density() -> f64 {
        if Isa::detect() == Isa::Amx { Self::MAX_DENSITY_AMX } else { Self::MAX_DENSITY }
    }
    /// The same for a linear layer, which also needs at least [`SparseConv::MIN_LINEAR_INPUTS`] inputs: conv4's
    /// fc1 (256×8192) at 90–95% sparsity runs 1.6–1.8× faster than burn's dense matmul at batch 128, the small layers
    /// (256×256, 10×256) not at all (the transposes of the batch cost more than the products).
    pub const MAX_LINEAR_DENSITY: f64 = 0.1;
    pub const MIN_LINEAR_INPUTS: usize = 1024;

    /// The layout of a `[c_out, c_in, k, k]` convolution weight's 0/1 `mask` (with `nnz` active entries; k = 1 for
    /// a linear layer's `[rows, cols]`) where `path` routes it through the sparse kernels: only on the CPU backend
    /// with its kernels on; by default at or below the density limits above. A rule on the shape and density, not a
    /// timing, so a run routes the same way every time and stays bit-identical.
    pub fn plan(
        mask: &Tensor<1>,
        [c_out, c_in, k]: [usize; 3],
        linear: bool,
        nnz: usize,
        path: SparsePath,
    ) -> Option<Arc<Self>> {
        if !cpu_kernels_enabled() || !uses_cpu_kernels(&mask.device()) {
            return None;
        }
        let density = nnz as f64 / (c_out * c_in * k * k).max(1) as f64;
        let sparse = match path {
            SparsePath::Auto if linear => density <= Self::MAX_LINEAR_DENSITY && c_in >= Self::MIN_LINEAR_INPUTS,
            SparsePath::Auto => density <= Self::max_density(),
            SparsePath::Always => true,
            SparsePath::Never => false,
        };
        if !sparse {
            return None;
        }
        let values = mask.clone().try_into_data().ok()?.try_to_vec::<f32>().ok()?;
        Some(Arc::new(Self::from_mask(&values, c_out, c_in, k)))
    }
}

/// Whether the CPU kernels are used at all: `TICKETLAB_CPU_KERNELS=off` turns them off (to compare against burn's
/// own flex kernels), read once.
pub fn cpu_kernels_enabled() -> bool {
    use std::sync::OnceLock;
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TICKETLAB_CPU_KERNELS").map_or(true, |v| v != "off"))
}

/// `pool?(relu?(conv2d(x, weight) + bias))` (stride 1, `spec.pad` zeros per side) through the CPU kernels,
/// differentiable in all three; with a `layout` (of the weight's mask) only its entries are read and get a
/// gradient. `None` where the kernels do not apply (another device, another dtype, a shape the padded layout does
/// not cover, a layout of another shape, or turned off), so the caller uses burn's convolution.
pub fn cpu_conv2d(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    spec: ConvSpec,
    layout: Option<&Arc<SparseConv>>,
) -> Option<Tensor<4>> {
    let [c_out, c_in, kh, kw] = weight.dims();
    let shape = spec.shape(x.dims(), c_out);
    let layout_fits = layout.is_none_or(|l| (l.c_out, l.c_in, l.k) == (c_out, c_in, spec.k));
    let pool_fits = !spec.pool || (shape.out_h() >= 2 && shape.out_w() >= 2);
    let fits = kh == spec.k && kw == spec.k && c_in == shape.c_in && shape.supported() && layout_fits && pool_fits;
    if !fits || !cpu_kernels_enabled() || !uses_cpu_kernels(&x.device()) || x.dtype() != burn::tensor::DType::F32 {
        return None;
    }
    // A layer without bias gets zeros (a constant: no gradient is computed for it).
    let bias = bias.cloned().unwrap_or_else(|| Tensor::zeros([c_out], &x.device()));
    let (y, _argmax) = <Dispatch as CpuConvBackend>::cpu_conv2d(
        x.clone().into_dispatch(),
        weight.clone().into_dispatch(),
        bias.into_dispatch(),
        spec,
        layout.cloned(),
    );
    Some(Tensor::from_dispatch(y))
}

/// `x · Wᵀ + bias` for `x` (batch × cols) and a linear layer's flat `weight` (rows × cols) with a compressed
/// `layout` of its mask (made with k = 1): a 1×1 convolution over the batch through the sparse kernels,
/// differentiable in all three (the weight gradient at every position if `dense_weight_grad`). `None` where the CPU
/// kernels do not apply.
pub fn cpu_sparse_linear(
    x: &Tensor<2>,
    weight: &Tensor<1>,
    bias: Option<&Tensor<1>>,
    layout: &Arc<SparseConv>,
    dense_weight_grad: bool,
) -> Option<Tensor<2>> {
    let [batch, cols] = x.dims();
    let rows = layout.c_out;
    if layout.c_in != cols || layout.k != 1 || weight.dims()[0] != rows * cols {
        return None;
    }
    let spec = ConvSpec { k: 1, pad: 0, dense_weight_grad, ..ConvSpec::default() };
    let y = cpu_conv2d(
        &x.clone().reshape([batch, cols, 1, 1]),
        &weight.clone().reshape([rows, cols, 1, 1]),
        bias,
        spec,
        Some(layout),
    )?;
    Some(y.reshape([batch, rows]))
}
