//! What every experiment of one `reproduce` invocation shares: data, model, seeds and the size of a run.

use serde::Serialize;

use crate::accounting::{ensemble_density, rigl_flops_share};
use crate::config::{DatasetSpec, MAX_ROUNDS, TrainConfig};
use crate::model::{Arch, NetSpec};
use crate::sparsity::{Distribution, DstSettings, Method};

/// Run length at scale 1, in epochs of the training set. The airbench recipe gets most of the way in this many, and
/// the whole page (about 55 runs per seed, three seeds) fits two hours on a 2-core CPU for 20,000 images: a dense run
/// of 10 epochs there took 309 CPU-seconds (82.1% test), so 3 epochs cost about 45 s of wall time on both cores.
pub const BASE_EPOCHS: f64 = 3.0;

/// No run is shorter than this (EDST's phases and Sup-tickets' cycles need a few steps each).
pub const MIN_STEPS: usize = 24;

/// Weight rewinding goes back to this share of training.
pub const REWIND_SHARE: f64 = 0.05;

/// The rewinding points of the instability analysis, as shares of training.
pub const INSTABILITY_SHARES: [f64; 4] = [0.0, 0.03, 0.1, 0.25];

/// What all experiments of one invocation share: data, model, seeds and size.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    pub dataset: DatasetSpec,
    /// Images in the training set (the run length is counted in epochs of it).
    pub train_images: usize,
    /// Share of the data set's training images moved to its test set ([`TrainConfig::test_from_train`]), and the
    /// test images there are with them (`None`: not known to the setup).
    pub test_from_train: f64,
    pub test_images: Option<usize>,
    pub model: Arch,
    pub width: f32,
    pub seeds: Vec<u64>,
    /// Multiplies the run length (and, above 1, the number of IMP rounds).
    pub scale: f64,
    pub batch_size: usize,
}

impl Setup {
    /// The width the experiments use for `model` unless told otherwise: small enough that every default finishes in
    /// minutes on a laptop CPU.
    pub fn default_width(model: Arch) -> f32 {
        match model {
            Arch::Vgg11 => 0.125,
            Arch::Conv2 | Arch::Conv4 | Arch::Conv6 | Arch::Resnet20 => 0.25,
            Arch::Airbench => Arch::Airbench.default_width(),
        }
    }

    pub fn new(
        dataset: DatasetSpec,
        train_images: usize,
        model: Arch,
        width: Option<f32>,
        seeds: Vec<u64>,
        scale: f64,
    ) -> Result<Setup, String> {
        if seeds.is_empty() {
            return Err("at least one seed is needed".into());
        }
        if !(scale > 0.0 && scale <= 100.0) {
            return Err(format!("scale {scale} is out of range (0, 100]"));
        }
        let setup = Setup {
            dataset,
            train_images,
            test_from_train: 0.0,
            test_images: None,
            model,
            width: width.unwrap_or(Self::default_width(model)),
            seeds,
            scale,
            batch_size: TrainConfig::recipe(model).batch_size,
        };
        setup.base(0).validate()?;
        Ok(setup)
    }

    /// The same setup on data whose training set gave `share` of its images to the test set, which now holds
    /// `test_images` (`train_images` counts what the training set kept).
    pub fn with_test_from_train(self, share: f64, test_images: usize) -> Result<Setup, String> {
        let setup = Setup { test_from_train: share, test_images: Some(test_images), ..self };
        setup.base(0).validate()?;
        Ok(setup)
    }

    /// Steps of one run: [`BASE_EPOCHS`] × `scale` epochs, at least [`MIN_STEPS`].
    pub fn steps(&self) -> usize {
        let per_epoch = (self.train_images / self.batch_size.max(1)).max(1) as f64;
        ((BASE_EPOCHS * self.scale * per_epoch).round() as usize).max(MIN_STEPS)
    }

    /// `n` grid points (IMP rounds) at scale 1, more above it, up to the most rounds a run may have.
    pub fn grid(&self, n: usize) -> usize {
        ((n as f64 * self.scale.max(1.0)).round() as usize).min(MAX_ROUNDS)
    }

