//! Timing of one convolution layer through the dense and the sparse kernels (what `ticketlab bench` reports).
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use burn::prelude::*;

use super::conv::{Epilogue, Saved, Wanted, Weight, conv_backward_isa, conv_forward_isa};
use super::grid::ConvShape;
use super::op::cpu_sparse_linear;
use super::simd::Isa;
use super::sparse::SparseConv;
use crate::rng::Rng;

/// Seconds of one layer: forward, and the backward pass (input and weight gradients).
#[derive(Clone, Copy, Debug)]
pub struct LayerTimes {
    pub forward_s: f64,
    pub backward_s: f64,
}

impl LayerTimes {
    pub fn total_s(&self) -> f64 {
        self.forward_s + self.backward_s
    }
}

/// Dense and sparse timings of a layer of `shape` under a random mask of `density`, and the seconds to build the
/// sparse layout from the mask: medians of `reps` interleaved passes after one warm-up pass each. The input
/// gradient is left out where `input_gradient` is false (a network's first layer).
pub fn time_conv(shape: &ConvShape, density: f64, input_gradient: bool, reps: usize) -> (LayerTimes, LayerTimes, f64) {
    let s = *shape;
    let mut rng = Rng::new(0xc0de);
    let n = s.c_out * s.fan_in();
    let nnz = ((density * n as f64).round() as usize).min(n);
    let mut mask = vec![0f32; n];
    for &i in rng.permutation(n).iter().take(nnz) {
        mask[i] = 1.0;
    }
    let w: Vec<f32> = mask.iter().map(|&m| m * rng.normal()).collect();
    let (x, dy) = inputs(&s, &mut rng);
    let start = web_time::Instant::now();
    let layout = SparseConv::from_mask(&mask, s.c_out, s.c_in, s.k);
    let build_s = start.elapsed().as_secs_f64();
    let wanted = Wanted { input: input_gradient, weight: true, ..Wanted::default() };
    let isa = Isa::detect();
    let (dense, sparse) = (Weight::Dense(&w), Weight::Sparse(&w, &layout));
    let (d, sp) =
        interleaved(reps, || pass(isa, &s, &x, dense, &dy, wanted), || pass(isa, &s, &x, sparse, &dy, wanted));
    (d, sp, build_s)
}

/// A dense layer of `shape` with its products in f32 (the best instruction set for them), in bfloat16 on vectors
/// ([`Isa::Avx512Bf16`], which the CPU must run) and, where the CPU has AMX, on its tiles ([`Isa::Amx`]): medians of
/// `reps` interleaved passes after one warm-up each.
pub fn time_conv_products(shape: &ConvShape, input_gradient: bool, reps: usize) -> Vec<(Isa, LayerTimes)> {
    let s = *shape;
    let mut rng = Rng::new(0xbf16);
    let w: Vec<f32> = (0..s.c_out * s.fan_in()).map(|_| rng.normal()).collect();
    let (x, dy) = inputs(&s, &mut rng);
    let wanted = Wanted { input: input_gradient, weight: true, ..Wanted::default() };
    let sets: Vec<Isa> = std::iter::once(Isa::available()[0]).chain(Isa::bf16_sets()).collect();
    let (weight, x, dy) = (Weight::Dense(&w), &x, &dy);
    let passes: Vec<_> = sets.iter().map(|&isa| move || pass(isa, &s, x, weight, dy, wanted)).collect();
    let passes: Vec<&dyn Fn() -> LayerTimes> = passes.iter().map(|p| p as &dyn Fn() -> LayerTimes).collect();
    sets.into_iter().zip(interleaved_all(reps, &passes)).collect()
}

fn inputs(s: &ConvShape, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    ((0..s.input_len()).map(|_| rng.normal()).collect(), (0..s.output_len()).map(|_| rng.normal()).collect())
}

