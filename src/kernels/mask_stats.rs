//! Owner of `shaders/mask_stats.wgsl`: exact counts and overlaps of masks held on the device.

use burn::backend::wgpu::{CubeTensor, into_contiguous};
use burn::backend::{Cube, Dispatch, backend_extension, tensor::FloatTensor, tensor::IntTensor};
use burn::prelude::*;
use burn::tensor::DType;

use super::{Wgsl, empty_like, launch_elementwise, uses_gpu_kernels};

/// Exact counts from one mask-statistics pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskCounts {
    pub active: usize,
    pub intersection: usize,
    pub union: usize,
    pub ever_active: usize,
}

impl MaskCounts {
    pub fn iou(&self) -> f64 {
        if self.union == 0 { 1.0 } else { self.intersection as f64 / self.union as f64 }
    }

    pub fn hamming(&self) -> usize {
        self.union - self.intersection
    }

    fn from_vec(v: &[i64]) -> Self {
        MaskCounts {
            active: v[0] as usize,
            intersection: v[1] as usize,
            union: v[2] as usize,
            ever_active: v[3] as usize,
        }
    }
}

#[backend_extension(Cube)]
pub trait MaskStatsBackend: burn::backend::Backend {
    /// The updated ever-active union and the counts `[active, intersection, union, ever active]`.
    fn mask_stats(
        mask: FloatTensor<Self>,
        other: FloatTensor<Self>,
        ever: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, IntTensor<Self>);
}

impl MaskStatsBackend for Cube {
    fn mask_stats(
        mask: FloatTensor<Self>,
        other: FloatTensor<Self>,
        ever: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        let [mask, other, ever] = [mask, other, ever].map(into_contiguous);
        let n = mask.meta.shape().num_elements();
        let ever_out = empty_like(&mask);
        let counts = CubeTensor::new_contiguous(
            mask.client.clone(),
            mask.device.clone(),
            [4].into(),
            mask.client.create_from_slice(bytemuck::cast_slice(&[0i32; 4])),
            DType::I32,
        );
        launch_elementwise(
            Wgsl { id: "mask_stats", source: include_str!("../../shaders/mask_stats.wgsl") },
            &mask,
            n,
            vec![mask.clone(), other, ever, ever_out.clone(), counts.clone()],
            &[],
        );
        (ever_out, counts)
    }
}

/// The same statistics as tensor ops on 0/1 masks: the CPU path and the kernel's reference.
pub fn mask_stats_reference(mask: Tensor<1>, other: Tensor<1>, ever: Tensor<1>) -> (Tensor<1>, Tensor<1, Int>) {
    let (m, o) = (mask.not_equal_elem(0.0), other.not_equal_elem(0.0));
    let ever = ever.not_equal_elem(0.0).bool_or(m.clone());
    let sum = |b: Tensor<1, Bool>| b.int().sum();
    let counts =
        Tensor::cat(vec![sum(m.clone()), sum(m.clone().bool_and(o.clone())), sum(m.bool_or(o)), sum(ever.clone())], 0);
    (ever.float(), counts)
}

/// One statistics pass: the new ever-active union (stays on the device) and the exact counts (read back).
pub async fn mask_stats(mask: Tensor<1>, other: Tensor<1>, ever: Tensor<1>) -> Result<(Tensor<1>, MaskCounts), String> {
    let (ever, counts) = if uses_gpu_kernels(&mask.device()) {
        let (e, c) = <Dispatch as MaskStatsBackend>::mask_stats(
            mask.into_dispatch(),
            other.into_dispatch(),
            ever.into_dispatch(),
        );
        (Tensor::from_dispatch(e), Tensor::<1, Int>::from_dispatch(c))
    } else {
        mask_stats_reference(mask, other, ever)
    };
    let counts = counts.into_data_async().await.map_err(|e| e.to_string())?;
    let counts = counts.try_into_vec_as::<i64>().map_err(|e| format!("{e:?}"))?;
    Ok((ever, MaskCounts::from_vec(&counts)))
}
