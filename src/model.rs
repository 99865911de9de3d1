//! Network architectures as data: a list of parameters and a list of operations.
//!
//! A [`NetSpec`] describes a network (conv2/4/6 of Frankle & Carbin, a width-scaled VGG-11 with BatchNorm, a
//! ResNet-20 with a width multiplier); [`Network`] holds its parameters as flat 1-D tensors, one per [`ParamSpec`].
//! Flat parameters make every whole-model operation elementwise and uniform — masking, optimiser steps, weight
//! averaging, interpolation, saving — and the forward pass reshapes them (a free view) where a layer needs it.
//!
//! Every conv and linear weight is *prunable*: the sparsity code masks exactly those.

use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, batch_norm, batch_norm_train, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use serde::{Deserialize, Serialize};

use crate::kernels::{SparseLinear, SparsePath, SparseShape, lerp};
use crate::rng::Rng;

pub const BN_EPSILON: f64 = 1e-5;
/// Weight of the current batch in the running BatchNorm statistics (PyTorch's default momentum).
pub const BN_MOMENTUM: f32 = 0.1;

/// The architectures ticketlab can build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    Conv2,
    Conv4,
    Conv6,
    Vgg11,
    Resnet20,
}

impl Arch {
    pub const ALL: [Arch; 5] = [Arch::Conv2, Arch::Conv4, Arch::Conv6, Arch::Vgg11, Arch::Resnet20];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Conv2 => "conv2",
            Arch::Conv4 => "conv4",
            Arch::Conv6 => "conv6",
            Arch::Vgg11 => "vgg11",
            Arch::Resnet20 => "resnet20",
        }
    }

    /// The width multiplier that gives the architecture its usual size at small scale.
    pub fn default_width(self) -> f32 {
        match self {
            Arch::Vgg11 => 0.25,
            _ => 1.0,
        }
    }
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Arch::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            let names: Vec<_> = Arch::ALL.iter().map(|a| a.name()).collect();
            format!("unknown model '{s}' (expected one of: {})", names.join(", "))
        })
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    ConvWeight,
    LinearWeight,
    Bias,
    BnScale,
    BnShift,
}

/// One parameter tensor: its name, logical shape and role.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: Role,
    /// Spatial size of the layer's output (1×1 for linear layers): what FLOP counts multiply by.
    pub out_hw: [usize; 2],
}

impl ParamSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn prunable(&self) -> bool {
        matches!(self.role, Role::ConvWeight | Role::LinearWeight)
    }

    /// Fan-in of a weight: inputs that feed one output unit.
    pub fn fan_in(&self) -> usize {
        self.shape[1..].iter().product()
    }

    /// Multiply-accumulates of one forward pass per example if the weight were dense.
    pub fn dense_macs(&self) -> u64 {
        if self.prunable() { (self.numel() * self.out_hw[0] * self.out_hw[1]) as u64 } else { 0 }
    }
}

/// BatchNorm parameters and the index of its running statistics.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Bn {
    pub scale: usize,
    pub shift: usize,
    pub stats: usize,
}

/// One step of the forward pass. Convolutions are 3×3 unless `kernel` says otherwise.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Op {
    Conv {
        weight: usize,
        bias: Option<usize>,
        bn: Option<Bn>,
        stride: usize,
        kernel: usize,
        relu: bool,
    },
    MaxPool2,
    /// Remember the current activation as the residual branch's input.
    SaveSkip,
    /// Add the saved input (subsampled by `stride` and zero-padded to `channels`, ResNet's option A), then ReLU.
    AddSkip {
        stride: usize,
        in_channels: usize,
        channels: usize,
    },
    GlobalAvgPool,
    Flatten,
    Linear {
        weight: usize,
        bias: Option<usize>,
        relu: bool,
    },
}

