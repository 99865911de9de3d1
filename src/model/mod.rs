//! Network architectures as data: a list of parameters and a list of operations.
//!
//! A [`NetSpec`] describes a network (conv2/4/6 of Frankle & Carbin, a width-scaled VGG-11 with BatchNorm, a
//! ResNet-20 with a width multiplier, and airbench, the fast-converging conv–BatchNorm–GELU net that is ticketlab's
//! default); [`Network`] holds its parameters as flat 1-D tensors, one per [`ParamSpec`]. Flat parameters make every
//! whole-model operation elementwise and uniform — masking, optimiser steps, weight averaging, interpolation, saving —
//! and the forward pass reshapes them (a free view) where a layer needs it.
//!
//! Every conv and linear weight is *prunable*: the sparsity code masks exactly those. The one exception is airbench's
//! first layer, a frozen 2×2 patch-whitening convolution set from the training images ([`whitening`]): it is dense,
//! never trained, and costs 0.8% of the network's multiply-accumulates.

mod forward;
mod fused;
pub mod whitening;

pub use forward::{BN_EPSILON, BN_MOMENTUM, BnStats, Network};
pub use fused::SparseLayer;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// The architectures ticketlab can build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    Conv2,
    Conv4,
    Conv6,
    Vgg11,
    Resnet20,
    Airbench,
}

impl Arch {
    pub const ALL: [Arch; 6] = [Arch::Airbench, Arch::Conv2, Arch::Conv4, Arch::Conv6, Arch::Vgg11, Arch::Resnet20];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Conv2 => "conv2",
            Arch::Conv4 => "conv4",
            Arch::Conv6 => "conv6",
            Arch::Vgg11 => "vgg11",
            Arch::Resnet20 => "resnet20",
            Arch::Airbench => "airbench",
        }
    }

    /// The width multiplier that gives the architecture its usual size at small scale: VGG-11 at a quarter of its
    /// channels, airbench at half of airbench94's 64/256/256 (32/128/128, which trains fast on a CPU).
    pub fn default_width(self) -> f32 {
        match self {
            Arch::Vgg11 => 0.25,
            Arch::Airbench => 0.5,
            _ => 1.0,
        }
    }

    /// Whether the network normalises with BatchNorm (its statistics need recalibrating after weights are averaged).
    pub fn has_batch_norm(self) -> bool {
        matches!(self, Arch::Vgg11 | Arch::Resnet20 | Arch::Airbench)
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
    /// A frozen convolution weight set from the data (airbench's patch whitening): dense and never trained.
    Whitening,
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

    /// Whether the optimiser updates this parameter.
    pub fn trainable(&self) -> bool {
        self.role != Role::Whitening
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

/// BatchNorm parameters and the index of its running statistics. Without `scale` the scale is fixed at 1
/// (airbench trains only the shift).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Bn {
    pub scale: Option<usize>,
    pub shift: usize,
    pub stats: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    /// GELU with the exact (erf) form, as PyTorch's default.
    Gelu,
}

/// One step of the forward pass.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Op {
    Conv {
        weight: usize,
        bias: Option<usize>,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    BatchNorm(Bn),
    Act(Activation),
    /// Max pooling over `size × size` windows with stride `size` (floor: an odd side loses its last row).
    MaxPool(usize),
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
    },
    /// Multiply by a constant (airbench scales its logits by 1/9).
    Scale(f32),
}

