//! Owner of `shaders/weight_lerp.wgsl`: interpolation and running means of flat weights.

use burn::backend::wgpu::into_contiguous;
use burn::backend::{Cube, Dispatch, backend_extension, tensor::FloatTensor};
use burn::prelude::*;

use super::{Wgsl, empty_like, launch_elementwise, uses_gpu_kernels};

#[backend_extension(Cube)]
pub trait LerpBackend: burn::backend::Backend {
    fn weight_lerp(a: FloatTensor<Self>, b: FloatTensor<Self>, alpha: f32) -> FloatTensor<Self>;
}

impl LerpBackend for Cube {
    fn weight_lerp(a: FloatTensor<Self>, b: FloatTensor<Self>, alpha: f32) -> FloatTensor<Self> {
        let (a, b) = (into_contiguous(a), into_contiguous(b));
        let n = a.meta.shape().num_elements();
        let out = empty_like(&a);
        launch_elementwise(
            Wgsl { id: "weight_lerp", source: include_str!("../../shaders/weight_lerp.wgsl") },
            &a,
            n,
            vec![a.clone(), b, out.clone()],
            &[alpha.to_bits()],
        );
        out
    }
}

/// `(1 − α)·a + α·b` as tensor ops: the CPU path and the kernel's reference.
pub fn lerp_reference(a: Tensor<1>, b: Tensor<1>, alpha: f32) -> Tensor<1> {
    a.clone() + (b - a) * alpha
}

/// `(1 − α)·a + α·b`, on the GPU kernel where the tensors live on wgpu.
pub fn lerp(a: Tensor<1>, b: Tensor<1>, alpha: f32) -> Tensor<1> {
    if uses_gpu_kernels(&a.device()) {
        Tensor::from_dispatch(<Dispatch as LerpBackend>::weight_lerp(a.into_dispatch(), b.into_dispatch(), alpha))
    } else {
        lerp_reference(a, b, alpha)
    }
}
