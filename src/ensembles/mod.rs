//! Ensembles combining: FreeTickets (DST Ensemble, EDST), Sup-tickets, Prune-and-Tune, model soups, CARD-Deck; one
//! file per procedure, and here what they share: evaluation, members, training helpers and the common summary.
//!
//! Every procedure trains its members with the ordinary [`Trainer`] (so the mask invariants hold: pruned weights are
//! exactly zero and get no update and no momentum, active counts are exact) and ends in one [`EnsembleResult`]: each
//! member's test metrics, the ensemble's (softmax averaged), accuracy as members join, pairwise disagreement and KL
//! matrices, parameters / non-zeros / training FLOPs against one dense model of the same configuration, accuracy
//! under corruptions if asked, and what is particular to the method ([`Extras`]).
//!
//! The methods follow the papers and their public reference code (cited in each procedure's file); where our short
//! runs force a choice it is said at the setting concerned
//! ([`EnsembleSettings`](crate::config::EnsembleSettings)). Choices made here:
//!
//! - Learning rates are given as multiples of the configuration's `lr`, so the reference ratios carry over to any
//!   model: EDST's 0.1 → 0.01 → 0.001 is `lr`, `lr × 0.1`, `lr × 0.01`; Sup-tickets' 0.001 → 0.005 cycles after a
//!   run that started at 0.1 are `lr × 0.01 → lr × 0.05`.
//! - Members of the FreeTickets methods use the configuration's dynamic method, or RigL when it names a static one.
//!   The FreeTickets scripts use random regrowth with a constant drop rate of 0.5 every 1000 iterations (for runs of
//!   ~100k iterations); ours keep the configuration's DST settings (`--method set --anneal constant --drop-fraction
//!   0.5 --update-end 1` gives the reference's behaviour).
//! - EDST's one run lasts `edst_length` (1.8) times the configuration's, the reference's 450 epochs against the 250
//!   of a dense run or a DST Ensemble member; its FLOPs are set against one dense run of the configuration's length.
//! - EDST's tickets are each phase's weights at its end (the reference keeps each phase's best validation
//!   checkpoint; at the end of a phase its learning rate is at its lowest, so the two coincide in most runs).
//! - Model soups need a held-out split: without a validation split in the data, one is held out of the training set
//!   (`held_out_fraction`, stratified) for the whole procedure. Children keep the parent's mask, so a soup is as
//!   sparse as its parent; BatchNorm statistics are recalibrated on training batches after averaging.
//! - Sup-tickets' base run follows the configuration's schedule compressed into the steps before the cycles; the
//!   comparison run (`standard_run`) is the configuration trained normally for the whole length, same seed.
//! - CARD-Deck's members share the clean training set's normaliser and augment a fixed, seeded copy of the
//!   training set (not fresh corruptions every epoch); the gate compares spectra as [`crate::corrupt::gate`] does.
//! - Training FLOPs follow RigL's convention ([`crate::accounting`]): a step costs 3× the sparse forward pass, a
//!   RigL update adds a dense backward pass; a re-exploration that regrows by gradient adds one dense forward and
//!   backward pass on one batch. The dense reference is `3 × dense forward FLOPs × batch × steps` of one run of the
//!   same configuration; it is computed, not trained (unless `dense_baseline` asks for the run).

mod card_deck;
mod dst_ensemble;
mod edst;
mod prune_tune;
mod soup;
mod sup_tickets;

use std::sync::Arc;

use burn::prelude::*;
use web_time::Instant;

use crate::accounting::Accounting;
use crate::config::{EnsembleKind, Regrow, TrainConfig};
use crate::corrupt::{Spectrum, corrupt_dataset};
use crate::data::{Dataset, Normalizer};
use crate::error::TrainError;
use crate::mask::Masks;
use crate::metrics::{EvalMetrics, average_probs, disagreement, evaluate, mean_kl};
use crate::model::{NetSpec, Network, SparseLayer};
use crate::pace::{News, Pacer};
use crate::results::{CorruptedAccuracy, Cost, ENSEMBLE_FORMAT, EnsembleResult, Extras, MemberResult};
use crate::rng::Rng;
use crate::sparsity::Method;
use crate::sparsity::dst::random_scores;
use crate::train::{RECALIBRATION_BATCHES, Recalibration, Split, TrainData, Trainer, labels_of};

