//! The wgpu backend (lavapipe in CI): every WGSL kernel against its CPU reference, and whole training steps
//! against the CPU backend. One device is shared by the tests of this binary.

use std::sync::OnceLock;

use burn::prelude::*;

use ticketlab::backend::{BackendKind, device};
use ticketlab::config::{DatasetSpec, TrainConfig};
use ticketlab::data::synthetic;
use ticketlab::kernels::{
    MaskCounts, SgdHyper, lerp, lerp_reference, mask_stats, masked_sgd_step, top_k_mask, top_k_reference,
    uses_gpu_kernels,
};
use ticketlab::mask::{Bits, Overlap};
use ticketlab::model::Arch;
use ticketlab::optim::masked_sgd_reference;
use ticketlab::rng::Rng;
use ticketlab::train::{Trainer, read_f32};

/// The shared wgpu device, or `None` (with a note) where no Vulkan driver is installed outside CI.
fn gpu() -> Option<Device> {
    static GPU: OnceLock<Option<Device>> = OnceLock::new();
    GPU.get_or_init(|| {
        // Autotuning every kernel on a software rasteriser costs minutes; results do not depend on it.
        // SAFETY: set inside the OnceLock initialiser, before the runtime that reads it starts; the other tests
        // of this binary wait on this lock.
        unsafe { std::env::set_var("CUBECL_AUTOTUNE_LEVEL", "minimal") };
        match device(BackendKind::Wgpu) {
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
        (pollster::block_on(t.param_values()).unwrap(), loss, t.masks.clone())
    };
    let (cpu, cpu_loss, cpu_masks) = run(Device::flex());
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