/// One forward and one backward pass, timed apart.
fn pass(isa: Isa, s: &ConvShape, x: &[f32], weight: Weight, dy: &[f32], wanted: Wanted) -> LayerTimes {
    let start = web_time::Instant::now();
    std::hint::black_box(conv_forward_isa(isa, s, x, weight, None, Epilogue::default()));
    let forward_s = start.elapsed().as_secs_f64();
    let start = web_time::Instant::now();
    std::hint::black_box(conv_backward_isa(isa, s, x, weight, dy, Saved::default(), wanted));
    LayerTimes { forward_s, backward_s: start.elapsed().as_secs_f64() }
}

/// Medians of `reps` rounds of `a` then `b`, after one warm-up pass of each.
fn interleaved(reps: usize, a: impl Fn() -> LayerTimes, b: impl Fn() -> LayerTimes) -> (LayerTimes, LayerTimes) {
    let t = interleaved_all(reps, &[&a, &b]);
    (t[0], t[1])
}

/// Medians of `reps` rounds of every pass in turn, after one warm-up round.
fn interleaved_all(reps: usize, passes: &[&dyn Fn() -> LayerTimes]) -> Vec<LayerTimes> {
    for p in passes {
        p();
    }
    let mut times = vec![vec![]; passes.len()];
    for _ in 0..reps.max(1) {
        for (t, p) in times.iter_mut().zip(passes) {
            t.push(p());
        }
    }
    times.iter_mut().map(|t| median(t)).collect()
}

/// Medians of one forward + backward pass (input and weight tracked) of a `rows × cols` linear layer with `nnz`
/// active weights at `batch` on the CPU backend, through burn's dense matmul and through the sparse kernels (as a
/// 1×1 convolution): `(dense, sparse)` seconds, interleaved after two warm-up passes each.
pub fn time_linear(rows: usize, cols: usize, nnz: usize, batch: usize, reps: usize) -> (f64, f64) {
    let device = Device::flex();
    let n = rows * cols;
    let mut rng = Rng::new(0x5ea5e);
    let mut mask = vec![0f32; n];
    for &i in rng.permutation(n).iter().take(nnz.min(n)) {
        mask[i] = 1.0;
    }
    let weight: Vec<f32> = mask.iter().map(|&m| m * rng.normal() * 0.05).collect();
    let layout = Arc::new(SparseConv::from_mask(&mask, rows, cols, 1));
    let upload = |v: Vec<f32>, dims: [usize; 2]| Tensor::<2>::from_data(TensorData::new(v, dims), &device);
    let x = upload((0..batch * cols).map(|_| rng.normal()).collect(), [batch, cols]);
    let dy = upload((0..batch * rows).map(|_| rng.normal()).collect(), [batch, rows]);
    let w = Tensor::<1>::from_data(TensorData::new(weight, [n]), &device);
    let pass = |sparse: bool| -> f64 {
        let start = web_time::Instant::now();
        let (x, w) = (x.clone().autodiff().require_grad(), w.clone().autodiff().require_grad());
        let y = match sparse {
            true => cpu_sparse_linear(&x, &w, None, &layout, false).expect("the CPU backend"),
            false => x.clone().matmul(w.clone().reshape([rows, cols]).transpose()),
        };
        let grads = (y * dy.clone().autodiff()).sum().backward();
        std::hint::black_box((x.grad(&grads), w.grad(&grads)));
        start.elapsed().as_secs_f64()
    };
    for _ in 0..2 {
        pass(false);
        pass(true);
    }
    let (mut dense, mut sparse) = (vec![], vec![]);
    for _ in 0..reps.max(1) {
        dense.push(pass(false));
        sparse.push(pass(true));
    }
    dense.sort_by(f64::total_cmp);
    sparse.sort_by(f64::total_cmp);
    (dense[dense.len() / 2], sparse[sparse.len() / 2])
}

fn median(v: &mut [LayerTimes]) -> LayerTimes {
    v.sort_by(|a, b| a.total_s().total_cmp(&b.total_s()));
    v[v.len() / 2]
}
