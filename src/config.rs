//! A training run's full configuration: what a CLI invocation, a JSON result and a shared link all carry. The
//! settings of the procedures (IMP's rounds, the ensembles) live here too, below the code that runs them.

pub mod ensemble;
pub mod imp;

use serde::{Deserialize, Serialize};

pub use ensemble::{EnsembleKind, EnsembleSettings, Regrow};
pub use imp::{ImpSettings, MAX_ROUNDS, Rewind};

use crate::data::{Augment, Flip, Padding};
use crate::model::Arch;
use crate::num::Shown;
use crate::optim::OptimizerKind;
use crate::schedule::LrSchedule;
use crate::sparsity::{Distribution, DstSettings, Method};

/// Where the images come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DatasetSpec {
    /// The built-in synthetic set, generated from the run's seed.
    Synthetic { train: usize, test: usize },
    /// The official CIFAR-10 binary directory or `.tar.gz`.
    Cifar10 { path: String },
    /// The official CIFAR-100 binary directory or `.tar.gz`, with fine (100) or coarse (20) labels.
    Cifar100 { path: String, coarse: bool },
}

impl DatasetSpec {
    pub const SYNTHETIC_DEFAULT: DatasetSpec = DatasetSpec::Synthetic { train: 5000, test: 1000 };
    pub const FORMS: &str = "synthetic, synthetic:TRAIN:TEST, cifar10:PATH, cifar100:PATH, cifar100-coarse:PATH";
    /// The synthetic set's sizes: enough for the papers' claims, small enough to generate in memory (200 000
    /// training images are 614 MB; a size beyond these is refused before anything is allocated).
    pub const SYNTHETIC_TRAIN: std::ops::RangeInclusive<usize> = 10..=200_000;
    pub const SYNTHETIC_TEST: std::ops::RangeInclusive<usize> = 10..=50_000;
    /// The longest data path accepted, in bytes.
    pub const MAX_PATH: usize = 4096;

    /// Every range the data set's settings must be in, whatever form they came in (text, a link's JSON, a saved
    /// run): [`TrainConfig::validate`] calls it, and so does the text form.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            DatasetSpec::Synthetic { train, test } => {
                if !Self::SYNTHETIC_TRAIN.contains(train) || !Self::SYNTHETIC_TEST.contains(test) {
                    return Err(format!(
                        "synthetic data of {train} training and {test} test images: sizes must be 10..=200000 \
                         training and 10..=50000 test images"
                    ));
                }
            }
            DatasetSpec::Cifar10 { path } | DatasetSpec::Cifar100 { path, .. } => {
                if path.is_empty() {
                    return Err("the data path is missing".into());
                }
                if path.len() > Self::MAX_PATH {
                    return Err(format!("the data path is {} bytes long (at most {})", path.len(), Self::MAX_PATH));
                }
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for DatasetSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("bad dataset '{s}': {why} (accepted forms: {})", Self::FORMS);
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "synthetic" if rest.is_empty() => Ok(Self::SYNTHETIC_DEFAULT),
            "synthetic" => {
                let (a, b) = rest.split_once(':').ok_or_else(|| bad("expected synthetic:TRAIN:TEST"))?;
                let parse = |x: &str| x.parse::<usize>().map_err(|_| bad(&format!("'{x}' is not a whole number")));
                let (train, test) = (parse(a)?, parse(b)?);
                Ok(DatasetSpec::Synthetic { train, test })
            }
            "cifar10" => Ok(DatasetSpec::Cifar10 { path: rest.to_string() }),
            "cifar100" => Ok(DatasetSpec::Cifar100 { path: rest.to_string(), coarse: false }),
            "cifar100-coarse" => Ok(DatasetSpec::Cifar100 { path: rest.to_string(), coarse: true }),
            _ => Err(bad("unknown dataset")),
        }
        .and_then(|spec| spec.validate().map(|()| spec).map_err(|e| bad(&e)))
    }
}

impl std::fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatasetSpec::Synthetic { train, test } => write!(f, "synthetic:{train}:{test}"),
            DatasetSpec::Cifar10 { path } => write!(f, "cifar10:{path}"),
            DatasetSpec::Cifar100 { path, coarse: false } => write!(f, "cifar100:{path}"),
            DatasetSpec::Cifar100 { path, coarse: true } => write!(f, "cifar100-coarse:{path}"),
        }
    }
}

