//! The CPU kernels (`src/cpu/`) against burn's flex backend: forward and every gradient, dense and from a
//! compressed (masked) weight, with ReLU and max pooling fused or not, on every instruction set this machine runs
//! (AVX-512, AVX2, portable), for the shapes ticketlab's models use and awkward ones.
//!
//! Tolerance: 1e-4 of the largest magnitude of the compared tensor (sums of up to ~1,000 products of f32 in a
//! different order; both sides are f32); 1e-2 for the bfloat16 products (inputs rounded to 8 significant bits), run
//! where the CPU has AVX512-BF16.

mod common;

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};

use ticketlab::cpu::{
    ConvShape, ConvSpec, Epilogue, Isa, Saved, SparseConv, Wanted, Weight, conv_backward_isa, conv_forward_isa,
    cpu_conv2d,
};
use ticketlab::error::read_f32;
use ticketlab::rng::Rng;

use common::MaskedNetwork;

fn values(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.normal()).collect()
}

/// A 0/1 mask with about `density` of the entries set.
fn mask(rng: &mut Rng, n: usize, density: f64) -> Vec<f32> {
    (0..n).map(|_| if (rng.normal() as f64).abs() < density * 2.5 { 1.0 } else { 0.0 }).collect()
}

fn tensor<const D: usize>(v: &[f32], dims: [usize; D]) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v.to_vec(), dims), &Device::flex())
}

fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    pollster::block_on(read_f32(t)).unwrap()
}

#[track_caller]
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_within(what, got, want, 1e-4);
}

#[track_caller]
fn assert_within(what: &str, got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= tolerance * scale, "{what}: max difference {worst} at scale {scale}");
}

/// Output and input, weight and bias gradients through burn's conv2d (+ ReLU, + 2×2 max pooling) for an output
/// weighting `dy`; the weight gradient multiplied by `keep` (a mask) if given.
struct Reference {
    y: Vec<f32>,
    dx: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
}

fn reference(
    s: &ConvShape,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dy: &[f32],
    then: Epilogue,
    keep: Option<&[f32]>,
) -> Reference {
    let xt = tensor(x, [s.batch, s.c_in, s.h, s.w]).autodiff().require_grad();
    let wt = tensor(w, [s.c_out, s.c_in, s.k, s.k]).autodiff().require_grad();
    let bt = tensor(b, [s.c_out]).autodiff().require_grad();
    let opts = ConvOptions::new([1, 1], [s.pad; 2], [1, 1], 1);
    let mut y = conv2d(xt.clone(), wt.clone(), Some(bt.clone()), opts);
    if then.relu {
        y = relu(y);
    }
    if then.pool {
        y = max_pool2d(y, MaxPoolOptions::new([2, 2]));
    }
    let dyt = tensor(dy, y.dims()).autodiff();
    let grads = (y.clone() * dyt).sum().backward();
    let mut dw = read(wt.grad(&grads).unwrap());
    if let Some(keep) = keep {
        dw.iter_mut().zip(keep).for_each(|(g, m)| *g *= m);
    }
    Reference { y: read(y.inner()), dx: read(xt.grad(&grads).unwrap()), dw, db: read(bt.grad(&grads).unwrap()) }
}

/// Shapes of ticketlab's models (conv4's first layers, the airbench-style net's whitening and block convolutions)
/// at a small batch, and awkward ones: channel counts off the register tiles, 1×1 maps, k = 2 with padding.
fn shapes() -> Vec<ConvShape> {
    let s = |batch, c_in, c_out, hw, k, pad| ConvShape { batch, c_in, c_out, h: hw, w: hw, k, pad };
    vec![
        s(2, 3, 64, 32, 3, 1),
        s(3, 16, 32, 16, 3, 1),
        s(2, 3, 24, 32, 2, 0),
        s(3, 24, 32, 31, 3, 1),
        s(5, 32, 48, 15, 3, 1),
        s(9, 24, 40, 7, 3, 1),
        s(17, 40, 24, 3, 3, 1),
        s(3, 5, 7, 6, 3, 1),
        s(4, 8, 9, 1, 3, 1),
        s(2, 4, 5, 9, 2, 1),
        s(2, 6, 6, 5, 3, 0),
        ConvShape { batch: 2, c_in: 3, c_out: 5, h: 7, w: 4, k: 3, pad: 1 },
    ]
}

