//! The `ticketlab` command line (native only).

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use ticketlab::backend::{BackendKind, device};
use ticketlab::config::{DatasetSpec, TrainConfig};
use ticketlab::model::{Arch, NetSpec};
use ticketlab::optim::OptimizerKind;
use ticketlab::run::{Progress, run_to_end};
use ticketlab::schedule::LrSchedule;
use ticketlab::sparsity::{Distribution, distribution};
use ticketlab::train::{Split, Trainer, load_dataset};

#[derive(Parser)]
#[command(
    name = "ticketlab",
    version,
    about = "Train sparse CNNs on CIFAR-sized images: lottery tickets, dynamic sparse training, sparse ensembles."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Train one network and write its curves and metrics as JSON.
    Train(TrainArgs),
    /// Print a model's layers, parameter counts and FLOPs (dense, and at a density if given).
    Info(InfoArgs),
}

#[derive(Args)]
struct TrainArgs {
    /// synthetic | synthetic:TRAIN:TEST | cifar10:PATH | cifar100:PATH | cifar100-coarse:PATH
    #[arg(long, default_value = "synthetic")]
    dataset: DatasetSpec,
    /// conv2 | conv4 | conv6 | vgg11 | resnet20
    #[arg(long, default_value = "conv4")]
    model: Arch,
    /// Channel-width multiplier (1 = published widths).
    #[arg(long)]
    width: Option<f32>,
    /// Share of prunable weights kept (1 = dense).
    #[arg(long, default_value_t = TrainConfig::default().density)]
    density: f64,
    /// uniform | er | erk
    #[arg(long, default_value = "erk")]
    distribution: Distribution,
    /// Keep the first conv layer dense.
    #[arg(long)]
    dense_first: bool,
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Train for exactly this many steps (overrides --epochs).
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    batch_size: usize,
    /// Base learning rate [default: 0.01 for conv2/4/6, 0.05 for vgg11 and resnet20 with SGD; 0.001 with Adam]
    #[arg(long)]
    lr: Option<f64>,
    /// constant | step[:M1,M2,..:GAMMA] | cosine[:FINAL] | linear[:HOLD[:FINAL]] | onecycle[:WARMUP:DIV:FINAL_DIV] | triangular:CYCLE[:MIN]
    #[arg(long, default_value = "cosine")]
    schedule: LrSchedule,
    /// sgd | adam
    #[arg(long, default_value = "sgd")]
    optimizer: String,
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    /// Plain (heavy-ball) momentum instead of Nesterov.
    #[arg(long)]
    no_nesterov: bool,
    #[arg(long, default_value_t = TrainConfig::default().weight_decay)]
    weight_decay: f64,
    #[arg(long, default_value_t = 0.0)]
    label_smoothing: f64,
    /// Train without random crops and flips.
    #[arg(long)]
    no_augment: bool,
    /// Hold out this share of the training set for validation.
    #[arg(long, default_value_t = 0.0)]
    val_fraction: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluate on the test set every N steps (0 = every epoch).
    #[arg(long, default_value_t = 0)]
    eval_every: usize,
    /// Read train loss and accuracy every N steps for the progress line.
    #[arg(long, default_value_t = 10)]
    log_every: usize,
    /// cpu | wgpu
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
    /// Write the result (config, curves, metrics, accounting) to this JSON file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Print per-class accuracy and the confusion matrix at the end.
    #[arg(long)]
    confusion: bool,
    /// Write the final masks (per-layer bits) to this JSON file.
    #[arg(long)]
    masks: Option<std::path::PathBuf>,
    /// Write the test predictions (label, predicted class, class probabilities) to this CSV file.
    #[arg(long)]
    predictions: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct InfoArgs {
    #[arg(long, default_value = "conv4")]
    model: Arch,
    #[arg(long)]
    width: Option<f32>,
    #[arg(long, default_value_t = 10)]
    classes: usize,
    #[arg(long, default_value_t = 1.0)]
    density: f64,
    #[arg(long, default_value = "erk")]
    distribution: Distribution,
    #[arg(long)]
    dense_first: bool,
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig, String> {
        let (optimizer, default_lr) = match self.optimizer.as_str() {
            "sgd" => (
                OptimizerKind::Sgd { momentum: self.momentum, nesterov: !self.no_nesterov },
                TrainConfig::default_lr(self.model),
            ),
            "adam" => (OptimizerKind::adam(), 1e-3),
            other => return Err(format!("unknown optimizer '{other}' (expected sgd or adam)")),
        };
        let config = TrainConfig {
            dataset: self.dataset.clone(),
            model: self.model,
            width: self.width.unwrap_or(if self.model == Arch::Conv4 {
                TrainConfig::default().width
            } else {
                self.model.default_width()
            }),
            density: self.density,
            distribution: self.distribution,
            dense_first: self.dense_first,
            epochs: self.epochs,
            steps: self.steps,
            batch_size: self.batch_size,
            lr: self.lr.unwrap_or(default_lr),
            schedule: self.schedule.clone(),
            optimizer,
            weight_decay: self.weight_decay,
            label_smoothing: self.label_smoothing,
            augment: !self.no_augment,
            val_fraction: self.val_fraction,
            seed: self.seed,
            eval_every: self.eval_every,
        };
        config.validate()?;
        Ok(config)
    }
}

pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let result = match Cli::parse().command {
        Some(Command::Train(args)) => train(&args),
        Some(Command::Info(args)) => info(&args),
        None => run_app(),
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
fn run_app() -> Result<ExitCode, String> {
    use std::{cell::RefCell, rc::Rc};
    use ticketlab::app::{Backend, TicketlabApp};
    let backend = match device(BackendKind::Wgpu) {
        Ok(device) => Backend::Ready { device, label: "GPU (wgpu)".into(), notice: None },
        Err(e) => Backend::Ready {
            device: device(BackendKind::Cpu)?,
            label: "CPU".into(),
            notice: Some(format!("no GPU: {e}; training on the CPU")),
        },
    };
    let backend = Rc::new(RefCell::new(backend));
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default().with_inner_size([1280.0, 800.0]),
        ..Default::default()
    };
    eframe::run_native("ticketlab", options, Box::new(|_cc| Ok(Box::new(TicketlabApp::new(backend))))).map_err(
        |e| format!("could not open the app window: {e} (the command line works without one: ticketlab train --help)"),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn info(args: &InfoArgs) -> Result<ExitCode, String> {
    if !(1..=1000).contains(&args.classes) {
        return Err(format!("classes {} is out of range 1..=1000", args.classes));
    }
    if !(args.density > 0.0 && args.density <= 1.0) {
        return Err(format!("density {} is out of range (0, 1]", args.density));
    }
    let width = args.width.unwrap_or(args.model.default_width());
    if !(width > 0.0 && width <= 4.0) {
        return Err(format!("width {width} is out of range (0, 4]"));
    }
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
        args.backend,
        config.seed
    );
    let mut trainer = Trainer::new(config, data, device).map_err(|e| e.to_string())?;
    let result = pollster::block_on(run_to_end(&mut trainer, args.backend.name(), args.log_every, print_progress))
        .map_err(|e| e.to_string())?;
    eprintln!();
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
        write_file(path, serde_json::to_string(&trainer.masks).map_err(|e| e.to_string())?)?;
    }
    if let Some(path) = &args.predictions {
        let probs = pollster::block_on(trainer.predict(Split::Test)).map_err(|e| e.to_string())?;
        write_file(path, predictions_csv(&trainer.test_set, &probs))?;
    }
    match &result.stopped_early {
        Some(why) => {
            eprintln!("error: {why}; the run stopped and its partial result was kept");
            Ok(ExitCode::from(3))
        }
        None => Ok(ExitCode::SUCCESS),
    }
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

fn print_progress(p: &Progress) {
    const BAR: usize = 24;
    let done = p.step * BAR / p.total_steps.max(1);
    let test = p.test_accuracy.map(|a| format!(" test {:.1}%", 100.0 * a)).unwrap_or_default();
    eprint!(
        "\r[{}{}] step {}/{} epoch {:.2} lr {:.4} loss {:.4} acc {:.1}%{} {:.0} img/s   ",
        "#".repeat(done),
        " ".repeat(BAR - done),
        p.step,
        p.total_steps,
        p.epoch,
        p.lr,
        p.train_loss,
        100.0 * p.train_accuracy,
        test,
        p.images_per_second
    );
    if p.test_accuracy.is_some() {
        eprintln!();
    }
    let _ = std::io::stderr().flush();
}
