//! Owner of `shaders/masked_adam.wgsl`: the fused masked Adam step.

use burn::backend::wgpu::into_contiguous;
use burn::backend::{Cube, Dispatch, backend_extension, tensor::FloatTensor};
use burn::prelude::*;

use super::{Wgsl, empty_like, launch_elementwise};

/// Hyper-parameters of one Adam step; `step` is t, the 1-based count of steps taken including this one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    pub lr: f32,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub weight_decay: f32,
    pub step: u64,
}

impl AdamHyper {
    /// The bias corrections `(1 − β₁ᵗ, 1 − β₂ᵗ)`, computed in f64.
    pub fn bias_corrections(&self) -> (f64, f64) {
        let t = self.step.min(i32::MAX as u64) as i32;
        (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t))
    }
}

#[backend_extension(Cube)]
pub trait MaskedAdamBackend: burn::backend::Backend {
    /// Returns the new weight, first moment and second moment.
    fn masked_adam(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment1: FloatTensor<Self>,
        moment2: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        hyper: AdamHyper,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl MaskedAdamBackend for Cube {
    fn masked_adam(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment1: FloatTensor<Self>,
        moment2: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        hyper: AdamHyper,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [weight, grad, moment1, moment2, mask] = [weight, grad, moment1, moment2, mask].map(into_contiguous);
        let n = weight.meta.shape().num_elements();
        let (weight_out, m_out, v_out) = (empty_like(&weight), empty_like(&weight), empty_like(&weight));
        let (bc1, bc2) = hyper.bias_corrections();
        let params = [
            hyper.lr,
            hyper.beta1 as f32,
            hyper.beta2 as f32,
            hyper.epsilon as f32,
            hyper.weight_decay,
            bc1 as f32,
            bc2 as f32,
        ]
        .map(f32::to_bits);
        launch_elementwise(
            Wgsl { id: "masked_adam", source: include_str!("../../shaders/masked_adam.wgsl") },
            &weight,
            n,
            vec![weight.clone(), grad, moment1, moment2, mask, weight_out.clone(), m_out.clone(), v_out.clone()],
            &params,
        );
        (weight_out, m_out, v_out)
    }
}

/// One masked Adam step on the GPU: `(weight, first moment, second moment)` after the step. All five tensors are
/// flat and alike; the moments of a first step are zeros.
pub fn masked_adam_step(
    weight: Tensor<1>,
    grad: Tensor<1>,
    moment1: Tensor<1>,
    moment2: Tensor<1>,
    mask: Tensor<1>,
    hyper: AdamHyper,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let (w, m, v) = <Dispatch as MaskedAdamBackend>::masked_adam(
        weight.into_dispatch(),
        grad.into_dispatch(),
        moment1.into_dispatch(),
        moment2.into_dispatch(),
        mask.into_dispatch(),
        hyper,
    );
    (Tensor::from_dispatch(w), Tensor::from_dispatch(m), Tensor::from_dispatch(v))
}