/// Everything that determines a training run. The same configuration and seed give the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub dataset: DatasetSpec,
    pub model: Arch,
    /// Channel-width multiplier (1.0 = the architecture's published widths).
    pub width: f32,
    /// Share of prunable weights kept active (1.0 = dense).
    pub density: f64,
    pub distribution: Distribution,
    /// Keep the first conv layer dense (RigL's default on CIFAR).
    pub dense_first: bool,
    /// How the sparse topology is chosen and changed.
    pub method: Method,
    /// Scheduler and updater settings of the dynamic methods (SET, RigL, DST-EE).
    pub dst: DstSettings,
    /// Rounds, pruning rate and rewinding of iterative magnitude pruning.
    pub imp: ImpSettings,
    pub epochs: usize,
    /// If set, train for exactly this many steps instead of `epochs`.
    pub steps: Option<usize>,
    pub batch_size: usize,
    pub lr: f64,
    pub schedule: LrSchedule,
    pub optimizer: OptimizerKind,
    pub weight_decay: f64,
    pub label_smoothing: f64,
    /// Train-time augmentation: random translations by up to `translate` pixels and horizontal flips.
    pub augment: bool,
    /// How far (in pixels) augmentation may shift an image: 2 in airbench, 4 in the classic CIFAR recipe.
    pub translate: usize,
    /// What fills the pixels a translation uncovers: black in the classic recipe, the mirrored image in airbench.
    /// (A saved configuration from before this setting existed had black.)
    #[serde(default)]
    pub padding: Padding,
    /// Random flips, or airbench's alternating flips (each image mirrored in every other epoch). (A saved
    /// configuration from before this setting existed had random flips.)
    #[serde(default)]
    pub flip: Flip,
    /// Evaluate on each image and its mirror image, averaging the logits (flip test-time augmentation).
    pub tta: bool,
    /// A lookahead average of the weights during the second part of training (airbench), or none.
    pub lookahead: Option<Lookahead>,
    /// Learning-rate multiplier of the BatchNorm parameters (airbench: 64); their weight decay is divided by it, so
    /// the decay per step is unchanged.
    pub bn_lr_scale: f64,
    /// Share of the training set held out for validation (0 = none).
    pub val_fraction: f64,
    /// Share of the training set moved to the test set (0 = none): a fixed, class-balanced choice, the same for
    /// every seed (see [`crate::data::DataSplits::move_to_test`]).
    pub test_from_train: f64,
    pub seed: u64,
    /// Seed of the data order and augmentation, if it should differ from `seed` (instability analysis trains two
    /// copies of one network on different data orders).
    pub data_seed: Option<u64>,
    /// Evaluate on the test set every this many steps (0 = at the end of each epoch).
    pub eval_every: usize,
    /// The ensemble procedure (none: a single run) and its settings.
    pub ensemble: EnsembleSettings,
}

/// A lookahead average of the weights (airbench's "EMA"): from `start` (a share of the run) on, every `every` steps
/// the average moves toward the weights by `1 − ρ` and the weights are set to the average, with
/// `ρ = decay^every · (step / total)^power`: little averaging at first, strong averaging at the end. BatchNorm
/// statistics are averaged with the weights and recomputed on training batches before the average is evaluated;
/// pruned weights stay exactly zero in both.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lookahead {
    pub start: f64,
    pub every: usize,
    pub decay: f64,
    pub power: f64,
}

impl Default for Lookahead {
    /// airbench94's: from epoch 3 of 10, every 5 steps, ρ = 0.95⁵·(t/T)³.
    fn default() -> Self {
        Lookahead { start: 0.3, every: 5, decay: 0.95, power: 3.0 }
    }
}

impl Lookahead {
    /// The averaging weight ρ at `step` (counted from 1) of a run of `total` steps.
    pub fn rho(&self, step: usize, total: usize) -> f64 {
        self.decay.powi(self.every as i32) * (step as f64 / total.max(1) as f64).powf(self.power)
    }

    /// Whether the average updates after `step` (counted from 1).
    pub fn due(&self, step: usize, total: usize) -> bool {
        step as f64 >= self.start * total as f64 && step.is_multiple_of(self.every)
    }

    fn validate(&self) -> Result<(), String> {
        let ok = (0.0..=1.0).contains(&self.start)
            && (1..=10_000).contains(&self.every)
            && (0.0..1.0).contains(&self.decay)
            && (0.0..=100.0).contains(&self.power);
        if ok {
            Ok(())
        } else {
            Err(format!(
                "lookahead {self:?} is out of range (start in [0, 1], every 1..=10000, decay in [0, 1), power in [0, 100])"
            ))
        }
    }
}

