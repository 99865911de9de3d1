//! Where the forward pass runs through ticketlab's CPU kernels (`crate::cpu`) on the flex backend: a convolution
//! with the ReLU and 2×2 max pooling that follow it fused in, BatchNorm with the activation after it, an activation
//! alone, and masked layers from their compressed weight ([`SparseLayer`]). Each function returns `None` where the
//! kernels do not apply (another device or shape), and the forward pass composes burn's operations as before.

use std::sync::Arc;

use burn::prelude::*;

use super::{Activation, Op};
use crate::cpu::{
    self, ConvSpec, NormAct, NormOutput, SparseConv, cpu_activation, cpu_batch_norm_act, cpu_batch_norm_act_eval,
    cpu_conv2d, cpu_sparse_linear,
};
use crate::kernels::SparseLinear;

/// A layer computed from its compressed weight (see `Network::sparse_plan`).
#[derive(Clone, Debug)]
pub enum SparseLayer {
    /// A linear layer on wgpu.
    Linear(Box<SparseLinear>),
    /// A convolution or linear layer on the CPU backend; with `dense_weight_grad` its weight gradient is computed
    /// at every position (forward pass and input gradient still from the active weights).
    Cpu { layout: Arc<SparseConv>, dense_weight_grad: bool },
}

impl SparseLayer {
    /// This layer as a step that needs dense weight gradients (a RigL update) can run it: the CPU layers with
    /// their weight gradient everywhere; `None` (the dense path) for the others.
    pub fn with_dense_weight_grad(&self) -> Option<SparseLayer> {
        match self {
            SparseLayer::Cpu { layout, .. } => {
                Some(SparseLayer::Cpu { layout: layout.clone(), dense_weight_grad: true })
            }
            SparseLayer::Linear(_) => None,
        }
    }
}

fn cpu_layout(layer: Option<&Option<SparseLayer>>) -> (Option<&Arc<SparseConv>>, bool) {
    match layer {
        Some(Some(SparseLayer::Cpu { layout, dense_weight_grad })) => (Some(layout), *dense_weight_grad),
        _ => (None, false),
    }
}

/// A stride-1 convolution through the CPU kernels, with the ReLU and the 2×2 max pooling among the `next` ops fused
/// in (either order: they commute); returns the output and how many of the `next` ops it applied.
pub(super) fn conv(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    [kernel, stride, padding]: [usize; 3],
    next: &[Op],
    layer: Option<&Option<SparseLayer>>,
) -> Option<(Tensor<4>, usize)> {
    let [_, _, h, w] = x.dims();
    if stride != 1 || h + 2 * padding < kernel || w + 2 * padding < kernel {
        return None;
    }
    // A pooling needs at least a 2×2 output to pool.
    let poolable = h + 2 * padding + 1 - kernel >= 2 && w + 2 * padding + 1 - kernel >= 2;
    let (mut relu, mut pool, mut consumed) = (false, false, 0);
    for op in next {
        match op {
            Op::Act(Activation::Relu) if !relu => relu = true,
            Op::MaxPool(2) if !pool && poolable => pool = true,
            _ => break,
        }
        consumed += 1;
    }
    let (layout, dense_weight_grad) = cpu_layout(layer);
    let spec = ConvSpec { k: kernel, pad: padding, relu, pool, dense_weight_grad };
    cpu_conv2d(x, weight, bias, spec, layout).map(|y| (y, consumed))
}

fn norm_act(next: Option<&Op>) -> (NormAct, usize) {
    match next {
        Some(Op::Act(Activation::Relu)) => (NormAct::Relu, 1),
        Some(Op::Act(Activation::Gelu)) => (NormAct::Gelu, 1),
        _ => (NormAct::None, 0),
    }
}

/// BatchNorm with batch statistics and the activation that follows it (if `next` is one) through the CPU kernels:
/// the output, the batch statistics and whether it applied the activation.
pub(super) fn batch_norm_train(
    x: &Tensor<4>,
    scale: &Tensor<1>,
    shift: &Tensor<1>,
    eps: f64,
    next: Option<&Op>,
) -> Option<(NormOutput, usize)> {
    let (act, consumed) = norm_act(next);
    cpu_batch_norm_act(x, scale, shift, eps, act).map(|out| (out, consumed))
}

/// BatchNorm with running statistics and the activation that follows it, through the CPU kernels.
pub(super) fn batch_norm_eval(
    x: &Tensor<4>,
    [scale, shift, mean, var]: [&Tensor<1>; 4],
    eps: f64,
    next: Option<&Op>,
) -> Option<(Tensor<4>, usize)> {
    let (act, consumed) = norm_act(next);
    cpu_batch_norm_act_eval(x, scale, shift, mean, var, eps, act).map(|y| (y, consumed))
}

/// An activation alone through the CPU kernels.
pub(super) fn activation<const D: usize>(x: &Tensor<D>, act: Activation) -> Option<Tensor<D>> {
    cpu_activation(x, if act == Activation::Relu { NormAct::Relu } else { NormAct::Gelu })
}

/// A masked linear layer on the CPU from its compressed weight (`weight` flat), with its bias.
pub(super) fn sparse_linear(
    x: &Tensor<2>,
    weight: &Tensor<1>,
    bias: Option<&Tensor<1>>,
    layer: Option<&Option<SparseLayer>>,
) -> Option<Tensor<2>> {
    let (layout, dense_weight_grad) = cpu_layout(layer);
    cpu_sparse_linear(x, weight, bias, layout?, dense_weight_grad)
}

/// The CPU layout of a masked weight where `path` routes it through the sparse kernels (see [`SparseConv::plan`]).
pub(super) fn cpu_plan(
    mask: &Tensor<1>,
    shape: &[usize],
    linear: bool,
    nnz: usize,
    path: crate::kernels::SparsePath,
) -> Option<SparseLayer> {
    let k = if linear { 1 } else { shape[2] };
    let layout = cpu::SparseConv::plan(mask, [shape[0], shape[1], k], linear, nnz, path)?;
    Some(SparseLayer::Cpu { layout, dense_weight_grad: false })
}
