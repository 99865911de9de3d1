//! Ensembles combining: FreeTickets (DST Ensemble, EDST), Sup-tickets, Prune-and-Tune, model soups, interpolation, CARD-Deck.
//!
//! Every procedure trains its members with the ordinary [`Trainer`] (so the mask invariants hold: pruned weights are
//! exactly zero and get no update and no momentum, active counts are exact) and ends in one [`EnsembleResult`]: each
//! member's test metrics, the ensemble's (softmax averaged), accuracy as members join, pairwise disagreement and KL
//! matrices, parameters / non-zeros / training FLOPs against one dense model of the same configuration, accuracy
//! under corruptions if asked, and what is particular to the method ([`Extras`]).
//!
//! The methods follow `METHODS.md` (the reference implementations); where our short runs force a choice it is said
//! at the setting concerned ([`EnsembleSettings`]). Choices made here:
//!
//! - Learning rates are given as multiples of the configuration's `lr`, so the reference ratios carry over to any
//!   model: EDST's 0.1 → 0.01 → 0.001 is `lr`, `lr × 0.1`, `lr × 0.01`; Sup-tickets' 0.001 → 0.005 cycles after a
//!   run that started at 0.1 are `lr × 0.01 → lr × 0.05`.
//! - Members of the FreeTickets methods use the configuration's dynamic method, or RigL when it names a static one.
//!   The FreeTickets scripts use random regrowth with a constant drop rate of 0.5 every 1000 iterations (for runs of
//!   ~100k iterations); ours keep the configuration's DST settings (`--method set --anneal constant --drop-fraction
//!   0.5 --update-end 1` gives the reference's behaviour).
//! - EDST's tickets are each phase's weights at its end (the reference keeps each phase's best validation
//!   checkpoint; at the end of a phase its learning rate is at its lowest, so the two coincide in most runs).
//! - Model soups need a held-out split: without a validation split in the data, one is held out of the training set
//!   (`held_out_fraction`, stratified) for the whole procedure. Children keep the parent's mask, so a soup is as
//!   sparse as its parent; BatchNorm statistics are averaged with the weights, not recalibrated.
//! - Sup-tickets' base run follows the configuration's schedule compressed into the steps before the cycles; the
//!   comparison run (`standard_run`) is the configuration trained normally for the whole length, same seed.
//! - CARD-Deck's members share the clean training set's normaliser and augment a fixed, seeded copy of the
//!   training set (not fresh corruptions every epoch); the gate compares spectra as [`crate::corrupt::gate`] does.
//! - Training FLOPs follow RigL's convention ([`crate::accounting`]): a step costs 3× the sparse forward pass, a
//!   RigL update adds a dense backward pass; a re-exploration that regrows by gradient adds one dense forward and
//!   backward pass on one batch. The dense reference is `3 × dense forward FLOPs × batch × steps` of one run of the
//!   same configuration; it is computed, not trained (unless `dense_baseline` asks for the run).

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::loss::cross_entropy_with_logits;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::accounting::Accounting;
use crate::config::TrainConfig;
use crate::corrupt::{Corruption, Spectrum, corrupt_dataset, corrupt_image, gate, spectral_similarity, spectrum_of};
use crate::data::{Dataset, IMAGE_BYTES, Normalizer, fill_batch};
use crate::mask::{Bits, LayerMask, Masks};
use crate::metrics::{EvalMetrics, average_probs, disagreement, evaluate, mean_kl};
use crate::model::{BN_MOMENTUM, BnStats, NetSpec, Network};
use crate::pace::{News, Pacer};
use crate::rng::Rng;
use crate::schedule::LrSchedule;
use crate::sparsity::Method;
use crate::sparsity::dst::update_layer;
use crate::sparsity::prune::{Budget, keep_top, magnitudes};
use crate::tickets::{Scope, interpolate};
use crate::train::{TrainData, TrainError, Trainer, labels_of, read_f32};

/// Version of the ensemble JSON result.
pub const ENSEMBLE_FORMAT: u32 = 1;

/// The most members one ensemble may have.
pub const MAX_MEMBERS: usize = 32;

/// How the train loss is checked for divergence while members train: every this many steps and at the end.
const CHECK_EVERY: usize = 50;

/// The augmentations of CARD-Deck's members, in order (member k takes entry k mod 6): the first is the plain
/// crop-and-flip pipeline, the others add a share of training images corrupted at random severities.
pub const CARD_AUGMENTATIONS: [Option<Corruption>; 6] = [
    None,
    Some(Corruption::GaussianNoise),
    Some(Corruption::GaussianBlur),
    Some(Corruption::Contrast),
    Some(Corruption::Jpeg),
    Some(Corruption::Fog),
];

/// The corruptions CARD-Deck is evaluated on when none are asked for: two it trains on and four it does not.
pub const CARD_DEFAULT_CORRUPTIONS: [Corruption; 6] = [
    Corruption::GaussianNoise,
    Corruption::ShotNoise,
    Corruption::GaussianBlur,
    Corruption::DefocusBlur,
    Corruption::Contrast,
    Corruption::Fog,
];

/// Which ensemble procedure a configuration runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnsembleKind {
    /// No ensemble: the configuration describes a single run.
    #[default]
    None,
    /// FreeTickets DST Ensemble: M independent dynamic sparse runs from different seeds, softmax averaged.
    DstEnsemble,
    /// FreeTickets EDST: one run, an exploration phase then M refinement phases, one ticket per phase.
    Edst,
    /// Sup-tickets: cyclic learning rates at the end of a sparse run, tickets superposed into one network.
    SupTickets,
    /// Prune-and-Tune: a parent, children pruned in anti-random pairs and tuned briefly, predictions averaged.
    PruneTune,
    /// Model soups: children fine-tuned from a parent, their weights averaged (uniform and greedy soups).
    Soup,
    /// CARD-Deck: members trained with different augmentations, a spectral gate routes each test batch.
    CardDeck,
}

impl EnsembleKind {
    pub const ALL: [EnsembleKind; 7] = [
        EnsembleKind::None,
        EnsembleKind::DstEnsemble,
        EnsembleKind::Edst,
        EnsembleKind::SupTickets,
        EnsembleKind::PruneTune,
        EnsembleKind::Soup,
        EnsembleKind::CardDeck,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EnsembleKind::None => "none",
            EnsembleKind::DstEnsemble => "dst-ensemble",
            EnsembleKind::Edst => "edst",
            EnsembleKind::SupTickets => "sup-tickets",
            EnsembleKind::PruneTune => "prune-tune",
            EnsembleKind::Soup => "soup",
            EnsembleKind::CardDeck => "card-deck",
        }
    }

    /// The member count the command line uses when none is given: 3, and 4 for Prune-and-Tune (its children come in
    /// pairs; the reference trains 6).
    pub fn default_members(self) -> usize {
        if self == EnsembleKind::PruneTune { 4 } else { 3 }
    }
}

impl std::str::FromStr for EnsembleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EnsembleKind::ALL.into_iter().find(|k| k.name() == s || k.name().replace('-', "_") == s).ok_or_else(|| {
            let names: Vec<_> = EnsembleKind::ALL[1..].iter().map(|k| k.name()).collect();
            format!("unknown ensemble kind '{s}' (expected one of {})", names.join(", "))
        })
    }
}

impl std::fmt::Display for EnsembleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a re-exploration chooses the weights it regrows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regrow {
    /// Uniformly at random among the inactive positions (the FreeTickets scripts' `--growth random`).
    #[default]
    Random,
    /// The largest dense-gradient magnitudes on one training batch (RigL's rule).
    Gradient,
}

impl std::str::FromStr for Regrow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Regrow::Random),
            "gradient" => Ok(Regrow::Gradient),
            _ => Err(format!("unknown regrowth '{s}' (expected random or gradient)")),
        }
    }
}

/// The ensemble procedure and its settings. Only `kind`, `members`, the corruption settings and `dense_baseline`
/// apply to every kind; the other fields belong to the method named in their comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnsembleSettings {
    pub kind: EnsembleKind,
    /// Members: seeds (DST Ensemble), tickets (EDST), cycles (Sup-tickets), children (Prune-and-Tune, soups),
    /// augmentations (CARD-Deck).
    pub members: usize,
    /// EDST: share of the run spent in the exploration phase at the constant base learning rate (reference: 150 of
    /// 450 epochs).
    pub exploration_fraction: f64,
    /// EDST: a refinement phase starts at `lr × refine_lr` (reference 0.01 after 0.1) ...
    pub refine_lr: f64,
    /// ... and multiplies it by `refine_decay` halfway through (reference 0.001).
    pub refine_decay: f64,
    /// EDST: share of the active weights dropped (smallest magnitudes) and regrown at the start of each later phase
    /// (reference q = 0.8).
    pub reexplore_fraction: f64,
    /// EDST: drop and regrow within each layer (the reference code's `truncate_weights`; per-layer counts stay
    /// exact) or under one global threshold (the global count stays exact, layer densities move).
    pub reexplore_scope: Scope,
    /// EDST: how re-exploration regrows.
    pub regrow: Regrow,
    /// Sup-tickets: share of the run given to the learning-rate cycles at its end (ours: a quarter).
    pub cyclic_fraction: f64,
    /// Sup-tickets: a cycle's learning rate goes `lr × cycle_low → lr × cycle_high → lr × cycle_low`.
    pub cycle_low: f64,
    pub cycle_high: f64,
    /// Sup-tickets: share of each layer's active weights dropped and regrown at each cycle's start (reference 0.5);
    /// regrowth by gradient for RigL and DST-EE runs, at random otherwise.
    pub cycle_reexplore: f64,
    /// Sup-tickets: training batches used to recalibrate BatchNorm statistics of the superposed network (a
    /// cumulative average, as PyTorch's `bn_update`; at most one epoch). No effect on networks without BatchNorm.
    pub bn_batches: usize,
    /// Prune-and-Tune: each child's tuning budget as a share of the parent's steps. The reference tunes 6 children
    /// for 10 epochs each after a parent of a few hundred; our parents train a few epochs, so a child needs a larger
    /// share to recover from losing half its weights (ours: a quarter).
    pub tune_fraction: f64,
    /// Model soups: each child's fine-tuning budget as a share of the parent's steps.
    pub finetune_fraction: f64,
    /// Model soups: share of the training set held out for the greedy soup when the data has no validation split.
    pub held_out_fraction: f64,
    /// CARD-Deck: test images per gating decision.
    pub gate_batch: usize,
    /// CARD-Deck: share of a member's training images replaced by their corruption (severity drawn from 1..=5 per
    /// image, once, from the seed); the rest stay clean.
    pub augment_share: f64,
    /// Evaluate members and ensemble on the test set under these corruptions (CARD-Deck uses
    /// [`CARD_DEFAULT_CORRUPTIONS`] when this is empty) ...
    pub corruptions: Vec<Corruption>,
    /// ... at these severities.
    pub severities: Vec<u8>,
    /// Also train one dense network of the same configuration (static, density 1) for comparison.
    pub dense_baseline: bool,
}

