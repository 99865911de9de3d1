//! The `ticketlab` command line (native only): the commands; their arguments are in [`args`].

mod args;

use std::process::ExitCode;

use clap::Parser;

use burn::prelude::Device;
use ticketlab::backend::{BackendKind, device};
use ticketlab::config::{DatasetSpec, EnsembleKind, EnsembleSettings, TrainConfig};
use ticketlab::data::DataSplits;
use ticketlab::model::NetSpec;
use ticketlab::num::Shown;
use ticketlab::pace::{News, Pacer};
use ticketlab::progress::Reporter;
use ticketlab::run::{Progress, run_to_end};
use ticketlab::sparsity::distribution;
use ticketlab::tickets::run_iterative;
use ticketlab::train::{Split, TrainData, Trainer, load_dataset};

use args::{
    BenchArgs, Cli, CollectArgs, Command, EnsembleArgs, InfoArgs, PresetArgs, ReproduceArgs, SweepArgs, TrainArgs,
};

pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Train(args)) => train(&args),
        Some(Command::Info(args)) => info(&args),
        Some(Command::Ensemble(args)) => ensemble(&args),
        Some(Command::Bench(args)) => bench(&args),
        Some(Command::Sweep(args)) => sweep(&args),
        Some(Command::Collect(args)) => collect(&args),
        Some(Command::Reproduce(args)) => reproduce(&args),
        Some(Command::Preset(args)) => preset(&args),
        None => run_app(cli.link.as_deref(), cli.backend),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The desktop app, training on the GPU through wgpu, or on the CPU when no GPU adapter is found.