use card_deck::{count_choices, gated_probs};

pub use card_deck::{CARD_AUGMENTATIONS, card_training_set, gate_choices, training_spectrum};
pub use edst::{edst_phases, edst_steps};
pub use prune_tune::anti_random_pair;
pub use soup::{SOUP_LR_FACTORS, greedy_soup, interpolation_curve, uniform_soup};

/// How the train loss is checked for divergence while members train: every this many steps and at the end.
const CHECK_EVERY: usize = 50;

// ---------------------------------------------------------------------------------------------------------------
// Running a procedure

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
        EnsembleKind::DstEnsemble => dst_ensemble::dst_ensemble(config, data.clone(), &device, pacer).await?,
        EnsembleKind::Edst => edst::edst(config, data.clone(), &device, pacer).await?,
        EnsembleKind::SupTickets => sup_tickets::sup_tickets(config, data.clone(), &device, pacer).await?,
        EnsembleKind::PruneTune => prune_tune::prune_tune(config, data.clone(), &device, pacer).await?,
        EnsembleKind::Soup => soup::soup(config, data.clone(), &device, pacer).await?,
        EnsembleKind::CardDeck => card_deck::card_deck(config, data.clone(), &device, pacer).await?,
    };
    let dense_baseline = if config.ensemble.dense_baseline {
        pacer.news(News::Stage("dense baseline: the same configuration at density 1".into()));
        let dense = TrainConfig { density: 1.0, method: Method::Static, ..config.clone() };
        let t = train_member(dense, data, &device, pacer).await?;
        // Its own evaluation: a soup's evaluator normalises with the statistics of the reduced training set.
        let test = t.evaluate(Split::Test).await?;
        Some(member_result(t.spec(), "dense baseline", test, t.masks(), t.train_flops()))
    } else {
        None
    };
    summarise(config, backend, built, dense_baseline, start).await
}

// ---------------------------------------------------------------------------------------------------------------
// What the procedures share

/// Evaluates any network of the run's architecture on any set, with the run's normaliser, in evaluation mode.
pub struct Evaluator {
    pub spec: NetSpec,
    pub normalizer: Normalizer,
    pub device: Device,
    pub test: Arc<Dataset>,
    pub held_out: Option<Arc<Dataset>>,
    /// Flip test-time augmentation, as the run's configuration asks.
    pub tta: bool,
    /// Recomputes BatchNorm statistics of averaged or interpolated weights on the training data.
    pub recalibration: Recalibration,
}

impl Evaluator {
    pub fn of(trainer: &Trainer) -> Self {
        Evaluator {
            spec: trainer.spec().clone(),
            normalizer: trainer.normalizer(),
            device: trainer.device().clone(),
            test: trainer.test_set().clone(),
            held_out: trainer.val_set().cloned(),
            tta: trainer.config().tta,
            recalibration: Recalibration::of(trainer),
        }
    }

    /// `net` (weights that were averaged or interpolated, never trained as they stand) with its BatchNorm statistics
    /// recomputed on [`RECALIBRATION_BATCHES`] training batches.
    pub fn recalibrated(&self, net: Network, seed: u64) -> Network {
        self.recalibration.run(&net, &[], RECALIBRATION_BATCHES, seed)
    }

    /// Softmax rows (n × classes) of `net` on `set`, as the trainer's own evaluation; `sparse` is a plan of `net`'s
    /// own masks, or empty (see [`crate::train::predict`]).
    pub async fn predict(
        &self,
        net: &Network,
        sparse: &[Option<SparseLayer>],
        set: &Dataset,
    ) -> Result<Vec<f32>, TrainError> {
        crate::train::predict(&self.spec, net, sparse, set, &self.normalizer, &self.device, self.tta).await
    }

    /// Test metrics and softmax rows.
    pub async fn test(
        &self,
        net: &Network,
        sparse: &[Option<SparseLayer>],
    ) -> Result<(EvalMetrics, Vec<f32>), TrainError> {
        let probs = self.predict(net, sparse, &self.test).await?;
        Ok((evaluate(&probs, self.spec.num_classes, &labels_of(&self.test)), probs))
    }