impl Default for EnsembleSettings {
    fn default() -> Self {
        EnsembleSettings {
            kind: EnsembleKind::None,
            members: 3,
            exploration_fraction: 1.0 / 3.0,
            refine_lr: 0.1,
            refine_decay: 0.1,
            reexplore_fraction: 0.8,
            reexplore_scope: Scope::Layerwise,
            regrow: Regrow::Random,
            cyclic_fraction: 0.25,
            cycle_low: 0.01,
            cycle_high: 0.05,
            cycle_reexplore: 0.5,
            bn_batches: 50,
            tune_fraction: 0.25,
            finetune_fraction: 0.25,
            held_out_fraction: 0.1,
            gate_batch: 100,
            augment_share: 0.5,
            corruptions: vec![],
            severities: vec![1, 3, 5],
            dense_baseline: false,
        }
    }
}

impl EnsembleSettings {
    /// Every range, checked in one place (the configuration's `validate` calls it).
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, msg: String| if ok { Ok(()) } else { Err(msg) };
        let share = |name: &str, x: f64, open_low: bool, open_high: bool| {
            let low_ok = if open_low { x > 0.0 } else { x >= 0.0 };
            let high_ok = if open_high { x < 1.0 } else { x <= 1.0 };
            check(
                low_ok && high_ok,
                format!(
                    "ensemble {name} {x} is out of range {}0, 1{}",
                    ["[", "("][open_low as usize],
                    ["]", ")"][open_high as usize]
                ),
            )
        };
        check(
            (2..=MAX_MEMBERS).contains(&self.members),
            format!("ensemble members {} is out of range 2..={MAX_MEMBERS}", self.members),
        )?;
        if self.kind == EnsembleKind::PruneTune {
            check(
                self.members.is_multiple_of(2),
                format!(
                    "Prune-and-Tune trains children in anti-random pairs: members must be even, not {}",
                    self.members
                ),
            )?;
        }
        share("exploration fraction", self.exploration_fraction, false, true)?;
        share("refinement learning-rate factor", self.refine_lr, true, false)?;
        share("refinement decay", self.refine_decay, true, false)?;
        share("re-exploration fraction", self.reexplore_fraction, false, false)?;
        share("cyclic fraction", self.cyclic_fraction, true, true)?;
        check(
            self.cycle_low > 0.0 && self.cycle_low <= self.cycle_high && self.cycle_high <= 10.0,
            format!(
                "Sup-tickets cycle learning rates ×{} → ×{} must satisfy 0 < low <= high <= 10",
                self.cycle_low, self.cycle_high
            ),
        )?;
        share("cycle re-exploration", self.cycle_reexplore, false, false)?;
        check(self.bn_batches <= 100_000, format!("BatchNorm batches {} is out of range 0..=100000", self.bn_batches))?;
        check(
            self.tune_fraction > 0.0 && self.tune_fraction <= 10.0,
            format!("Prune-and-Tune tuning fraction {} is out of range (0, 10]", self.tune_fraction),
        )?;
        check(
            self.finetune_fraction > 0.0 && self.finetune_fraction <= 10.0,
            format!("soup fine-tuning fraction {} is out of range (0, 10]", self.finetune_fraction),
        )?;
        check(
            self.held_out_fraction > 0.0 && self.held_out_fraction <= 0.5,
            format!("held-out fraction {} is out of range (0, 0.5]", self.held_out_fraction),
        )?;
        check(
            (1..=10_000).contains(&self.gate_batch),
            format!("gate batch {} is out of range 1..=10000", self.gate_batch),
        )?;
        share("CARD-Deck augmented share", self.augment_share, false, false)?;
        check(
            !self.severities.is_empty() || self.corruptions.is_empty(),
            "corruptions were asked for but no severities".into(),
        )?;
        if let Some(s) = self.severities.iter().find(|s| !(1..=5).contains(*s)) {
            return Err(format!("corruption severity {s} is out of range 1..=5"));
        }
        Ok(())
    }

    /// The corruptions the robustness evaluation covers.
    pub fn evaluated_corruptions(&self) -> Vec<Corruption> {
        if self.corruptions.is_empty() && self.kind == EnsembleKind::CardDeck {
            CARD_DEFAULT_CORRUPTIONS.to_vec()
        } else {
            self.corruptions.clone()
        }
    }
}

/// A comma-separated list of corruption names, or `all` (empty text: none).
pub fn parse_corruptions(s: &str) -> Result<Vec<Corruption>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(vec![]);
    }
    if s == "all" {
        return Ok(Corruption::ALL.to_vec());
    }
    let mut out = vec![];
    for name in s.split(',') {
        let c: Corruption = name.trim().parse()?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// A comma-separated list of severities from 1 to 5.
pub fn parse_severities(s: &str) -> Result<Vec<u8>, String> {
    let mut out = vec![];
    for x in s.split(',') {
        let v: u8 =
            x.trim().parse().map_err(|_| format!("severity '{}' is not a whole number from 1 to 5", x.trim()))?;
        if !(1..=5).contains(&v) {
            return Err(format!("severity {v} is out of range 1..=5"));
        }
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------------
// Results

/// One member of an ensemble (or a reference network beside it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberResult {
    pub name: String,
    pub test: EvalMetrics,
    /// Active prunable weights plus every unprunable parameter.
    pub nonzeros: usize,
    /// Share of prunable weights active.
    pub density: f64,
    /// Training FLOPs spent on this member. Members of one shared run (EDST tickets, Sup-tickets cycles) report the
    /// run's cumulative count when they were taken.
    pub train_flops: f64,
}

/// Size and cost of the ensemble against one dense network of the same configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cost {
    /// Parameters of one network (dense storage; every member shares the architecture).
    pub params: usize,
    /// Parameters of all members together.
    pub total_params: usize,
    /// Non-zeros of all members together.
    pub total_nonzeros: usize,
    /// Forward FLOPs per image of all members together (what averaging costs at test time).
    pub inference_flops: f64,
    /// Training FLOPs of the whole procedure (parents, members, tuning; not the dense baseline).
    pub train_flops: f64,
    pub dense_params: usize,
    pub dense_inference_flops: f64,
    /// 3 × dense forward FLOPs × batch × steps of one run of the configuration.
    pub dense_train_flops: f64,
    pub train_flops_vs_dense: f64,
    pub within_dense_budget: bool,
}

/// Accuracy of the members and of the ensemble on one corrupted copy of the test set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CorruptedAccuracy {
    pub corruption: Corruption,
    pub severity: u8,
    pub members: Vec<f64>,
    /// The softmax average.
    pub ensemble: f64,
    pub ensemble_nll: f64,
    /// CARD-Deck: the gated deck's accuracy and how many batches went to each member.
    pub gated: Option<f64>,
    pub gate_choices: Option<Vec<usize>>,
}

