//! Benchmarks: training throughput dense vs masked per backend, mask-update cost, dense vs sparse compute path.
//!
//! What `ticketlab bench` runs and prints. Every ratio is measured within one run: the variants it compares are
//! interleaved round by round and each figure is a median, so load from other processes shifts both sides alike.
//!
//! - **Dense vs masked step**: images/s of a training step of the same network unmasked (no mask tensors at all:
//!   no mask multiply anywhere) and masked at the given density (ERK, static mask), and their time ratio.
//! - **First step**: the first training step on a fresh trainer, with its shader compilation and kernel autotuning
//!   on wgpu, reported apart from the steady state.
//! - **RigL update cost**: a RigL trainer updating its masks every few steps; the extra time of an update step over
//!   a plain step, as a share of the training time of one update period at ΔT (default 100):
//!   `extra / (ΔT · plain + extra)`. The read-back of the new masks (`sync_masks`, which the drivers do when they
//!   record, not inside a step) is reported separately.
//! - **Sparse vs dense linear layers**: forward + backward of the model's fully connected layers at each sparsity,
//!   through burn's dense matmul and through the sparse path (WGSL on wgpu, the CPU kernels on the CPU backend), and
//!   what the automatic routing picks.
//! - **Sparse vs dense conv layers** (CPU backend): forward and backward (input and weight gradients) of each of
//!   the model's stride-1 convolutions through ticketlab's CPU kernels, dense and from the compressed weight, at
//!   each sparsity, with the time to build the compressed layout from a mask.
//! - **f32 vs bfloat16 products** (CPU backend, CPUs with AVX512-BF16): the same dense convolutions with their
//!   products in f32 and in bfloat16 (what training uses there unless `TICKETLAB_CPU_ISA=avx512`).
//!
//! Native only (timing needs blocking device syncs).
#![cfg(not(target_arch = "wasm32"))]

use std::fmt::Write as _;

use burn::prelude::*;
use web_time::Instant;

use crate::backend::{self, BackendKind};
use crate::config::{DatasetSpec, TrainConfig};
use crate::cpu::{self, ConvShape, LayerTimes, SparseConv};
use crate::kernels::{self, SparseShape};
use crate::mask::Masks;
use crate::model::{Arch, NetSpec, Op, Role};
use crate::sparsity::{Distribution, DstSettings, Method};
use crate::train::Trainer;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub models: Vec<Arch>,
    /// Channel-width multiplier; `None` = ticketlab's default for the model (conv4: 0.5).
    pub width: Option<f32>,
    pub batch_size: usize,
    pub backends: Vec<BackendKind>,
    /// Density of the masked variant (ERK).
    pub density: f64,
    /// Timed steps per variant per round (0: no training-step figures, only the linear-layer comparison).
    pub steps: usize,
    /// Interleaved rounds (each figure is the median over rounds).
    pub rounds: usize,
    /// ΔT at which the RigL update cost is reported.
    pub update_every: usize,
    /// Mask updates timed for the RigL figure.
    pub updates: usize,
    /// Sparsities of the linear-layer comparison (0.9 = 90% of the weights pruned).
    pub sparsities: Vec<f64>,
    /// Timed passes per point of the linear-layer comparison.
    pub linear_reps: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            models: vec![Arch::Conv4, Arch::Resnet20],
            width: None,
            batch_size: 64,
            backends: vec![BackendKind::Cpu, BackendKind::Wgpu],
            density: 0.1,
            steps: 5,
            rounds: 3,
            update_every: 100,
            updates: 4,
            sparsities: vec![0.5, 0.8, 0.9, 0.95, 0.98],
            linear_reps: 5,
        }
    }
}

impl BenchOptions {
    /// A fast version: conv4 only, fewer steps, rounds and updates.
    pub fn quick() -> Self {
        BenchOptions {
            models: vec![Arch::Conv4],
            steps: 2,
            rounds: 3,
            updates: 2,
            sparsities: vec![0.5, 0.9, 0.98],
            linear_reps: 3,
            ..Self::default()
        }
    }

    fn width(&self, model: Arch) -> f32 {
        self.width.unwrap_or(if model == Arch::Conv4 { TrainConfig::default().width } else { model.default_width() })
    }
}