fn bench(args: &BenchArgs) -> Result<ExitCode, String> {
    use ticketlab::bench::{self, BenchOptions};
    let mut opts = if args.quick { BenchOptions::quick() } else { BenchOptions::default() };
    if !args.model.is_empty() {
        opts.models = args.model.clone();
    }
    opts.width = args.width;
    opts.batch_size = args.batch_size;
    opts.backends = match args.backend.as_str() {
        "all" => vec![BackendKind::Cpu, BackendKind::Wgpu],
        one => vec![one.parse()?],
    };
    opts.steps = args.steps.unwrap_or(opts.steps);
    opts.rounds = args.rounds;
    opts.density = args.density;
    opts.update_every = args.update_every;
    opts.updates = args.updates.unwrap_or(opts.updates);
    match args.sparsities.as_deref() {
        None => {}
        Some("" | "none") => opts.sparsities.clear(),
        Some(list) => {
            opts.sparsities = list
                .split(',')
                .map(|s| s.trim().parse::<f64>().map_err(|_| format!("bad sparsity '{s}' (expected e.g. 0.9)")))
                .collect::<Result<_, _>>()?;
        }
    }
    let checks = [
        // The benchmark trains on 8 batches of synthetic images, and the synthetic set has at least 10.
        (opts.batch_size >= 2 && opts.batch_size <= 4096, "batch size must be 2..=4096"),
        (opts.rounds >= 1, "rounds must be at least 1"),
        (opts.updates <= 1000, "updates must be 0..=1000"),
        (opts.density > 0.0 && opts.density <= 1.0, "density must be in (0, 1]"),
        (opts.update_every >= 1, "the update interval must be at least 1"),
        (opts.sparsities.iter().all(|s| (0.0..1.0).contains(s)), "sparsities must be in [0, 1)"),
    ];
    if let Some((_, why)) = checks.iter().find(|(ok, _)| !ok) {
        return Err(why.to_string());
    }
    if let Some(width) = opts.width {
        check_width(width)?;
    }
    let report = bench::run(&opts, |line| eprintln!("{line}"));
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn run_app(link: Option<&str>, kind: Option<BackendKind>) -> Result<ExitCode, String> {
    use ticketlab::app::{TicketlabApp, choose_backend, wgpu_configuration};
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default().with_inner_size([1280.0, 800.0]),
        wgpu_options: wgpu_configuration(),
        ..Default::default()
    };
    let app = move |cc: &eframe::CreationContext| {
        let backend = choose_backend(cc.wgpu_render_state.as_ref(), kind);
        Ok(Box::new(TicketlabApp::new(backend, cc.storage, link)) as Box<dyn eframe::App>)
    };
    eframe::run_native("ticketlab", options, Box::new(app)).map_err(|e| {
        format!("could not open the app window: {e} (the command line works without one: ticketlab train --help)")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The widths every model is built at (the training configuration checks the same range).
fn check_width(width: f32) -> Result<(), String> {
    if width > 0.0 && width <= 4.0 { Ok(()) } else { Err(format!("width {} is out of range (0, 4]", Shown(width))) }
}

fn info(args: &InfoArgs) -> Result<ExitCode, String> {
    if !(1..=1000).contains(&args.classes) {
        return Err(format!("classes {} is out of range 1..=1000", args.classes));
    }
    if !(args.density > 0.0 && args.density <= 1.0) {
        return Err(format!("density {} is out of range (0, 1]", Shown(args.density)));
    }
    let width = args.width.unwrap_or(args.model.default_width());
    check_width(width)?;
    let spec = NetSpec::new(args.model, width, args.classes);
    print!("{}", spec.summary());
    if args.density < 1.0 {
        let densities = distribution::layer_densities(&spec, args.distribution, args.density, args.dense_first);
        let counts = distribution::counts(&spec, &densities);
        let masks = ticketlab::mask::Masks::random(&spec, &counts, &mut ticketlab::rng::Rng::new(0));
        println!("\nat density {} ({}):", args.density, args.distribution);
        print!("{}", ticketlab::accounting::Accounting::new(&spec, &masks, 0.0).table());
    }
    Ok(ExitCode::SUCCESS)
}

fn train(args: &TrainArgs) -> Result<ExitCode, String> {
    let config = args.config()?;
    if config.ensemble.kind != EnsembleKind::None {
        return Err(format!(
            "the link describes an ensemble ({}), not a single run: run it with `ticketlab ensemble --link '…'`",
            config.ensemble.kind
        ));
    }
    let data = load_dataset(&config.dataset, config.seed).map_err(|e| e.to_string())?;
    let device = device(args.backend)?;
    eprintln!(
        "ticketlab: {} (width ×{}) on {} [{} train / {} test, {} classes], density {} ({}), {} backend, seed {}",
        config.model,
        config.width,
        data.name,
        data.train.len(),
        data.test.len(),
        data.test.num_classes,
        config.density,
        config.distribution,
        args.backend.label(),
        config.seed
    );
    if config.method.is_iterative() {
        return imp(args, config, data, device);
    }
    if let Some(k) = args.instability_from {
        return instability(args, config, data, device, k);
    }
    let mut trainer = Trainer::new(config, data, device).map_err(|e| e.to_string())?;
    let progress = Reporter::new();
    let report = |p: &Progress| report_progress(&progress, p);
    let result = pollster::block_on(run_to_end(&mut trainer, args.backend.label(), args.log_every, report))
        .map_err(|e| e.to_string())?;
    progress.finish();
    let t = &result.test;
    println!(
        "test accuracy {:.2}%  NLL {:.4}  ECE {:.4}  | {} steps, {:.0} images/s, {:.1}s",
        100.0 * t.accuracy,
        t.nll,
        t.ece,
        result.steps,
        result.images_per_second,
        result.wall_seconds
    );
    if let Some(v) = &result.validation {
        println!("validation accuracy {:.2}%  NLL {:.4}", 100.0 * v.accuracy, v.nll);
    }
    print!("{}", result.accounting.table());
    println!("training FLOPs {:.3e}", result.accounting.train_flops);
    if args.confusion {
        println!(
            "per-class accuracy: {:?}",
            t.per_class_accuracy.iter().map(|a| a.map(|a| (a * 1000.0).round() / 10.0)).collect::<Vec<_>>()
        );
        println!("confusion matrix (rows: true class, columns: predicted):");
        for row in &t.confusion {
            println!("  {}", row.iter().map(|c| format!("{c:>5}")).collect::<String>());
        }
    }
    if let Some(path) = &args.out {
        write_file(path, serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?)?;
    }
    if let Some(path) = &args.masks {
        write_file(path, serde_json::to_string(trainer.masks()).map_err(|e| e.to_string())?)?;
    }
    if let Some(path) = &args.predictions {
        let probs = pollster::block_on(trainer.predict(Split::Test)).map_err(|e| e.to_string())?;
        write_file(path, predictions_csv(trainer.test_set(), &probs))?;
    }
    match &result.stopped_early {
        Some(why) => {
            eprintln!("error: {why}; the run stopped and its partial result was kept");
            Ok(ExitCode::from(3))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// An ensemble procedure: a table of members, ensemble and cost, the whole result as JSON.
fn ensemble(args: &EnsembleArgs) -> Result<ExitCode, String> {
    use ticketlab::config::ensemble::{parse_corruptions, parse_severities};
    let t = &args.train;
    if t.masks.is_some() || t.predictions.is_some() || t.instability_from.is_some() {
        return Err("--masks, --predictions and --instability-from apply to `train`, not to `ensemble`".into());
    }
    let mut config = t.config()?;
    if t.link.is_some() {
        // A link holds the whole configuration, its ensemble's settings included: --kind only names the ensemble of
        // a link that names none, and the other ensemble flags are ignored, as the training flags are.
        match (config.ensemble.kind, args.kind) {
            (EnsembleKind::None, None) => {
                return Err(format!("the link describes a single run: name an ensemble with --kind ({KINDS})"));
            }
            (EnsembleKind::None, Some(kind)) => {
                config.ensemble = EnsembleSettings { kind, members: kind.default_members(), ..config.ensemble };
            }
            (linked, Some(kind)) if kind != linked => {
                return Err(format!("the link describes an ensemble of kind {linked}, and --kind asks for {kind}"));
            }
            _ => {}
        }
        return run_ensemble_config(config, t);
    }
    let kind = args.kind.ok_or_else(|| format!("--kind is required ({KINDS})"))?;
    let d = EnsembleSettings::default();
    config.ensemble = EnsembleSettings {
        kind,
        members: args.members.unwrap_or(kind.default_members()),
        corruptions: parse_corruptions(args.corruptions.as_deref().unwrap_or(""))?,
        severities: parse_severities(&args.severities)?,
        dense_baseline: args.dense_baseline,
        edst_length: args.edst_length.unwrap_or(d.edst_length),
        exploration_fraction: args.exploration_fraction.unwrap_or(d.exploration_fraction),
        reexplore_fraction: args.reexplore_fraction.unwrap_or(d.reexplore_fraction),
        reexplore_scope: args.reexplore_scope.unwrap_or(d.reexplore_scope),
        regrow: args.regrow.unwrap_or(d.regrow),
        cyclic_fraction: args.cyclic_fraction.unwrap_or(d.cyclic_fraction),
        tune_fraction: args.tune_fraction.unwrap_or(d.tune_fraction),
        tune_lr: args.tune_lr.unwrap_or(d.tune_lr),
        finetune_fraction: args.finetune_fraction.unwrap_or(d.finetune_fraction),
        gate_batch: args.gate_batch.unwrap_or(d.gate_batch),
        ..d
    };
    run_ensemble_config(config, t)
}

/// The ensemble kinds `ensemble --kind` takes.
const KINDS: &str = "dst-ensemble, edst, sup-tickets, prune-tune, soup or card-deck";

/// Runs the ensemble `config` describes and prints its table; `t` gives the backend and the output file.
fn run_ensemble_config(config: TrainConfig, t: &TrainArgs) -> Result<ExitCode, String> {
    use ticketlab::ensembles::run_ensemble;
    config.validate()?;
    let data = load_dataset(&config.dataset, config.seed).map_err(|e| e.to_string())?;
    let device = device(t.backend)?;
    eprintln!(
        "ticketlab ensemble: {} × {} on {} [{} train / {} test], density {} ({}), {} backend, seed {}",
        config.ensemble.kind,
        config.ensemble.members,
        data.name,
        data.train.len(),
        data.test.len(),
        config.density,
        config.distribution,
        t.backend.label(),
        config.seed
    );
    let data = TrainData::for_config(data, &config);
    let mut progress = Reporter::new();
    match pollster::block_on(run_ensemble(&config, data, device, t.backend.label(), &mut progress)) {
        Ok(result) => {
            progress.finish();
            print!("{}", result.table());
            if let Some(path) = &t.out {
                write_file(path, serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ticketlab::error::TrainError::Diverged { .. }) => {
            progress.finish();
            eprintln!("error: {e}; the ensemble stopped");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Iterative magnitude pruning: one line per round, the whole procedure as JSON.
fn imp(args: &TrainArgs, config: TrainConfig, data: DataSplits, device: Device) -> Result<ExitCode, String> {
    let data = TrainData::for_config(data, &config);
    println!("round  density  ticket    reinit    random   ℓ₂ travelled");
    let result = pollster::block_on(run_iterative(
        &config,
        data,
        device,
        args.backend.label(),
        &mut RoundPrinter(Reporter::new()),
    ))
    .map_err(|e| e.to_string())?;
    println!("masks nested across rounds: {}", result.nested);
    if let Some(path) = &args.out {
        write_file(path, serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints each IMP round on stdout as it finishes, with the steps of the network in training on stderr.
struct RoundPrinter(Reporter);

impl Pacer for RoundPrinter {
    async fn on_step(&mut self, t: &mut Trainer) -> Result<(), ticketlab::error::TrainError> {
        self.0.on_step(t).await
    }

    fn news(&mut self, news: News) {
        let r = match news {
            News::Round(r) => r,
            other => return self.0.news(other),
        };
        let pct = |t: &Option<ticketlab::results::Trained>| {
            t.as_ref().map(|t| format!("{:>7.2}%", 100.0 * t.test.accuracy)).unwrap_or_else(|| format!("{:>8}", "-"))
        };
        let line = format!(
            "{:>5}  {:>7.4}  {:>7.2}%  {}  {}  {:>8.3}",
            r.round,
            r.density,
            100.0 * r.ticket.test.accuracy,
            pct(&r.reinit),
            pct(&r.random),
            r.ticket.l2_from_start
        );
        self.0.suspend(|| println!("{line}"));
    }
}

/// Linear mode connectivity of the network at step `k`.
fn instability(
    args: &TrainArgs,
    config: TrainConfig,
    data: DataSplits,
    device: Device,
    k: usize,
) -> Result<ExitCode, String> {
    ticketlab::tickets::instability_applies_to(config.method).map_err(|e| e.to_string())?;
    let data = TrainData::for_config(data, &config);
    let mut trainer = Trainer::with_data(config, data.clone(), device).map_err(|e| e.to_string())?;
    if k >= trainer.total_steps() {
        return Err(format!("--instability-from {k} is not inside the run's {} steps", trainer.total_steps()));
    }
    pollster::block_on(async {
        trainer.prepare().await?;
        while trainer.step() < k {
            trainer.train_step();
            if trainer.has_pending_masks() {
                trainer.sync_masks().await?;
            }
        }
        Ok::<_, ticketlab::error::TrainError>(())
    })
    .map_err(|e| e.to_string())?;
    let result = pollster::block_on(ticketlab::tickets::instability(&trainer, data)).map_err(|e| e.to_string())?;
    println!("test error along (1 − α)·θ₁ + α·θ₂, both trained from step {k}:");
    for (a, e) in result.alphas.iter().zip(&result.errors) {
        println!("  α = {a:.1}  error {e:.2}%");
    }
    println!(
        "error barrier {:.2} points ({})",
        result.barrier,
        if result.barrier <= 2.0 { "stable" } else { "unstable" }
    );
    if let Some(path) = &args.out {
        write_file(path, serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &std::path::Path, contents: String) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// One row per test image: its index, true and predicted class, and every class probability.
fn predictions_csv(set: &ticketlab::data::Dataset, probs: &[f32]) -> String {
    let classes = set.num_classes;
    let mut out = format!(
        "index,label,predicted,{}\n",
        set.class_names.iter().map(|n| format!("p_{n}")).collect::<Vec<_>>().join(",")
    );
    let predicted = ticketlab::metrics::argmax_rows(probs, classes);
    for (i, row) in probs.chunks_exact(classes).enumerate() {
        let p: Vec<String> = row.iter().map(|p| format!("{p:.6}")).collect();
        out += &format!("{i},{},{},{}\n", set.labels[i], predicted[i], p.join(","));
    }
    out
}

/// The `train` command's progress: loss, accuracy and speed on the bar, and a line at each evaluation.
fn report_progress(progress: &Reporter, p: &Progress) {
    let message = format!(
        "epoch {:.2} lr {:.4} loss {:.4} acc {:.1}% {:.0} img/s",
        p.epoch,
        p.lr,
        p.train_loss,
        100.0 * p.train_accuracy,
        p.images_per_second
    );
    if let Some(test) = p.test_accuracy {
        progress.line(&format!("step {}/{} {message} test {:.1}%", p.step, p.total_steps, 100.0 * test));
    }
    progress.progress(p.step, p.total_steps, || message);
}

/// Train every run of a grid (or one shard of it), several at a time, each to its own JSON file.
fn sweep(args: &SweepArgs) -> Result<ExitCode, String> {
    use ticketlab::textconfig::{apply, job_file_name, parse_grid, shard};
    let base = apply(&TrainConfig::default(), &args.set).map_err(|e| e.to_string())?;
    let mut jobs = parse_grid(&base, &args.grid).and_then(|g| g.expand()).map_err(|e| e.to_string())?;
    let total = jobs.len();
    if let Some(spec) = &args.shard {
        jobs = shard(&jobs, spec).map_err(|e| e.to_string())?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parallel = args.jobs.unwrap_or(if args.backend == BackendKind::Cpu { cores } else { 1 }).clamp(1, 64);
    eprintln!("sweep: {} of {total} runs, {parallel} at a time, results in {}", jobs.len(), args.out.display());
    if args.dry_run {
        for job in &jobs {
            println!("{:>4}  {}", job.index, job.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("could not create {}: {e}", args.out.display()))?;
    let device = device(args.backend)?;
    let (done, progress) = (std::sync::atomic::AtomicUsize::new(0), Reporter::new());
    let failures = std::sync::Mutex::new(vec![]);
    ticketlab::cpu::side_by_side(jobs.len(), parallel, |i| {
        let job = &jobs[i];
        let path = args.out.join(job_file_name(job.index, &job.name));
        match sweep_one(&job.config, device.clone(), args.backend.label(), &path) {
            Ok(summary) => progress.line(&format!("[{:>4}] {}: {summary}", job.index, job.name)),
            Err(e) => {
                progress.line(&format!("[{:>4}] {}: failed: {e}", job.index, job.name));
                failures.lock().map(|mut f| f.push(job.index)).ok();
            }
        }
        let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress.progress(finished, jobs.len(), || "runs".into());
        true
    });
    progress.finish();
    let failures = failures.into_inner().unwrap_or_default();
    if failures.is_empty() {
        println!(
            "sweep done: {} runs in {}; merge with: ticketlab collect {}",
            jobs.len(),
            args.out.display(),
            args.out.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("{} of {} runs failed (indices {failures:?})", failures.len(), jobs.len()))
    }
}

/// One run of a sweep: whatever its configuration asks for, written to `path`; returns a one-line summary.
fn sweep_one(config: &TrainConfig, device: Device, backend: &str, path: &std::path::Path) -> Result<String, String> {
    use ticketlab::procedure::{Outcome, run_procedure};
    let data = load_dataset(&config.dataset, config.seed).map_err(|e| e.to_string())?;
    let data = TrainData::for_config(data, config);
    let outcome = pollster::block_on(run_procedure(config, data, device, backend, &mut ticketlab::pace::Unpaced))
        .map_err(|e| e.to_string())?;
    // A single run is written as the `train` command writes it, so `collect` reads both alike.
    let (json, summary) = match &outcome {
        Outcome::Run(r) => (serde_json::to_string_pretty(r), format!("test accuracy {:.2}%", 100.0 * r.test.accuracy)),
        Outcome::Imp(r) => (serde_json::to_string_pretty(r), format!("{} IMP rounds", r.rounds.len())),
        Outcome::Ensemble(r) => {
            (serde_json::to_string_pretty(r), format!("ensemble accuracy {:.2}%", 100.0 * r.ensemble.accuracy))
        }
    };
    std::fs::write(path, json.map_err(|e| e.to_string())?)
        .map_err(|e| format!("could not write {}: {e}", path.display()))?;
    Ok(summary)
}

/// Merge run results into a markdown table (and CSV).
fn collect(args: &CollectArgs) -> Result<ExitCode, String> {
    use ticketlab::textconfig::{collect, load_results};
    let (runs, errors) = load_results(&args.paths);
    for e in &errors {
        eprintln!("skipped {e}");
    }
    if runs.is_empty() {
        return Err("no run results found (JSON files written by `ticketlab train --out` or `ticketlab sweep`)".into());
    }
    let table = collect(&runs, &args.group_by).map_err(|e| e.to_string())?;
    println!("{}", table.to_markdown());
    if let Some(path) = &args.csv {
        write_file(path, table.to_csv())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `ticketlab reproduce`: the experiments of `ticketlab::reproduce`, their pages and the index.
fn reproduce(args: &ReproduceArgs) -> Result<ExitCode, String> {
    use ticketlab::reproduce::{Request, parse_seeds, parse_selection, run_request};
    let request = Request {
        experiments: parse_selection(&args.experiment)?,
        dataset: args.dataset.clone(),
        model: args.model,
        width: args.width,
        seeds: parse_seeds(&args.seeds)?,
        scale: args.scale,
        test_from_train: args.test_from_train,
        backend: args.backend,
        jobs: args.jobs,
        out: args.out.clone(),
        verbose: !args.quiet,
    };
    Ok(if run_request(&request)? { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

/// Run a preset's arms over the seeds, one line per run, then its verdict.
fn preset(args: &PresetArgs) -> Result<ExitCode, String> {
    use ticketlab::presets::{PRESETS, find};
    use ticketlab::procedure::{Outcome, run_procedure};
    let Some(name) = &args.name else {
        for p in PRESETS {
            println!("{:<16} {}\n{:<16} {}", p.key, p.name, "", p.claim);
        }
        return Ok(ExitCode::SUCCESS);
    };
    let preset = find(name)?;
    let seeds = ticketlab::reproduce::parse_seeds(&args.seeds)?;
    let runs = preset.runs(&seeds);
    for (arm, _, config) in &runs {
        config.validate().map_err(|e| format!("{arm}: {e}"))?;
    }
    let device = device(args.backend)?;
    let backend = args.backend.name();
    println!("{}: {}", preset.name, preset.claim);
    let start = std::time::Instant::now();
    let mut outcomes = vec![];
    // Runs come seed by seed, so consecutive arms usually train on the same images: made once, not once per arm.
    let mut last_data: Option<(&DatasetSpec, u64, DataSplits)> = None;
    for (i, (arm, seed, config)) in runs.iter().enumerate() {
        let splits = match &last_data {
            Some((spec, s, splits)) if **spec == config.dataset && *s == config.seed => splits.clone(),
            _ => {
                let splits = load_dataset(&config.dataset, config.seed).map_err(|e| e.to_string())?;
                last_data = Some((&config.dataset, config.seed, splits.clone()));
                splits
            }
        };
        let data = TrainData::for_config(splits, config);
        let run_start = std::time::Instant::now();
        let outcome =
            pollster::block_on(run_procedure(config, data, device.clone(), backend, &mut ticketlab::pace::Unpaced))
                .map_err(|e| format!("{arm} (seed {seed}): {e}"))?;
        let accuracy = match &outcome {
            Outcome::Run(r) => r.test.accuracy,
            Outcome::Imp(r) => r.rounds.last().map_or(f64::NAN, |r| r.ticket.test.accuracy),
            Outcome::Ensemble(r) => r.ensemble.accuracy,
        };
        println!(
            "[{}/{}] {arm} (seed {seed}): test accuracy {:.2}% in {:.0} s",
            i + 1,
            runs.len(),
            100.0 * accuracy,
            run_start.elapsed().as_secs_f64()
        );
        outcomes.push(outcome);
    }
    let verdict = preset.verdict(&seeds, &outcomes);
    for check in &verdict.checks {
        println!("{}", check.line());
    }
    println!("the claim: {} ({:.0} s in all)", verdict.word(), start.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
