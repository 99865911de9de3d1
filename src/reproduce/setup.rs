//! What every experiment of one `reproduce` invocation shares: data, model, seeds and the size of a run.

use serde::Serialize;

use crate::config::{DatasetSpec, TrainConfig};
use crate::model::Arch;
use crate::sparsity::{Distribution, DstSettings, Method};

/// Runs per training length: three epochs of the training set at scale 1.
pub const BASE_EPOCHS: f64 = 3.0;

/// No run is shorter than this (EDST's phases and Sup-tickets' cycles need a few steps each).
pub const MIN_STEPS: usize = 24;

/// Weight rewinding goes back to this share of training.
pub const REWIND_SHARE: f64 = 0.05;

/// The rewinding points of the instability analysis, as shares of training.
pub const INSTABILITY_SHARES: [f64; 5] = [0.0, 0.02, 0.05, 0.1, 0.2];

/// What all experiments of one invocation share: data, model, seeds and size.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    pub dataset: DatasetSpec,
    /// Images in the training set (the run length is counted in epochs of it).
    pub train_images: usize,
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
            model,
            width: width.unwrap_or(Self::default_width(model)),
            seeds,
            scale,
            batch_size: 64,
        };
        setup.base(0).validate()?;
        Ok(setup)
    }

    /// Steps of one run: [`BASE_EPOCHS`] × `scale` epochs, at least [`MIN_STEPS`].
    pub fn steps(&self) -> usize {
        let per_epoch = (self.train_images / self.batch_size.max(1)).max(1) as f64;
        ((BASE_EPOCHS * self.scale * per_epoch).round() as usize).max(MIN_STEPS)
    }

    /// `n` grid points (IMP rounds) at scale 1, more above it.
    pub fn grid(&self, n: usize) -> usize {
        (n as f64 * self.scale.max(1.0)).round() as usize
    }

    /// RigL's scheduler with ΔT scaled to the run: at least 10 updates before the end of updates (75% of training),
    /// and never more than 100 steps apart (the CIFAR default).
    pub fn dst(&self) -> DstSettings {
        let d = DstSettings::default();
        DstSettings { update_every: (d.end_step(self.steps()) / 10).clamp(1, 100), ..d }
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

    /// The dense configuration every experiment starts from.
    pub fn base(&self, seed: u64) -> TrainConfig {
        let steps = self.steps();
        TrainConfig {
            dataset: self.dataset.clone(),
            model: self.model,
            width: self.width,
            density: 1.0,
            distribution: Distribution::Erk,
            method: Method::Static,
            dst: self.dst(),
            steps: Some(steps),
            batch_size: self.batch_size,
            lr: TrainConfig::default_lr(self.model),
            seed,
            // One evaluation at the end: the experiments read the final metrics only.
            eval_every: steps,
            ..TrainConfig::default()
        }
    }

    /// The command line that regenerates `what` with this setup.
    pub fn command(&self, what: &str) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        format!(
            "ticketlab reproduce {what} --dataset {} --model {} --width {} --seeds {} --scale {}",
            self.dataset,
            self.model,
            self.width,
            seeds.join(","),
            self.scale
        )
    }

    pub fn describe(&self) -> String {
        format!(
            "{} ({} training images), {} ×{}, {} steps of batch {} per run ({:.1} epochs), SGD (Nesterov) lr {} \
             cosine-annealed, weight decay 5e-4, seeds {:?}, scale {}",
            self.dataset,
            self.train_images,
            self.model,
            self.width,
            self.steps(),
            self.batch_size,
            (self.steps() * self.batch_size) as f64 / self.train_images.max(1) as f64,
            TrainConfig::default_lr(self.model),
            self.seeds,
            self.scale
        )
    }
}