/// Training-step figures of one model on one backend.
#[derive(Clone, Debug)]
pub struct StepFigures {
    pub model: Arch,
    pub width: f32,
    pub backend: BackendKind,
    /// Seconds of the first step of the first (dense) trainer: compilation and autotuning included.
    pub first_step_s: f64,
    /// Seconds of the masked trainer's first step (kernels mostly compiled by then).
    pub first_masked_step_s: f64,
    pub dense_step_s: f64,
    pub masked_step_s: f64,
    /// Per-round masked/dense time ratios (the spread of the ratio).
    pub ratios: Vec<f64>,
    /// Median CPU times per step (all threads of this process) of the dense and masked steps, where known.
    pub cpu_steps_s: Option<(f64, f64)>,
    pub rigl: Option<RiglFigures>,
}

impl StepFigures {
    pub fn ratio(&self) -> f64 {
        self.masked_step_s / self.dense_step_s
    }

    /// The masked/dense ratio of CPU times, where known.
    pub fn cpu_ratio(&self) -> Option<f64> {
        self.cpu_steps_s.map(|(d, m)| m / d)
    }
}

#[derive(Clone, Debug)]
pub struct RiglFigures {
    pub plain_step_s: f64,
    pub update_step_s: f64,
    /// Seconds to read back one update's masks (done by the drivers when they record, not inside a step).
    pub readback_s: f64,
    /// CPU times of a plain and an update step (all threads of this process), where known.
    pub cpu_steps_s: Option<(f64, f64)>,
    pub update_every: usize,
}

impl RiglFigures {
    pub fn extra_s(&self) -> f64 {
        (self.update_step_s - self.plain_step_s).max(0.0)
    }

    /// The update's share of the training time of one period of `update_every` steps.
    pub fn share(&self) -> f64 {
        let extra = self.extra_s();
        extra / (self.update_every as f64 * self.plain_step_s + extra)
    }

    /// The share from CPU times (steadier under load), where known.
    pub fn cpu_share(&self) -> Option<f64> {
        let (plain, update) = self.cpu_steps_s?;
        let extra = (update - plain).max(0.0);
        Some(extra / (self.update_every as f64 * plain + extra))
    }

    /// The same with the mask read-back counted in.
    pub fn share_with_readback(&self) -> f64 {
        let extra = self.extra_s() + self.readback_s;
        extra / (self.update_every as f64 * self.plain_step_s + extra)
    }
}

/// One point of the dense vs sparse linear comparison.
#[derive(Clone, Debug)]
pub struct LinearFigure {
    pub layer: String,
    pub shape: SparseShape,
    pub batch: usize,
    pub sparsity: f64,
    pub dense_s: f64,
    pub sparse_s: f64,
}

impl LinearFigure {
    pub fn speedup(&self) -> f64 {
        self.dense_s / self.sparse_s
    }
}

/// One point of the dense vs sparse convolution comparison on the CPU.
#[derive(Clone, Debug)]
pub struct ConvFigure {
    pub layer: String,
    pub shape: ConvShape,
    pub sparsity: f64,
    pub dense: LayerTimes,
    pub sparse: LayerTimes,
    /// Seconds to build the compressed layout from the mask (what a mask update costs per layer).
    pub layout_s: f64,
}

impl ConvFigure {
    pub fn speedup(&self) -> f64 {
        self.dense.total_s() / self.sparse.total_s()
    }
}

/// One dense convolution with its products in f32 and in bfloat16.
#[derive(Clone, Debug)]
pub struct ProductsFigure {
    pub layer: String,
    pub shape: ConvShape,
    pub f32: LayerTimes,
    pub bf16: LayerTimes,
    /// On AMX tiles, where the CPU has them.
    pub amx: Option<LayerTimes>,
}

/// Everything one `ticketlab bench` run measured, with notes on what it skipped.
#[derive(Clone, Debug, Default)]
pub struct BenchReport {
    pub batch_size: usize,
    pub density: f64,
    /// Threads of the CPU backend's pool and the instruction set of ticketlab's CPU kernels.
    pub cpu: String,
    pub steps: Vec<StepFigures>,
    pub linear: Vec<(BackendKind, Vec<LinearFigure>)>,
    pub conv: Vec<ConvFigure>,
    pub products: Vec<ProductsFigure>,
    pub notes: Vec<String>,
    pub load_before: Option<String>,
    pub load_after: Option<String>,
}

fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn sync(device: &Device) -> Result<(), String> {
    device.sync().map_err(|e| format!("device sync failed: {e:?}"))
}

/// A trainer on the synthetic set for a benchmark variant. `masked = false` gives a truly unmasked network.
fn trainer(
    opts: &BenchOptions,
    model: Arch,
    device: &Device,
    masked: bool,
    method: Method,
    update_every: usize,
) -> Result<Trainer, String> {
    let bs = opts.batch_size;
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: bs * 8, test: 64 },
        model,
        width: opts.width(model),
        density: if masked { opts.density } else { 1.0 },
        distribution: Distribution::Erk,
        method,
        dst: DstSettings { update_every, ..DstSettings::default() },
        // Long enough that no schedule ends (RigL keeps updating, the learning rate stays near its base).
        steps: Some(1_000_000),
        batch_size: bs,
        lr: TrainConfig::default_lr(model),
        ..TrainConfig::default()
    };
    let data = crate::data::synthetic(config.seed, bs * 8, 64);
    let mut t = Trainer::new(config, data, device.clone()).map_err(|e| e.to_string())?;
    if !masked {
        t.set_masks(Masks { layers: vec![] });
    }
    Ok(t)
}

/// CPU time (user + system) of this process so far, in seconds, where the platform tells it (Linux): all its
/// threads, so it includes burn's CPU work and lavapipe's shader threads. Under load from other processes a step's
/// CPU time moves much less than its wall-clock time, so ratios of CPU times are the steadier figure there.
fn process_cpu_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces): utime and stime are the
    // 12th and 13th of them, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Seconds per step over `n` steps, synchronised at the end: (wall clock, CPU time if known).
fn time_steps(t: &mut Trainer, n: usize) -> Result<(f64, Option<f64>), String> {
    let (start, cpu) = (Instant::now(), process_cpu_time());
    for _ in 0..n {
        t.train_step();
    }
    sync(t.device())?;
    let _ = t.take_pending_metrics();
    let n = n.max(1) as f64;
    let cpu = match (cpu, process_cpu_time()) {
        (Some(a), Some(b)) => Some((b - a) / n),
        _ => None,
    };
    Ok((start.elapsed().as_secs_f64() / n, cpu))
}

fn first_step(t: &mut Trainer) -> Result<f64, String> {
    Ok(time_steps(t, 1)?.0)
}

/// Dense vs masked steps (and the RigL update) of one model on one device.
pub fn measure_steps(
    opts: &BenchOptions,
    model: Arch,
    kind: BackendKind,
    device: &Device,
    log: &mut dyn FnMut(&str),
) -> Result<StepFigures, String> {
    let mut dense = trainer(opts, model, device, false, Method::Static, 100)?;
    let mut masked = trainer(opts, model, device, true, Method::Static, 100)?;
    log(&format!(
        "{model} on {kind}: first steps (the masked trainer computes {} layer(s) through a sparse path)",
        masked.sparse_layers()
    ));
    let first_step_s = first_step(&mut dense)?;
    let first_masked_step_s = first_step(&mut masked)?;
    // One more untimed step each (buffers and autotune caches settle).
    time_steps(&mut dense, 1)?;
    time_steps(&mut masked, 1)?;
    let (mut d, mut m, mut ratios) = (vec![], vec![], vec![]);
    let (mut d_cpu, mut m_cpu) = (vec![], vec![]);
    for round in 0..opts.rounds.max(1) {
        // Alternate which variant goes first, so neither always follows the other.
        let (a, b) = if round % 2 == 0 {
            let a = time_steps(&mut dense, opts.steps)?;
            (a, time_steps(&mut masked, opts.steps)?)
        } else {
            let b = time_steps(&mut masked, opts.steps)?;
            (time_steps(&mut dense, opts.steps)?, b)
        };
        log(&format!(
            "{model} on {kind}: round {}: dense {:.1} ms, masked {:.1} ms (CPU time {} / {} ms)",
            round + 1,
            a.0 * 1e3,
            b.0 * 1e3,
            a.1.map_or("?".into(), |c| format!("{:.0}", c * 1e3)),
            b.1.map_or("?".into(), |c| format!("{:.0}", c * 1e3)),
        ));
        d.push(a.0);
        m.push(b.0);
        ratios.push(b.0 / a.0);
        if let (Some(x), Some(y)) = (a.1, b.1) {
            d_cpu.push(x);
            m_cpu.push(y);
        }
    }
    drop((dense, masked));
    let rigl = if opts.updates > 0 { Some(measure_rigl(opts, model, kind, device, log)?) } else { None };
    Ok(StepFigures {
        model,
        width: opts.width(model),
        backend: kind,
        first_step_s,
        first_masked_step_s,
        dense_step_s: median(&mut d),
        masked_step_s: median(&mut m),
        cpu_steps_s: (!d_cpu.is_empty()).then(|| (median(&mut d_cpu), median(&mut m_cpu))),
        ratios,
        rigl,
    })
}

