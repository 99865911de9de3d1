//! The command line's arguments, as clap reads them, and the configuration a `train` command line describes.

use clap::{Args, Parser, Subcommand};

use ticketlab::backend::BackendKind;
use ticketlab::config::{DatasetSpec, ImpSettings, Rewind, TrainConfig};
use ticketlab::data::{Flip, Padding};
use ticketlab::model::Arch;
use ticketlab::optim::OptimizerKind;
use ticketlab::schedule::LrSchedule;
use ticketlab::sparsity::{Anneal, Distribution, DstSettings, Method, Scope};

#[derive(Parser)]
#[command(
    name = "ticketlab",
    version,
    about = "Train sparse CNNs on CIFAR-sized images: lottery tickets, dynamic sparse training, sparse ensembles."
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Option<Command>,
    /// Open the app with the settings of a shared link (ticketlab://run?v=3&… or a web link's #fragment).
    #[arg(long)]
    pub(super) link: Option<String>,
    /// Where the app trains: wgpu or cpu [default: the GPU the app draws on, or the CPU where there is none or it
    /// is a software renderer].
    #[arg(long)]
    pub(super) backend: Option<BackendKind>,
}

/// Subcommands that take numbers accept negative ones as values (`--lr -0.1`), so that the range check, not the
/// parser, says what is wrong with them.
#[derive(Subcommand)]
pub(super) enum Command {
    /// Train one network and write its curves and metrics as JSON.
    #[command(allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Print a model's layers, parameter counts and FLOPs (dense, and at a density if given).
    #[command(allow_negative_numbers = true)]
    Info(InfoArgs),
    /// Train a sparse ensemble (FreeTickets, EDST, Sup-tickets, Prune-and-Tune, model soups, CARD-Deck) and
    /// write its measures as JSON.
    #[command(allow_negative_numbers = true)]
    Ensemble(EnsembleArgs),
    /// Measure training throughput dense vs masked per backend, the RigL update's cost and the sparse linear path.
    #[command(allow_negative_numbers = true)]
    Bench(BenchArgs),
    /// Expand a grid of settings into runs and train them (in parallel, or one shard of them for a job array).
    Sweep(SweepArgs),
    /// Merge run results (JSON files or directories) into one table: mean ± std over seeds per setting.
    Collect(CollectArgs),
    /// Reproduce the seed papers' claims at small scale over several seeds: markdown tables, JSON, PNG charts and
    /// whether each claim was shown beyond the seed noise (`all` also writes an index, README.md).
    #[command(allow_negative_numbers = true)]
    Reproduce(ReproduceArgs),
    /// Run one of the app's presets over seeds on the built-in images and print whether its claim showed (without
    /// a name: list the presets and their claims).
    Preset(PresetArgs),
}

#[derive(Args)]
pub(super) struct PresetArgs {
    /// The preset: lottery-ticket, dst, prune-at-init, freetickets, soup, dense-vs-sparse
    pub(super) name: Option<String>,
    /// Seeds, comma-separated; a claim needs at least 3 to be shown.
    #[arg(long, default_value = "0,1,2")]
    pub(super) seeds: String,
    /// cpu | wgpu
    #[arg(long, default_value = "cpu")]
    pub(super) backend: BackendKind,
}