impl Default for TrainConfig {
    /// The default run: [`TrainConfig::recipe`] of airbench on the built-in synthetic set, 20% of weights kept.
    fn default() -> Self {
        TrainConfig::recipe(Arch::Airbench)
    }
}

impl TrainConfig {
    /// The training recipe that suits `arch`, at its default width, on the built-in synthetic set, static sparsity
    /// at 20% density (ERK):
    ///
    /// - **airbench** (the default): airbench94's recipe scaled to batch 256 — Nesterov SGD (momentum 0.85) with a
    ///   linear warm-up from 0.2× to the peak at 23% of the run and a linear decay to 0.07×, label smoothing 0.2,
    ///   translations by up to 2 pixels over a reflected border and alternating flips, flip test-time augmentation, a
    ///   lookahead average of the weights, BatchNorm learning rate ×64; 10 epochs. airbench's rates are per summed
    ///   loss over 1,024 images; with the mean loss of a batch of 256 they become lr 0.375 and weight decay 1.33e-3
    ///   (the same decay per step).
    /// - **conv2/4/6**: Frankle & Carbin's — Adam at 2e-4 (conv2) or 3e-4 (conv4, conv6), batch 60, constant rate,
    ///   no augmentation, no weight decay.
    /// - **vgg11, resnet20**: the classic CIFAR recipe — Nesterov SGD 0.9 at 0.05 with cosine decay, weight decay
    ///   5e-4, translations by up to 4 pixels and flips, batch 128.
    pub fn recipe(arch: Arch) -> TrainConfig {
        let base = TrainConfig {
            dataset: DatasetSpec::SYNTHETIC_DEFAULT,
            model: arch,
            width: arch.default_width(),
            density: 0.2,
            distribution: Distribution::Erk,
            dense_first: false,
            method: Method::Static,
            dst: DstSettings::default(),
            imp: ImpSettings::default(),
            epochs: 10,
            steps: None,
            batch_size: 128,
            lr: 0.05,
            schedule: LrSchedule::Cosine { final_frac: 0.0 },
            optimizer: OptimizerKind::Sgd { momentum: 0.9, nesterov: true },
            weight_decay: 5e-4,
            label_smoothing: 0.0,
            augment: true,
            translate: 4,
            padding: Padding::Zero,
            flip: Flip::Random,
            tta: false,
            lookahead: None,
            bn_lr_scale: 1.0,
            val_fraction: 0.0,
            test_from_train: 0.0,
            seed: 0,
            data_seed: None,
            eval_every: 0,
            ensemble: EnsembleSettings::default(),
        };
        match arch {
            Arch::Airbench => TrainConfig {
                batch_size: 256,
                lr: 0.375,
                schedule: LrSchedule::Warmup { warmup_frac: 0.23, start_frac: 0.2, final_frac: 0.07 },
                optimizer: OptimizerKind::Sgd { momentum: 0.85, nesterov: true },
                weight_decay: 1.33e-3,
                label_smoothing: 0.2,
                translate: 2,
                padding: Padding::Reflect,
                flip: Flip::Alternating,
                tta: true,
                lookahead: Some(Lookahead::default()),
                bn_lr_scale: 64.0,
                ..base
            },
            Arch::Conv2 | Arch::Conv4 | Arch::Conv6 => TrainConfig {
                batch_size: 60,
                lr: if arch == Arch::Conv2 { 2e-4 } else { 3e-4 },
                schedule: LrSchedule::Constant,
                optimizer: OptimizerKind::adam(),
                weight_decay: 0.0,
                augment: false,
                ..base
            },
            Arch::Vgg11 | Arch::Resnet20 => base,
        }
    }

    /// A base learning rate that trains the architecture well with SGD (the recipe's, for SGD recipes): the
    /// BatchNorm networks take a larger one than the plain conv nets, which can die (all-zero ReLUs) or diverge at
    /// 0.05.
    pub fn default_lr(arch: Arch) -> f64 {
        match arch {
            Arch::Conv2 | Arch::Conv4 | Arch::Conv6 => 0.01,
            Arch::Vgg11 | Arch::Resnet20 => 0.05,
            Arch::Airbench => 0.375,
        }
    }

