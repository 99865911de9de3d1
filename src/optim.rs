//! Masked optimisers over flat parameter tensors.
//!
//! The sparsity invariant is kept here: at a masked parameter's inactive positions the gradient (weight decay
//! included) is replaced by zero before it reaches the optimiser state, so a pruned weight — stored as exactly zero,
//! with zero state — gets no step, no weight decay and no momentum, and stays exactly zero. Every such zeroing is a
//! select, never a product with the 0/1 mask: NaN·0 is NaN, and a NaN gradient must not reach a pruned weight.
//! When masks change, [`Optimizer::apply_masks`] zeroes the dropped weights and the optimiser state of every
//! inactive position, so regrown weights start from zero state.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::kernels::{self, AdamHyper, SgdHyper};
use crate::num::Shown;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerKind {
    /// SGD with (optionally Nesterov) momentum, PyTorch semantics.
    Sgd { momentum: f64, nesterov: bool },
    /// Adam (Kingma & Ba) with L2 weight decay added to the gradient, PyTorch semantics.
    Adam { beta1: f64, beta2: f64, epsilon: f64 },
}

impl std::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            OptimizerKind::Sgd { momentum, nesterov: true } => write!(f, "SGD (Nesterov, momentum {momentum})"),
            OptimizerKind::Sgd { momentum, nesterov: false } => write!(f, "SGD (momentum {momentum})"),
            OptimizerKind::Adam { beta1, beta2, .. } => write!(f, "Adam (β {beta1}, {beta2})"),
        }
    }
}

impl OptimizerKind {
    pub fn sgd() -> Self {
        OptimizerKind::Sgd { momentum: 0.9, nesterov: false }
    }

    pub fn adam() -> Self {
        OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }
    }

    pub fn validate(&self) -> Result<(), String> {
        match *self {
            OptimizerKind::Sgd { momentum, .. } if !(0.0..1.0).contains(&momentum) => {
                Err(format!("momentum {} is out of range [0, 1)", Shown(momentum)))
            }
            OptimizerKind::Adam { beta1, beta2, epsilon }
                if !(0.0..1.0).contains(&beta1) || !(0.0..1.0).contains(&beta2) || epsilon <= 0.0 =>
            {
                Err(format!(
                    "Adam betas ({}, {}) must be in [0, 1) and epsilon ({}) positive",
                    Shown(beta1),
                    Shown(beta2),
                    Shown(epsilon)
                ))
            }
            _ => Ok(()),
        }
    }
}

// One per parameter: that Adam's variant holds two tensors and momentum's one costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum State {
    Empty,
    Momentum(Tensor<1>),
    Adam { m: Tensor<1>, v: Tensor<1> },
}

#[derive(Clone, Debug)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub weight_decay: f64,
    /// Learning-rate multiplier of each parameter, `None` for a frozen one (see [`Optimizer::new`]).
    lr_scales: Vec<Option<f64>>,
    state: Vec<State>,
    /// All-ones masks for the unmasked parameters, made once, for the GPU kernel (which always takes a mask).
    ones: Vec<Option<Tensor<1>>>,
    steps: u64,
}

impl Optimizer {
    /// An optimiser over parameters with learning-rate multipliers `lr_scales` (`None`: frozen, never updated).
    /// A parameter's weight decay is divided by its multiplier, so its decay per step equals the others'
    /// (airbench's "bias scaler" for BatchNorm parameters).
    pub fn new(kind: OptimizerKind, weight_decay: f64, lr_scales: Vec<Option<f64>>) -> Self {
        let n = lr_scales.len();
        Optimizer { kind, weight_decay, lr_scales, state: vec![State::Empty; n], ones: vec![None; n], steps: 0 }
    }

