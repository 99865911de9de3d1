//! Owner of `shaders/masked_sgd.wgsl`: the fused masked SGD-momentum step.

use burn::backend::wgpu::into_contiguous;
use burn::backend::{Cube, Dispatch, backend_extension, tensor::FloatTensor};
use burn::prelude::*;

use super::{Wgsl, empty_like, launch_elementwise};

/// Hyper-parameters of one SGD step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdHyper {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
}

#[backend_extension(Cube)]
pub trait MaskedSgdBackend: burn::backend::Backend {
    /// Returns the new weight and velocity.
    fn masked_sgd(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        hyper: SgdHyper,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

impl MaskedSgdBackend for Cube {
    fn masked_sgd(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        hyper: SgdHyper,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [weight, grad, velocity, mask] = [weight, grad, velocity, mask].map(into_contiguous);
        let n = weight.meta.shape().num_elements();
        let (weight_out, velocity_out) = (empty_like(&weight), empty_like(&weight));
        let params =
            [hyper.lr.to_bits(), hyper.momentum.to_bits(), hyper.weight_decay.to_bits(), hyper.nesterov as u32];
        launch_elementwise(
            Wgsl { id: "masked_sgd", source: include_str!("../../shaders/masked_sgd.wgsl") },
            &weight,
            n,
            vec![weight.clone(), grad, velocity, mask, weight_out.clone(), velocity_out.clone()],
            &params,
        );
        (weight_out, velocity_out)
    }
}

/// One masked SGD step on the GPU: `(weight, velocity)` after the step. All four tensors are flat and alike.
pub fn masked_sgd_step(
    weight: Tensor<1>,
    grad: Tensor<1>,
    velocity: Tensor<1>,
    mask: Tensor<1>,
    hyper: SgdHyper,
) -> (Tensor<1>, Tensor<1>) {
    let (w, v) = <Dispatch as MaskedSgdBackend>::masked_sgd(
        weight.into_dispatch(),
        grad.into_dispatch(),
        velocity.into_dispatch(),
        mask.into_dispatch(),
        hyper,
    );
    (Tensor::from_dispatch(w), Tensor::from_dispatch(v))
}