#[derive(Args)]
pub(super) struct ReproduceArgs {
    /// all, or an experiment (several separated by commas): dst, tickets, instability, freetickets, sup-tickets,
    /// prune-tune, soups, double-descent, robustness, prune-at-init
    pub(super) experiment: String,
    /// synthetic | synthetic:TRAIN:TEST | cifar10:PATH | cifar100:PATH | cifar100-coarse:PATH
    #[arg(long, default_value = "synthetic:3000:1000")]
    pub(super) dataset: DatasetSpec,
    /// airbench | conv2 | conv4 | conv6 | vgg11 | resnet20; each trains with its own recipe
    #[arg(long, default_value = "airbench")]
    pub(super) model: Arch,
    /// Channel-width multiplier [default: the model's default width; 0.125 for vgg11, 0.25 for conv and resnet]
    #[arg(long)]
    pub(super) width: Option<f32>,
    /// Seeds, comma-separated; tables show mean ± std over them, and a claim needs at least 3 to be shown.
    #[arg(long, default_value = "0,1,2")]
    pub(super) seeds: String,
    /// Multiplies every run's length (3 epochs at 1) and, above 1, the number of IMP rounds.
    #[arg(long, default_value_t = 1.0)]
    pub(super) scale: f64,
    /// Move this share of the training set to the test set (fixed and class-balanced): a larger test set resolves
    /// smaller margins.
    #[arg(long, default_value_t = 0.0)]
    pub(super) test_from_train: f64,
    /// cpu | wgpu
    #[arg(long, default_value = "cpu")]
    pub(super) backend: BackendKind,
    /// Jobs trained at the same time, each on its share of the cores (1 to 64): the pages are the same to the bit;
    /// one at a time shows each job's steps, and three (the seeds of one run side by side) finish a page a little sooner
    #[arg(long, default_value_t = 1)]
    pub(super) jobs: usize,
    /// Directory for <experiment>.md, .json and .png (and README.md for several experiments); finished jobs are
    /// kept in its jobs-cache/ folder, so the same command continues an interrupted run.
    #[arg(long, default_value = "reproduce")]
    pub(super) out: std::path::PathBuf,
    /// No progress lines on stderr.
    #[arg(long)]
    pub(super) quiet: bool,
}

#[derive(Args)]
pub(super) struct SweepArgs {
    /// A grid axis KEY=V1,V2,… (repeatable; values with commas: separate them with ';'). Keys are the
    /// configuration's settings, e.g. method, density, seed, model, lr, dst.update_every.
    #[arg(long, required = true)]
    pub(super) grid: Vec<String>,
    /// A fixed setting KEY=VALUE for every run (repeatable).
    #[arg(long)]
    pub(super) set: Vec<String>,
    /// Train only shard I of N (1-based, round-robin), e.g. 2/8 from a Slurm array task.
    #[arg(long)]
    pub(super) shard: Option<String>,
    /// Runs trained at the same time, each on its share of the cores [default: the number of CPU cores with --backend
    /// cpu, 1 with wgpu].
    #[arg(long)]
    pub(super) jobs: Option<usize>,
    /// cpu | wgpu
    #[arg(long, default_value = "cpu")]
    pub(super) backend: BackendKind,
    /// Directory for the results, one JSON file per run (named by the run's index in the whole grid).
    #[arg(long, default_value = "results")]
    pub(super) out: std::path::PathBuf,
    /// Only list the runs.
    #[arg(long)]
    pub(super) dry_run: bool,
}

