//! The wgpu backend (lavapipe in CI): every WGSL kernel against its CPU reference, and whole training steps
//! against the CPU backend. One device is shared by the tests of this binary, and it has exactly WebGPU's default
//! limits (`wgpu::Limits::default()`, what a browser grants when nothing more is asked for), so every kernel here,
//! ours and burn's, is shown to run within them.

mod common;

use std::sync::OnceLock;

use burn::prelude::*;
use eframe::egui_wgpu::wgpu;

use ticketlab::config::{DatasetSpec, TrainConfig};
use ticketlab::data::synthetic;
use ticketlab::error::read_f32;
use ticketlab::kernels::{
    MaskCounts, SgdHyper, SparsePath, lerp, lerp_reference, mask_stats, masked_sgd_step, top_k_mask, top_k_reference,
    uses_gpu_kernels,
};
use ticketlab::mask::{Bits, Overlap};
use ticketlab::model::Arch;
use ticketlab::optim::masked_sgd_reference;
use ticketlab::rng::Rng;
use ticketlab::sparsity::{DstSettings, Method};
use ticketlab::train::Trainer;

use common::MaskedNetwork;

/// The shared wgpu device, or `None` (with a note) where no Vulkan driver is installed outside CI.
fn gpu() -> Option<Device> {
    static GPU: OnceLock<Option<Device>> = OnceLock::new();
    GPU.get_or_init(|| {
        // Autotuning every kernel on a software rasteriser costs minutes; results do not depend on it.
        // SAFETY: set inside the OnceLock initialiser, before the runtime that reads it starts; the other tests
        // of this binary wait on this lock.
        unsafe { std::env::set_var("CUBECL_AUTOTUNE_LEVEL", "minimal") };
        match pollster::block_on(device_with_default_limits()) {
            Ok(d) => Some(d),
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("skipping wgpu tests: {e} (install mesa-vulkan-drivers for lavapipe; CI requires them)");
                None
            }
            Err(e) => panic!("{e}"),
        }
    })
    .clone()
}

/// burn's device on a wgpu device created with exactly `wgpu::Limits::default()` and the features the app asks for.
async fn device_with_default_limits() -> Result<Device, String> {
    // Vulkan, Metal or DX12 only: without a Vulkan driver wgpu falls back to OpenGL, where burn's kernels cannot
    // compile (as the app's backend check says), so the tests skip there instead of failing.
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends &= wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    let instance = wgpu::Instance::new(descriptor);
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions::default())
        .await
        .map_err(|e| format!("no wgpu adapter: {e}"))?;
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("ticketlab tests: WebGPU's default limits"),
            required_features: adapter
                .features()
                .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS | wgpu::Features::all_experimental_mask()),
            required_limits: wgpu::Limits::default(),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("no wgpu device: {e}"))?;
    assert_eq!(device.limits(), wgpu::Limits::default(), "the test device has exactly the default limits");
    let backend = adapter.get_info().backend;
    let setup = burn::tensor::wgpu::WgpuSetup { instance, adapter, device, queue, backend };
    Device::wgpu_options().setup(setup).init().map_err(|e| format!("could not start the wgpu backend: {e}"))
}

fn random_tensor(rng: &mut Rng, n: usize, device: &Device, f: impl Fn(&mut Rng) -> f32) -> (Vec<f32>, Tensor<1>) {
    let v: Vec<f32> = (0..n).map(|_| f(rng)).collect();
    (v.clone(), Tensor::from_data(TensorData::new(v, [n]), device))
}

fn read(t: Tensor<1>) -> Vec<f32> {
    pollster::block_on(read_f32(t)).unwrap()
}