/// Test (and held-out) metrics at one point of a weight interpolation (1 − α)·θ₀ + α·θ₁.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InterpolationPoint {
    pub alpha: f64,
    pub test_accuracy: f64,
    pub test_nll: f64,
    pub test_ece: f64,
    pub held_out_accuracy: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DstEnsembleExtras {
    pub method: Method,
    pub seeds: Vec<u64>,
    /// Pairwise IoU of the members' final masks.
    pub mask_iou: Vec<Vec<f64>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EdstPhase {
    pub ticket: usize,
    pub start_step: usize,
    pub end_step: usize,
    /// Weights dropped and regrown at the phase's start (0 for the first phase).
    pub reexplored: usize,
    /// Of those, how many are really new positions (a dropped weight may be regrown).
    pub changed: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EdstExtras {
    pub method: Method,
    pub exploration_steps: usize,
    pub phases: Vec<EdstPhase>,
    pub mask_iou: Vec<Vec<f64>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SupCycle {
    pub cycle: usize,
    pub start_step: usize,
    pub end_step: usize,
    pub reexplored: usize,
    /// The cycle's ticket (the trained model at the cycle's end), on the test set.
    pub ticket_accuracy: f64,
    /// The superposed network after this cycle (re-pruned, BatchNorm recalibrated), on the test set.
    pub superposed_accuracy: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SupTicketsExtras {
    pub method: Method,
    /// Steps before the cycles (the configuration's schedule, compressed into them) ...
    pub base_steps: usize,
    /// ... and the test accuracy the run had reached when the cycles began.
    pub base_accuracy: f64,
    pub cycle_steps: usize,
    pub cycle_lr: (f64, f64),
    pub cycles: Vec<SupCycle>,
    /// The result: the superposed network after the last cycle.
    pub superposed: MemberResult,
    /// The same run's final (un-superposed) network.
    pub final_network: MemberResult,
    /// The configuration trained normally for the same number of steps (same seed), at the same non-zeros.
    pub standard_run: MemberResult,
    /// IoU of the superposed network's mask with the final network's.
    pub superposed_mask_iou: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PruneTuneExtras {
    /// The parent (LR flat for half the run, then linear decay to zero).
    pub parent: MemberResult,
    pub tune_steps: usize,
    /// Every pair's masks are disjoint and together give the parent's (the last layer excluded, kept whole).
    pub complementary: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SoupChild {
    pub name: String,
    pub lr: f64,
    pub augment: bool,
    pub data_seed: u64,
    pub held_out_accuracy: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SoupMetrics {
    pub held_out_accuracy: f64,
    pub test: EvalMetrics,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GreedySoup {
    /// Children in the soup (indices into `children`), in the order added; the first is the best child.
    pub ingredients: Vec<usize>,
    /// Held-out accuracy of the soup after each candidate was considered (best child first).
    pub held_out_path: Vec<f64>,
    pub held_out_accuracy: f64,
    pub test: EvalMetrics,
    /// Whether the soup ended as the best child alone (a known outcome, shown as it is).
    pub only_best_child: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SoupExtras {
    /// Where the held-out accuracy comes from.
    pub held_out: String,
    pub parent: MemberResult,
    pub parent_held_out_accuracy: f64,
    pub finetune_steps: usize,
    pub children: Vec<SoupChild>,
    /// The child with the best held-out accuracy.
    pub best_child: usize,
    pub uniform: SoupMetrics,
    pub greedy: GreedySoup,
    /// WiSE-style interpolation from the parent (α = 0) to the best child (α = 1).
    pub wise: Vec<InterpolationPoint>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CardDeckExtras {
    /// Each member's training corruption (`none`: crop and flip only).
    pub augmentations: Vec<String>,
    pub augment_share: f64,
    pub gate_batch: usize,
    /// The gated deck on the clean test set, and how many batches went to each member.
    pub gated: EvalMetrics,
    pub gate_choices: Vec<usize>,
    /// Spectral similarity of the members' training spectra to the clean test set's.
    pub test_similarity: Vec<f64>,
}

/// What is particular to each method.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Extras {
    DstEnsemble(DstEnsembleExtras),
    Edst(EdstExtras),
    SupTickets(Box<SupTicketsExtras>),
    PruneTune(Box<PruneTuneExtras>),
    Soup(Box<SoupExtras>),
    CardDeck(Box<CardDeckExtras>),
}

/// Everything an ensemble procedure measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnsembleResult {
    pub format: u32,
    pub kind: EnsembleKind,
    pub config: TrainConfig,
    pub backend: String,
    pub members: Vec<MemberResult>,
    /// The members' softmax outputs averaged, on the test set.
    pub ensemble: EvalMetrics,
    /// Test accuracy of the average of the first k members, k = 1..=M.
    pub accuracy_as_members_join: Vec<f64>,
    /// Share of test images where members i and j predict different classes.
    pub disagreement: Vec<Vec<f64>>,
    /// Mean KL(member i ‖ member j) of the predictive distributions, in nats.
    pub kl: Vec<Vec<f64>>,
    pub cost: Cost,
    /// One dense network of the configuration, if asked for.
    pub dense_baseline: Option<MemberResult>,
    /// Accuracy under each corruption × severity asked for.
    pub robustness: Vec<CorruptedAccuracy>,
    pub extras: Extras,
    pub wall_seconds: f64,
}

// ---------------------------------------------------------------------------------------------------------------
// Building blocks

/// Evaluates any network of the run's architecture on any set, with the run's normaliser, in evaluation mode.
pub struct Evaluator {
    pub spec: NetSpec,
    pub normalizer: Normalizer,
    pub device: Device,
    pub test: Arc<Dataset>,
    pub held_out: Option<Arc<Dataset>>,
    /// Flip test-time augmentation, as the run's configuration asks.
    pub tta: bool,
}

impl Evaluator {
    pub fn of(trainer: &Trainer) -> Self {
        Evaluator {
            spec: trainer.spec.clone(),
            normalizer: trainer.normalizer,
            device: trainer.device.clone(),
            test: trainer.test_set.clone(),
            held_out: trainer.val_set.clone(),
            tta: trainer.config.tta,
        }
    }

    /// Softmax rows (n × classes) of `net` on `set`, as the trainer's own evaluation.
    pub async fn predict(&self, net: &Network, set: &Dataset) -> Result<Vec<f32>, TrainError> {
        crate::train::predict(&self.spec, net, set, &self.normalizer, &self.device, self.tta).await
    }

    /// Test metrics and softmax rows.
    pub async fn test(&self, net: &Network) -> Result<(EvalMetrics, Vec<f32>), TrainError> {
        let probs = self.predict(net, &self.test).await?;
        Ok((evaluate(&probs, self.spec.num_classes, &labels_of(&self.test)), probs))
    }

    /// Accuracy on the held-out split (the test set when there is none).
    pub async fn held_out_accuracy(&self, net: &Network) -> Result<f64, TrainError> {
        let set = self.held_out.as_ref().unwrap_or(&self.test);
        let probs = self.predict(net, set).await?;
        Ok(evaluate(&probs, self.spec.num_classes, &labels_of(set)).accuracy)
    }
}

/// A trained member, kept with its weights and test predictions.
struct Member {
    name: String,
    net: Network,
    masks: Masks,
    train_flops: f64,
    probs: Vec<f32>,
    test: EvalMetrics,
}

impl Member {
    async fn new(ev: &Evaluator, name: String, net: Network, masks: Masks, flops: f64) -> Result<Self, TrainError> {
        let (test, probs) = ev.test(&net).await?;
        Ok(Member { name, net, masks, train_flops: flops, probs, test })
    }

    fn result(&self, spec: &NetSpec) -> MemberResult {
        member_result(spec, &self.name, self.test.clone(), &self.masks, self.train_flops)
    }
}

fn member_result(spec: &NetSpec, name: &str, test: EvalMetrics, masks: &Masks, flops: f64) -> MemberResult {
    MemberResult {
        name: name.to_string(),
        test,
        nonzeros: Accounting::new(spec, masks, 0.0).nonzeros,
        density: masks.density(),
        train_flops: flops,
    }
}

/// Train `trainer` until it has taken `until` steps, syncing mask updates and checking the loss for divergence.
/// With `lr`, the learning rate of each step is `lr(step)` instead of the configuration's schedule.
async fn advance(
    t: &mut Trainer,
    until: usize,
    lr: Option<&dyn Fn(usize) -> f64>,
    pacer: &mut impl Pacer,
) -> Result<(), TrainError> {
    t.prepare().await?;
    while t.step < until {
        if let Some(lr) = lr {
            t.config.schedule = LrSchedule::Constant;
            t.config.lr = lr(t.step);
        }
        t.train_step();
        if t.has_pending_masks() {
            t.sync_masks().await?;
        }
        if t.step.is_multiple_of(CHECK_EVERY) || t.step == until {
            t.take_train_metrics().await?;
        }
        pacer.after_step(t).await?;
    }
    Ok(())
}

/// A trainer for `config` on `data`, trained to the end of its own schedule.
async fn train_member(
    config: TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Trainer, TrainError> {
    let mut t = Trainer::with_data(config, data, device.clone())?;
    let total = t.total_steps;
    advance(&mut t, total, None, pacer).await?;
    Ok(t)
}

/// A seed derived from the run's seed for a named purpose and an index.
fn derived_seed(seed: u64, purpose: &str, index: usize) -> u64 {
    Rng::stream(seed, purpose).fork(index as u64).next_u64()
}

fn random_scores(len: usize, rng: &mut Rng, device: &Device) -> Tensor<1> {
    let values: Vec<f32> = (0..len).map(|_| rng.uniform()).collect();
    Tensor::from_data(TensorData::new(values, [len]), device)
}

/// Dense gradients of the loss at the trainer's current weights on one seeded training batch (BatchNorm in training
/// mode; nothing is updated, running statistics included).
fn dense_gradients(t: &Trainer, seed: u64) -> Vec<Tensor<1>> {
    let bs = t.batch_size();
    let mut rng = Rng::stream(seed, "regrow-batch");
    let indices: Vec<usize> = rng.permutation(t.train_set.len())[..bs].to_vec();
    let (mut images, mut labels) = (vec![], vec![]);
    fill_batch(&t.train_set, &indices, t.config.augmentation(), &t.normalizer, &mut rng, &mut images, &mut labels);
    let c = t.spec.num_classes;
    let mut onehot = vec![0.0f32; bs * c];
    for (row, &label) in labels.iter().enumerate() {
        onehot[row * c + label as usize] = 1.0;
    }
    let x = Tensor::<4>::from_data(TensorData::new(images, [bs, 3, 32, 32]), &t.device);
    let targets = Tensor::<2>::from_data(TensorData::new(onehot, [bs, c]), &t.device);
    let tracked: Vec<Tensor<1>> = t.net.params.iter().map(|p| p.clone().autodiff().require_grad()).collect();
    let mut bn = t.net.bn.clone();
    let logits = Network::forward(&t.spec, &tracked, &mut bn, x.autodiff(), true);
    let grads = cross_entropy_with_logits(logits, targets.autodiff()).backward();
    tracked.iter().zip(&t.net.params).map(|(p, w)| p.grad(&grads).unwrap_or_else(|| w.zeros_like())).collect()
}

/// Regrowth scores for a re-exploration of the trainer's current masks, indexed like `masks.layers`. Gradient
/// scores cost one dense forward and backward pass on one batch, which is added to the trainer's FLOPs.
fn regrow_scores(t: &mut Trainer, regrow: Regrow, seed: u64) -> Vec<Tensor<1>> {
    match regrow {
        Regrow::Random => {
            let mut rng = Rng::stream(seed, "regrow-random");
            t.masks.layers.iter().map(|l| random_scores(l.bits.len(), &mut rng, &t.device)).collect()
        }
        Regrow::Gradient => {
            let grads = dense_gradients(t, seed);
            let dense = Accounting::new(&t.spec, &Masks::dense(&t.spec), 0.0).sparse_flops;
            t.train_flops += 3.0 * dense * t.batch_size() as f64;
            t.masks.layers.iter().map(|l| grads[l.param].clone().abs()).collect()
        }
    }
}

/// A re-exploration: drop `fraction` of the active weights with the smallest magnitudes and regrow as many among
/// the positions not kept (a just-dropped weight may come back) by `grow_scores` (indexed like `masks.layers`).
/// `Layerwise` drops ⌊fraction · active⌋ in each layer and keeps every layer's count; `Global` drops
/// ⌊fraction · total active⌋ under one magnitude threshold and regrows under one score threshold, keeping the total.
/// Returns the new masks and the number of weights dropped (= regrown).
pub async fn reexplore(
    net: &Network,
    masks: &Masks,
    fraction: f64,
    scope: Scope,
    grow_scores: Vec<Tensor<1>>,
    device: &Device,
) -> Result<(Masks, usize), TrainError> {
    let upload = |b: &Bits| Tensor::<1>::from_data(TensorData::new(b.to_f32(), [b.len()]), device);
    match scope {
        Scope::Layerwise => {
            let mut out = masks.clone();
            let mut dropped = 0;
            for ((layer, new), score) in masks.layers.iter().zip(&mut out.layers).zip(grow_scores) {
                let active = layer.bits.count_ones();
                let drop = (fraction * active as f64).floor() as usize;
                let t = update_layer(&net.params[layer.param], &upload(&layer.bits), active, drop, score);
                new.bits = Bits::from_bools(read_f32(t).await?.into_iter().map(|v| v != 0.0));
                dropped += drop;
            }
            Ok((out, dropped))
        }
        Scope::Global => {
            let active = masks.active();
            let drop = (fraction * active as f64).floor() as usize;
            let kept = keep_top(masks, magnitudes(net, masks), &Budget::Global(active - drop), device).await?;
            let free = Masks {
                layers: kept.layers.iter().map(|l| LayerMask { param: l.param, bits: l.bits.not() }).collect(),
            };
            let grown =
                keep_top(&free, grow_scores.into_iter().map(Some).collect(), &Budget::Global(drop), device).await?;
            Ok((kept.union(&grown), drop))
        }
    }
}

/// Prune-and-Tune's anti-random pair: in every prunable layer but the last, the first mask keeps a random half
/// (⌊active / 2⌋) of the parent's active weights and the second the rest; the last layer stays as the parent's in
/// both.
pub fn anti_random_pair(parent: &Masks, rng: &mut Rng) -> (Masks, Masks) {
    let (mut a, mut b) = (parent.clone(), parent.clone());
    let last = parent.layers.len().saturating_sub(1);
    for (l, layer) in parent.layers.iter().enumerate().take(last) {
        let active = layer.bits.ones_indices();
        let half = Bits::random(active.len(), active.len() / 2, rng);
        let (mut first, mut second) = (Bits::zeros(layer.bits.len()), Bits::zeros(layer.bits.len()));
        for (j, &i) in active.iter().enumerate() {
            if half.get(j) { first.set(i, true) } else { second.set(i, true) }
        }
        a.layers[l].bits = first;
        b.layers[l].bits = second;
    }
    (a, b)
}

/// The uniform soup: the mean of the networks' parameters and BatchNorm statistics, as a running mean
/// (soup_k = lerp(soup_{k−1}, net_k, 1/k), on the GPU lerp kernel where the weights live on wgpu).
pub fn uniform_soup(nets: &[Network]) -> Option<Network> {
    let mut soup = nets.first()?.clone();
    for (k, net) in nets.iter().enumerate().skip(1) {
        soup = interpolate(&soup, net, 1.0 / (k + 1) as f64);
    }
    Some(soup)
}

/// The greedy soup (Wortsman et al.): children sorted by held-out accuracy (best first, ties by index); starting
/// from the best, each candidate joins the running mean only if the held-out accuracy strictly improves.
pub async fn greedy_soup(
    ev: &Evaluator,
    children: &[Network],
    held_out: &[f64],
) -> Result<(Network, Vec<usize>, Vec<f64>), TrainError> {
    let mut order: Vec<usize> = (0..children.len()).collect();
    order.sort_by(|&a, &b| held_out[b].total_cmp(&held_out[a]).then(a.cmp(&b)));
    let Some(&first) = order.first() else {
        return Err(TrainError::Config("a greedy soup needs at least one child".into()));
    };
    let mut soup = children[first].clone();
    let mut ingredients = vec![first];
    let mut best = held_out[first];
    let mut path = vec![best];
    for &k in &order[1..] {
        let candidate = interpolate(&soup, &children[k], 1.0 / (ingredients.len() + 1) as f64);
        let acc = ev.held_out_accuracy(&candidate).await?;
        if acc > best {
            soup = candidate;
            best = acc;
            ingredients.push(k);
        }
        path.push(best);
    }
    Ok((soup, ingredients, path))
}

/// Test (and held-out) metrics along (1 − α)·a + α·b for α = 0, 0.1, …, 1 (BatchNorm statistics interpolated too).
pub async fn interpolation_curve(
    ev: &Evaluator,
    a: &Network,
    b: &Network,
) -> Result<Vec<InterpolationPoint>, TrainError> {
    let mut out = vec![];
    for i in 0..=10 {
        let alpha = i as f64 / 10.0;
        let net = interpolate(a, b, alpha);
        let (test, _) = ev.test(&net).await?;
        let held_out_accuracy = match &ev.held_out {
            Some(_) => Some(ev.held_out_accuracy(&net).await?),
            None => None,
        };
        out.push(InterpolationPoint {
            alpha,
            test_accuracy: test.accuracy,
            test_nll: test.nll,
            test_ece: test.ece,
            held_out_accuracy,
        });
    }
    Ok(out)
}

/// `net` with its BatchNorm running statistics recomputed on `batches` training batches of the trainer's data (at
/// most one epoch; seeded order, the configuration's augmentation), as a cumulative average of the batch
/// statistics (PyTorch's `bn_update` with momentum `None`). Networks without BatchNorm come back unchanged.
pub async fn recalibrate_bn(t: &Trainer, net: &Network, batches: usize, seed: u64) -> Result<Network, TrainError> {
    if t.spec.bn_channels.is_empty() || batches == 0 {
        return Ok(net.clone());
    }
    let bs = t.batch_size();
    let n = batches.min(t.train_set.len() / bs).max(1);
    let order = Rng::stream(seed, "bn-recalibration").permutation(t.train_set.len());
    let mut rng = Rng::stream(seed, "bn-recalibration-augment");
    let (mut images, mut labels) = (vec![], vec![]);
    let zeros = |c: usize| Tensor::<1>::zeros([c], &t.device);
    let mut average: Vec<BnStats> =
        t.spec.bn_channels.iter().map(|&c| BnStats { mean: zeros(c), var: zeros(c) }).collect();
    for b in 0..n {
        fill_batch(
            &t.train_set,
            &order[b * bs..(b + 1) * bs],
            t.config.augmentation(),
            &t.normalizer,
            &mut rng,
            &mut images,
            &mut labels,
        );
        let x = Tensor::<4>::from_data(TensorData::new(images.clone(), [bs, 3, 32, 32]), &t.device);
        // From zero running statistics one training-mode pass leaves momentum × the batch statistics.
        let mut bn: Vec<BnStats> =
            t.spec.bn_channels.iter().map(|&c| BnStats { mean: zeros(c), var: zeros(c) }).collect();
        let _ = Network::forward(&t.spec, &net.params, &mut bn, x, true);
        let weight = 1.0 / (b + 1) as f32;
        for (avg, batch) in average.iter_mut().zip(bn) {
            let (mean, var) = (batch.mean / BN_MOMENTUM, batch.var / BN_MOMENTUM);
            avg.mean = avg.mean.clone() + (mean - avg.mean.clone()) * weight;
            avg.var = avg.var.clone() + (var - avg.var.clone()) * weight;
        }
    }
    Ok(Network { params: net.params.clone(), bn: average })
}

/// The members each trained on a differently augmented copy of the training set (CARD-Deck): member k's corruption
/// is [`CARD_AUGMENTATIONS`]`[k mod 6]`, applied to a share `augment_share` of the images at a severity drawn from
/// 1..=5 per image. Everything is drawn from `seed`.
pub fn card_training_sets(
    train: &Dataset,
    members: usize,
    augment_share: f64,
    seed: u64,
) -> Vec<(Option<Corruption>, Dataset)> {
    (0..members)
        .map(|k| {
            let aug = CARD_AUGMENTATIONS[k % CARD_AUGMENTATIONS.len()];
            let Some(c) = aug else { return (None, train.clone()) };
            let base = Rng::stream(seed, "card-augment").fork(k as u64);
            let mut set = train.clone();
            for (i, image) in set.images.chunks_exact_mut(IMAGE_BYTES).enumerate() {
                let mut rng = base.fork(i as u64);
                if (rng.uniform() as f64) < augment_share {
                    let severity = 1 + rng.below(5) as u8;
                    let clean = image.to_vec();
                    corrupt_image(c, severity, &clean, &mut rng, image);
                }
            }
            (aug, set)
        })
        .collect()
}

/// The spectrum of a seeded sample of at most 1000 images of `set` (a member's training spectrum for the gate).
pub fn training_spectrum(set: &Dataset, seed: u64) -> Spectrum {
    let mut order = Rng::stream(seed, "card-spectrum").permutation(set.len());
    order.truncate(1000);
    spectrum_of(set, order)
}

/// The gate's choice for each batch of `batch` consecutive images of `set`.
pub fn gate_choices(set: &Dataset, spectra: &[Spectrum], batch: usize) -> Vec<usize> {
    let indices: Vec<usize> = (0..set.len()).collect();
    indices
        .chunks(batch.max(1))
        .map(|chunk| gate(&spectrum_of(set, chunk.iter().copied()), spectra).unwrap_or(0))
        .collect()
}

/// The gated deck's prediction: each batch's rows from the member the gate chose for it.
fn gated_probs(choices: &[usize], member_probs: &[&[f32]], batch: usize, classes: usize) -> Vec<f32> {
    let mut out = vec![];
    for (b, &m) in choices.iter().enumerate() {
        let rows = &member_probs[m][b * batch * classes..];
        out.extend_from_slice(&rows[..rows.len().min(batch * classes)]);
    }
    out
}

fn count_choices(choices: &[usize], members: usize) -> Vec<usize> {
    let mut counts = vec![0; members];
    for &c in choices {
        counts[c] += 1;
    }
    counts
}

/// A pacer for terminals: prints each stage as it starts and a step counter every `every` steps on stderr.
pub struct StderrProgress {
    pub every: usize,
}

impl Pacer for StderrProgress {
    async fn after_step(&mut self, t: &mut Trainer) -> Result<(), TrainError> {
        if self.every > 0 && t.step.is_multiple_of(self.every) {
            eprint!("\r  step {}/{}   ", t.step, t.total_steps);
        }
        Ok(())
    }

    fn news(&mut self, news: News) {
        if let News::Stage(stage) = news {
            eprintln!("\r{stage}            ");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The procedures

/// What a procedure hands to the common summary.
struct Built {
    ev: Evaluator,
    members: Vec<Member>,
    train_flops: f64,
    /// One dense run of the configuration (see [`dense_run_flops`]).
    dense_train_flops: f64,
    extras: Extras,
    /// CARD-Deck's member spectra and gate batch.
    gate: Option<(Vec<Spectrum>, usize)>,
}

/// Run the ensemble procedure `config.ensemble` describes on `data`.
pub async fn run_ensemble(
    config: &TrainConfig,
    data: TrainData,
    device: Device,
    backend: &str,
    pacer: &mut impl Pacer,
) -> Result<EnsembleResult, TrainError> {
    config.validate().map_err(TrainError::Config)?;
    if config.method.is_iterative() {
        return Err(TrainError::Config(
            "IMP is a procedure of its own; ensemble members train with static, pruning-at-init or dynamic methods"
                .into(),
        ));
    }
    let start = Instant::now();
    let built = match config.ensemble.kind {
        EnsembleKind::None => {
            return Err(TrainError::Config(
                "no ensemble kind chosen (dst-ensemble, edst, sup-tickets, prune-tune, soup or card-deck)".into(),
            ));
        }
        EnsembleKind::DstEnsemble => dst_ensemble(config, data.clone(), &device, pacer).await?,
        EnsembleKind::Edst => edst(config, data.clone(), &device, pacer).await?,
        EnsembleKind::SupTickets => sup_tickets(config, data.clone(), &device, pacer).await?,
        EnsembleKind::PruneTune => prune_tune(config, data.clone(), &device, pacer).await?,
        EnsembleKind::Soup => soup(config, data.clone(), &device, pacer).await?,
        EnsembleKind::CardDeck => card_deck(config, data.clone(), &device, pacer).await?,
    };
    let dense_baseline = if config.ensemble.dense_baseline {
        pacer.news(News::Stage("dense baseline: the same configuration at density 1".into()));
        let dense = TrainConfig { density: 1.0, method: Method::Static, ..config.clone() };
        let t = train_member(dense, data, &device, pacer).await?;
        // Its own evaluation: a soup's evaluator normalises with the statistics of the reduced training set.
        let test = t.evaluate(crate::train::Split::Test).await?;
        Some(member_result(&t.spec, "dense baseline", test, &t.masks, t.train_flops))
    } else {
        None
    };
    summarise(config, backend, built, dense_baseline, start).await
}

/// Training FLOPs of one dense run as long as `t`'s: 3 × dense forward FLOPs × batch × steps.
pub fn dense_run_flops(t: &Trainer) -> f64 {
    let dense = Accounting::new(&t.spec, &Masks::dense(&t.spec), 0.0).dense_flops;
    3.0 * dense * t.batch_size() as f64 * t.total_steps as f64
}

/// The configuration with the dynamic method FreeTickets members train with.
fn dynamic(config: &TrainConfig) -> TrainConfig {
    let method = if config.method.is_dynamic() { config.method } else { Method::Rigl };
    TrainConfig { method, ..config.clone() }
}

fn iou_matrix(masks: &[&Masks]) -> Vec<Vec<f64>> {
    masks.iter().map(|a| masks.iter().map(|b| a.overlap(b).1.iou).collect()).collect()
}

async fn dst_ensemble(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let base = dynamic(config);
    let mut members = vec![];
    let mut seeds = vec![];
    let mut ev = None;
    let (mut flops, mut dense_flops) = (0.0, 0.0);
    for m in 0..config.ensemble.members {
        let seed = config.seed.wrapping_add(m as u64);
        pacer.news(News::Stage(format!(
            "member {}/{}: {} from seed {seed}",
            m + 1,
            config.ensemble.members,
            base.method
        )));
        let t = train_member(TrainConfig { seed, ..base.clone() }, data.clone(), device, pacer).await?;
        let e = ev.get_or_insert_with(|| Evaluator::of(&t));
        dense_flops = dense_run_flops(&t);
        flops += t.train_flops;
        members.push(Member::new(e, format!("seed {seed}"), t.net.clone(), t.masks.clone(), t.train_flops).await?);
        seeds.push(seed);
    }
    let mask_iou = iou_matrix(&members.iter().map(|m| &m.masks).collect::<Vec<_>>());
    let extras = Extras::DstEnsemble(DstEnsembleExtras { method: base.method, seeds, mask_iou });
    let ev = ev.expect("at least two members");
    Ok(Built { ev, members, train_flops: flops, dense_train_flops: dense_flops, extras, gate: None })
}

/// EDST's phase boundaries: (exploration steps, [(start, end)] of the refinement phases).
pub fn edst_phases(total: usize, settings: &EnsembleSettings) -> Result<(usize, Vec<(usize, usize)>), String> {
    let explore = (settings.exploration_fraction * total as f64).round() as usize;
    let m = settings.members;
    let len = (total - explore.min(total)) / m;
    if len < 2 {
        return Err(format!(
            "EDST needs at least 2 steps per refinement phase: {total} steps with {explore} of exploration leave {} for {m} phases",
            total - explore.min(total)
        ));
    }
    let phases =
        (0..m).map(|p| (explore + p * len, if p + 1 == m { total } else { explore + (p + 1) * len })).collect();
    Ok((explore, phases))
}

async fn edst(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let base = dynamic(config);
    let mut t = Trainer::with_data(base.clone(), data, device.clone())?;
    let ev = Evaluator::of(&t);
    let (explore, phases) = edst_phases(t.total_steps, s).map_err(TrainError::Config)?;
    let (lr, refine, decay) = (config.lr, config.lr * s.refine_lr, config.lr * s.refine_lr * s.refine_decay);
    let bounds = phases.clone();
    let schedule = move |step: usize| -> f64 {
        match bounds.iter().find(|&&(a, b)| step >= a && step < b) {
            None => lr,
            Some(&(a, b)) => {
                if step - a < (b - a).div_ceil(2) {
                    refine
                } else {
                    decay
                }
            }
        }
    };
    pacer.news(News::Stage(format!("EDST exploration: {explore} steps at lr {lr}")));
    advance(&mut t, explore, Some(&schedule), pacer).await?;
    let mut members = vec![];
    let mut records = vec![];
    for (p, &(a, b)) in phases.iter().enumerate() {
        let (mut reexplored, mut changed) = (0, 0);
        if p > 0 && s.reexplore_fraction > 0.0 {
            let scores = regrow_scores(&mut t, s.regrow, derived_seed(config.seed, "edst-regrow", p));
            let (masks, dropped) =
                reexplore(&t.net, &t.masks, s.reexplore_fraction, s.reexplore_scope, scores, device).await?;
            changed =
                masks.layers.iter().zip(&t.masks.layers).map(|(n, o)| n.bits.and(&o.bits.not()).count_ones()).sum();
            reexplored = dropped;
            t.set_masks(masks);
        }
        pacer.news(News::Stage(format!(
            "EDST refinement phase {}/{}: steps {a}..{b}, lr {refine} then {decay}{}",
            p + 1,
            phases.len(),
            if p > 0 { format!(", after re-exploring {reexplored} weights") } else { String::new() }
        )));
        advance(&mut t, b, Some(&schedule), pacer).await?;
        members
            .push(Member::new(&ev, format!("ticket {}", p + 1), t.net.clone(), t.masks.clone(), t.train_flops).await?);
        records.push(EdstPhase { ticket: p + 1, start_step: a, end_step: b, reexplored, changed });
    }
    let mask_iou = iou_matrix(&members.iter().map(|m| &m.masks).collect::<Vec<_>>());
    let extras =
        Extras::Edst(EdstExtras { method: base.method, exploration_steps: explore, phases: records, mask_iou });
    Ok(Built { ev, members, train_flops: t.train_flops, dense_train_flops: dense_run_flops(&t), extras, gate: None })
}

async fn sup_tickets(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let total = Trainer::with_data(config.clone(), data.clone(), device.clone())?.total_steps;
    let cycles = s.members;
    let cycle_len = (s.cyclic_fraction * total as f64).round() as usize / cycles;
    if cycle_len < 2 || cycles * cycle_len >= total {
        return Err(TrainError::Config(format!(
            "Sup-tickets needs at least 2 steps per cycle and some steps before them: {total} steps, a cyclic share of {} and {cycles} cycles",
            s.cyclic_fraction
        )));
    }
    let base_steps = total - cycles * cycle_len;
    // The base run: the configuration's schedule compressed into the steps before the cycles.
    let mut t =
        Trainer::with_data(TrainConfig { steps: Some(base_steps), ..config.clone() }, data.clone(), device.clone())?;
    let ev = Evaluator::of(&t);
    pacer.news(News::Stage(format!("Sup-tickets base run: {base_steps} steps ({})", config.schedule)));
    advance(&mut t, base_steps, None, pacer).await?;
    let base_accuracy = ev.test(&t.net).await?.0.accuracy;
    // The cycles: no mask updates inside a cycle; the step counter runs on to the full length.
    let method = config.method;
    t.config.method = Method::Static;
    t.total_steps = total;
    let masks = t.masks.clone();
    t.set_masks(masks);
    let budget = t.masks.active();
    let (low, high) = (config.lr * s.cycle_low, config.lr * s.cycle_high);
    let triangle = move |step: usize| -> f64 {
        let phase = ((step - base_steps) % cycle_len) as f64 / cycle_len as f64;
        low + (high - low) * (1.0 - (2.0 * phase - 1.0).abs())
    };
    let regrow = if matches!(method, Method::Rigl | Method::DstEe) { Regrow::Gradient } else { Regrow::Random };
    let mut members = vec![];
    let mut records = vec![];
    let mut sup: Option<(Network, Masks)> = None;
    for c in 0..cycles {
        let (a, b) = (base_steps + c * cycle_len, base_steps + (c + 1) * cycle_len);
        let mut reexplored = 0;
        if s.cycle_reexplore > 0.0 {
            let scores = regrow_scores(&mut t, regrow, derived_seed(config.seed, "sup-regrow", c));
            let (masks, dropped) =
                reexplore(&t.net, &t.masks, s.cycle_reexplore, Scope::Layerwise, scores, device).await?;
            reexplored = dropped;
            t.set_masks(masks);
        }
        pacer.news(News::Stage(format!(
            "Sup-tickets cycle {}/{cycles}: steps {a}..{b}, lr {low} → {high} → {low}",
            c + 1
        )));
        advance(&mut t, b, Some(&triangle), pacer).await?;
        let ticket =
            Member::new(&ev, format!("cycle {}", c + 1), t.net.clone(), t.masks.clone(), t.train_flops).await?;
        // Superpose: the running mean of the tickets, re-pruned globally by magnitude to the same budget.
        let mean = match &sup {
            None => ticket.net.clone(),
            Some((net, _)) => interpolate(net, &ticket.net, 1.0 / (c + 1) as f64),
        };
        let dense = Masks::dense(&t.spec);
        let kept = keep_top(&dense, magnitudes(&mean, &dense), &Budget::Global(budget), device).await?;
        let mut pruned = mean;
        for layer in &kept.layers {
            let m = Tensor::<1>::from_data(TensorData::new(layer.bits.to_f32(), [layer.bits.len()]), device);
            pruned.params[layer.param] = pruned.params[layer.param].clone() * m;
        }
        let pruned = recalibrate_bn(&t, &pruned, s.bn_batches, derived_seed(config.seed, "sup-bn", c)).await?;
        let superposed_accuracy = ev.test(&pruned).await?.0.accuracy;
        records.push(SupCycle {
            cycle: c + 1,
            start_step: a,
            end_step: b,
            reexplored,
            ticket_accuracy: ticket.test.accuracy,
            superposed_accuracy,
        });
        sup = Some((pruned, kept));
        members.push(ticket);
    }
    let (sup_net, sup_masks) = sup.expect("at least two cycles");
    let superposed = member_result(&t.spec, "superposed", ev.test(&sup_net).await?.0, &sup_masks, t.train_flops);
    let last = members.last().expect("at least two cycles");
    let final_network = member_result(&t.spec, "final network", last.test.clone(), &last.masks, t.train_flops);
    let superposed_mask_iou = sup_masks.overlap(&last.masks).1.iou;
    pacer.news(News::Stage(format!("Sup-tickets comparison: the configuration trained normally for {total} steps")));
    let standard = train_member(config.clone(), data, device, pacer).await?;
    let standard_run =
        member_result(&t.spec, "standard run", ev.test(&standard.net).await?.0, &standard.masks, standard.train_flops);
    let extras = Extras::SupTickets(Box::new(SupTicketsExtras {
        method,
        base_steps,
        base_accuracy,
        cycle_steps: cycle_len,
        cycle_lr: (low, high),
        cycles: records,
        superposed,
        final_network,
        standard_run,
        superposed_mask_iou,
    }));
    Ok(Built { ev, members, train_flops: t.train_flops, dense_train_flops: dense_run_flops(&t), extras, gate: None })
}

async fn prune_tune(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let parent_config =
        TrainConfig { schedule: LrSchedule::Linear { hold_frac: 0.5, final_frac: 0.0 }, ..config.clone() };
    pacer.news(News::Stage("Prune-and-Tune parent: LR flat for half the run, then linear decay".into()));
    let parent = train_member(parent_config, data.clone(), device, pacer).await?;
    let ev = Evaluator::of(&parent);
    let parent_result =
        member_result(&parent.spec, "parent", ev.test(&parent.net).await?.0, &parent.masks, parent.train_flops);
    let tune_steps = ((s.tune_fraction * parent.total_steps as f64).round() as usize).max(1);
    let mut flops = parent.train_flops;
    let mut members = vec![];
    let mut complementary = true;
    for pair in 0..s.members / 2 {
        let (a, b) =
            anti_random_pair(&parent.masks, &mut Rng::stream(config.seed, "prune-tune-pair").fork(pair as u64));
        let last = parent.masks.layers.len() - 1;
        for l in 0..=last {
            let (x, y, p) = (&a.layers[l].bits, &b.layers[l].bits, &parent.masks.layers[l].bits);
            complementary &= if l == last { x == p && y == p } else { x.and(y).count_ones() == 0 && &x.or(y) == p };
        }
        for (side, masks) in [("A", a), ("B", b)] {
            let k = members.len();
            let data_seed = derived_seed(config.seed, "prune-tune-data", k);
            let child = TrainConfig {
                method: Method::Static,
                steps: Some(tune_steps),
                schedule: LrSchedule::OneCycle { warmup_frac: 0.1, div_factor: 100.0, final_div: 1e4 },
                data_seed: Some(data_seed),
                ..config.clone()
            };
            pacer.news(News::Stage(format!(
                "Prune-and-Tune child {}/{} (pair {}, mask {side}): {tune_steps} steps one-cycle",
                k + 1,
                s.members,
                pair + 1
            )));
            let mut t = Trainer::with_data(child, data.clone(), device.clone())?;
            t.set_masks(masks);
            t.load_network(parent.net.clone());
            advance(&mut t, tune_steps, None, pacer).await?;
            flops += t.train_flops;
            members.push(
                Member::new(
                    &ev,
                    format!("child {} (pair {}{side})", k + 1, pair + 1),
                    t.net.clone(),
                    t.masks.clone(),
                    t.train_flops,
                )
                .await?,
            );
        }
    }
    let extras = Extras::PruneTune(Box::new(PruneTuneExtras { parent: parent_result, tune_steps, complementary }));
    Ok(Built { ev, members, train_flops: flops, dense_train_flops: dense_run_flops(&parent), extras, gate: None })
}

/// A soup child's learning rate, as a multiple of the configuration's, by child index.
const SOUP_LR_FACTORS: [f64; 5] = [1.0, 0.3, 0.1, 0.5, 0.2];

async fn soup(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let (data, held_out) = match &data.val {
        Some(v) => (data.clone(), format!("the validation split ({} images)", v.len())),
        None => {
            let (train, val) = data.train.split_validation(s.held_out_fraction as f32, config.seed);
            let note = format!(
                "{} images ({}% of the training set) held out from all training",
                val.len(),
                100.0 * s.held_out_fraction
            );
            (
                TrainData {
                    normalizer: Normalizer::fit(&train),
                    train: Arc::new(train),
                    val: Some(Arc::new(val)),
                    test: data.test.clone(),
                },
                note,
            )
        }
    };
    pacer.news(News::Stage("soup parent: the configuration's run".into()));
    let parent = train_member(config.clone(), data.clone(), device, pacer).await?;
    let ev = Evaluator::of(&parent);
    let parent_result =
        member_result(&parent.spec, "parent", ev.test(&parent.net).await?.0, &parent.masks, parent.train_flops);
    let parent_held_out_accuracy = ev.held_out_accuracy(&parent.net).await?;
    let finetune_steps = ((s.finetune_fraction * parent.total_steps as f64).round() as usize).max(1);
    let mut flops = parent.train_flops;
    let mut members = vec![];
    let mut children = vec![];
    for k in 0..s.members {
        let lr = config.lr * SOUP_LR_FACTORS[k % SOUP_LR_FACTORS.len()];
        let augment = if k % 2 == 0 { config.augment } else { !config.augment };
        let data_seed = derived_seed(config.seed, "soup-data", k);
        let child = TrainConfig {
            method: Method::Static,
            steps: Some(finetune_steps),
            lr,
            augment,
            schedule: LrSchedule::Cosine { final_frac: 0.0 },
            data_seed: Some(data_seed),
            ..config.clone()
        };
        let name = format!("child {} (lr {lr:.3e}, augment {})", k + 1, if augment { "on" } else { "off" });
        pacer.news(News::Stage(format!("soup {name}: {finetune_steps} steps of fine-tuning")));
        let mut t = Trainer::with_data(child, data.clone(), device.clone())?;
        t.set_masks(parent.masks.clone());
        t.load_network(parent.net.clone());
        advance(&mut t, finetune_steps, None, pacer).await?;
        flops += t.train_flops;
        let held_out_accuracy = ev.held_out_accuracy(&t.net).await?;
        children.push(SoupChild { name: name.clone(), lr, augment, data_seed, held_out_accuracy });
        members.push(Member::new(&ev, name, t.net.clone(), t.masks.clone(), t.train_flops).await?);
    }
    let nets: Vec<Network> = members.iter().map(|m| m.net.clone()).collect();
    let uniform_net = uniform_soup(&nets).expect("at least two children");
    let uniform = SoupMetrics {
        held_out_accuracy: ev.held_out_accuracy(&uniform_net).await?,
        test: ev.test(&uniform_net).await?.0,
    };
    let accs: Vec<f64> = children.iter().map(|c| c.held_out_accuracy).collect();
    let (greedy_net, ingredients, held_out_path) = greedy_soup(&ev, &nets, &accs).await?;
    let best_child = ingredients[0];
    let greedy = GreedySoup {
        only_best_child: ingredients.len() == 1,
        held_out_accuracy: *held_out_path.last().expect("one entry per child"),
        test: ev.test(&greedy_net).await?.0,
        ingredients,
        held_out_path,
    };
    let wise = interpolation_curve(&ev, &parent.net, &nets[best_child]).await?;
    let extras = Extras::Soup(Box::new(SoupExtras {
        held_out,
        parent: parent_result,
        parent_held_out_accuracy,
        finetune_steps,
        children,
        best_child,
        uniform,
        greedy,
        wise,
    }));
    Ok(Built { ev, members, train_flops: flops, dense_train_flops: dense_run_flops(&parent), extras, gate: None })
}

async fn card_deck(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let sets = card_training_sets(&data.train, s.members, s.augment_share, config.seed);
    let mut members = vec![];
    let mut spectra = vec![];
    let mut augmentations = vec![];
    let mut ev = None;
    let (mut flops, mut dense_flops) = (0.0, 0.0);
    for (k, (aug, set)) in sets.into_iter().enumerate() {
        let name = aug.map_or("none".to_string(), |c| c.name().to_string());
        spectra.push(training_spectrum(&set, config.seed));
        // The members share the clean set's normaliser, so the gate alone decides who sees a batch.
        let member_data = TrainData { train: Arc::new(set), ..data.clone() };
        let seed = config.seed.wrapping_add(k as u64);
        pacer.news(News::Stage(format!("CARD-Deck member {}/{}: augmentation {name}", k + 1, s.members)));
        let t = train_member(TrainConfig { seed, ..config.clone() }, member_data, device, pacer).await?;
        let e = ev.get_or_insert_with(|| Evaluator::of(&t));
        dense_flops = dense_run_flops(&t);
        flops += t.train_flops;
        members.push(
            Member::new(e, format!("{name} (seed {seed})"), t.net.clone(), t.masks.clone(), t.train_flops).await?,
        );
        augmentations.push(name);
    }
    let ev = ev.expect("at least two members");
    let choices = gate_choices(&ev.test, &spectra, s.gate_batch);
    let probs: Vec<&[f32]> = members.iter().map(|m| m.probs.as_slice()).collect();
    let gated = gated_probs(&choices, &probs, s.gate_batch, ev.spec.num_classes);
    let test_spectrum = spectrum_of(&ev.test, 0..ev.test.len());
    let extras = Extras::CardDeck(Box::new(CardDeckExtras {
        augmentations,
        augment_share: s.augment_share,
        gate_batch: s.gate_batch,
        gated: evaluate(&gated, ev.spec.num_classes, &labels_of(&ev.test)),
        gate_choices: count_choices(&choices, members.len()),
        test_similarity: spectra.iter().map(|sp| spectral_similarity(sp, &test_spectrum)).collect(),
    }));
    Ok(Built {
        ev,
        members,
        train_flops: flops,
        dense_train_flops: dense_flops,
        extras,
        gate: Some((spectra, s.gate_batch)),
    })
}

/// The measures every procedure reports.
async fn summarise(
    config: &TrainConfig,
    backend: &str,
    built: Built,
    dense_baseline: Option<MemberResult>,
    start: Instant,
) -> Result<EnsembleResult, TrainError> {
    let Built { ev, members, train_flops, dense_train_flops, extras, gate: card } = built;
    let classes = ev.spec.num_classes;
    let labels = labels_of(&ev.test);
    let probs: Vec<&[f32]> = members.iter().map(|m| m.probs.as_slice()).collect();
    let ensemble = evaluate(&average_probs(&probs), classes, &labels);
    let accuracy_as_members_join =
        (1..=probs.len()).map(|k| evaluate(&average_probs(&probs[..k]), classes, &labels).accuracy).collect();
    let matrix = |f: fn(&[f32], &[f32], usize) -> f64| -> Vec<Vec<f64>> {
        probs.iter().map(|a| probs.iter().map(|b| f(a, b, classes)).collect()).collect()
    };
    let (disagreement, kl) = (matrix(disagreement), matrix(mean_kl));

    let dense = Accounting::new(&ev.spec, &Masks::dense(&ev.spec), 0.0);
    let accounts: Vec<Accounting> = members.iter().map(|m| Accounting::new(&ev.spec, &m.masks, 0.0)).collect();
    let cost = Cost {
        params: dense.params,
        total_params: dense.params * members.len(),
        total_nonzeros: accounts.iter().map(|a| a.nonzeros).sum(),
        inference_flops: accounts.iter().map(|a| a.sparse_flops).sum(),
        train_flops,
        dense_params: dense.params,
        dense_inference_flops: dense.dense_flops,
        dense_train_flops,
        train_flops_vs_dense: train_flops / dense_train_flops.max(1.0),
        within_dense_budget: train_flops <= dense_train_flops,
    };

    let mut robustness = vec![];
    for c in config.ensemble.evaluated_corruptions() {
        for &severity in &config.ensemble.severities {
            let set = corrupt_dataset(&ev.test, c, severity, config.seed).map_err(TrainError::Config)?;
            let mut member_probs = vec![];
            for m in &members {
                member_probs.push(ev.predict(&m.net, &set).await?);
            }
            let refs: Vec<&[f32]> = member_probs.iter().map(Vec::as_slice).collect();
            let avg = evaluate(&average_probs(&refs), classes, &labels);
            let (gated, gate_choices) = match &card {
                Some((spectra, batch)) => {
                    let choices = gate_choices(&set, spectra, *batch);
                    let gated = evaluate(&gated_probs(&choices, &refs, *batch, classes), classes, &labels).accuracy;
                    (Some(gated), Some(count_choices(&choices, members.len())))
                }
                None => (None, None),
            };
            robustness.push(CorruptedAccuracy {
                corruption: c,
                severity,
                members: refs.iter().map(|p| evaluate(p, classes, &labels).accuracy).collect(),
                ensemble: avg.accuracy,
                ensemble_nll: avg.nll,
                gated,
                gate_choices,
            });
        }
    }
    Ok(EnsembleResult {
        format: ENSEMBLE_FORMAT,
        kind: config.ensemble.kind,
        config: config.clone(),
        backend: backend.to_string(),
        members: members.iter().map(|m| m.result(&ev.spec)).collect(),
        ensemble,
        accuracy_as_members_join,
        disagreement,
        kl,
        cost,
        dense_baseline,
        robustness,
        extras,
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// The terminal summary

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

impl EnsembleResult {
    /// A short, readable summary: members, ensemble, cost against one dense network, the method's own measures and
    /// the robustness rows.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "{} ensemble of {} members: {} ×{} at density {} ({}), {} of batch {}, seed {}\n\n",
            self.kind,
            self.members.len(),
            c.model,
            c.width,
            c.density,
            c.distribution,
            c.steps.map_or(format!("{} epochs", c.epochs), |s| format!("{s} steps")),
            c.batch_size,
            c.seed
        );
        out += &format!(
            "{:<34} {:>9} {:>8} {:>8} {:>10} {:>8} {:>12}\n",
            "network", "accuracy", "NLL", "ECE", "non-zeros", "density", "train GFLOPs"
        );
        let row = |m: &MemberResult| {
            format!(
                "{:<34} {:>9} {:>8.4} {:>8.4} {:>10} {:>8.4} {:>12.3}\n",
                m.name,
                pct(m.test.accuracy),
                m.test.nll,
                m.test.ece,
                m.nonzeros,
                m.density,
                m.train_flops / 1e9
            )
        };
        for m in &self.members {
            out += &row(m);
        }
        let e = &self.ensemble;
        out += &format!(
            "{:<34} {:>9} {:>8.4} {:>8.4} {:>10} {:>8} {:>12.3}\n",
            "ensemble (softmax average)",
            pct(e.accuracy),
            e.nll,
            e.ece,
            self.cost.total_nonzeros,
            "",
            self.cost.train_flops / 1e9
        );
        if let Some(d) = &self.dense_baseline {
            out += &row(d);
        }
        let join: Vec<String> =
            self.accuracy_as_members_join.iter().enumerate().map(|(k, a)| format!("{}: {}", k + 1, pct(*a))).collect();
        out += &format!("\naccuracy as members join  {}\n", join.join("  "));
        let n = self.members.len();
        let off_diagonal = |m: &[Vec<f64>]| {
            let values: Vec<f64> = (0..n)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| m[i][j])
                .collect();
            values.iter().sum::<f64>() / values.len().max(1) as f64
        };
        out += &format!(
            "mean pairwise disagreement {:.4}, mean pairwise KL {:.4} nats\n",
            off_diagonal(&self.disagreement),
            off_diagonal(&self.kl)
        );
        let k = &self.cost;
        out += &format!(
            "training {:.3} GFLOPs = {:.3}× one dense run ({:.3} GFLOPs){}\n",
            k.train_flops / 1e9,
            k.train_flops_vs_dense,
            k.dense_train_flops / 1e9,
            if k.within_dense_budget { ", within its budget" } else { ", over its budget" }
        );
        out += &format!(
            "inference {:.2} MFLOPs/image (all members) vs {:.2} dense; non-zeros {} (all members) vs {} dense\n",
            k.inference_flops / 1e6,
            k.dense_inference_flops / 1e6,
            k.total_nonzeros,
            k.dense_params
        );
        out += &self.extras_table();
        if !self.robustness.is_empty() {
            let gated = self.robustness.iter().any(|r| r.gated.is_some());
            out += &format!(
                "\n{:<16} {:>3}  {:>30}  {:>9}{}\n",
                "corruption",
                "sev",
                "members",
                "ensemble",
                if gated { "      gated  gate choices" } else { "" }
            );
            for r in &self.robustness {
                let members: Vec<String> = r.members.iter().map(|a| format!("{:.1}", 100.0 * a)).collect();
                out += &format!(
                    "{:<16} {:>3}  {:>30}  {:>9}",
                    r.corruption.name(),
                    r.severity,
                    members.join(" "),
                    pct(r.ensemble)
                );
                if let (Some(g), Some(ch)) = (r.gated, &r.gate_choices) {
                    out += &format!("  {:>9}  {ch:?}", pct(g));
                }
                out += "\n";
            }
            let mean = |f: &dyn Fn(&CorruptedAccuracy) -> f64| {
                self.robustness.iter().map(f).sum::<f64>() / self.robustness.len() as f64
            };
            out += &format!("mean under corruption: ensemble {}", pct(mean(&|r| r.ensemble)));
            if gated {
                out += &format!(", gated {}", pct(mean(&|r| r.gated.unwrap_or(0.0))));
            }
            let best_member =
                (0..n).map(|i| mean(&|r: &CorruptedAccuracy| r.members[i])).fold(f64::NEG_INFINITY, f64::max);
            out += &format!(", best member {}\n", pct(best_member));
        }
        out
    }

    fn extras_table(&self) -> String {
        let mut out = String::from("\n");
        match &self.extras {
            Extras::DstEnsemble(x) => {
                out += &format!("members train with {}; seeds {:?}\n", x.method, x.seeds);
                let n = x.mask_iou.len();
                let ious: Vec<String> = (0..n)
                    .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                    .map(|(i, j)| format!("{}-{}: {:.3}", i + 1, j + 1, x.mask_iou[i][j]))
                    .collect();
                out += &format!("mask IoU  {}\n", ious.join("  "));
            }
            Extras::Edst(x) => {
                out += &format!("{} exploration steps, then (method {}):\n", x.exploration_steps, x.method);
                for p in &x.phases {
                    out += &format!(
                        "  ticket {}: steps {}..{}, re-explored {} weights ({} at new positions)\n",
                        p.ticket, p.start_step, p.end_step, p.reexplored, p.changed
                    );
                }
                let n = x.mask_iou.len();
                let ious: Vec<String> = (0..n)
                    .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                    .map(|(i, j)| format!("{}-{}: {:.3}", i + 1, j + 1, x.mask_iou[i][j]))
                    .collect();
                out += &format!("ticket mask IoU  {}\n", ious.join("  "));
            }
            Extras::SupTickets(x) => {
                out += &format!(
                    "{} ({}): {} base steps (test accuracy {} at their end), then {} cycles of {} steps at lr {:.2e} → {:.2e}\n",
                    self.kind,
                    x.method,
                    x.base_steps,
                    pct(x.base_accuracy),
                    x.cycles.len(),
                    x.cycle_steps,
                    x.cycle_lr.0,
                    x.cycle_lr.1
                );
                for cy in &x.cycles {
                    out += &format!(
                        "  cycle {}: re-explored {}, ticket {}, superposed so far {}\n",
                        cy.cycle,
                        cy.reexplored,
                        pct(cy.ticket_accuracy),
                        pct(cy.superposed_accuracy)
                    );
                }
                for m in [&x.superposed, &x.final_network, &x.standard_run] {
                    out += &format!(
                        "  {:<16} {} NLL {:.4} ECE {:.4}, {} non-zeros\n",
                        m.name,
                        pct(m.test.accuracy),
                        m.test.nll,
                        m.test.ece,
                        m.nonzeros
                    );
                }
                out += &format!("  superposed mask IoU with the final network's: {:.3}\n", x.superposed_mask_iou);
            }
            Extras::PruneTune(x) => {
                out += &format!(
                    "parent {} (NLL {:.4}, ECE {:.4}, {} non-zeros); children tuned {} steps each; anti-random pairs complementary: {}\n",
                    pct(x.parent.test.accuracy),
                    x.parent.test.nll,
                    x.parent.test.ece,
                    x.parent.nonzeros,
                    x.tune_steps,
                    x.complementary
                );
            }
            Extras::Soup(x) => {
                out += &format!("held out: {}\n", x.held_out);
                out += &format!(
                    "parent: test {}, held-out {}; children fine-tuned {} steps\n",
                    pct(x.parent.test.accuracy),
                    pct(x.parent_held_out_accuracy),
                    x.finetune_steps
                );
                for (k, ch) in x.children.iter().enumerate() {
                    out += &format!(
                        "  {}: held-out {}, test {}\n",
                        ch.name,
                        pct(ch.held_out_accuracy),
                        pct(self.members[k].test.accuracy)
                    );
                }
                let best = &self.members[x.best_child];
                out += &format!(
                    "best child ({}): held-out {}, test {}\n",
                    best.name,
                    pct(x.children[x.best_child].held_out_accuracy),
                    pct(best.test.accuracy)
                );
                out += &format!(
                    "uniform soup:  held-out {}, test {} (NLL {:.4}, ECE {:.4})\n",
                    pct(x.uniform.held_out_accuracy),
                    pct(x.uniform.test.accuracy),
                    x.uniform.test.nll,
                    x.uniform.test.ece
                );
                out += &format!(
                    "greedy soup:   held-out {}, test {} (NLL {:.4}, ECE {:.4}), ingredients {:?}{}\n",
                    pct(x.greedy.held_out_accuracy),
                    pct(x.greedy.test.accuracy),
                    x.greedy.test.nll,
                    x.greedy.test.ece,
                    x.greedy.ingredients.iter().map(|i| i + 1).collect::<Vec<_>>(),
                    if x.greedy.only_best_child { " (only the best child: no candidate improved it)" } else { "" }
                );
                let curve: Vec<String> =
                    x.wise.iter().map(|p| format!("{:.1}: {:.1}", p.alpha, 100.0 * p.test_accuracy)).collect();
                out += &format!("parent → best child, test accuracy along α  {}\n", curve.join("  "));
            }
            Extras::CardDeck(x) => {
                out += &format!(
                    "augmentations {:?} (share {}); gate every {} test images\n",
                    x.augmentations, x.augment_share, x.gate_batch
                );
                out += &format!(
                    "clean test: gated deck {} (NLL {:.4}, ECE {:.4}), batches per member {:?}\n",
                    pct(x.gated.accuracy),
                    x.gated.nll,
                    x.gated.ece,
                    x.gate_choices
                );
            }
        }
        out
    }
}
