//! Timing of one convolution layer through the dense and the sparse kernels (what `ticketlab bench` reports).
#![cfg(not(target_arch = "wasm32"))]

use super::conv::{Epilogue, Saved, Wanted, Weight, conv_backward, conv_forward};
use super::grid::ConvShape;
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
    let x: Vec<f32> = (0..s.input_len()).map(|_| rng.normal()).collect();
    let dy: Vec<f32> = (0..s.output_len()).map(|_| rng.normal()).collect();
    let start = web_time::Instant::now();
    let layout = SparseConv::from_mask(&mask, s.c_out, s.c_in, s.k);
    let build_s = start.elapsed().as_secs_f64();
    let wanted = Wanted { input: input_gradient, weight: true, bias: false };
    let pass = |weight: Weight| {
        let start = web_time::Instant::now();
        std::hint::black_box(conv_forward(&s, &x, weight, None, Epilogue::default()));
        let forward_s = start.elapsed().as_secs_f64();
        let start = web_time::Instant::now();
        std::hint::black_box(conv_backward(&s, &x, weight, &dy, Saved::default(), wanted));
        LayerTimes { forward_s, backward_s: start.elapsed().as_secs_f64() }
    };
    let (dense, sparse) = (Weight::Dense(&w), Weight::Sparse(&w, &layout));
    pass(dense);
    pass(sparse);
    let (mut d, mut sp) = (vec![], vec![]);
    for _ in 0..reps.max(1) {
        d.push(pass(dense));
        sp.push(pass(sparse));
    }
    (median(&mut d), median(&mut sp), build_s)
}

fn median(v: &mut [LayerTimes]) -> LayerTimes {
    v.sort_by(|a, b| a.total_s().total_cmp(&b.total_s()));
    v[v.len() / 2]
}