/// A network's structure: everything but the parameter values.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetSpec {
    pub arch: Arch,
    pub width: f32,
    pub num_classes: usize,
    pub params: Vec<ParamSpec>,
    pub ops: Vec<Op>,
    /// Channel counts of the BatchNorm layers, indexed by `Bn::stats`.
    pub bn_channels: Vec<usize>,
}

/// Builds a [`NetSpec`] while tracking the activation shape.
struct Builder {
    params: Vec<ParamSpec>,
    ops: Vec<Op>,
    bn_channels: Vec<usize>,
    channels: usize,
    hw: usize,
    features: usize,
}

impl Builder {
    fn new() -> Self {
        Builder { params: vec![], ops: vec![], bn_channels: vec![], channels: 3, hw: 32, features: 0 }
    }

    fn param(&mut self, name: String, shape: Vec<usize>, role: Role, out_hw: [usize; 2]) -> usize {
        self.params.push(ParamSpec { name, shape, role, out_hw });
        self.params.len() - 1
    }

    fn conv(&mut self, name: &str, out: usize, stride: usize, batch_norm: bool, relu: bool) {
        let hw = self.hw / stride;
        let weight = self.param(format!("{name}.weight"), vec![out, self.channels, 3, 3], Role::ConvWeight, [hw, hw]);
        let (bias, bn) = if batch_norm {
            let scale = self.param(format!("{name}.bn.scale"), vec![out], Role::BnScale, [hw, hw]);
            let shift = self.param(format!("{name}.bn.shift"), vec![out], Role::BnShift, [hw, hw]);
            self.bn_channels.push(out);
            (None, Some(Bn { scale, shift, stats: self.bn_channels.len() - 1 }))
        } else {
            (Some(self.param(format!("{name}.bias"), vec![out], Role::Bias, [hw, hw])), None)
        };
        self.ops.push(Op::Conv { weight, bias, bn, stride, kernel: 3, relu });
        self.channels = out;
        self.hw = hw;
    }

    fn pool(&mut self) {
        self.ops.push(Op::MaxPool2);
        self.hw /= 2;
    }

    fn flatten(&mut self) {
        self.ops.push(Op::Flatten);
        self.features = self.channels * self.hw * self.hw;
    }

    fn global_pool(&mut self) {
        self.ops.push(Op::GlobalAvgPool);
        self.features = self.channels;
        self.hw = 1;
    }

    fn linear(&mut self, name: &str, out: usize, relu: bool) {
        let weight = self.param(format!("{name}.weight"), vec![out, self.features], Role::LinearWeight, [1, 1]);
        let bias = Some(self.param(format!("{name}.bias"), vec![out], Role::Bias, [1, 1]));
        self.ops.push(Op::Linear { weight, bias, relu });
        self.features = out;
    }

    fn basic_block(&mut self, name: &str, out: usize, stride: usize) {
        let in_channels = self.channels;
        self.ops.push(Op::SaveSkip);
        self.conv(&format!("{name}.conv1"), out, stride, true, true);
        self.conv(&format!("{name}.conv2"), out, 1, true, false);
        self.ops.push(Op::AddSkip { stride, in_channels, channels: out });
    }
}

fn scaled(channels: usize, width: f32) -> usize {
    ((channels as f32 * width).round() as usize).max(1)
}