#[test]
fn masked_sgd_kernel_matches_its_reference() {
    let Some(gpu) = gpu() else { return };
    assert!(uses_gpu_kernels(&gpu) && !uses_gpu_kernels(&Device::flex()));
    let mut rng = Rng::new(5);
    // Sizes around the workgroup size and one that needs a 2-D dispatch grid (> 65 535 × 256 elements).
    for (n, nesterov) in [(1, false), (255, true), (257, false), (100_003, true), (17_000_000, false)] {
        let cpu = Device::flex();
        let (w, _) = random_tensor(&mut rng, n, &cpu, |r| r.normal());
        let (g, _) = random_tensor(&mut rng, n, &cpu, |r| r.normal());
        let (v, _) = random_tensor(&mut rng, n, &cpu, |r| r.normal() * 0.1);
        let (m, _) = random_tensor(&mut rng, n, &cpu, |r| r.bernoulli(0.3) as u8 as f32);
        // Inactive weights and their momentum are zero, as the optimiser keeps them.
        let w: Vec<f32> = w.iter().zip(&m).map(|(a, b)| a * b).collect();
        let v: Vec<f32> = v.iter().zip(&m).map(|(a, b)| a * b).collect();
        let hyper = SgdHyper { lr: 0.05, momentum: 0.9, weight_decay: 5e-4, nesterov };
        let on = |d: &Device, x: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), d);
        let (w_ref, v_ref) = masked_sgd_reference(on(&cpu, &w), on(&cpu, &g), on(&cpu, &v), Some(on(&cpu, &m)), hyper);
        let (w_gpu, v_gpu) = masked_sgd_step(on(&gpu, &w), on(&gpu, &g), on(&gpu, &v), on(&gpu, &m), hyper);
        for (name, a, b) in [("weight", read(w_ref), read(w_gpu)), ("velocity", read(v_ref), read(v_gpu))] {
            for i in 0..n {
                assert!((a[i] - b[i]).abs() <= 1e-6 * a[i].abs().max(1.0), "{name}[{i}] of {n}: {} vs {}", a[i], b[i]);
                if m[i] == 0.0 {
                    assert_eq!(b[i], 0.0, "{name}[{i}] is inactive but {}", b[i]);
                }
            }
        }
    }
}

#[test]
fn weight_lerp_kernel_matches_its_reference() {
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::new(6);
    let cpu = Device::flex();
    for n in [1, 300, 70_001] {
        let (a, _) = random_tensor(&mut rng, n, &cpu, |r| r.normal());
        let (b, _) = random_tensor(&mut rng, n, &cpu, |r| r.normal());
        let on = |d: &Device, x: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), d);
        for alpha in [0.0, 0.1, 0.5, 1.0 / 3.0, 1.0] {
            let want = read(lerp_reference(on(&cpu, &a), on(&cpu, &b), alpha));
            let got = read(lerp(on(&gpu, &a), on(&gpu, &b), alpha));
            for i in 0..n {
                assert!((want[i] - got[i]).abs() <= 1e-6 * want[i].abs().max(1.0), "α={alpha} [{i}]");
            }
            if alpha == 0.0 {
                assert_eq!(got, a, "α = 0 gives a exactly");
            }
        }
    }
}

#[test]
fn mask_stats_kernel_counts_exactly() {
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::new(7);
    for n in [1, 255, 256, 257, 100_000, 17_000_000] {
        let bits = |rng: &mut Rng, p: f32| Bits::from_bools((0..n).map(|_| rng.bernoulli(p)));
        let (m, o, e) = (bits(&mut rng, 0.2), bits(&mut rng, 0.5), bits(&mut rng, 0.1));
        let upload = |b: &Bits, d: &Device| Tensor::<1>::from_data(TensorData::new(b.to_f32(), [n]), d);
        let overlap = Overlap::between(&m, &o);
        let ever = m.or(&e);
        let want = MaskCounts {
            active: m.count_ones(),
            intersection: overlap.intersection,
            union: overlap.union,
            ever_active: ever.count_ones(),
        };
        for device in [Device::flex(), gpu.clone()] {
            let (ever_out, counts) =
                pollster::block_on(mask_stats(upload(&m, &device), upload(&o, &device), upload(&e, &device))).unwrap();
            assert_eq!(counts, want, "n = {n}");
            assert_eq!(counts.hamming(), overlap.hamming);
            assert_eq!(read(ever_out), ever.to_f32(), "ever-active union, n = {n}");
        }
    }
}

