//! A network's values on a device and its forward pass.

use burn::prelude::*;
use burn::tensor::activation::{gelu, relu};
use burn::tensor::module::{avg_pool2d, batch_norm, batch_norm_train, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};

use super::fused::{self, SparseLayer};
use super::{Activation, Bn, NetSpec, Op, Role};
use crate::kernels::{SparseLinear, SparsePath, SparseShape, lerp};
use crate::rng::Rng;

pub const BN_EPSILON: f64 = 1e-5;
/// Weight of the current batch in the running BatchNorm statistics (PyTorch's default momentum).
pub const BN_MOMENTUM: f32 = 0.1;

/// Running BatchNorm statistics of one layer.
#[derive(Clone, Debug)]
pub struct BnStats {
    pub mean: Tensor<1>,
    pub var: Tensor<1>,
}

/// A network's parameter and BatchNorm-statistics values on one device.
#[derive(Clone, Debug)]
pub struct Network {
    pub params: Vec<Tensor<1>>,
    pub bn: Vec<BnStats>,
}

impl Network {
    pub fn from_values(spec: &NetSpec, values: &[Vec<f32>], device: &Device) -> Self {
        let params = values.iter().map(|v| Tensor::from_data(TensorData::new(v.clone(), [v.len()]), device)).collect();
        let bn = spec
            .bn_channels
            .iter()
            .map(|&c| BnStats { mean: Tensor::zeros([c], device), var: Tensor::ones([c], device) })
            .collect();
        Network { params, bn }
    }

    pub fn init(spec: &NetSpec, rng: &mut Rng, device: &Device) -> Self {
        Self::from_values(spec, &spec.init_values(rng), device)
    }

    /// Forward pass. `params` may be autodiff leaves (training) or plain tensors (evaluation).
    /// In training mode BatchNorm normalises with batch statistics and the running statistics are updated.
    pub fn forward(spec: &NetSpec, params: &[Tensor<1>], bn: &mut [BnStats], x: Tensor<4>, train: bool) -> Tensor<2> {
        Self::forward_with(spec, params, bn, x, train, &[])
    }