/// How the weights are drawn before training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Kaiming-normal weights (fan-in, ReLU gain), as open_lth.
    KaimingNormal,
    /// PyTorch's default (uniform in ±1/√fan-in), with the centre tap of each conv's filter `o` on input channel `o`
    /// set to 1 (for `o` below the input channels): airbench's implicit residual path, which speeds up early training.
    /// airbench's Dirac init also zeroes the rest of those filters; here they keep their random values, because under
    /// a sparse mask a pure Dirac filter whose centre is pruned is all zero, and a channel whose filter and whose
    /// outgoing weights are all zero gets exactly zero gradient forever (a dead channel no method can regrow).
    UniformIdentity,
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
    pub init: Init,
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

    /// A convolution (`role` ConvWeight, or Whitening for a frozen one), optionally with a bias.
    #[allow(clippy::too_many_arguments)]
    fn conv_op(
        &mut self,
        name: &str,
        out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        role: Role,
    ) {
        let hw = (self.hw + 2 * padding - kernel) / stride + 1;
        let weight = self.param(format!("{name}.weight"), vec![out, self.channels, kernel, kernel], role, [hw, hw]);
        let bias = bias.then(|| self.param(format!("{name}.bias"), vec![out], Role::Bias, [hw, hw]));
        self.ops.push(Op::Conv { weight, bias, kernel, stride, padding });
        self.channels = out;
        self.hw = hw;
    }

    /// BatchNorm over the current channels; `scale: false` fixes the scale at 1.
    fn batch_norm(&mut self, name: &str, scale: bool) {
        let (c, hw) = (self.channels, [self.hw, self.hw]);
        let scale = scale.then(|| self.param(format!("{name}.bn.scale"), vec![c], Role::BnScale, hw));
        let shift = self.param(format!("{name}.bn.shift"), vec![c], Role::BnShift, hw);
        self.bn_channels.push(c);
        self.ops.push(Op::BatchNorm(Bn { scale, shift, stats: self.bn_channels.len() - 1 }));
    }

    /// The classic 3×3 block: conv, then BatchNorm (or a bias without it), then optionally ReLU.
    fn conv(&mut self, name: &str, out: usize, stride: usize, batch_norm: bool, relu: bool) {
        self.conv_op(name, out, 3, stride, 1, !batch_norm, Role::ConvWeight);
        if batch_norm {
            self.batch_norm(name, true);
        }
        if relu {
            self.ops.push(Op::Act(Activation::Relu));
        }
    }

    fn pool(&mut self, size: usize) {
        self.ops.push(Op::MaxPool(size));
        self.hw /= size;
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

    fn linear(&mut self, name: &str, out: usize, bias: bool, relu: bool) {
        let weight = self.param(format!("{name}.weight"), vec![out, self.features], Role::LinearWeight, [1, 1]);
        let bias = bias.then(|| self.param(format!("{name}.bias"), vec![out], Role::Bias, [1, 1]));
        self.ops.push(Op::Linear { weight, bias });
        if relu {
            self.ops.push(Op::Act(Activation::Relu));
        }
        self.features = out;
    }

    fn basic_block(&mut self, name: &str, out: usize, stride: usize) {
        let in_channels = self.channels;
        self.ops.push(Op::SaveSkip);
        self.conv(&format!("{name}.conv1"), out, stride, true, true);
        self.conv(&format!("{name}.conv2"), out, 1, true, false);
        self.ops.push(Op::AddSkip { stride, in_channels, channels: out });
    }

    /// airbench's block: conv → max-pool 2 → BatchNorm → GELU → conv → BatchNorm → GELU (BatchNorm scales fixed).
    fn airbench_group(&mut self, name: &str, out: usize) {
        let gelu = Op::Act(Activation::Gelu);
        self.conv_op(&format!("{name}.conv1"), out, 3, 1, 1, false, Role::ConvWeight);
        self.pool(2);
        self.batch_norm(&format!("{name}.conv1"), false);
        self.ops.push(gelu.clone());
        self.conv_op(&format!("{name}.conv2"), out, 3, 1, 1, false, Role::ConvWeight);
        self.batch_norm(&format!("{name}.conv2"), false);
        self.ops.push(gelu);
    }
}

fn scaled(channels: usize, width: f32) -> usize {
    ((channels as f32 * width).round() as usize).max(1)
}