/// Plain and update steps of a RigL trainer that updates every few steps (each step synchronised).
fn measure_rigl(
    opts: &BenchOptions,
    model: Arch,
    kind: BackendKind,
    device: &Device,
    log: &mut dyn FnMut(&str),
) -> Result<RiglFigures, String> {
    const EVERY: usize = 4;
    let mut t = trainer(opts, model, device, true, Method::Rigl, EVERY)?;
    let (mut plain, mut update, mut readback) = (vec![], vec![], vec![]);
    let (mut plain_cpu, mut update_cpu) = (vec![], vec![]);
    // The first period (with its first update) warms the selection kernels up and is not counted.
    let mut seen_updates = 0;
    while seen_updates <= opts.updates {
        let (dt, cpu) = time_steps(&mut t, 1)?;
        if t.has_pending_masks() {
            let start = Instant::now();
            pollster::block_on(t.sync_masks()).map_err(|e| e.to_string())?;
            let rb = start.elapsed().as_secs_f64();
            if seen_updates > 0 {
                update.push(dt);
                readback.push(rb);
                update_cpu.extend(cpu);
            }
            seen_updates += 1;
        } else if seen_updates > 0 {
            plain.push(dt);
            plain_cpu.extend(cpu);
        }
    }
    let figures = RiglFigures {
        plain_step_s: median(&mut plain),
        update_step_s: median(&mut update),
        readback_s: median(&mut readback),
        cpu_steps_s: (!plain_cpu.is_empty() && !update_cpu.is_empty())
            .then(|| (median(&mut plain_cpu), median(&mut update_cpu))),
        update_every: opts.update_every,
    };
    log(&format!(
        "{model} on {kind}: RigL plain step {:.1} ms, update step {:.1} ms, mask read-back {:.1} ms",
        figures.plain_step_s * 1e3,
        figures.update_step_s * 1e3,
        figures.readback_s * 1e3
    ));
    Ok(figures)
}

/// The fully connected layers of a model: (name, rows, cols).
pub fn linear_layers(spec: &NetSpec) -> Vec<(String, usize, usize)> {
    spec.params
        .iter()
        .filter(|p| p.role == Role::LinearWeight)
        .map(|p| (p.name.trim_end_matches(".weight").to_string(), p.shape[0], p.shape[1]))
        .collect()
}

/// Dense vs sparse forward + backward of `model`'s linear layers at each sparsity: on a wgpu device through the
/// sparse WGSL path, on the CPU backend through the CPU kernels.
pub fn measure_linear(
    opts: &BenchOptions,
    model: Arch,
    device: &Device,
    log: &mut dyn FnMut(&str),
) -> Vec<LinearFigure> {
    let spec = NetSpec::new(model, opts.width(model), 10);
    let mut out = vec![];
    for (layer, rows, cols) in linear_layers(&spec) {
        for &sparsity in &opts.sparsities {
            let nnz = ((1.0 - sparsity) * (rows * cols) as f64).round() as usize;
            let shape = SparseShape { rows, cols, nnz };
            let (dense_s, sparse_s) = if cpu::uses_cpu_kernels(device) {
                cpu::time_linear(rows, cols, nnz, opts.batch_size, opts.linear_reps)
            } else {
                kernels::time_linear(device, shape, opts.batch_size, opts.linear_reps)
            };
            log(&format!(
                "linear {layer} {rows}×{cols} at {:.0}% sparsity: dense {:.2} ms, sparse {:.2} ms",
                sparsity * 100.0,
                dense_s * 1e3,
                sparse_s * 1e3
            ));
            out.push(LinearFigure { layer: layer.clone(), shape, batch: opts.batch_size, sparsity, dense_s, sparse_s });
        }
    }
    out
}