const ALL: Wanted = Wanted { input: true, weight: true, bias: true, dense_weight: false };

/// Every instruction set, dense and sparse, against the reference for one shape and epilogue.
fn check(rng: &mut Rng, s: ConvShape, then: Epilogue) {
    check_on(rng, s, then, &Isa::available(), 1e-4);
}

/// [`check`] on the instruction sets `isas`, within `tolerance` of the largest magnitude.
fn check_on(rng: &mut Rng, s: ConvShape, then: Epilogue, isas: &[Isa], tolerance: f32) {
    let x = values(rng, s.input_len());
    let b = values(rng, s.c_out);
    let n = s.c_out * s.fan_in();
    let w = values(rng, n);
    let keep = mask(rng, n, 0.2);
    let masked: Vec<f32> = w.iter().zip(&keep).map(|(w, m)| w * m).collect();
    let layout = SparseConv::from_mask(&keep, s.c_out, s.c_in, s.k);
    let out_len = s.batch * s.c_out * s.output_hw(then.pool);
    let dy = values(rng, out_len);
    for (form, weight, keep) in
        [("dense", Weight::Dense(&w), None), ("sparse", Weight::Sparse(&masked, &layout), Some(&keep[..]))]
    {
        let values = match weight {
            Weight::Dense(v) | Weight::Sparse(v, _) => v,
        };
        let want = reference(&s, &x, values, &b, &dy, then, keep);
        for &isa in isas {
            let what = |t: &str| format!("{t} of {s:?}, {then:?}, {form}, {isa:?}");
            let f = conv_forward_isa(isa, &s, &x, weight, Some(&b), then);
            assert_within(&what("output"), &f.y, &want.y, tolerance);
            assert_eq!(f.argmax.is_some(), then.pool);
            let saved = Saved { relu_output: then.relu.then_some(&f.y[..]), argmax: f.argmax.as_deref() };
            let g = conv_backward_isa(isa, &s, &x, weight, &dy, saved, ALL);
            assert_within(&what("input gradient"), g.input.as_deref().unwrap(), &want.dx, tolerance);
            assert_within(&what("weight gradient"), g.weight.as_deref().unwrap(), &want.dw, tolerance);
            assert_within(&what("bias gradient"), g.bias.as_deref().unwrap(), &want.db, tolerance);
            // Only what is asked for is computed, and the same.
            let only_w = Wanted { weight: true, ..Wanted::default() };
            let g2 = conv_backward_isa(isa, &s, &x, weight, &dy, saved, only_w);
            assert!(g2.input.is_none() && g2.bias.is_none());
            assert_eq!(g2.weight, g.weight, "{}", what("weight gradient alone"));
        }
    }
}

#[test]
fn every_instruction_set_matches_burns_convolution() {
    let mut rng = Rng::new(11);
    for s in shapes() {
        for relu in [false, true] {
            check(&mut rng, s, Epilogue { relu, pool: false });
        }
    }
}

#[test]
fn bfloat16_products_match_burns_convolution_within_their_rounding() {
    let sets = Isa::bf16_sets();
    if sets.is_empty() {
        eprintln!("skipping the bfloat16 products: this CPU has no AVX512-BF16 (the kernels' own tests emulate it)");
        return;
    }
    // Without ReLU and pooling: their choices are exact, and a value the rounding moves across zero or past its
    // neighbour would route a whole gradient elsewhere (the f32 kernels above check the epilogues).
    let mut rng = Rng::new(15);
    for s in shapes() {
        check_on(&mut rng, s, Epilogue::default(), &sets, 1e-2);
    }
}