    /// One update. `masks[i]` is the 0/1 mask of parameter `i`, or `None` for unmasked parameters.
    /// On the wgpu backend SGD and Adam each run as one fused WGSL kernel per parameter; elsewhere as tensor ops.
    pub fn step(&mut self, params: &mut [Tensor<1>], grads: Vec<Tensor<1>>, masks: &[Option<Tensor<1>>], lr: f64) {
        self.steps += 1;
        for (i, grad) in grads.into_iter().enumerate() {
            let Some(scale) = self.lr_scales[i] else { continue };
            let (lr, weight_decay) = (lr * scale, self.weight_decay / scale);
            let w = params[i].clone();
            match self.kind {
                OptimizerKind::Sgd { momentum, nesterov } => {
                    let v = match &self.state[i] {
                        State::Momentum(v) => v.clone(),
                        _ => w.zeros_like(),
                    };
                    let hyper = SgdHyper {
                        lr: lr as f32,
                        momentum: momentum as f32,
                        weight_decay: weight_decay as f32,
                        nesterov,
                    };
                    let (w, v) = if kernels::uses_gpu_kernels(&w.device()) {
                        let mask = match &masks[i] {
                            Some(m) => m.clone(),
                            None => self.ones[i].get_or_insert_with(|| w.ones_like()).clone(),
                        };
                        kernels::masked_sgd_step(w, grad, v, mask, hyper)
                    } else {
                        masked_sgd_reference(w, grad, v, masks[i].clone(), hyper)
                    };
                    params[i] = w;
                    self.state[i] = State::Momentum(v);
                }
                OptimizerKind::Adam { beta1, beta2, epsilon } => {
                    let hyper = AdamHyper {
                        lr: lr as f32,
                        beta1,
                        beta2,
                        epsilon,
                        weight_decay: weight_decay as f32,
                        step: self.steps,
                    };
                    let (m, v) = match &self.state[i] {
                        State::Adam { m, v } => (Some(m.clone()), Some(v.clone())),
                        _ => (None, None),
                    };
                    let (w, m, v) = if kernels::uses_gpu_kernels(&w.device()) {
                        let mask = match &masks[i] {
                            Some(m) => m.clone(),
                            None => self.ones[i].get_or_insert_with(|| w.ones_like()).clone(),
                        };
                        let m = m.unwrap_or_else(|| w.zeros_like());
                        let v = v.unwrap_or_else(|| w.zeros_like());
                        kernels::masked_adam_step(w, grad, m, v, mask, hyper)
                    } else {
                        masked_adam_reference(w, grad, m, v, masks[i].clone(), hyper)
                    };
                    params[i] = w;
                    self.state[i] = State::Adam { m, v };
                }
            }
        }
    }

    /// Enforce new masks: zero the inactive weights and the optimiser state at every inactive position.
    pub fn apply_masks(&mut self, params: &mut [Tensor<1>], masks: &[Option<Tensor<1>>]) {
        for (i, mask) in masks.iter().enumerate() {
            let Some(m) = mask else { continue };
            let off = m.clone().equal_elem(0.0);
            let zero = |t: &Tensor<1>| t.clone().mask_fill(off.clone(), 0.0);
            params[i] = zero(&params[i]);
            self.state[i] = match &self.state[i] {
                State::Empty => State::Empty,
                State::Momentum(v) => State::Momentum(zero(v)),
                State::Adam { m: m1, v } => State::Adam { m: zero(m1), v: zero(v) },
            };
        }
    }

    /// The momentum (SGD) or first moment (Adam) of parameter `i`, if any step has run.
    pub fn first_moment(&self, i: usize) -> Option<&Tensor<1>> {
        match &self.state[i] {
            State::Empty => None,
            State::Momentum(v) | State::Adam { m: v, .. } => Some(v),
        }
    }
}

/// The masked SGD-momentum step as tensor ops: the CPU path, and the reference the WGSL kernel is tested against.
/// Returns the new weight and velocity; both stay exactly zero where the mask is (they were zero, and the gradient
/// there is replaced by zero). The kernel writes those zeros outright.
pub fn masked_sgd_reference(
    w: Tensor<1>,
    grad: Tensor<1>,
    velocity: Tensor<1>,
    mask: Option<Tensor<1>>,
    hyper: SgdHyper,
) -> (Tensor<1>, Tensor<1>) {
    let inactive = mask.map(|m| m.equal_elem(0.0));
    let g = if hyper.weight_decay > 0.0 { grad + w.clone() * hyper.weight_decay } else { grad };
    let g = zero_at(g, &inactive);
    let v = velocity * hyper.momentum + g.clone();
    let d = if hyper.nesterov { g + v.clone() * hyper.momentum } else { v.clone() };
    (w - d * hyper.lr, v)
}