#[test]
fn top_k_kernel_selects_exactly_what_the_reference_selects() {
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::new(8);
    // Continuous scores, heavy ties (a handful of values, ±0.0 among them), sizes around the workgroup and the
    // index-byte boundaries, and one large enough for a 2-D grid and four index bytes.
    for (n, distinct) in [(1, 0), (7, 2), (256, 3), (257, 0), (65_537, 5), (300_000, 0), (16_800_000, 4)] {
        let scores: Vec<f32> =
            (0..n)
                .map(|_| {
                    if distinct == 0 {
                        rng.normal()
                    } else {
                        [0.0, -0.0, 1.5, -2.0, 0.25][rng.below(distinct) as usize]
                    }
                })
                .collect();
        let candidates: Vec<bool> = (0..n).map(|_| rng.bernoulli(0.7)).collect();
        let count = candidates.iter().filter(|&&c| c).count();
        for k in [0, 1, count / 3, count.saturating_sub(1), count, count + 5] {
            let want = top_k_reference(&scores, &candidates, k);
            let cand_f32: Vec<f32> = candidates.iter().map(|&c| c as u8 as f32).collect();
            let on = |x: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), &gpu);
            let got = read(top_k_mask(on(&scores), on(&cand_f32), k));
            let got: Vec<bool> = got.iter().map(|&v| v != 0.0).collect();
            assert_eq!(got.iter().filter(|&&b| b).count(), k.min(count), "count, n = {n}, k = {k}");
            assert!(got == want, "selection differs from the reference, n = {n}, k = {k}");
        }
    }
}

#[test]
fn a_few_steps_on_wgpu_match_the_cpu_backend() {
    let Some(gpu) = gpu() else { return };
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 128, test: 64 },
        model: Arch::Conv2,
        width: 0.25,
        density: 0.3,
        batch_size: 32,
        steps: Some(4),
        ..TrainConfig::default()
    };
    let run = |device: Device| {
        let data = synthetic(config.seed, 128, 64);
        let mut t = Trainer::new(config.clone(), data, device).unwrap();
        for _ in 0..4 {
            t.train_step();
        }
        let loss = pollster::block_on(t.take_train_metrics()).unwrap().unwrap().0;
        (pollster::block_on(t.param_values()).unwrap(), loss, t.masks().clone())
    };
    // f32 products: the GPU's, to compare within f32 rounding.
    let (cpu, cpu_loss, cpu_masks) = {
        let _f32 = ticketlab::cpu::Isa::f32_products();
        run(Device::flex())
    };
    let (gpu, gpu_loss, gpu_masks) = run(gpu);
    assert_eq!(cpu_masks, gpu_masks, "masks come from the seed, not the device");
    assert!((cpu_loss - gpu_loss).abs() < 1e-3 * cpu_loss.abs().max(1.0), "loss {cpu_loss} vs {gpu_loss}");
    for (a, b) in cpu.iter().zip(&gpu) {
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff <= 1e-3 * scale, "max |cpu − wgpu| = {diff} (scale {scale})");
        // Pruned weights are exactly zero on both.
        assert!(a.iter().zip(b).all(|(x, y)| (*x == 0.0) == (*y == 0.0) || x.abs() < 1e-6));
    }
}

#[test]
fn rigl_updates_on_the_gpu_keep_exact_counts() {
    let Some(gpu) = gpu() else { return };
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 128, test: 64 },
        model: Arch::Conv2,
        width: 0.25,
        density: 0.1,
        batch_size: 32,
        steps: Some(6),
        method: Method::Rigl,
        dst: DstSettings { update_every: 2, drop_fraction: 0.5, ..DstSettings::default() },
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(config.clone(), synthetic(config.seed, 128, 64), gpu).unwrap();
    let targets = t.masks().active_counts();
    while !t.is_done() {
        t.train_step();
        pollster::block_on(t.sync_masks()).unwrap();
    }
    assert_eq!(t.mask_updates().len(), 2, "updates at steps 2 and 4 (end at 75% = step 4.5)");
    for update in t.mask_updates() {
        assert_eq!(update.active, targets, "exact counts after the update at step {}", update.step);
        assert!(update.dropped.iter().sum::<usize>() > 0);
    }
    let values = pollster::block_on(t.param_values()).unwrap();
    for layer in &t.masks().layers {
        let w = &values[layer.param];
        assert!((0..w.len()).all(|i| layer.bits.get(i) || w[i] == 0.0), "inactive weights are exactly zero");
    }
}