    /// Accuracy on the held-out split (the test set when there is none), every layer dense.
    pub async fn held_out_accuracy(&self, net: &Network) -> Result<f64, TrainError> {
        let set = self.held_out.as_ref().unwrap_or(&self.test);
        let probs = self.predict(net, &[], set).await?;
        Ok(evaluate(&probs, self.spec.num_classes, &labels_of(set)).accuracy)
    }
}

/// A trained member, kept with its weights and test predictions.
struct Member {
    name: String,
    net: Network,
    /// The trainer's plan for `net` (see [`Trainer::sparse_plan`]), to evaluate it on other sets.
    sparse: Vec<Option<SparseLayer>>,
    masks: Masks,
    train_flops: f64,
    probs: Vec<f32>,
    test: EvalMetrics,
}

impl Member {
    /// The network `t` holds now, tested.
    async fn of(ev: &Evaluator, name: String, t: &Trainer) -> Result<Self, TrainError> {
        let (net, sparse) = (t.net().clone(), t.sparse_plan().to_vec());
        let (test, probs) = ev.test(&net, &sparse).await?;
        Ok(Member { name, net, sparse, masks: t.masks().clone(), train_flops: t.train_flops(), probs, test })
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
    while t.step() < until {
        if let Some(lr) = lr {
            t.set_constant_lr(lr(t.step()));
        }
        t.train_step();
        if t.has_pending_masks() {
            t.sync_masks().await?;
        }
        if t.step().is_multiple_of(CHECK_EVERY) || t.step() == until {
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
    let total = t.total_steps();
    advance(&mut t, total, None, pacer).await?;
    Ok(t)
}

/// The seed of an independently trained member `m` (DST Ensemble, CARD-Deck): the run's own seed for the first, so
/// it pairs with a single network trained from that seed, and a derived one for the others. Consecutive seeds
/// (`seed + m`) would make the ensembles of runs with seeds 0, 1 and 2 share members, and their spread over the
/// seeds would understate the noise.
fn member_seed(seed: u64, m: usize) -> u64 {
    if m == 0 { seed } else { derived_seed(seed, "member", m) }
}

/// A seed derived from the run's seed for a named purpose and an index.
fn derived_seed(seed: u64, purpose: &str, index: usize) -> u64 {
    Rng::stream(seed, purpose).fork(index as u64).next_u64()
}

/// Regrowth scores for a re-exploration of the trainer's current masks, indexed like `masks.layers`. Gradient
/// scores cost one dense forward and backward pass on one batch, which is added to the trainer's FLOPs.
fn regrow_scores(t: &mut Trainer, regrow: Regrow, seed: u64) -> Vec<Tensor<1>> {
    match regrow {
        Regrow::Random => {
            let mut rng = Rng::stream(seed, "regrow-random");
            t.masks().layers.iter().map(|l| random_scores(l.bits.len(), &mut rng, t.device())).collect()
        }
        Regrow::Gradient => {
            let batch = Rng::stream(seed, "regrow-batch");
            let grads = t.batch_gradients(&t.net().params, batch, t.config().augmentation(t.epoch() as usize), 1.0);
            t.count_dense_batch();
            t.masks().layers.iter().map(|l| grads[l.param].clone().abs()).collect()
        }
    }
}

/// Training FLOPs of one dense run as long as `t`'s: 3 × dense forward FLOPs × batch × steps.
pub fn dense_run_flops(t: &Trainer) -> f64 {
    let dense = Accounting::new(t.spec(), &Masks::dense(t.spec()), 0.0).dense_flops;
    3.0 * dense * t.batch_size() as f64 * t.total_steps() as f64
}

/// The configuration with the dynamic method FreeTickets members train with.
fn dynamic(config: &TrainConfig) -> TrainConfig {
    let method = if config.method.is_dynamic() { config.method } else { Method::Rigl };
    TrainConfig { method, ..config.clone() }
}

fn iou_matrix(masks: &[&Masks]) -> Vec<Vec<f64>> {
    masks.iter().map(|a| masks.iter().map(|b| a.overlap(b).1.iou).collect()).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// The common summary

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
                member_probs.push(ev.predict(&m.net, &m.sparse, &set).await?);
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