    /// [`Network::forward`], with the layers whose weight has a [`SparseLayer`] in `sparse` (indexed like
    /// `spec.params`; see [`Network::sparse_plan`]) computed from their compressed weight. Same result: the inactive
    /// weights are exactly zero; the sparse path's weight gradient is zero at inactive positions. On the CPU backend
    /// ticketlab's kernels run the convolutions (with a ReLU and 2×2 pooling after them fused in), BatchNorm with
    /// the activation after it, and activations (`fused.rs`).
    pub fn forward_with(
        spec: &NetSpec,
        params: &[Tensor<1>],
        bn: &mut [BnStats],
        x: Tensor<4>,
        train: bool,
        sparse: &[Option<SparseLayer>],
    ) -> Tensor<2> {
        let shaped = |i: usize| -> Tensor<4> {
            let s = &spec.params[i].shape;
            params[i].clone().reshape([s[0], s[1], s[2], s[3]])
        };
        // The activation is 4-D (images) until Flatten or GlobalAvgPool, 2-D (features) after.
        let mut x4 = Some(x);
        let mut x2: Option<Tensor<2>> = None;
        let mut skip: Option<Tensor<4>> = None;
        // Index of the next op; a fused operation also applies some of the ops after its own.
        let mut i = 0;
        while let Some(op) = spec.ops.get(i) {
            i += 1;
            match op {
                Op::Conv { weight, bias, kernel, stride, padding } => {
                    let input = x4.take().unwrap_or_else(|| malformed("Conv after Flatten"));
                    let (w, b) = (shaped(*weight), bias.map(|b| params[b].clone()));
                    let geometry = [*kernel, *stride, *padding];
                    x4 = Some(
                        match fused::conv(&input, &w, b.as_ref(), geometry, &spec.ops[i..], sparse.get(*weight)) {
                            Some((y, applied)) => {
                                i += applied;
                                y
                            }
                            None => conv2d(input, w, b, ConvOptions::new([*stride; 2], [*padding; 2], [1, 1], 1)),
                        },
                    );
                }
                Op::BatchNorm(norm) => {
                    let input = x4.take().unwrap_or_else(|| malformed("BatchNorm after Flatten"));
                    let (y, applied) =
                        batch_norm_layer(input, params, norm, &mut bn[norm.stats], train, spec.ops.get(i));
                    i += applied;
                    x4 = Some(y);
                }
                Op::Act(act) => {
                    let apply2 = |t: Tensor<2>| if *act == Activation::Relu { relu(t) } else { gelu(t) };
                    let apply4 = |t: Tensor<4>| match fused::activation(&t, *act) {
                        Some(y) => y,
                        None if *act == Activation::Relu => relu(t),
                        None => gelu(t),
                    };
                    match (x4.take(), x2.take()) {
                        (Some(t), _) => x4 = Some(apply4(t)),
                        (None, Some(t)) => x2 = Some(apply2(t)),
                        (None, None) => malformed("activation without input"),
                    }
                }
                Op::MaxPool(size) => {
                    let input = x4.take().unwrap_or_else(|| malformed("MaxPool after Flatten"));
                    x4 = Some(max_pool2d(input, MaxPoolOptions::new([*size; 2])));
                }
                Op::SaveSkip => skip = Some(x4.clone().unwrap_or_else(|| malformed("SaveSkip after Flatten"))),
                Op::AddSkip { stride, in_channels, channels } => {
                    let mut s = skip.take().unwrap_or_else(|| malformed("AddSkip without SaveSkip"));
                    if *stride > 1 {
                        // Option A shortcut: subsample, then zero-pad the new channels on both sides.
                        s = avg_pool2d(s, AvgPoolOptions::new([1, 1]).with_stride([*stride; 2]));
                        let extra = channels - in_channels;
                        let [n, _, h, w] = s.dims();
                        let device = s.device();
                        let lo = Tensor::zeros([n, extra / 2, h, w], &device);
                        let hi = Tensor::zeros([n, extra - extra / 2, h, w], &device);
                        s = Tensor::cat(vec![lo, s, hi], 1);
                    }
                    let input = x4.take().unwrap_or_else(|| malformed("AddSkip after Flatten"));
                    x4 = Some(relu(input + s));
                }
                Op::GlobalAvgPool => {
                    let input = x4.take().unwrap_or_else(|| malformed("GlobalAvgPool after Flatten"));
                    let [n, c, _, _] = input.dims();
                    x2 = Some(input.mean_dims(&[2, 3]).reshape([n, c]));
                }
                Op::Flatten => {
                    let input = x4.take().unwrap_or_else(|| malformed("Flatten twice"));
                    let [n, c, h, w] = input.dims();
                    x2 = Some(input.reshape([n, c * h * w]));
                }
                Op::Linear { weight, bias } => {
                    let s = &spec.params[*weight].shape;
                    let input = x2.take().unwrap_or_else(|| malformed("Linear before Flatten"));
                    let b = bias.map(|b| params[b].clone());
                    if let Some(y) = fused::sparse_linear(&input, &params[*weight], b.as_ref(), sparse.get(*weight)) {
                        x2 = Some(y);
                        continue;
                    }
                    let mut y = match sparse.get(*weight) {
                        Some(Some(SparseLayer::Linear(layer))) => layer.forward(input, params[*weight].clone()),
                        _ => input.matmul(params[*weight].clone().reshape([s[0], s[1]]).transpose()),
                    };
                    if let Some(b) = b {
                        y = y + b.unsqueeze_dim(0);
                    }
                    x2 = Some(y);
                }
                Op::Scale(factor) => {
                    let input = x2.take().unwrap_or_else(|| malformed("Scale before Flatten"));
                    x2 = Some(input * *factor);
                }
            }
        }
        x2.unwrap_or_else(|| malformed("network without a classifier"))
    }