#[test]
fn masked_adam_kernel_matches_its_reference() {
    use ticketlab::kernels::{AdamHyper, masked_adam_step};
    use ticketlab::optim::masked_adam_reference;
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::new(9);
    let cpu = Device::flex();
    // Sizes around the workgroup size and one that needs a 2-D dispatch grid (> 65 535 × 256 elements); a first step
    // (no moments yet) and a later one, with and without weight decay.
    for (n, step, weight_decay) in
        [(1, 1, 0.0), (255, 3, 5e-4), (257, 1, 5e-4), (100_003, 7, 0.0), (17_000_000, 2, 1e-2)]
    {
        let (m, _) = random_tensor(&mut rng, n, &cpu, |r| r.bernoulli(0.3) as u8 as f32);
        let masked =
            |rng: &mut Rng, f: &dyn Fn(&mut Rng) -> f32| -> Vec<f32> { (0..n).map(|i| f(rng) * m[i]).collect() };
        // Inactive weights and their moments are zero, as the optimiser keeps them.
        let w = masked(&mut rng, &|r| r.normal());
        let (g, _) = random_tensor(&mut rng, n, &cpu, |r| r.normal());
        let m1 = masked(&mut rng, &|r| r.normal() * 0.1);
        let m2 = masked(&mut rng, &|r| r.normal().powi(2) * 0.01);
        let hyper = AdamHyper { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay, step };
        let on = |d: &Device, x: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), d);
        let first = step == 1;
        let state = |d: &Device, x: &Vec<f32>| if first { None } else { Some(on(d, x)) };
        let (w_ref, m_ref, v_ref) = masked_adam_reference(
            on(&cpu, &w),
            on(&cpu, &g),
            state(&cpu, &m1),
            state(&cpu, &m2),
            Some(on(&cpu, &m)),
            hyper,
        );
        let zeros = vec![0.0; n];
        let (m1_gpu, m2_gpu) = if first { (&zeros, &zeros) } else { (&m1, &m2) };
        let (w_gpu, m_gpu, v_gpu) =
            masked_adam_step(on(&gpu, &w), on(&gpu, &g), on(&gpu, m1_gpu), on(&gpu, m2_gpu), on(&gpu, &m), hyper);
        for (name, a, b) in [
            ("weight", read(w_ref), read(w_gpu)),
            ("first moment", read(m_ref), read(m_gpu)),
            ("second moment", read(v_ref), read(v_gpu)),
        ] {
            for i in 0..n {
                // The step m̂/(√v̂ + ε) is large where the (random, independent) state has a tiny v: allow rounding
                // relative to the size of the update too (WGSL's sqrt and division are not correctly rounded).
                let update = if name == "weight" { (a[i] - w[i]).abs() } else { 0.0 };
                let tol = 1e-6 * a[i].abs().max(1.0) + 1e-5 * update;
                assert!((a[i] - b[i]).abs() <= tol, "{name}[{i}] of {n}: {} vs {} (was {})", a[i], b[i], w[i]);
                if m[i] == 0.0 {
                    assert_eq!(b[i], 0.0, "{name}[{i}] is inactive but {}", b[i]);
                }
            }
        }
    }
}