#[derive(Args)]
pub(super) struct CollectArgs {
    /// Result files or directories (searched for *.json).
    #[arg(required = true)]
    pub(super) paths: Vec<std::path::PathBuf>,
    /// Group by these settings [default: every setting that varies across the runs, except the seed].
    #[arg(long, value_delimiter = ',')]
    pub(super) group_by: Vec<String>,
    /// Also write the table as CSV.
    #[arg(long)]
    pub(super) csv: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub(super) struct BenchArgs {
    /// Models to measure, comma-separated [default: conv4,resnet20; conv4 with --quick]
    #[arg(long, value_delimiter = ',')]
    pub(super) model: Vec<Arch>,
    /// Channel-width multiplier [default: ticketlab's default for the model, 0.5 for conv4]
    #[arg(long)]
    pub(super) width: Option<f32>,
    #[arg(long, default_value_t = 64)]
    pub(super) batch_size: usize,
    /// cpu | wgpu | all (wgpu is skipped with a note where no adapter initialises)
    #[arg(long, default_value = "all")]
    pub(super) backend: String,
    /// Timed steps per variant and round; 0 measures only the sparse linear layers [default: 5; 2 with --quick]
    #[arg(long)]
    pub(super) steps: Option<usize>,
    /// Interleaved rounds; figures are medians over them
    #[arg(long, default_value_t = 3)]
    pub(super) rounds: usize,
    /// Density of the masked variant (ERK)
    #[arg(long, default_value_t = 0.1)]
    pub(super) density: f64,
    /// ΔT at which the RigL update's share of training time is reported
    #[arg(long, default_value_t = 100)]
    pub(super) update_every: usize,
    /// RigL mask updates timed for that figure (0..=1000); 0 skips it [default: 4; 2 with --quick]
    #[arg(long)]
    pub(super) updates: Option<usize>,
    /// Sparsities of the dense vs sparse linear-layer (and, on the CPU, conv-layer) comparison, comma-separated,
    /// or "none" [default: 0.5,0.8,0.9,0.95,0.98; 0.5,0.9,0.98 with --quick]
    #[arg(long)]
    pub(super) sparsities: Option<String>,
    /// A fast version (conv4, fewer steps and sparsities)
    #[arg(long)]
    pub(super) quick: bool,
}

#[derive(Args)]
pub(super) struct EnsembleArgs {
    /// Every training option applies to the members (their base configuration).
    #[command(flatten)]
    pub(super) train: TrainArgs,
    /// dst-ensemble | edst | sup-tickets | prune-tune | soup | card-deck (with --link: the link's, unless it names
    /// none)
    #[arg(long)]
    pub(super) kind: Option<ticketlab::config::EnsembleKind>,
    /// Members: seeds, tickets, cycles, children or augmentations [default: 3; 4 for prune-tune]
    #[arg(long)]
    pub(super) members: Option<usize>,
    /// Also evaluate on corrupted test sets: comma-separated names (gaussian-noise, gaussian-blur, fog, ...) or
    /// `all` [card-deck default: six of them]
    #[arg(long)]
    pub(super) corruptions: Option<String>,
    /// Severities of the corruptions, comma-separated, each 1..=5.
    #[arg(long, default_value = "1,3,5")]
    pub(super) severities: String,
    /// Also train one dense network of the same configuration for comparison.
    #[arg(long)]
    pub(super) dense_baseline: bool,
    /// EDST: its one run's length as a multiple of --epochs/--steps (the reference's 450 epochs against 250)
    /// [default: 1.8]
    #[arg(long)]
    pub(super) edst_length: Option<f64>,
    /// EDST: share of the run in the exploration phase [default: 1/3]
    #[arg(long)]
    pub(super) exploration_fraction: Option<f64>,
    /// EDST: share of the active weights dropped and regrown at each later phase's start [default: 0.8]
    #[arg(long)]
    pub(super) reexplore_fraction: Option<f64>,
    /// EDST: layerwise | global re-exploration [default: layerwise]
    #[arg(long, value_parser = parse_scope)]
    pub(super) reexplore_scope: Option<Scope>,
    /// EDST: random | gradient regrowth at re-exploration [default: random]
    #[arg(long)]
    pub(super) regrow: Option<ticketlab::config::Regrow>,
    /// Sup-tickets: share of the run given to the learning-rate cycles [default: 0.25]
    #[arg(long)]
    pub(super) cyclic_fraction: Option<f64>,
    /// Prune-and-Tune: each child's tuning steps as a share of the parent's [default: 0.5]
    #[arg(long)]
    pub(super) tune_fraction: Option<f64>,
    /// Prune-and-Tune: each child's one-cycle peak learning rate as a multiple of --lr [default: 1]
    #[arg(long)]
    pub(super) tune_lr: Option<f64>,
    /// Soups: each child's fine-tuning steps as a share of the parent's [default: 0.25]
    #[arg(long)]
    pub(super) finetune_fraction: Option<f64>,
    /// CARD-Deck: test images per gating decision [default: 100]
    #[arg(long)]
    pub(super) gate_batch: Option<usize>,
}

#[derive(Args)]
pub(super) struct TrainArgs {
    /// Take every setting from a shared link (ticketlab://run?v=3&… or a web link's #fragment); the other setting
    /// flags are then ignored.
    #[arg(long)]
    pub(super) link: Option<String>,
    /// synthetic | synthetic:TRAIN:TEST | cifar10:PATH | cifar100:PATH | cifar100-coarse:PATH
    #[arg(long, default_value = "synthetic")]
    pub(super) dataset: DatasetSpec,
    /// airbench | conv2 | conv4 | conv6 | vgg11 | resnet20; each comes with its training recipe (see README), which
    /// the options below override
    #[arg(long, default_value = "airbench")]
    pub(super) model: Arch,
    /// Channel-width multiplier (1 = published widths) [default: 0.5 for airbench, 0.25 for vgg11, 1 otherwise]
    #[arg(long)]
    pub(super) width: Option<f32>,
    /// Share of prunable weights kept (1 = dense).
    #[arg(long, default_value_t = TrainConfig::default().density)]
    pub(super) density: f64,
    /// uniform | er | erk
    #[arg(long, default_value = "erk")]
    pub(super) distribution: Distribution,
    /// Keep the first conv layer dense.
    #[arg(long)]
    pub(super) dense_first: bool,
    /// static | snip | grasp | synflow | set | rigl | dst-ee | imp
    #[arg(long, default_value = "static")]
    pub(super) method: Method,
    /// Dynamic methods: steps between mask updates (ΔT).
    #[arg(long, default_value_t = DstSettings::default().update_every)]
    pub(super) update_every: usize,
    /// Dynamic methods: share of each layer's active weights dropped and regrown at the first update.
    #[arg(long, default_value_t = DstSettings::default().drop_fraction)]
    pub(super) drop_fraction: f64,
    /// Dynamic methods: cosine | constant decay of the drop fraction.
    #[arg(long, default_value = "cosine", value_parser = parse_anneal)]
    pub(super) anneal: Anneal,
    /// Dynamic methods: no mask updates after this share of training.
    #[arg(long, default_value_t = DstSettings::default().end_fraction)]
    pub(super) update_end: f64,
    /// DST-EE: exploration coefficient c.
    #[arg(long, default_value_t = DstSettings::default().exploration)]
    pub(super) exploration: f64,
    /// IMP: share of the remaining weights pruned per round (rounds continue down to --density).
    #[arg(long, default_value_t = ImpSettings::default().prune_fraction)]
    pub(super) prune_fraction: f64,
    /// IMP: global | layerwise magnitude pruning.
    #[arg(long, default_value = "global", value_parser = parse_scope)]
    pub(super) prune_scope: Scope,
    /// IMP: init | step:K | lr — rewind survivors to initialisation, to step K, or replay the learning rate.
    #[arg(long, default_value = "init", value_parser = parse_rewind)]
    pub(super) rewind: (Rewind, usize),
    /// IMP: prune the output layer at this multiple of the rate (0.5 = half, 0 = never).
    #[arg(long, default_value_t = ImpSettings::default().output_rate)]
    pub(super) output_rate: f64,
    /// IMP: skip the controls (same mask re-initialised, random mask at the same layer densities).
    #[arg(long)]
    pub(super) no_controls: bool,
    /// Instability analysis: train to step K, then two copies on different data orders, and report the error
    /// barrier along the line between them.
    #[arg(long)]
    pub(super) instability_from: Option<usize>,
    /// Epochs [default: the model's recipe: 10]
    #[arg(long)]
    pub(super) epochs: Option<usize>,
    /// Train for exactly this many steps (overrides --epochs).
    #[arg(long)]
    pub(super) steps: Option<usize>,
    /// [default: the model's recipe: 256 for airbench, 60 for conv2/4/6, 128 for vgg11 and resnet20]
    #[arg(long)]
    pub(super) batch_size: Option<usize>,
    /// Base learning rate [default: the model's recipe: 0.375 for airbench (SGD), 2e-4/3e-4 for conv2/4/6 (Adam),
    /// 0.05 for vgg11 and resnet20 (SGD); with --optimizer adam on another model 1e-3]
    #[arg(long)]
    pub(super) lr: Option<f64>,
    /// constant | step[:M1,M2,..:GAMMA] | cosine[:FINAL] | linear[:HOLD[:FINAL]] | onecycle[:WARMUP:DIV:FINAL_DIV] |
    /// triangular:CYCLE[:MIN] | warmup[:WARMUP:START:FINAL] [default: the model's recipe]
    #[arg(long)]
    pub(super) schedule: Option<LrSchedule>,
    /// sgd | adam [default: the model's recipe: adam for conv2/4/6, sgd otherwise]
    #[arg(long)]
    pub(super) optimizer: Option<String>,
    /// SGD momentum [default: the model's recipe: 0.85 for airbench, 0.9 otherwise]
    #[arg(long)]
    pub(super) momentum: Option<f64>,
    /// Plain (heavy-ball) momentum instead of Nesterov.
    #[arg(long)]
    pub(super) no_nesterov: bool,
    /// [default: the model's recipe]
    #[arg(long)]
    pub(super) weight_decay: Option<f64>,
    /// [default: the model's recipe: 0.2 for airbench, 0 otherwise]
    #[arg(long)]
    pub(super) label_smoothing: Option<f64>,
    /// Train without random translations and flips.
    #[arg(long)]
    pub(super) no_augment: bool,
    /// Largest random translation in pixels [default: the model's recipe: 2 for airbench, 4 otherwise]
    #[arg(long)]
    pub(super) translate: Option<usize>,
    /// What fills the border a translation uncovers: zero (black) | reflect (the image mirrored at its edge)
    /// [default: the model's recipe: reflect for airbench, zero otherwise]
    #[arg(long)]
    pub(super) padding: Option<Padding>,
    /// random (each image mirrored with probability 1/2 each time) | alternating (mirrored in every other epoch)
    /// [default: the model's recipe: alternating for airbench, random otherwise]
    #[arg(long)]
    pub(super) flip: Option<Flip>,
    /// Evaluate without flip test-time augmentation.
    #[arg(long)]
    pub(super) no_tta: bool,
    /// Train without the lookahead average of the weights.
    #[arg(long)]
    pub(super) no_lookahead: bool,
    /// Hold out this share of the training set for validation.
    #[arg(long, default_value_t = 0.0)]
    pub(super) val_fraction: f64,
    /// Move this share of the training set to the test set (a fixed, class-balanced choice, the same for every seed).
    #[arg(long, default_value_t = 0.0)]
    pub(super) test_from_train: f64,
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    /// Evaluate on the test set every N steps (0 = every epoch).
    #[arg(long, default_value_t = 0)]
    pub(super) eval_every: usize,
    /// Read train loss and accuracy every N steps for the progress line.
    #[arg(long, default_value_t = 10)]
    pub(super) log_every: usize,
    /// cpu | wgpu
    #[arg(long, default_value = "cpu")]
    pub(super) backend: BackendKind,
    /// Write the result (config, curves, metrics, accounting) to this JSON file.
    #[arg(long)]
    pub(super) out: Option<std::path::PathBuf>,
    /// Print per-class accuracy and the confusion matrix at the end.
    #[arg(long)]
    pub(super) confusion: bool,
    /// Write the final masks (per-layer bits) to this JSON file.
    #[arg(long)]
    pub(super) masks: Option<std::path::PathBuf>,
    /// Write the test predictions (label, predicted class, class probabilities) to this CSV file.
    #[arg(long)]
    pub(super) predictions: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub(super) struct InfoArgs {
    #[arg(long, default_value = "conv4")]
    pub(super) model: Arch,
    #[arg(long)]
    pub(super) width: Option<f32>,
    #[arg(long, default_value_t = 10)]
    pub(super) classes: usize,
    #[arg(long, default_value_t = 1.0)]
    pub(super) density: f64,
    #[arg(long, default_value = "erk")]
    pub(super) distribution: Distribution,
    #[arg(long)]
    pub(super) dense_first: bool,
}

impl TrainArgs {
    pub(super) fn config(&self) -> Result<TrainConfig, String> {
        if let Some(link) = &self.link {
            return ticketlab::textconfig::from_fragment(link).map_err(|e| e.to_string());
        }
        let recipe = TrainConfig::recipe(self.model);
        let (optimizer, default_lr) = match self.optimizer.as_deref() {
            None => (recipe.optimizer, recipe.lr),
            Some("sgd") => match recipe.optimizer {
                OptimizerKind::Sgd { .. } => (recipe.optimizer, recipe.lr),
                _ => (OptimizerKind::Sgd { momentum: 0.9, nesterov: true }, TrainConfig::default_lr(self.model)),
            },
            Some("adam") => match recipe.optimizer {
                OptimizerKind::Adam { .. } => (recipe.optimizer, recipe.lr),
                _ => (OptimizerKind::adam(), 1e-3),
            },
            Some(other) => return Err(format!("unknown optimizer '{other}' (expected sgd or adam)")),
        };
        let optimizer = match optimizer {
            OptimizerKind::Sgd { momentum, nesterov } => OptimizerKind::Sgd {
                momentum: self.momentum.unwrap_or(momentum),
                nesterov: nesterov && !self.no_nesterov,
            },
            adam => adam,
        };
        let config = TrainConfig {
            dataset: self.dataset.clone(),
            width: self.width.unwrap_or(recipe.width),
            density: self.density,
            distribution: self.distribution,
            dense_first: self.dense_first,
            method: self.method,
            dst: DstSettings {
                update_every: self.update_every,
                drop_fraction: self.drop_fraction,
                anneal: self.anneal,
                end_fraction: self.update_end,
                exploration: self.exploration,
            },
            imp: ImpSettings {
                prune_fraction: self.prune_fraction,
                scope: self.prune_scope,
                rewind: self.rewind.0,
                rewind_step: self.rewind.1,
                output_rate: self.output_rate,
                controls: !self.no_controls,
            },
            epochs: self.epochs.unwrap_or(recipe.epochs),
            steps: self.steps,
            batch_size: self.batch_size.unwrap_or(recipe.batch_size),
            lr: self.lr.unwrap_or(default_lr),
            schedule: self.schedule.clone().unwrap_or(recipe.schedule.clone()),
            optimizer,
            weight_decay: self.weight_decay.unwrap_or(recipe.weight_decay),
            label_smoothing: self.label_smoothing.unwrap_or(recipe.label_smoothing),
            // Asking for translations turns augmentation on even where the recipe has none (conv2/4/6).
            augment: (recipe.augment || self.translate.is_some()) && !self.no_augment,
            translate: self.translate.unwrap_or(recipe.translate),
            padding: self.padding.unwrap_or(recipe.padding),
            flip: self.flip.unwrap_or(recipe.flip),
            tta: recipe.tta && !self.no_tta,
            lookahead: recipe.lookahead.filter(|_| !self.no_lookahead),
            val_fraction: self.val_fraction,
            test_from_train: self.test_from_train,
            seed: self.seed,
            eval_every: self.eval_every,
            ..recipe
        };
        config.validate()?;
        Ok(config)
    }
}

fn parse_anneal(s: &str) -> Result<Anneal, String> {
    match s {
        "cosine" => Ok(Anneal::Cosine),
        "constant" => Ok(Anneal::Constant),
        _ => Err(format!("unknown anneal '{s}' (expected cosine or constant)")),
    }
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    match s {
        "global" => Ok(Scope::Global),
        "layerwise" => Ok(Scope::Layerwise),
        _ => Err(format!("unknown pruning scope '{s}' (expected global or layerwise)")),
    }
}

fn parse_rewind(s: &str) -> Result<(Rewind, usize), String> {
    match s.split_once(':') {
        None if s == "init" => Ok((Rewind::Init, 0)),
        None if s == "lr" => Ok((Rewind::LearningRate, 0)),
        Some(("step", k)) => {
            k.parse().map(|k| (Rewind::Step, k)).map_err(|_| format!("rewind step '{k}' is not a whole number"))
        }
        _ => Err(format!("unknown rewinding '{s}' (expected init, step:K or lr)")),
    }
}