impl NetSpec {
    pub fn new(arch: Arch, width: f32, num_classes: usize) -> Self {
        let mut b = Builder::new();
        let w = |c| scaled(c, width);
        match arch {
            Arch::Conv2 | Arch::Conv4 | Arch::Conv6 => {
                let stages = match arch {
                    Arch::Conv2 => 1,
                    Arch::Conv4 => 2,
                    _ => 3,
                };
                for s in 0..stages {
                    let c = w(64 << s);
                    b.conv(&format!("conv{}", 2 * s + 1), c, 1, false, true);
                    b.conv(&format!("conv{}", 2 * s + 2), c, 1, false, true);
                    b.pool();
                }
                b.flatten();
                b.linear("fc1", w(256), true);
                b.linear("fc2", w(256), true);
                b.linear("fc3", num_classes, false);
            }
            Arch::Vgg11 => {
                // VGG-11's configuration A; the fifth pool leaves 1×1 feature maps on 32×32 inputs.
                let plan: [&[usize]; 5] = [&[64], &[128], &[256, 256], &[512, 512], &[512, 512]];
                let mut n = 0;
                for stage in plan {
                    for &c in stage {
                        n += 1;
                        b.conv(&format!("conv{n}"), w(c), 1, true, true);
                    }
                    b.pool();
                }
                b.flatten();
                b.linear("fc", num_classes, false);
            }
            Arch::Resnet20 => {
                b.conv("stem", w(16), 1, true, true);
                for (stage, base) in [16, 32, 64].into_iter().enumerate() {
                    for block in 0..3 {
                        let stride = if stage > 0 && block == 0 { 2 } else { 1 };
                        b.basic_block(&format!("stage{}.block{}", stage + 1, block + 1), w(base), stride);
                    }
                }
                b.global_pool();
                b.linear("fc", num_classes, false);
            }
        }
        NetSpec { arch, width, num_classes, params: b.params, ops: b.ops, bn_channels: b.bn_channels }
    }

    /// Indices of the prunable parameters (conv and linear weights), in forward order.
    pub fn prunable(&self) -> Vec<usize> {
        (0..self.params.len()).filter(|&i| self.params[i].prunable()).collect()
    }

    pub fn num_params(&self) -> usize {
        self.params.iter().map(ParamSpec::numel).sum()
    }

    pub fn dense_macs(&self) -> u64 {
        self.params.iter().map(ParamSpec::dense_macs).sum()
    }

    /// Initial parameter values, drawn on the CPU from `rng` so every backend starts from the same bits:
    /// Kaiming-normal weights (fan-in, ReLU gain, as open_lth), zero biases, BatchNorm scale 1 and shift 0.
    pub fn init_values(&self, rng: &mut Rng) -> Vec<Vec<f32>> {
        self.params
            .iter()
            .map(|p| match p.role {
                Role::ConvWeight | Role::LinearWeight => {
                    let std = (2.0 / p.fan_in() as f32).sqrt();
                    (0..p.numel()).map(|_| rng.normal() * std).collect()
                }
                Role::Bias | Role::BnShift => vec![0.0; p.numel()],
                Role::BnScale => vec![1.0; p.numel()],
            })
            .collect()
    }