/// A NaN or infinite gradient at a pruned position reaches neither the pruned weight nor its optimiser state, in
/// either fused kernel (a product with the mask gives NaN·0 = NaN), and the CPU references agree with the kernels.
#[test]
fn nan_gradients_never_reach_pruned_weights_on_the_gpu() {
    use ticketlab::kernels::{AdamHyper, masked_adam_step};
    use ticketlab::optim::masked_adam_reference;
    let Some(gpu) = gpu() else { return };
    let cpu = Device::flex();
    let n = 1000;
    // Every third weight is active; the gradient is NaN or ±∞ at inactive positions only.
    let mask: Vec<f32> = (0..n).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let grad: Vec<f32> = (0..n)
        .map(|i| match i % 6 {
            1 => f32::NAN,
            2 => f32::INFINITY,
            4 => f32::NEG_INFINITY,
            _ => (i as f32 * 0.37).sin(),
        })
        .collect();
    let masked = |f: &dyn Fn(usize) -> f32| -> Vec<f32> { (0..n).map(|i| f(i) * mask[i]).collect() };
    let w = masked(&|i| (i as f32 * 0.11).cos());
    let m1 = masked(&|i| (i as f32 * 0.05).sin() * 0.1);
    let m2 = masked(&|i| (i as f32 * 0.07).sin().powi(2) * 0.01);
    let on = |d: &Device, x: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), d);
    let check = |name: &str, want: Vec<f32>, got: Vec<f32>| {
        for i in 0..n {
            if mask[i] == 0.0 {
                assert!(want[i] == 0.0 && got[i] == 0.0, "{name}[{i}] is pruned: cpu {} gpu {}", want[i], got[i]);
            } else {
                assert!(
                    (want[i] - got[i]).abs() <= 1e-5 * want[i].abs().max(1.0),
                    "{name}[{i}]: {} vs {}",
                    want[i],
                    got[i]
                );
            }
        }
    };
    for nesterov in [false, true] {
        let hyper = SgdHyper { lr: 0.1, momentum: 0.9, weight_decay: 5e-4, nesterov };
        let (w_ref, v_ref) =
            masked_sgd_reference(on(&cpu, &w), on(&cpu, &grad), on(&cpu, &m1), Some(on(&cpu, &mask)), hyper);
        let (w_gpu, v_gpu) = masked_sgd_step(on(&gpu, &w), on(&gpu, &grad), on(&gpu, &m1), on(&gpu, &mask), hyper);
        check("sgd weight", read(w_ref), read(w_gpu));
        check("sgd velocity", read(v_ref), read(v_gpu));
    }
    let hyper = AdamHyper { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 5e-4, step: 2 };
    let (w_ref, m_ref, v_ref) = masked_adam_reference(
        on(&cpu, &w),
        on(&cpu, &grad),
        Some(on(&cpu, &m1)),
        Some(on(&cpu, &m2)),
        Some(on(&cpu, &mask)),
        hyper,
    );
    let (w_gpu, m_gpu, v_gpu) =
        masked_adam_step(on(&gpu, &w), on(&gpu, &grad), on(&gpu, &m1), on(&gpu, &m2), on(&gpu, &mask), hyper);
    check("adam weight", read(w_ref), read(w_gpu));
    check("adam first moment", read(m_ref), read(m_gpu));
    check("adam second moment", read(v_ref), read(v_gpu));
}

#[test]
fn adam_training_on_wgpu_matches_the_cpu_backend() {
    use ticketlab::optim::OptimizerKind;
    let Some(gpu) = gpu() else { return };
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 128, test: 64 },
        model: Arch::Conv2,
        width: 0.25,
        density: 0.3,
        batch_size: 32,
        steps: Some(3),
        optimizer: OptimizerKind::adam(),
        lr: 1e-3,
        ..TrainConfig::default()
    };
    let run = |device: Device| {
        let mut t = Trainer::new(config.clone(), synthetic(config.seed, 128, 64), device).unwrap();
        for _ in 0..3 {
            t.train_step();
        }
        (pollster::block_on(t.param_values()).unwrap(), t.masks().clone())
    };
    let (cpu, masks) = {
        let _f32 = ticketlab::cpu::Isa::f32_products();
        run(Device::flex())
    };
    let (gpu, _) = run(gpu);
    for (a, b) in cpu.iter().zip(&gpu) {
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff <= 1e-3 * scale, "max |cpu − wgpu| = {diff} (scale {scale})");
    }
    for layer in &masks.layers {
        let w = &gpu[layer.param];
        assert!((0..w.len()).all(|i| layer.bits.get(i) || w[i] == 0.0), "inactive weights stay exactly zero");
    }
}