#[test]
fn fused_max_pooling_matches_burns() {
    let mut rng = Rng::new(14);
    // Even and odd maps (odd ones drop their last row and column), down to 2×2, with and without padding.
    for s in [1, 2, 3, 5, 6, 7, 9, 10, 11].map(|i| shapes()[i]) {
        for relu in [false, true] {
            check(&mut rng, s, Epilogue { relu, pool: true });
        }
    }
}

#[test]
fn the_differentiable_op_matches_burns_convolution() {
    // f32 products, to hold the op to burn's within f32 rounding (bfloat16's are checked on their own above).
    let _f32 = Isa::f32_products();
    let mut rng = Rng::new(12);
    for s in [shapes()[1], shapes()[2], shapes()[5]] {
        let x = values(&mut rng, s.input_len());
        let w = values(&mut rng, s.c_out * s.fan_in());
        let keep = mask(&mut rng, w.len(), 0.1);
        let masked: Vec<f32> = w.iter().zip(&keep).map(|(w, m)| w * m).collect();
        let layout = Arc::new(SparseConv::from_mask(&keep, s.c_out, s.c_in, s.k));
        let b = values(&mut rng, s.c_out);
        let cases = [
            (true, true, false, false),
            (false, false, false, true),
            (true, false, true, false),
            (true, true, true, true),
        ];
        for (with_bias, relu, pool, sparse) in cases {
            let then = Epilogue { relu, pool };
            let (w, keep, layout) = if sparse { (&masked, Some(&keep[..]), Some(&layout)) } else { (&w, None, None) };
            let b = if with_bias { b.clone() } else { vec![0.0; s.c_out] };
            let dy = values(&mut rng, s.batch * s.c_out * s.output_hw(pool));
            let want = reference(&s, &x, w, &b, &dy, then, keep);
            let xt = tensor(&x, [s.batch, s.c_in, s.h, s.w]).autodiff().require_grad();
            let wt = tensor(w, [s.c_out, s.c_in, s.k, s.k]).autodiff().require_grad();
            let bt = tensor(&b, [s.c_out]).autodiff().require_grad();
            let spec = ConvSpec { k: s.k, pad: s.pad, relu, pool, dense_weight_grad: false };
            let y =
                cpu_conv2d(&xt, &wt, with_bias.then_some(&bt), spec, layout).expect("the CPU kernels apply on flex");
            let dyt = tensor(&dy, y.dims()).autodiff();
            let grads = (y.clone() * dyt).sum().backward();
            let what = |t: &str| format!("{t} of {s:?}, bias {with_bias}, {then:?}, sparse {sparse}");
            assert_close(&what("output"), &read(y.inner()), &want.y);
            assert_close(&what("input gradient"), &read(xt.grad(&grads).unwrap()), &want.dx);
            assert_close(&what("weight gradient"), &read(wt.grad(&grads).unwrap()), &want.dw);
            if with_bias {
                assert_close(&what("bias gradient"), &read(bt.grad(&grads).unwrap()), &want.db);
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let s = ConvShape { batch: 37, c_in: 16, c_out: 24, h: 15, w: 15, k: 3, pad: 1 };
    let mut rng = Rng::new(13);
    let (x, w, dy) =
        (values(&mut rng, s.input_len()), values(&mut rng, s.c_out * s.fan_in()), values(&mut rng, s.output_len()));
    let then = Epilogue { relu: true, pool: false };
    for isa in std::iter::once(Isa::available()[0]).chain(Isa::bf16_sets()) {
        let run = || {
            let f = conv_forward_isa(isa, &s, &x, Weight::Dense(&w), None, then);
            let saved = Saved { relu_output: Some(&f.y), argmax: None };
            let g = conv_backward_isa(isa, &s, &x, Weight::Dense(&w), &dy, saved, ALL);
            (f.y, g.input, g.weight, g.bias)
        };
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let one = pool(1).install(run);
        let three = pool(3).install(run);
        assert!(one == three, "{isa:?}: one thread and three threads differ");
    }
}

#[test]
fn the_sparse_layout_lists_the_mask_by_output_and_by_input() {
    // 2 outputs × 2 inputs × 2×2 taps.
    let mask = [
        1., 0., 0., 1., /* o0 c1 */ 0., 0., 1., 0., /* o1 c0 */ 0., 1., 0., 0., /* o1 c1 */ 0., 0., 0.,
        0.,
    ];
    let layout = SparseConv::from_mask(&mask, 2, 2, 2);
    assert_eq!(layout.nnz(), 4);
    assert!((layout.density() - 0.25).abs() < 1e-12);
    // The same weights through the sparse and the dense kernels give the same output.
    let s = ConvShape { batch: 1, c_in: 2, c_out: 2, h: 3, w: 3, k: 2, pad: 0 };
    let x: Vec<f32> = (0..18).map(|i| i as f32).collect();
    let w: Vec<f32> = mask.iter().enumerate().map(|(i, m)| m * (i as f32 + 1.0)).collect();
    let dense = conv_forward_isa(Isa::Portable, &s, &x, Weight::Dense(&w), None, Epilogue::default());
    let sparse = conv_forward_isa(Isa::Portable, &s, &x, Weight::Sparse(&w, &layout), None, Epilogue::default());
    assert_eq!(dense.y, sparse.y);
    // Output 0 at (0, 0): w[0]·x[c0](0, 0) + w[3]·x[c0](1, 1) + w[6]·x[c1](1, 0) = 1·0 + 4·4 + 7·12.
    assert_eq!(dense.y[0], 100.0);
}

#[test]
fn shapes_outside_the_kernels_fall_back() {
    let x = tensor(&[0.0; 2 * 3 * 8 * 8], [2, 3, 8, 8]);
    let w = tensor(&[0.0; 4 * 3 * 3 * 3], [4, 3, 3, 3]);
    let spec = |k, pad| ConvSpec { k, pad, ..ConvSpec::default() };
    // Padding as large as the kernel: not covered.
    assert!(cpu_conv2d(&x, &w, None, spec(3, 3), None).is_none());
    // Kernel size not the weight's.
    assert!(cpu_conv2d(&x, &w, None, spec(2, 0), None).is_none());
    // A layout of another shape.
    let other = Arc::new(SparseConv::from_mask(&[1.0; 4 * 2 * 9], 4, 2, 3));
    assert!(cpu_conv2d(&x, &w, None, spec(3, 1), Some(&other)).is_none());
    assert!(cpu_conv2d(&x, &w, None, spec(3, 1), None).is_some());
}

/// BatchNorm with batch statistics and an activation against burn's `batch_norm_train` followed by burn's
/// activation: output, statistics and gradients of input, scale and shift.
#[test]
fn fused_batch_norm_and_activation_match_burns() {
    use burn::tensor::activation::gelu;
    use burn::tensor::module::batch_norm_train;
    use ticketlab::cpu::{NormAct, NormShape, norm_backward_isa, norm_forward_isa};
    let mut rng = Rng::new(15);
    for (batch, channels, hw) in [(3, 5, 49), (4, 3, 9), (2, 7, 225), (5, 4, 1)] {
        let shape = NormShape { batch, channels, hw };
        let n = batch * channels * hw;
        let x: Vec<f32> = values(&mut rng, n).iter().map(|v| 2.0 * v + 0.5).collect();
        let dy = values(&mut rng, n);
        let scale: Vec<f32> = values(&mut rng, channels).iter().map(|v| 1.0 + 0.3 * v).collect();
        let shift = values(&mut rng, channels);
        let dims = [batch, channels, hw, 1];
        for act in [NormAct::None, NormAct::Relu, NormAct::Gelu] {
            let xt = tensor(&x, dims).autodiff().require_grad();
            let st = tensor(&scale, [channels]).autodiff().require_grad();
            let bt = tensor(&shift, [channels]).autodiff().require_grad();
            let out = batch_norm_train(xt.clone(), st.clone(), bt.clone(), 1e-5);
            let y = match act {
                NormAct::None => out.output,
                NormAct::Relu => relu(out.output),
                NormAct::Gelu => gelu(out.output),
            };
            let grads = (y.clone() * tensor(&dy, dims).autodiff()).sum().backward();
            for isa in Isa::available() {
                let what = |t: &str| format!("{t} of {shape:?}, {act:?}, {isa:?}");
                let f = norm_forward_isa(isa, shape, &x, &scale, &shift, 1e-5, act);
                assert_close(&what("output"), &f.y, &read(y.clone().inner()));
                assert_close(&what("mean"), &f.mean, &read(out.mean.clone().inner()));
                assert_close(&what("variance"), &f.var, &read(out.variance.clone().inner()));
                let g = norm_backward_isa(isa, shape, &x, &dy, &scale, &shift, &f.mean, &f.var, 1e-5, act);
                assert_close(&what("input gradient"), &g.x, &read(xt.grad(&grads).unwrap()));
                assert_close(&what("scale gradient"), &g.scale, &read(st.grad(&grads).unwrap()));
                assert_close(&what("shift gradient"), &g.shift, &read(bt.grad(&grads).unwrap()));
            }
        }
    }
}

#[test]
fn the_differentiable_norm_op_matches_burns() {
    use burn::tensor::activation::gelu;
    use burn::tensor::module::{batch_norm, batch_norm_train};
    use ticketlab::cpu::{NormAct, cpu_batch_norm_act, cpu_batch_norm_act_eval};
    let mut rng = Rng::new(16);
    let dims = [6, 4, 5, 5];
    let n: usize = dims.iter().product();
    let x = values(&mut rng, n);
    let dy = values(&mut rng, n);
    let (scale, shift) = (values(&mut rng, 4), values(&mut rng, 4));
    let xt = tensor(&x, dims).autodiff().require_grad();
    let st = tensor(&scale, [4]).autodiff().require_grad();
    let bt = tensor(&shift, [4]).autodiff().require_grad();
    let want = batch_norm_train(xt.clone(), st.clone(), bt.clone(), 1e-5);
    let want_y = gelu(want.output);
    let want_grads = (want_y.clone() * tensor(&dy, dims).autodiff()).sum().backward();
    let got = cpu_batch_norm_act(&xt, &st, &bt, 1e-5, NormAct::Gelu).expect("flex");
    let got_grads = (got.output.clone() * tensor(&dy, dims).autodiff()).sum().backward();
    assert_close("output", &read(got.output.inner()), &read(want_y.inner()));
    assert_close("mean", &read(got.mean.inner()), &read(want.mean.inner()));
    assert_close("variance", &read(got.variance.inner()), &read(want.variance.inner()));
    assert_close("input gradient", &read(xt.grad(&got_grads).unwrap()), &read(xt.grad(&want_grads).unwrap()));
    assert_close("scale gradient", &read(st.grad(&got_grads).unwrap()), &read(st.grad(&want_grads).unwrap()));
    assert_close("shift gradient", &read(bt.grad(&got_grads).unwrap()), &read(bt.grad(&want_grads).unwrap()));
    // Evaluation mode with given statistics.
    let (mean, var) = (values(&mut rng, 4), values(&mut rng, 4).iter().map(|v| v.abs() + 0.1).collect::<Vec<_>>());
    let (xe, se, be, me, ve) =
        (tensor(&x, dims), tensor(&scale, [4]), tensor(&shift, [4]), tensor(&mean, [4]), tensor(&var, [4]));
    let want = relu(batch_norm(xe.clone(), se.clone(), be.clone(), me.clone(), ve.clone(), 1e-5));
    let got = cpu_batch_norm_act_eval(&xe, &se, &be, &me, &ve, 1e-5, NormAct::Relu).expect("flex, no gradient");
    assert_close("evaluation output", &read(got), &read(want));
    assert!(cpu_batch_norm_act_eval(&xt, &st, &bt, &me.autodiff(), &ve.autodiff(), 1e-5, NormAct::Relu).is_none());
}

#[test]
fn the_sparse_linear_layer_matches_the_dense_matmul() {
    use ticketlab::cpu::cpu_sparse_linear;
    let mut rng = Rng::new(17);
    for (batch, rows, cols) in [(5, 7, 300), (64, 16, 1024), (1, 3, 2)] {
        let keep = mask(&mut rng, rows * cols, 0.2);
        let w: Vec<f32> = values(&mut rng, rows * cols).iter().zip(&keep).map(|(w, m)| w * m).collect();
        let (x, b, dy) = (values(&mut rng, batch * cols), values(&mut rng, rows), values(&mut rng, batch * rows));
        let layout = Arc::new(SparseConv::from_mask(&keep, rows, cols, 1));
        let run = |sparse: bool| {
            let xt = tensor(&x, [batch, cols]).autodiff().require_grad();
            let wt = tensor(&w, [rows * cols]).autodiff().require_grad();
            let bt = tensor(&b, [rows]).autodiff().require_grad();
            let y = if sparse {
                cpu_sparse_linear(&xt, &wt, Some(&bt), &layout, false).expect("flex")
            } else {
                xt.clone().matmul(wt.clone().reshape([rows, cols]).transpose()) + bt.clone().unsqueeze_dim(0)
            };
            let grads = (y.clone() * tensor(&dy, [batch, rows]).autodiff()).sum().backward();
            let mut dw = read(wt.grad(&grads).unwrap());
            dw.iter_mut().zip(&keep).for_each(|(g, m)| *g *= m);
            (read(y.inner()), read(xt.grad(&grads).unwrap()), dw, read(bt.grad(&grads).unwrap()))
        };
        let (dense, sparse) = (run(false), run(true));
        let what = |t: &str| format!("{t} of {batch}×{cols} → {rows}");
        assert_close(&what("output"), &sparse.0, &dense.0);
        assert_close(&what("input gradient"), &sparse.1, &dense.1);
        assert_close(&what("weight gradient"), &sparse.2, &dense.2);
        assert_close(&what("bias gradient"), &sparse.3, &dense.3);
    }
}

/// A masked network routed through the sparse CPU kernels computes the same logits and gradients as the dense
/// network with the same (masked) weights.
#[test]
fn a_sparse_routed_network_on_the_cpu_matches_the_dense_one() {
    // f32 products on the dense side too (the sparse kernels always multiply in f32), so that the two paths differ
    // by f32 rounding alone (bfloat16's are checked on their own above).
    let _f32 = Isa::f32_products();
    use ticketlab::kernels::SparsePath;
    use ticketlab::model::{Arch, NetSpec, Network};
    let device = Device::flex();
    // conv4 (convolutions fused with ReLU and pooling, linear layers) and airbench (the default model: convolutions,
    // pooling and BatchNorm + GELU apart, its frozen whitening stem dense).
    for arch in [Arch::Conv4, Arch::Airbench] {
        let spec = NetSpec::new(arch, 0.25, 10);
        let mut rng = Rng::new(18);
        let net = MaskedNetwork::random(&spec, &mut rng, &device);
        let plan = Network::sparse_plan(&spec, &net.mask_tensors, &net.nnz, SparsePath::Always);
        assert_eq!(plan.iter().flatten().count(), spec.prunable().len(), "{arch:?}: every masked layer routed");
        let x: Vec<f32> = (0..8 * 3 * 32 * 32).map(|_| rng.normal()).collect();
        let run = |plan: &[Option<ticketlab::model::SparseLayer>]| net.logits_and_gradients(&spec, &x, &device, plan);
        let (dense, sparse) = (run(&[]), run(&plan));
        assert_close(&format!("{arch:?} logits"), &sparse.0, &dense.0);
        for (i, (s, d)) in sparse.1.iter().zip(&dense.1).enumerate() {
            // The sparse path's weight gradient is zero at inactive positions; compare at the active ones.
            let keep = net.masks.layers.iter().find(|l| l.param == i).map(|l| l.bits.to_f32());
            let d: Vec<f32> = match &keep {
                Some(k) => d.iter().zip(k).map(|(g, m)| g * m).collect(),
                None => d.clone(),
            };
            assert_close(&format!("gradient of {}", spec.params[i].name), s, &d);
        }
        // A RigL update step's plan: forward and input gradients from the active weights, weight gradients everywhere.
        let update_plan: Vec<_> = plan.iter().map(|l| l.as_ref().and_then(|l| l.with_dense_weight_grad())).collect();
        let (logits, grads) = run(&update_plan);
        assert_close("logits (dense weight gradients)", &logits, &dense.0);
        for (i, (g, d)) in grads.iter().zip(&dense.1).enumerate() {
            assert_close(&format!("dense gradient of {}", spec.params[i].name), g, d);
        }
    }
}

#[test]
fn the_activation_op_matches_burns() {
    use burn::tensor::activation::gelu;
    use ticketlab::cpu::{NormAct, cpu_activation};
    let mut rng = Rng::new(19);
    // Longer than one parallel piece, and not a multiple of any vector width.
    let dims = [3, 24, 31, 31];
    let n: usize = dims.iter().product();
    let x: Vec<f32> = values(&mut rng, n).iter().map(|v| 3.0 * v).collect();
    let dy = values(&mut rng, n);
    for act in [NormAct::Gelu, NormAct::Relu] {
        let run = |ours: bool| {
            let xt = tensor(&x, dims).autodiff().require_grad();
            let y = match (ours, act) {
                (true, _) => cpu_activation(&xt, act).expect("flex"),
                (false, NormAct::Gelu) => gelu(xt.clone()),
                (false, _) => relu(xt.clone()),
            };
            let grads = (y.clone() * tensor(&dy, dims).autodiff()).sum().backward();
            (read(y.inner()), read(xt.grad(&grads).unwrap()))
        };
        let (want, got) = (run(false), run(true));
        assert_close(&format!("{act:?} output"), &got.0, &want.0);
        assert_close(&format!("{act:?} gradient"), &got.1, &want.1);
    }
}

/// A network's logits through burn's own operations, op by op (what `Network::forward_with` computes without the CPU
/// kernels), training mode, for the ops airbench, conv4 and VGG use.
fn reference_network(spec: &ticketlab::model::NetSpec, params: &[Tensor<1>], x: Tensor<4>) -> Tensor<2> {
    use burn::tensor::activation::gelu;
    use burn::tensor::module::batch_norm_train;
    use ticketlab::model::{Activation, BN_EPSILON, Op};
    let shaped = |i: usize| -> Tensor<4> {
        let s = &spec.params[i].shape;
        params[i].clone().reshape([s[0], s[1], s[2], s[3]])
    };
    let (mut x4, mut x2) = (Some(x), None::<Tensor<2>>);
    for op in &spec.ops {
        match op {
            Op::Conv { weight, bias, stride, padding, .. } => {
                let opts = ConvOptions::new([*stride; 2], [*padding; 2], [1, 1], 1);
                x4 = Some(conv2d(x4.take().unwrap(), shaped(*weight), bias.map(|b| params[b].clone()), opts));
            }
            Op::BatchNorm(norm) => {
                let shift = params[norm.shift].clone();
                let scale = norm.scale.map_or_else(|| shift.ones_like(), |i| params[i].clone());
                x4 = Some(batch_norm_train(x4.take().unwrap(), scale, shift, BN_EPSILON).output);
            }
            Op::Act(act) => match x4.take() {
                Some(t) => x4 = Some(if *act == Activation::Relu { relu(t) } else { gelu(t) }),
                None => x2 = x2.take().map(|t| if *act == Activation::Relu { relu(t) } else { gelu(t) }),
            },
            Op::MaxPool(size) => x4 = Some(max_pool2d(x4.take().unwrap(), MaxPoolOptions::new([*size; 2]))),
            Op::Flatten => {
                let [n, c, h, w] = x4.as_ref().unwrap().dims();
                x2 = Some(x4.take().unwrap().reshape([n, c * h * w]));
            }
            Op::Linear { weight, bias } => {
                let s = &spec.params[*weight].shape;
                let mut y = x2.take().unwrap().matmul(params[*weight].clone().reshape([s[0], s[1]]).transpose());
                if let Some(b) = bias {
                    y = y + params[*b].clone().unsqueeze_dim(0);
                }
                x2 = Some(y);
            }
            Op::Scale(factor) => x2 = Some(x2.take().unwrap() * *factor),
            other => panic!("reference_network: {other:?} not covered"),
        }
    }
    x2.unwrap()
}

#[test]
fn whole_networks_through_the_cpu_kernels_match_burns_operations() {
    // f32 products, to hold the op to burn's within f32 rounding (bfloat16's are checked on their own above).
    let _f32 = Isa::f32_products();
    use ticketlab::model::{Arch, NetSpec, Network};
    let device = Device::flex();
    // airbench: the frozen 2×2 whitening conv (pad 0, 32 → 31), then conv → pool on odd sides (31 → 15 → 7 → 3) →
    // BatchNorm → GELU; VGG: conv → BatchNorm → ReLU → pool; conv4: conv + ReLU (+ pool) and linear layers.
    for (arch, width) in [(Arch::Airbench, 0.25), (Arch::Vgg11, 0.125), (Arch::Conv4, 0.25)] {
        let spec = NetSpec::new(arch, width, 10);
        let mut rng = Rng::new(20);
        let mut values = spec.init_values(&mut rng);
        if let Some(w) = spec.whitening() {
            values[w] = (0..values[w].len()).map(|_| 0.5 * rng.normal()).collect();
        }
        let batch = 6;
        let x: Vec<f32> = (0..batch * 3 * 32 * 32).map(|_| rng.normal()).collect();
        let classes = spec.num_classes;
        let r: Vec<f32> = (0..batch * classes).map(|_| rng.normal()).collect();
        let run = |ours: bool| {
            let net = Network::from_values(&spec, &values, &device);
            let params: Vec<Tensor<1>> = (net.params.iter().zip(&spec.params))
                .map(|(p, s)| if s.trainable() { p.clone().autodiff().require_grad() } else { p.clone().autodiff() })
                .collect();
            let input = Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, 3, 32, 32]), &device).autodiff();
            let logits = if ours {
                let mut bn = net.bn.clone();
                Network::forward_with(&spec, &params, &mut bn, input, true, &[])
            } else {
                reference_network(&spec, &params, input)
            };
            let weighting = Tensor::<2>::from_data(TensorData::new(r.clone(), [batch, classes]), &device).autodiff();
            let grads = (logits.clone() * weighting).sum().backward();
            let g: Vec<Option<Vec<f32>>> = params.iter().map(|p| p.grad(&grads).map(read)).collect();
            (read(logits.inner().reshape([batch * classes])), g)
        };
        let (want, got) = (run(false), run(true));
        assert_close(&format!("{arch} logits"), &got.0, &want.0);
        for (i, (g, w)) in got.1.iter().zip(&want.1).enumerate() {
            let name = &spec.params[i].name;
            match (g, w) {
                (Some(g), Some(w)) => assert_close(&format!("{arch} gradient of {name}"), g, w),
                (None, None) => assert!(!spec.params[i].trainable(), "{arch}: {name} got no gradient"),
                _ => panic!("{arch}: {name} has a gradient on one side only"),
            }
        }
    }
}
