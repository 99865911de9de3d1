//! A network's values on a device and its forward pass.

use burn::prelude::*;
use burn::tensor::activation::{gelu, relu};
use burn::tensor::module::{avg_pool2d, batch_norm, batch_norm_train, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};

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

    /// [`Network::forward`], with the linear layers whose weight has a [`SparseLinear`] in `sparse` (indexed like
    /// `spec.params`; see [`Network::sparse_plan`]) computed from their compressed weight. Same result: the inactive
    /// weights are exactly zero; the sparse path's weight gradient is zero at inactive positions.
    pub fn forward_with(
        spec: &NetSpec,
        params: &[Tensor<1>],
        bn: &mut [BnStats],
        x: Tensor<4>,
        train: bool,
        sparse: &[Option<SparseLinear>],
    ) -> Tensor<2> {
        let shaped = |i: usize| -> Tensor<4> {
            let s = &spec.params[i].shape;
            params[i].clone().reshape([s[0], s[1], s[2], s[3]])
        };
        // The activation is 4-D (images) until Flatten or GlobalAvgPool, 2-D (features) after.
        let mut x4 = Some(x);
        let mut x2: Option<Tensor<2>> = None;
        let mut skip: Option<Tensor<4>> = None;
        for op in &spec.ops {
            match op {
                Op::Conv { weight, bias, kernel: _, stride, padding } => {
                    let opts = ConvOptions::new([*stride; 2], [*padding; 2], [1, 1], 1);
                    let input = x4.take().unwrap_or_else(|| malformed("Conv after Flatten"));
                    x4 = Some(conv2d(input, shaped(*weight), bias.map(|b| params[b].clone()), opts));
                }
                Op::BatchNorm(norm) => {
                    let input = x4.take().unwrap_or_else(|| malformed("BatchNorm after Flatten"));
                    x4 = Some(batch_norm_layer(input, params, norm, &mut bn[norm.stats], train));
                }
                Op::Act(act) => {
                    let apply2 = |t: Tensor<2>| if *act == Activation::Relu { relu(t) } else { gelu(t) };
                    let apply4 = |t: Tensor<4>| if *act == Activation::Relu { relu(t) } else { gelu(t) };
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
                    let mut y = match sparse.get(*weight) {
                        Some(Some(layer)) => layer.forward(input, params[*weight].clone()),
                        _ => input.matmul(params[*weight].clone().reshape([s[0], s[1]]).transpose()),
                    };
                    if let Some(b) = bias {
                        y = y + params[*b].clone().unsqueeze_dim(0);
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

    /// Which linear layers to compute through the sparse path: for each masked linear weight (`masks[i]` its 0/1
    /// mask on the device, `counts[i]` its exact active count), a [`SparseLinear`] where `path` chooses the
    /// compressed path on the mask's device (by default by `kernels::sparse_linear_wins`, a fixed rule of the shape
    /// and density, never a timing); `None` everywhere else (conv layers, the CPU backend, dense-enough layers).
    /// Build it again whenever the masks change; a step that needs dense weight gradients (a RigL update) runs without it.
    pub fn sparse_plan(
        spec: &NetSpec,
        masks: &[Option<Tensor<1>>],
        counts: &[Option<usize>],
        path: SparsePath,
    ) -> Vec<Option<SparseLinear>> {
        (0..spec.params.len())
            .map(|i| {
                let p = &spec.params[i];
                let (Some(mask), Some(nnz)) = (masks.get(i)?.as_ref(), counts.get(i).copied().flatten()) else {
                    return None;
                };
                if p.role != Role::LinearWeight {
                    return None;
                }
                let shape = SparseShape { rows: p.shape[0], cols: p.shape[1], nnz };
                if !path.uses_sparse(&mask.device(), shape) {
                    return None;
                }
                SparseLinear::from_mask(mask, shape.rows, shape.cols, nnz)
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

fn batch_norm_layer(x: Tensor<4>, params: &[Tensor<1>], norm: &Bn, stats: &mut BnStats, train: bool) -> Tensor<4> {
    let shift = params[norm.shift].clone();
    let scale = match norm.scale {
        Some(i) => params[i].clone(),
        None => shift.ones_like(),
    };
    if !train {
        return batch_norm(x, scale, shift, stats.mean.clone(), stats.var.clone(), BN_EPSILON);
    }
    let [n, _, h, w] = x.dims();
    let out = batch_norm_train(x, scale, shift, BN_EPSILON);
    // Running variance uses the unbiased batch variance, as PyTorch does.
    let count = (n * h * w) as f32;
    let unbiased = out.variance.inner() * (count / (count - 1.0).max(1.0));
    stats.mean = stats.mean.clone() * (1.0 - BN_MOMENTUM) + out.mean.inner() * BN_MOMENTUM;
    stats.var = stats.var.clone() * (1.0 - BN_MOMENTUM) + unbiased * BN_MOMENTUM;
    out.output
}