/// The stride-1 convolutions of a model at `batch`: (name, shape, whether its input needs a gradient).
pub fn conv_layers(spec: &NetSpec, batch: usize) -> Vec<(String, ConvShape, bool)> {
    let mut out = vec![];
    for op in &spec.ops {
        let Op::Conv { weight, stride: 1, kernel, .. } = op else { continue };
        let p = &spec.params[*weight];
        let (k, pad) = (*kernel, kernel / 2);
        let [h, w] = p.out_hw.map(|o| o + k - 1 - 2 * pad);
        let shape = ConvShape { batch, c_in: p.shape[1], c_out: p.shape[0], h, w, k, pad };
        out.push((p.name.trim_end_matches(".weight").to_string(), shape, !out.is_empty()));
    }
    out
}

/// Dense vs sparse forward + backward of `model`'s convolutions at each sparsity, through the CPU kernels.
pub fn measure_conv(opts: &BenchOptions, model: Arch, log: &mut dyn FnMut(&str)) -> Vec<ConvFigure> {
    let spec = NetSpec::new(model, opts.width(model), 10);
    let mut out = vec![];
    for (layer, shape, input_gradient) in conv_layers(&spec, opts.batch_size) {
        for &sparsity in &opts.sparsities {
            let (dense, sparse, layout_s) = cpu::time_conv(&shape, 1.0 - sparsity, input_gradient, opts.linear_reps);
            log(&format!(
                "conv {layer} at {:.0}% sparsity: dense {:.2} ms, sparse {:.2} ms",
                sparsity * 100.0,
                dense.total_s() * 1e3,
                sparse.total_s() * 1e3
            ));
            out.push(ConvFigure { layer: layer.clone(), shape, sparsity, dense, sparse, layout_s });
        }
    }
    out
}

/// Each of `model`'s convolutions with f32 and with bfloat16 products, on vectors (the CPU must run AVX512-BF16)
/// and on AMX tiles where it has them.
pub fn measure_products(opts: &BenchOptions, model: Arch, log: &mut dyn FnMut(&str)) -> Vec<ProductsFigure> {
    let spec = NetSpec::new(model, opts.width(model), 10);
    let mut out = vec![];
    for (layer, shape, input_gradient) in conv_layers(&spec, opts.batch_size) {
        let times = cpu::time_conv_products(&shape, input_gradient, opts.linear_reps);
        let of = |isa| times.iter().find(|(i, _)| *i == isa).map(|(_, t)| *t);
        let (f32, bf16, amx) = (times[0].1, of(cpu::Isa::Avx512Bf16).expect("timed"), of(cpu::Isa::Amx));
        let amx_ms = amx.map_or(String::new(), |t| format!(", on AMX tiles {:.2} ms", t.total_s() * 1e3));
        log(&format!(
            "conv {layer}: f32 products {:.2} ms, bfloat16 {:.2} ms{amx_ms}",
            f32.total_s() * 1e3,
            bf16.total_s() * 1e3
        ));
        out.push(ProductsFigure { layer, shape, f32, bf16, amx });
    }
    out
}

/// Run every measurement `opts` asks for; `log` gets a line as each finishes.
pub fn run(opts: &BenchOptions, mut log: impl FnMut(&str)) -> BenchReport {
    let mut report = BenchReport {
        batch_size: opts.batch_size,
        density: opts.density,
        cpu: format!("{} threads, {:?} kernels", rayon::current_num_threads(), cpu::Isa::detect()),
        load_before: load_average(),
        ..Default::default()
    };
    for &kind in &opts.backends {
        let device = match backend::device(kind) {
            Ok(d) => d,
            Err(e) => {
                report.notes.push(format!("{kind}: skipped ({e})"));
                continue;
            }
        };
        let step_models = if opts.steps > 0 { &opts.models[..] } else { &[] };
        for &model in step_models {
            match measure_steps(opts, model, kind, &device, &mut log) {
                Ok(f) => report.steps.push(f),
                Err(e) => report.notes.push(format!("{model} on {kind}: failed ({e})")),
            }
        }
        let cpu_kernels = cpu::uses_cpu_kernels(&device) && cpu::cpu_kernels_enabled();
        if (kernels::uses_gpu_kernels(&device) || cpu_kernels) && !opts.sparsities.is_empty() {
            // The comparison uses conv4's fully connected layers (resnet20's single 10×64 classifier is too small
            // for any sparse format to matter).
            let model = if opts.models.contains(&Arch::Conv4) { Arch::Conv4 } else { opts.models[0] };
            report.linear.push((kind, measure_linear(opts, model, &device, &mut log)));
        }
        if cpu_kernels && !opts.sparsities.is_empty() {
            for &model in &opts.models {
                report.conv.extend(measure_conv(opts, model, &mut log));
                if cpu::Isa::bf16_available() {
                    report.products.extend(measure_products(opts, model, &mut log));
                }
            }
        }
    }
    report.load_after = load_average();
    report
}