    /// Which layers to compute through a sparse path: for each masked weight (`masks[i]` its 0/1 mask on the
    /// device, `counts[i]` its exact active count) where `path` chooses it, its compressed form: a [`SparseLinear`]
    /// for a linear layer on wgpu (by default by `kernels::sparse_linear_wins`, a fixed rule of the shape and
    /// density, never a timing), a CPU layout for a convolution or linear layer on the CPU backend (by default below
    /// the density limits of [`crate::cpu::SparseConv::plan`]); `None` everywhere else. Build it again whenever the
    /// masks change; a step that needs dense weight gradients (a RigL update) runs with
    /// [`SparseLayer::with_dense_weight_grad`].
    pub fn sparse_plan(
        spec: &NetSpec,
        masks: &[Option<Tensor<1>>],
        counts: &[Option<usize>],
        path: SparsePath,
    ) -> Vec<Option<SparseLayer>> {
        (0..spec.params.len())
            .map(|i| {
                let p = &spec.params[i];
                let (Some(mask), Some(nnz)) = (masks.get(i)?.as_ref(), counts.get(i).copied().flatten()) else {
                    return None;
                };
                let linear = p.role == Role::LinearWeight;
                if let Some(layer) = fused::cpu_plan(mask, &p.shape, linear, nnz, path) {
                    return Some(layer);
                }
                if !linear {
                    return None;
                }
                let shape = SparseShape { rows: p.shape[0], cols: p.shape[1], nnz };
                if !path.uses_sparse(&mask.device(), shape) {
                    return None;
                }
                SparseLinear::from_mask(mask, shape.rows, shape.cols, nnz)
                    .map(|layer| SparseLayer::Linear(Box::new(layer)))
            })
            .collect()
    }

    /// (1 − α)·self + α·other for every parameter and BatchNorm statistic (a soup, a point on a linear path).
    pub fn interpolate(&self, other: &Network, alpha: f64) -> Network {
        let alpha = alpha as f32;
        let params = self.params.iter().zip(&other.params).map(|(x, y)| lerp(x.clone(), y.clone(), alpha)).collect();
        let bn = (self.bn.iter().zip(&other.bn))
            .map(|(x, y)| BnStats {
                mean: lerp(x.mean.clone(), y.mean.clone(), alpha),
                var: lerp(x.var.clone(), y.var.clone(), alpha),
            })
            .collect();
        Network { params, bn }
    }
}

/// A spec whose ops do not fit together is a bug in [`NetSpec::new`], not bad input.
fn malformed(what: &str) -> ! {
    panic!("malformed NetSpec: {what}")
}

/// BatchNorm (and, through the CPU kernels, the activation `next` if it is one): the output and how many of the
/// following ops it applied.
fn batch_norm_layer(
    x: Tensor<4>,
    params: &[Tensor<1>],
    norm: &Bn,
    stats: &mut BnStats,
    train: bool,
    next: Option<&Op>,
) -> (Tensor<4>, usize) {
    let shift = params[norm.shift].clone();
    let scale = match norm.scale {
        Some(i) => params[i].clone(),
        None => shift.ones_like(),
    };
    if !train {
        let running = [&scale, &shift, &stats.mean, &stats.var];
        if let Some(fused) = fused::batch_norm_eval(&x, running, BN_EPSILON, next) {
            return fused;
        }
        return (batch_norm(x, scale, shift, stats.mean.clone(), stats.var.clone(), BN_EPSILON), 0);
    }
    let [n, _, h, w] = x.dims();
    let (output, mean, variance, applied) = match fused::batch_norm_train(&x, &scale, &shift, BN_EPSILON, next) {
        Some((out, applied)) => (out.output, out.mean, out.variance, applied),
        None => {
            let out = batch_norm_train(x, scale, shift, BN_EPSILON);
            (out.output, out.mean, out.variance, 0)
        }
    };
    // Running variance uses the unbiased batch variance, as PyTorch does.
    let count = (n * h * w) as f32;
    let unbiased = variance.inner() * (count / (count - 1.0).max(1.0));
    stats.mean = stats.mean.clone() * (1.0 - BN_MOMENTUM) + mean.inner() * BN_MOMENTUM;
    stats.var = stats.var.clone() * (1.0 - BN_MOMENTUM) + unbiased * BN_MOMENTUM;
    (output, applied)
}