#[test]
fn sparse_linear_kernels_match_their_reference() {
    use ticketlab::kernels::{SparseLinear, sparse_layout_reference, sparse_linear_reference};
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng::new(10);
    // (batch, rows, cols, density): tiny, an empty mask, odd sizes, and conv4's fc shapes at 90–98% sparsity.
    for (batch, rows, cols, density) in [
        (2, 3, 5, 0.5),
        (3, 7, 9, 0.0),
        (5, 33, 257, 0.3),
        (64, 10, 256, 0.1),
        (64, 256, 256, 0.05),
        (64, 128, 4096, 0.02),
    ] {
        let n = rows * cols;
        let mask: Vec<f32> = (0..n).map(|_| rng.bernoulli(density) as u8 as f32).collect();
        let nnz = mask.iter().filter(|&&m| m != 0.0).count();
        let weight: Vec<f32> = mask.iter().map(|&m| m * rng.normal()).collect();
        let x: Vec<f32> = (0..batch * cols).map(|_| rng.normal()).collect();
        let dy: Vec<f32> = (0..batch * rows).map(|_| rng.normal()).collect();
        let (y_ref, dx_ref, dw_ref) = sparse_linear_reference(&x, &weight, &mask, &dy, batch, rows, cols);

        let on = |v: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &gpu);
        let layer = SparseLinear::from_mask(&on(&mask), rows, cols, nnz).expect("a wgpu device");
        let index = layer.index().clone().into_data().try_into_vec_as::<i64>().unwrap();
        let want: Vec<i64> = sparse_layout_reference(&mask, rows, cols).into_iter().map(i64::from).collect();
        assert!(index == want, "index differs from the reference, {rows}×{cols}");

        let xt = on(&x).reshape([batch, cols]).autodiff().require_grad();
        let wt = on(&weight).autodiff().require_grad();
        let y = layer.forward(xt.clone(), wt.clone());
        let grads = (y.clone() * on(&dy).reshape([batch, rows]).autodiff()).sum().backward();
        let y = read(y.inner().reshape([batch * rows]));
        let dx = read(xt.grad(&grads).unwrap().reshape([batch * cols]));
        let dw = read(wt.grad(&grads).unwrap());
        for (name, a, b) in [("y", &y_ref, &y), ("dx", &dx_ref, &dx), ("dw", &dw_ref, &dw)] {
            assert_eq!(a.len(), b.len(), "{name} length");
            for i in 0..a.len() {
                assert!(
                    (a[i] - b[i]).abs() <= 1e-4 * a[i].abs().max(1.0),
                    "{name}[{i}], {rows}×{cols}: {} vs {}",
                    a[i],
                    b[i]
                );
            }
        }
        assert!((0..n).all(|i| mask[i] != 0.0 || dw[i] == 0.0), "dw is zero at inactive positions");
        // Untracked (evaluation) use gives the same output.
        let y_eval = read(layer.forward(on(&x).reshape([batch, cols]), on(&weight)).reshape([batch * rows]));
        assert_eq!(y_eval, y);
    }
}