    /// RigL's scheduler with ΔT scaled to the run: at least 10 updates before the end of updates (75% of training),
    /// and never more than 100 steps apart (the CIFAR default).
    pub fn dst(&self) -> DstSettings {
        let d = DstSettings::default();
        DstSettings { update_every: (d.end_step(self.steps()) / 10).clamp(1, 100), ..d }
    }

    /// Training FLOPs of one RigL run at `density` (ERK), relative to a dense run of the same length
    /// ([`rigl_flops_share`], with this setup's mask updates).
    pub fn member_flops(&self, density: f64) -> f64 {
        let spec = NetSpec::new(self.model, self.width, 10);
        rigl_flops_share(&spec, Distribution::Erk, density, self.steps(), self.dst().updates(self.steps()))
    }

    /// The largest density (to 0.01) at which `members` RigL runs cost at most one dense run's training FLOPs.
    pub fn ensemble_density(&self, members: usize) -> f64 {
        let spec = NetSpec::new(self.model, self.width, 10);
        ensemble_density(&spec, Distribution::Erk, members, self.steps(), self.dst().updates(self.steps()))
    }

    /// The weight-rewinding step k: [`REWIND_SHARE`] of training, at least 1.
    pub fn rewind_step(&self) -> usize {
        ((REWIND_SHARE * self.steps() as f64).round() as usize).max(1)
    }

    /// The rewinding points of the instability analysis (distinct steps).
    pub fn instability_steps(&self) -> Vec<usize> {
        let mut ks: Vec<usize> =
            INSTABILITY_SHARES.iter().map(|f| (f * self.steps() as f64).round() as usize).collect();
        ks.dedup();
        ks
    }

    /// The dense configuration every experiment starts from: the model's recipe ([`TrainConfig::recipe`]).
    pub fn base(&self, seed: u64) -> TrainConfig {
        let steps = self.steps();
        TrainConfig {
            dataset: self.dataset.clone(),
            width: self.width,
            density: 1.0,
            distribution: Distribution::Erk,
            method: Method::Static,
            dst: self.dst(),
            steps: Some(steps),
            batch_size: self.batch_size,
            test_from_train: self.test_from_train,
            seed,
            // One evaluation at the end: the experiments read the final metrics only.
            eval_every: steps,
            ..TrainConfig::recipe(self.model)
        }
    }

    /// The command line that regenerates `what` with this setup.
    pub fn command(&self, what: &str) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let moved = if self.test_from_train > 0.0 {
            format!(" --test-from-train {}", self.test_from_train)
        } else {
            String::new()
        };
        format!(
            "ticketlab reproduce {what} --dataset {} --model {} --width {} --seeds {} --scale {}{moved}",
            self.dataset,
            self.model,
            self.width,
            seeds.join(","),
            self.scale
        )
    }

    pub fn describe(&self) -> String {
        let c = self.base(0);
        let images = match self.test_images {
            Some(test) if self.test_from_train > 0.0 => format!(
                "{} training and {test} test images, {}% of the training files moved to the test set",
                self.train_images,
                self.test_from_train * 100.0
            ),
            Some(test) => format!("{} training and {test} test images", self.train_images),
            None => format!("{} training images", self.train_images),
        };
        format!(
            "{} ({images}), {} ×{}, {} steps of batch {} per run ({:.1} epochs), {} at lr {} ({}), weight \
             decay {}, label smoothing {}, augmentation {}, flip test-time augmentation {}, seeds {:?}, scale {}",
            self.dataset,
            self.model,
            self.width,
            self.steps(),
            self.batch_size,
            (self.steps() * self.batch_size) as f64 / self.train_images.max(1) as f64,
            c.optimizer,
            c.lr,
            c.schedule,
            c.weight_decay,
            c.label_smoothing,
            c.augmentation(0).map_or("off".to_string(), |a| format!(
                "{} flips + translate {} px ({} padding)",
                a.flip.name(),
                a.translate,
                a.padding.name()
            )),
            if c.tta { "on" } else { "off" },
            self.seeds,
            self.scale
        )
    }
}