fn ms(s: f64) -> String {
    format!("{:.1}", s * 1e3)
}

/// A convolution's shape as the tables print it: `c_in→c_out h×w kK`.
fn conv_shape(s: &ConvShape) -> String {
    format!("{}→{} {}×{} k{}", s.c_in, s.c_out, s.h, s.w, s.k)
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        let bs = self.batch_size as f64;
        if !self.steps.is_empty() {
            let _ = writeln!(
                out,
                "Training steps (batch {}, synthetic data; masked = density {} ERK, static; medians of interleaved rounds)",
                self.batch_size, self.density
            );
            let _ = writeln!(
                out,
                "{:<10} {:>5} {:<6} {:>10} {:>10} {:>11} {:>11} {:>13} {:>18} {:>9} {:>15}",
                "model",
                "width",
                "backend",
                "1st step s",
                "1st mask s",
                "dense img/s",
                "masked im/s",
                "masked/dense",
                "(per round)",
                "CPU time",
                "dense img/CPU-s"
            );
            for s in &self.steps {
                let rounds: Vec<String> = s.ratios.iter().map(|r| format!("{r:.2}")).collect();
                let _ = writeln!(
                    out,
                    "{:<10} {:>5} {:<6} {:>10.2} {:>10.2} {:>11.1} {:>11.1} {:>12.3}× {:>18} {:>9} {:>15}",
                    s.model.name(),
                    s.width,
                    s.backend.name(),
                    s.first_step_s,
                    s.first_masked_step_s,
                    bs / s.dense_step_s,
                    bs / s.masked_step_s,
                    s.ratio(),
                    rounds.join(" "),
                    s.cpu_ratio().map_or("?".into(), |r| format!("{r:.3}×")),
                    s.cpu_steps_s.map_or("?".into(), |(d, _)| format!("{:.1}", bs / d))
                );
            }
        }
        let rigl: Vec<&StepFigures> = self.steps.iter().filter(|s| s.rigl.is_some()).collect();
        if !rigl.is_empty() {
            let _ = writeln!(out, "\nRigL mask update (density {} ERK; steps synchronised one by one)", self.density);
            let _ = writeln!(
                out,
                "{:<10} {:<6} {:>12} {:>13} {:>10} {:>12} {:>8} {:>16} {:>10}",
                "model",
                "backend",
                "plain ms",
                "update ms",
                "extra ms",
                "read-back ms",
                "ΔT",
                "share (+rb)",
                "CPU time"
            );
            for s in rigl {
                let r = s.rigl.as_ref().expect("filtered");
                let _ = writeln!(
                    out,
                    "{:<10} {:<6} {:>12} {:>13} {:>10} {:>12} {:>8} {:>7.2}% ({:.2}%) {:>10}",
                    s.model.name(),
                    s.backend.name(),
                    ms(r.plain_step_s),
                    ms(r.update_step_s),
                    ms(r.extra_s()),
                    ms(r.readback_s),
                    r.update_every,
                    100.0 * r.share(),
                    100.0 * r.share_with_readback(),
                    r.cpu_share().map_or("?".into(), |s| format!("{:.2}%", 100.0 * s))
                );
            }
        }
        for (kind, figures) in &self.linear {
            let rule = match kind {
                BackendKind::Wgpu => "sparse at ≤ 10% density and ≥ 65 536 weights".to_string(),
                BackendKind::Cpu => format!(
                    "sparse at ≤ {:.0}% density with ≥ {} inputs",
                    100.0 * SparseConv::MAX_LINEAR_DENSITY,
                    SparseConv::MIN_LINEAR_INPUTS
                ),
            };
            let _ = writeln!(
                out,
                "\nLinear layers, dense matmul vs sparse path on {kind} (forward + backward, batch {}; auto = the \
                 routing's rule: {rule})",
                self.batch_size
            );
            let _ = writeln!(
                out,
                "{:<6} {:>10} {:>9} {:>10} {:>10} {:>8} {:>6}",
                "layer", "shape", "sparsity", "dense ms", "sparse ms", "speedup", "auto"
            );
            for l in figures {
                let sparse = match kind {
                    BackendKind::Wgpu => kernels::sparse_linear_wins(l.shape),
                    BackendKind::Cpu => {
                        l.shape.density() <= SparseConv::MAX_LINEAR_DENSITY
                            && l.shape.cols >= SparseConv::MIN_LINEAR_INPUTS
                    }
                };
                let _ = writeln!(
                    out,
                    "{:<6} {:>10} {:>8.0}% {:>10.2} {:>10.2} {:>7.2}× {:>6}",
                    l.layer,
                    format!("{}×{}", l.shape.rows, l.shape.cols),
                    100.0 * l.sparsity,
                    l.dense_s * 1e3,
                    l.sparse_s * 1e3,
                    l.speedup(),
                    if sparse { "sparse" } else { "dense" }
                );
            }
        }
        if !self.conv.is_empty() {
            let _ = writeln!(
                out,
                "\nConv layers on the CPU, dense vs sparse kernels (forward + backward, batch {}; sparse by default at \
                 ≤ {:.0}% density; layout = building it from the mask)",
                self.batch_size,
                100.0 * SparseConv::max_density()
            );
            let _ = writeln!(
                out,
                "{:<18} {:>16} {:>9} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10}",
                "layer",
                "shape",
                "sparsity",
                "dense fwd",
                "dense bwd",
                "sparse fwd",
                "sparse bwd",
                "speedup",
                "layout ms"
            );
            for c in &self.conv {
                let _ = writeln!(
                    out,
                    "{:<18} {:>16} {:>8.0}% {:>10} {:>10} {:>10} {:>10} {:>7.2}× {:>10.2}",
                    c.layer,
                    conv_shape(&c.shape),
                    100.0 * c.sparsity,
                    ms(c.dense.forward_s),
                    ms(c.dense.backward_s),
                    ms(c.sparse.forward_s),
                    ms(c.sparse.backward_s),
                    c.speedup(),
                    c.layout_s * 1e3
                );
            }
        }
        if !self.products.is_empty() {
            let amx = self.products.iter().all(|p| p.amx.is_some());
            let _ = writeln!(
                out,
                "\nConv layers on the CPU, dense products in f32 vs bfloat16{} (forward + backward, batch {}; training \
                 uses bfloat16{} here unless TICKETLAB_CPU_ISA says otherwise)",
                if amx { " on vectors and on AMX tiles" } else { "" },
                self.batch_size,
                if amx { " on AMX tiles" } else { "" },
            );
            let mut header = format!(
                "{:<18} {:>16} {:>10} {:>10} {:>10} {:>10} {:>8}",
                "layer", "shape", "f32 fwd", "f32 bwd", "bf16 fwd", "bf16 bwd", "speedup"
            );
            if amx {
                header += &format!(" {:>10} {:>10} {:>8}", "AMX fwd", "AMX bwd", "speedup");
            }
            let _ = writeln!(out, "{header}");
            for p in &self.products {
                let mut line = format!(
                    "{:<18} {:>16} {:>10} {:>10} {:>10} {:>10} {:>7.2}×",
                    p.layer,
                    conv_shape(&p.shape),
                    ms(p.f32.forward_s),
                    ms(p.f32.backward_s),
                    ms(p.bf16.forward_s),
                    ms(p.bf16.backward_s),
                    p.f32.total_s() / p.bf16.total_s()
                );
                if let (true, Some(a)) = (amx, p.amx) {
                    line += &format!(
                        " {:>10} {:>10} {:>7.2}×",
                        ms(a.forward_s),
                        ms(a.backward_s),
                        p.f32.total_s() / a.total_s()
                    );
                }
                let _ = writeln!(out, "{line}");
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        if !self.cpu.is_empty() {
            let _ = writeln!(out, "CPU backend: {}", self.cpu);
        }
        if let (Some(a), Some(b)) = (&self.load_before, &self.load_after) {
            let _ = writeln!(out, "load average before: {a}; after: {b}");
        }
        f.write_str(&out)
    }
}