#[test]
fn sparse_routed_network_matches_the_dense_one() {
    use ticketlab::model::{NetSpec, Network};
    let Some(gpu) = gpu() else { return };
    let spec = NetSpec::new(Arch::Conv4, 0.25, 10);
    let mut rng = Rng::new(11);
    let net = MaskedNetwork::random(&spec, &mut rng, &gpu);
    let (mask_tensors, nnz, masks) = (&net.mask_tensors, &net.nnz, &net.masks);
    // Force the sparse path for every masked linear layer (the automatic rule keeps the small ones dense).
    let plan: Vec<_> = (0..spec.params.len())
        .map(|i| {
            let p = &spec.params[i];
            let linear = p.role == ticketlab::model::Role::LinearWeight;
            mask_tensors[i].as_ref().filter(|_| linear).map(|m| {
                let layer = ticketlab::kernels::SparseLinear::from_mask(m, p.shape[0], p.shape[1], nnz[i].unwrap());
                ticketlab::model::SparseLayer::Linear(Box::new(layer.unwrap()))
            })
        })
        .collect();
    assert_eq!(plan.iter().filter(|p| p.is_some()).count(), 3, "fc1, fc2, fc3");
    let x: Vec<f32> = (0..8 * 3 * 32 * 32).map(|_| rng.normal()).collect();
    let run = |plan: &[Option<ticketlab::model::SparseLayer>]| net.logits_and_gradients(&spec, &x, &gpu, plan);
    // The automatic plan follows the fixed rule: at 10% density only fc1 (64×2048) is large enough.
    let auto = Network::sparse_plan(&spec, mask_tensors, nnz, SparsePath::Auto);
    let auto_layers: Vec<&str> =
        (0..spec.params.len()).filter(|&i| auto[i].is_some()).map(|i| spec.params[i].name.as_str()).collect();
    assert_eq!(auto_layers, ["fc1.weight"], "the automatic rule routes fc1 alone");
    let (dense_logits, dense_grads) = run(&[]);
    let (auto_logits, _) = run(&auto);
    for i in 0..80 {
        let (a, b) = (dense_logits[i], auto_logits[i]);
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "logit {i} with the automatic plan: {a} vs {b}");
    }
    let (sparse_logits, sparse_grads) = run(&plan);
    for i in 0..80 {
        let (a, b) = (dense_logits[i], sparse_logits[i]);
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "logit {i}: {a} vs {b}");
    }
    for (i, (a, b)) in dense_grads.iter().zip(&sparse_grads).enumerate() {
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        for j in 0..a.len() {
            // The sparse path gives no gradient at inactive positions; the dense one does.
            let want = if plan[i].is_some() && masks_bit(masks, i, j) == Some(false) { 0.0 } else { a[j] };
            assert!((want - b[j]).abs() <= 1e-3 * scale, "grad of {} [{j}]: {want} vs {}", spec.params[i].name, b[j]);
        }
    }
}

/// The trainer routes masked linear layers through the sparse path between mask updates and rebuilds the plan after
/// each update: training with it follows training without it, and RigL keeps exact counts.
#[test]
fn the_trainer_trains_through_the_sparse_path() {
    let Some(gpu) = gpu() else { return };
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 64, test: 32 },
        model: Arch::Conv4,
        width: 0.25,
        density: 0.1,
        batch_size: 8,
        steps: Some(4),
        ..TrainConfig::default()
    };
    let run = |config: &TrainConfig, path: SparsePath| {
        let mut t = Trainer::new(config.clone(), synthetic(config.seed, 64, 32), gpu.clone()).unwrap();
        t.set_sparse_path(path);
        while !t.is_done() {
            t.train_step();
            pollster::block_on(t.sync_masks()).unwrap();
        }
        (t.sparse_layers(), pollster::block_on(t.param_values()).unwrap(), t)
    };
    let (none, dense, _) = run(&config, SparsePath::Never);
    let (three, sparse, _) = run(&config, SparsePath::Always);
    assert_eq!((none, three), (0, 3), "fc1, fc2 and fc3 go sparse only when asked");
    for (a, b) in dense.iter().zip(&sparse) {
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff <= 1e-3 * scale, "max |dense − sparse path| = {diff} (scale {scale})");
    }
    let rigl = TrainConfig {
        method: Method::Rigl,
        dst: DstSettings { update_every: 2, drop_fraction: 0.5, ..DstSettings::default() },
        ..config
    };
    let (layers, values, t) = run(&rigl, SparsePath::Always);
    assert_eq!(layers, 3, "the plan is rebuilt after the update");
    assert_eq!(t.mask_updates().len(), 1, "one update, at step 2");
    assert_eq!(t.mask_updates()[0].active, t.initial_masks().active_counts(), "exact counts");
    for layer in &t.masks().layers {
        let w = &values[layer.param];
        assert!((0..w.len()).all(|i| layer.bits.get(i) || w[i] == 0.0), "inactive weights are exactly zero");
    }
}