/// Output channels of airbench's whitening layer: each of the 3·2·2 = 12 patch eigenvectors and its negation.
pub const WHITENING_CHANNELS: usize = 24;
/// Side of the patches airbench whitens.
pub const WHITENING_KERNEL: usize = 2;

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
                    b.pool(2);
                }
                b.flatten();
                b.linear("fc1", w(256), true, true);
                b.linear("fc2", w(256), true, true);
                b.linear("fc3", num_classes, true, false);
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
                    b.pool(2);
                }
                b.flatten();
                b.linear("fc", num_classes, true, false);
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
                b.linear("fc", num_classes, true, false);
            }
            Arch::Airbench => {
                // airbench94 (Jordan 2024) at widths 64/256/256 × `width`: 32 → 31 → 15 → 7 → 3 → 1 pixels.
                let (k, c) = (WHITENING_KERNEL, WHITENING_CHANNELS);
                b.conv_op("whiten", c, k, 1, 0, true, Role::Whitening);
                b.ops.push(Op::Act(Activation::Gelu));
                for (i, base) in [64, 256, 256].into_iter().enumerate() {
                    b.airbench_group(&format!("block{}", i + 1), w(base));
                }
                b.pool(3);
                b.flatten();
                b.linear("fc", num_classes, false, false);
                b.ops.push(Op::Scale(1.0 / 9.0));
            }
        }
        let init = if arch == Arch::Airbench { Init::UniformIdentity } else { Init::KaimingNormal };
        NetSpec { arch, width, num_classes, params: b.params, ops: b.ops, bn_channels: b.bn_channels, init }
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

    /// The index of the whitening weight, if the network has one.
    pub fn whitening(&self) -> Option<usize> {
        self.params.iter().position(|p| p.role == Role::Whitening)
    }

    /// Initial parameter values, drawn on the CPU from `rng` so every backend starts from the same bits (see
    /// [`Init`]); zero biases, BatchNorm scale 1 and shift 0. A whitening weight starts at zero: the trainer sets it
    /// from the training images ([`whitening::weights`]).
    pub fn init_values(&self, rng: &mut Rng) -> Vec<Vec<f32>> {
        self.params
            .iter()
            .map(|p| match (p.role, self.init) {
                (Role::ConvWeight | Role::LinearWeight, Init::KaimingNormal) => {
                    let std = (2.0 / p.fan_in() as f32).sqrt();
                    (0..p.numel()).map(|_| rng.normal() * std).collect()
                }
                (Role::ConvWeight | Role::LinearWeight, Init::UniformIdentity) => {
                    let bound = 1.0 / (p.fan_in() as f32).sqrt();
                    let mut w: Vec<f32> = (0..p.numel()).map(|_| rng.range_f32(-bound, bound)).collect();
                    if p.role == Role::ConvWeight {
                        add_identity(&mut w, &p.shape);
                    }
                    w
                }
                (Role::Bias | Role::BnShift | Role::Whitening, _) => vec![0.0; p.numel()],
                (Role::BnScale, _) => vec![1.0; p.numel()],
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
            let note = if p.role == Role::Whitening { "  (frozen, dense: set from the data)" } else { "" };
            out += &format!("{:<28} {:>18} {:>10} {:>14}{note}\n", p.name, shape, p.numel(), flops);
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

/// Set the centre tap of filter `o` on input channel `o` to 1 for the first `min(out, in)` filters of a
/// `[out, in, k, k]` weight, so each passes its own channel through (plus its random taps).
fn add_identity(w: &mut [f32], shape: &[usize]) {
    let (out, inp, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
    for o in 0..out.min(inp) {
        w[((o * inp + o) * kh + kh / 2) * kw + kw / 2] = 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;

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
    fn airbench_matches_airbench94_at_full_width() {
        let spec = NetSpec::new(Arch::Airbench, 1.0, 10);
        let shapes: Vec<_> = spec.prunable().iter().map(|&i| spec.params[i].shape.clone()).collect();
        assert_eq!(
            shapes,
            vec![
                vec![64, 24, 3, 3],
                vec![64, 64, 3, 3],
                vec![256, 64, 3, 3],
                vec![256, 256, 3, 3],
                vec![256, 256, 3, 3],
                vec![256, 256, 3, 3],
                vec![10, 256]
            ]
        );
        // Output sides of the prunable layers: 31 before the first pool, then 15, 7 and 3.
        let sides: Vec<_> = spec.prunable().iter().map(|&i| spec.params[i].out_hw[0]).collect();
        assert_eq!(sides, vec![31, 15, 15, 7, 7, 3, 1]);
        let whitening = &spec.params[spec.whitening().unwrap()];
        assert_eq!(
            (whitening.shape.as_slice(), whitening.prunable(), whitening.trainable()),
            (&[24, 3, 2, 2][..], false, false)
        );
        // BatchNorm trains only its shift; the classifier has no bias.
        assert!(spec.params.iter().all(|p| p.role != Role::BnScale));
        assert_eq!(spec.params.iter().filter(|p| p.role == Role::Bias).count(), 1, "only the whitening bias");
        // At the default width: 32/128/128 channels, about half a million parameters.
        let small = NetSpec::new(Arch::Airbench, Arch::Airbench.default_width(), 10);
        assert_eq!(small.prunable().iter().map(|&i| small.params[i].numel()).sum::<usize>(), 496_640);
    }

    #[test]
    fn identity_taps_pass_each_channel_through_and_no_filter_is_empty() {
        let spec = NetSpec::new(Arch::Airbench, 0.5, 10);
        let values = spec.init_values(&mut Rng::new(3));
        let i = spec.prunable()[1]; // block1.conv2: 32 → 32
        let [out, inp, k] = [spec.params[i].shape[0], spec.params[i].shape[1], spec.params[i].shape[2]];
        let bound = 1.0 / ((inp * k * k) as f32).sqrt();
        for o in 0..out {
            for c in 0..inp {
                let centre = values[i][((o * inp + c) * k + 1) * k + 1];
                if o == c {
                    assert_eq!(centre, 1.0, "filter {o}");
                } else {
                    assert!(centre.abs() < bound && centre != 0.0, "filter {o}, channel {c}: {centre}");
                }
            }
        }
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