/// The masked Adam step as tensor ops (PyTorch semantics: L2 weight decay added to the gradient, bias-corrected
/// moments): the CPU path, and the reference the WGSL kernel is tested against. `m` and `v` are `None` before the
/// first step. Returns the new weight and moments, which stay exactly zero where the mask is (as in SGD's).
pub fn masked_adam_reference(
    w: Tensor<1>,
    grad: Tensor<1>,
    m: Option<Tensor<1>>,
    v: Option<Tensor<1>>,
    mask: Option<Tensor<1>>,
    hyper: AdamHyper,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let AdamHyper { lr, beta1, beta2, epsilon, weight_decay, .. } = hyper;
    let inactive = mask.map(|m| m.equal_elem(0.0));
    let g = if weight_decay > 0.0 { grad + w.clone() * weight_decay } else { grad };
    let g = zero_at(g, &inactive);
    let (m, v) = match (m, v) {
        (Some(m), Some(v)) => (m * beta1 + g.clone() * (1.0 - beta1), v * beta2 + g.square() * (1.0 - beta2)),
        _ => (g.clone() * (1.0 - beta1), g.square() * (1.0 - beta2)),
    };
    let (bc1, bc2) = hyper.bias_corrections();
    let m_hat = m.clone() / bc1;
    let v_hat = v.clone() / bc2;
    (w - m_hat / (v_hat.sqrt() + epsilon) * lr, m, v)
}

/// `t` with zeros where `inactive` is set (a select: NaN stays out).
fn zero_at(t: Tensor<1>, inactive: &Option<Tensor<1, Bool>>) -> Tensor<1> {
    match inactive {
        Some(off) => t.mask_fill(off.clone(), 0.0),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NaN or infinite gradient at a pruned position (a diverging loss, a bad input) must not reach the pruned
    /// weight or its state (NaN·0 = NaN): with every optimiser, and when a mask drops a weight that is already NaN.
    #[test]
    fn nan_gradients_never_reach_pruned_weights() {
        let device = Device::flex();
        let t = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
        let read = |t: &Tensor<1>| t.clone().into_data().try_into_vec_as::<f32>().unwrap();
        let mask = t(&[1.0, 0.0, 1.0, 0.0]);
        let grad = [0.5, f32::NAN, -0.25, f32::INFINITY];
        for kind in [OptimizerKind::sgd(), OptimizerKind::Sgd { momentum: 0.9, nesterov: true }, OptimizerKind::adam()]
        {
            let mut opt = Optimizer::new(kind, 5e-4, vec![Some(1.0)]);
            let mut params = vec![t(&[1.0, 0.0, -2.0, 0.0])];
            for _ in 0..3 {
                opt.step(&mut params, vec![t(&grad)], &[Some(mask.clone())], 0.1);
            }
            let w = read(&params[0]);
            assert_eq!((w[1], w[3]), (0.0, 0.0), "{kind:?}: pruned weights stay exactly zero, got {w:?}");
            assert!(w[0].is_finite() && w[2].is_finite() && w[0] != 1.0, "{kind:?}: active weights train: {w:?}");
            let state = read(opt.first_moment(0).unwrap());
            assert_eq!((state[1], state[3]), (0.0, 0.0), "{kind:?}: no momentum at pruned positions: {state:?}");
            // A weight that went NaN while active is zero once a mask drops it.
            let mut params = vec![t(&[f32::NAN, 1.0, 2.0, 3.0])];
            opt.apply_masks(&mut params, &[Some(t(&[0.0, 1.0, 1.0, 1.0]))]);
            assert_eq!(read(&params[0]), [0.0, 1.0, 2.0, 3.0]);
        }
    }
}