fn masks_bit(masks: &ticketlab::mask::Masks, param: usize, i: usize) -> Option<bool> {
    masks.layers.iter().find(|l| l.param == param).map(|l| l.bits.get(i))
}

/// The app's training driver (a worker thread under the app's pacer) on lavapipe: it starts paused, takes single
/// steps, runs to the end, and reports status, metrics, mask updates and the outcome, as the UI reads them.
#[test]
fn the_app_session_trains_on_the_gpu() {
    let Some(gpu) = gpu() else { return };
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 192, test: 64 },
        model: Arch::Conv2,
        width: 0.25,
        density: 0.2,
        batch_size: 32,
        steps: Some(12),
        eval_every: 6,
        method: Method::Set,
        dst: DstSettings { update_every: 4, ..DstSettings::default() },
        ..TrainConfig::default()
    };
    let data = ticketlab::train::TrainData::new(synthetic(config.seed, 192, 64), 0.0, config.seed);
    let mut session = ticketlab::app::Session::new(config, data, gpu, "wgpu".into(), || {}).unwrap();
    let wait = |session: &mut ticketlab::app::Session, done: &dyn Fn(&ticketlab::app::Session) -> bool| {
        let start = std::time::Instant::now();
        while !done(session) && start.elapsed().as_secs() < 300 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            session.update();
        }
    };
    session.step();
    wait(&mut session, &|s| s.status.as_ref().is_some_and(|t| t.step >= 1));
    std::thread::sleep(std::time::Duration::from_millis(300));
    session.update();
    assert_eq!(session.status.as_ref().map(|t| t.step), Some(1), "one step while paused");
    session.set_running(true);
    wait(&mut session, &|s| s.is_done());
    assert!(session.error.is_none(), "{:?}", session.error);
    let stage = session.stage().expect("a stage");
    assert!(!stage.train.is_empty() && stage.test.len() == 2, "train points and two evaluations");
    assert_eq!(stage.updates.len(), 2, "SET updates at steps 4 and 8 (end at 75%)");
    assert_eq!(stage.masks.len(), 3, "the initial mask and one per update");
    assert!(matches!(session.outcome, Some(ticketlab::procedure::Outcome::Run(ref r)) if r.steps == 12));
}

/// The same link twice gives bit-identical weights on the GPU (issue 14). The automatic sparse routing used to be
/// decided by a wall-clock timing; it is a fixed rule of the layer's shape now, and this link's fc1 (conv4 at 5%
/// density, 64×2048) takes the sparse path every time. A first run tunes burn's kernels: burn's autotuner is shared
/// by the test threads, and a kernel that another test is still tuning runs burn's fallback choice meanwhile.
#[test]
fn the_same_link_gives_bit_identical_weights_twice() {
    let Some(gpu) = gpu() else { return };
    let link = "ticketlab://run?v=1&model=conv4&width=0.25&density=0.05&method=rigl&dataset=synthetic:32:16\
                &batch_size=8&steps=4&dst.update_every=2";
    let config = ticketlab::textconfig::from_fragment(link).unwrap();
    let run = || {
        let mut t = Trainer::new(config.clone(), synthetic(config.seed, 32, 16), gpu.clone()).unwrap();
        let routed = t.sparse_layers();
        while !t.is_done() {
            t.train_step();
            pollster::block_on(t.sync_masks()).unwrap();
        }
        let bits: Vec<Vec<u32>> = pollster::block_on(t.param_values())
            .unwrap()
            .iter()
            .map(|p| p.iter().map(|v| v.to_bits()).collect())
            .collect();
        (routed, bits, t.masks().clone())
    };
    run();
    let (routed, first, masks) = run();
    let (routed_again, second, masks_again) = run();
    assert_eq!((routed, routed_again), (1, 1), "fc1 goes through the sparse path, the small layers do not");
    assert_eq!(masks, masks_again);
    assert!(first == second, "the weights differ between two runs of one link");
}