    /// The train-time augmentation of the batches of `epoch`, for [`crate::data::fill_batch`]; `None` without.
    pub fn augmentation(&self, epoch: usize) -> Option<Augment> {
        let (translate, padding, flip, seed) = (self.translate, self.padding, self.flip, self.data_seed());
        self.augment.then_some(Augment { translate, padding, flip, seed, epoch })
    }

    /// Steps in one epoch over `train_images` (the last partial batch is left out).
    pub fn steps_per_epoch(&self, train_images: usize) -> usize {
        (train_images / self.batch_size.max(1)).max(1)
    }

    /// Steps of the whole run over `train_images`: `steps` if set, else `epochs` epochs (`None` if that overflows).
    pub fn total_steps(&self, train_images: usize) -> Option<usize> {
        self.steps.or_else(|| self.steps_per_epoch(train_images).checked_mul(self.epochs))
    }

    /// The seed of the data order and augmentation: the run's seed unless the configuration separates them.
    pub fn data_seed(&self) -> u64 {
        self.data_seed.unwrap_or(self.seed)
    }

    /// Every range the engine accepts, checked in one place: the CLI, the app and links all go through it.
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, msg: String| if ok { Ok(()) } else { Err(msg) };
        self.dataset.validate().map_err(|e| format!("dataset: {e}"))?;
        check(self.width > 0.0 && self.width <= 4.0, format!("width {} is out of range (0, 4]", Shown(self.width)))?;
        check(
            self.density > 0.0 && self.density <= 1.0,
            format!("density {} is out of range (0, 1] (it is the share of weights kept)", Shown(self.density)),
        )?;
        check((1..=10_000).contains(&self.epochs), format!("epochs {} is out of range 1..=10000", self.epochs))?;
        if let Some(steps) = self.steps {
            check((1..=10_000_000).contains(&steps), format!("steps {steps} is out of range 1..=10000000"))?;
        }
        check(
            (1..=4096).contains(&self.batch_size),
            format!("batch size {} is out of range 1..=4096", self.batch_size),
        )?;
        check(self.lr > 0.0 && self.lr <= 10.0, format!("learning rate {} is out of range (0, 10]", Shown(self.lr)))?;
        check(
            (0.0..=1.0).contains(&self.weight_decay),
            format!("weight decay {} is out of range [0, 1]", Shown(self.weight_decay)),
        )?;
        check(
            (0.0..1.0).contains(&self.label_smoothing),
            format!("label smoothing {} is out of range [0, 1)", Shown(self.label_smoothing)),
        )?;
        check(self.translate <= 8, format!("translate {} is out of range 0..=8 pixels", self.translate))?;
        check(
            self.bn_lr_scale > 0.0 && self.bn_lr_scale <= 1000.0,
            format!("BatchNorm learning-rate scale {} is out of range (0, 1000]", Shown(self.bn_lr_scale)),
        )?;
        if let Some(lookahead) = &self.lookahead {
            lookahead.validate()?;
        }
        check(
            (0.0..=0.5).contains(&self.val_fraction),
            format!("validation fraction {} is out of range [0, 0.5]", Shown(self.val_fraction)),
        )?;
        check(
            (0.0..=0.5).contains(&self.test_from_train),
            format!(
                "share of training images moved to the test set {} is out of range [0, 0.5]",
                Shown(self.test_from_train)
            ),
        )?;
        self.schedule.validate().map_err(|e| format!("learning-rate schedule: {e}"))?;
        self.dst.validate()?;
        self.imp.validate()?;
        self.ensemble.validate()?;
        self.optimizer.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_saved_before_padding_and_flip_existed_read_back_as_they_ran() {
        let mut json = serde_json::to_value(TrainConfig::default()).unwrap();
        let fields = json.as_object_mut().unwrap();
        assert!(fields.remove("padding").is_some() && fields.remove("flip").is_some());
        let old: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!((old.padding, old.flip), (Padding::Zero, Flip::Random));
        assert_eq!(TrainConfig { padding: Padding::Reflect, flip: Flip::Alternating, ..old }, TrainConfig::default());
    }

    #[test]
    fn configurations_saved_before_edst_took_a_longer_run_read_back_as_they_ran() {
        let mut json = serde_json::to_value(TrainConfig::default()).unwrap();
        assert!(json["ensemble"].as_object_mut().unwrap().remove("edst_length").is_some());
        let old: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.ensemble.edst_length, 1.0);
        assert_eq!(EnsembleSettings::default().edst_length, 1.8);
    }
}