    /// A table of layers, shapes, parameter counts and forward FLOPs (what `ticketlab info` prints).
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} (width ×{}, {} classes)\n{:<28} {:>18} {:>10} {:>14}\n",
            self.arch, self.width, self.num_classes, "parameter", "shape", "count", "fwd MFLOPs"
        );
        for p in &self.params {
            let shape = p.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
            let flops = if p.prunable() { format!("{:.2}", 2.0 * p.dense_macs() as f64 / 1e6) } else { "".into() };
            out += &format!("{:<28} {:>18} {:>10} {:>14}\n", p.name, shape, p.numel(), flops);
        }
        out += &format!(
            "total: {} parameters ({} prunable), {:.2} MFLOPs per image forward\n",
            self.num_params(),
            self.prunable().iter().map(|&i| self.params[i].numel()).sum::<usize>(),
            2.0 * self.dense_macs() as f64 / 1e6
        );
        out
    }
}

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
        let mut x4 = x;
        let mut x2: Option<Tensor<2>> = None;
        let mut skip: Option<Tensor<4>> = None;
        for op in &spec.ops {
            match op {
                Op::Conv { weight, bias, bn: norm, stride, kernel, relu: act } => {
                    let pad = kernel / 2;
                    let opts = ConvOptions::new([*stride; 2], [pad; 2], [1, 1], 1);
                    let mut y = conv2d(x4, shaped(*weight), bias.map(|b| params[b].clone()), opts);
                    if let Some(n) = norm {
                        y = batch_norm_layer(
                            y,
                            params[n.scale].clone(),
                            params[n.shift].clone(),
                            &mut bn[n.stats],
                            train,
                        );
                    }
                    x4 = if *act { relu(y) } else { y };
                }
                Op::MaxPool2 => x4 = max_pool2d(x4, MaxPoolOptions::new([2, 2])),
                Op::SaveSkip => skip = Some(x4.clone()),
                Op::AddSkip { stride, in_channels, channels } => {
                    let mut s = skip.take().expect("AddSkip without SaveSkip: malformed NetSpec");
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
                    x4 = relu(x4 + s);
                }
                Op::GlobalAvgPool => {
                    let [n, c, _, _] = x4.dims();
                    x2 = Some(x4.clone().mean_dims(&[2, 3]).reshape([n, c]));
                }
                Op::Flatten => {
                    let [n, c, h, w] = x4.dims();
                    x2 = Some(x4.clone().reshape([n, c * h * w]));
                }
                Op::Linear { weight, bias, relu: act } => {
                    let s = &spec.params[*weight].shape;
                    let input = x2.take().expect("Linear before Flatten: malformed NetSpec");
                    let mut y = match sparse.get(*weight) {
                        Some(Some(layer)) => layer.forward(input, params[*weight].clone()),
                        _ => input.matmul(params[*weight].clone().reshape([s[0], s[1]]).transpose()),
                    };
                    if let Some(b) = bias {
                        y = y + params[*b].clone().unsqueeze_dim(0);
                    }
                    x2 = Some(if *act { relu(y) } else { y });
                }
            }
        }
        x2.expect("network without a classifier: malformed NetSpec")
    }
}

impl Network {
    /// Which linear layers to compute through the sparse path: for each masked linear weight (`masks[i]` its 0/1
    /// mask on the device, `counts[i]` its exact active count), a [`SparseLinear`] where `path` chooses the
    /// compressed path on the mask's device (by default by `kernels::sparse_linear_wins`, a fixed rule of the shape and
    /// density); `None` everywhere else (conv layers, the CPU backend, dense-enough layers). Build it again whenever
    /// the masks change; a step that needs dense weight gradients (a RigL update) runs without it.
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

fn batch_norm_layer(x: Tensor<4>, scale: Tensor<1>, shift: Tensor<1>, stats: &mut BnStats, train: bool) -> Tensor<4> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv4_matches_frankle_carbin() {
        let spec = NetSpec::new(Arch::Conv4, 1.0, 10);
        let shapes: Vec<_> = spec.prunable().iter().map(|&i| spec.params[i].shape.clone()).collect();
        assert_eq!(
            shapes,
            vec![
                vec![64, 3, 3, 3],
                vec![64, 64, 3, 3],
                vec![128, 64, 3, 3],
                vec![128, 128, 3, 3],
                vec![256, 8192],
                vec![256, 256],
                vec![10, 256]
            ]
        );
    }

    #[test]
    fn resnet20_has_nineteen_convs_and_one_fc() {
        let spec = NetSpec::new(Arch::Resnet20, 1.0, 100);
        let p = spec.prunable();
        assert_eq!(p.len(), 20);
        assert_eq!(spec.params[*p.last().unwrap()].shape, vec![100, 64]);
        // ~0.27M parameters in the original paper.
        assert!((260_000..280_000).contains(&spec.num_params()), "{}", spec.num_params());
    }

    #[test]
    fn all_architectures_produce_logits() {
        let device = Device::flex();
        for arch in Arch::ALL {
            let spec = NetSpec::new(arch, 0.25, 10);
            let mut net = Network::init(&spec, &mut Rng::new(0), &device);
            let x = Tensor::<4>::zeros([2, 3, 32, 32], &device);
            let y = Network::forward(&spec, &net.params, &mut net.bn, x, true);
            assert_eq!(y.dims(), [2, 10], "{arch}");
        }
    }
}
