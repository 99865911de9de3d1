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
use burn::tensor::activation::softmax;
use web_time::Instant;

use crate::accounting::Accounting;
use crate::config::{EnsembleKind, EnsembleSettings, Regrow, TrainConfig};
use crate::corrupt::{Corruption, Spectrum, corrupt_dataset, corrupt_image, gate, spectral_similarity, spectrum_of};
use crate::data::{Dataset, IMAGE_BYTES, Normalizer, fill_batch};
use crate::error::{TrainError, read_f32};
use crate::mask::{Bits, Masks};
use crate::metrics::{EvalMetrics, average_probs, disagreement, evaluate, mean_kl};
use crate::model::{BN_MOMENTUM, BnStats, NetSpec, Network};
use crate::pace::{News, Pacer};
use crate::results::{
    CardDeckExtras, CorruptedAccuracy, Cost, DstEnsembleExtras, ENSEMBLE_FORMAT, EdstExtras, EdstPhase, EnsembleResult,
    Extras, GreedySoup, InterpolationPoint, MemberResult, PruneTuneExtras, SoupChild, SoupExtras, SoupMetrics,
    SupCycle, SupTicketsExtras,
};
use crate::rng::Rng;
use crate::schedule::LrSchedule;
use crate::sparsity::dst::random_scores;
use crate::sparsity::prune::{Budget, Scope, keep_top, magnitudes};
use crate::sparsity::{Method, reexplore};
use crate::train::{TrainData, Trainer, labels_of};

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

/// How the train loss is checked for divergence while members train: every this many steps and at the end.
const CHECK_EVERY: usize = 50;

// ---------------------------------------------------------------------------------------------------------------
// Building blocks

/// Evaluates any network of the run's architecture on any set, with the run's normaliser, in evaluation mode.
pub struct Evaluator {
    pub spec: NetSpec,
    pub normalizer: Normalizer,
    pub device: Device,
    pub test: Arc<Dataset>,
    pub held_out: Option<Arc<Dataset>>,
}

impl Evaluator {
    pub fn of(trainer: &Trainer) -> Self {
        Evaluator {
            spec: trainer.spec().clone(),
            normalizer: trainer.normalizer(),
            device: trainer.device().clone(),
            test: trainer.test_set().clone(),
            held_out: trainer.val_set().cloned(),
        }
    }

    /// Softmax rows (n × classes) of `net` on `set`, in batches of 500 (as the trainer's own evaluation).
    pub async fn predict(&self, net: &Network, set: &Dataset) -> Result<Vec<f32>, TrainError> {
        const BATCH: usize = 500;
        let mut out = Vec::with_capacity(set.len() * self.spec.num_classes);
        let (mut images, mut labels) = (vec![], vec![]);
        let mut bn = net.bn.clone();
        let mut rng = Rng::new(0); // not drawn from without augmentation
        let indices: Vec<usize> = (0..set.len()).collect();
        for chunk in indices.chunks(BATCH) {
            fill_batch(set, chunk, false, &self.normalizer, &mut rng, &mut images, &mut labels);
            let x = Tensor::<4>::from_data(TensorData::new(images.clone(), [chunk.len(), 3, 32, 32]), &self.device);
            let logits = Network::forward(&self.spec, &net.params, &mut bn, x, false);
            out.extend(read_f32(softmax(logits, 1)).await?);
        }
        Ok(out)
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
            let grads = t.batch_gradients(&t.net().params, batch, t.config().augment, 1.0);
            t.count_dense_batch();
            t.masks().layers.iter().map(|l| grads[l.param].clone().abs()).collect()
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
        soup = soup.interpolate(net, 1.0 / (k + 1) as f64);
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
        let candidate = soup.interpolate(&children[k], 1.0 / (ingredients.len() + 1) as f64);
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
        let net = a.interpolate(b, alpha);
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
    if t.spec().bn_channels.is_empty() || batches == 0 {
        return Ok(net.clone());
    }
    let bs = t.batch_size();
    let n = batches.min(t.train_set().len() / bs).max(1);
    let order = Rng::stream(seed, "bn-recalibration").permutation(t.train_set().len());
    let mut rng = Rng::stream(seed, "bn-recalibration-augment");
    let (mut images, mut labels) = (vec![], vec![]);
    let zeros = |c: usize| Tensor::<1>::zeros([c], t.device());
    let mut average: Vec<BnStats> =
        t.spec().bn_channels.iter().map(|&c| BnStats { mean: zeros(c), var: zeros(c) }).collect();
    for b in 0..n {
        fill_batch(
            t.train_set(),
            &order[b * bs..(b + 1) * bs],
            t.config().augment,
            &t.normalizer(),
            &mut rng,
            &mut images,
            &mut labels,
        );
        let x = Tensor::<4>::from_data(TensorData::new(images.clone(), [bs, 3, 32, 32]), t.device());
        // From zero running statistics one training-mode pass leaves momentum × the batch statistics.
        let mut bn: Vec<BnStats> =
            t.spec().bn_channels.iter().map(|&c| BnStats { mean: zeros(c), var: zeros(c) }).collect();
        let _ = Network::forward(t.spec(), &net.params, &mut bn, x, true);
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
        if self.every > 0 && t.step().is_multiple_of(self.every) {
            eprint!("\r  step {}/{}   ", t.step(), t.total_steps());
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
        Some(member_result(t.spec(), "dense baseline", test, t.masks(), t.train_flops()))
    } else {
        None
    };
    summarise(config, backend, built, dense_baseline, start).await
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
        flops += t.train_flops();
        members
            .push(Member::new(e, format!("seed {seed}"), t.net().clone(), t.masks().clone(), t.train_flops()).await?);
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
    let (explore, phases) = edst_phases(t.total_steps(), s).map_err(TrainError::Config)?;
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
                reexplore(t.net(), t.masks(), s.reexplore_fraction, s.reexplore_scope, scores, device).await?;
            changed =
                masks.layers.iter().zip(&t.masks().layers).map(|(n, o)| n.bits.and(&o.bits.not()).count_ones()).sum();
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
        members.push(
            Member::new(&ev, format!("ticket {}", p + 1), t.net().clone(), t.masks().clone(), t.train_flops()).await?,
        );
        records.push(EdstPhase { ticket: p + 1, start_step: a, end_step: b, reexplored, changed });
    }
    let mask_iou = iou_matrix(&members.iter().map(|m| &m.masks).collect::<Vec<_>>());
    let extras =
        Extras::Edst(EdstExtras { method: base.method, exploration_steps: explore, phases: records, mask_iou });
    Ok(Built { ev, members, train_flops: t.train_flops(), dense_train_flops: dense_run_flops(&t), extras, gate: None })
}

async fn sup_tickets(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let total = Trainer::with_data(config.clone(), data.clone(), device.clone())?.total_steps();
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
    let base_accuracy = ev.test(t.net()).await?.0.accuracy;
    // The cycles: no mask updates inside a cycle; the step counter runs on to the full length.
    let method = config.method;
    t.freeze_masks();
    t.extend_to(total);
    let budget = t.masks().active();
    let (low, high) = (config.lr * s.cycle_low, config.lr * s.cycle_high);
    let triangle = move |step: usize| -> f64 {
        let phase = ((step - base_steps) % cycle_len) as f64 / cycle_len as f64;
        low + (high - low) * (1.0 - (2.0 * phase - 1.0).abs())
    };
    let regrow = Regrow::for_method(method);
    let mut members = vec![];
    let mut records = vec![];
    let mut sup: Option<(Network, Masks)> = None;
    for c in 0..cycles {
        let (a, b) = (base_steps + c * cycle_len, base_steps + (c + 1) * cycle_len);
        let mut reexplored = 0;
        if s.cycle_reexplore > 0.0 {
            let scores = regrow_scores(&mut t, regrow, derived_seed(config.seed, "sup-regrow", c));
            let (masks, dropped) =
                reexplore(t.net(), t.masks(), s.cycle_reexplore, Scope::Layerwise, scores, device).await?;
            reexplored = dropped;
            t.set_masks(masks);
        }
        pacer.news(News::Stage(format!(
            "Sup-tickets cycle {}/{cycles}: steps {a}..{b}, lr {low} → {high} → {low}",
            c + 1
        )));
        advance(&mut t, b, Some(&triangle), pacer).await?;
        let ticket =
            Member::new(&ev, format!("cycle {}", c + 1), t.net().clone(), t.masks().clone(), t.train_flops()).await?;
        // Superpose: the running mean of the tickets, re-pruned globally by magnitude to the same budget.
        let mean = match &sup {
            None => ticket.net.clone(),
            Some((net, _)) => net.interpolate(&ticket.net, 1.0 / (c + 1) as f64),
        };
        let dense = Masks::dense(t.spec());
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
    let superposed = member_result(t.spec(), "superposed", ev.test(&sup_net).await?.0, &sup_masks, t.train_flops());
    let last = members.last().expect("at least two cycles");
    let final_network = member_result(t.spec(), "final network", last.test.clone(), &last.masks, t.train_flops());
    let superposed_mask_iou = sup_masks.overlap(&last.masks).1.iou;
    pacer.news(News::Stage(format!("Sup-tickets comparison: the configuration trained normally for {total} steps")));
    let standard = train_member(config.clone(), data, device, pacer).await?;
    let standard_run = member_result(
        t.spec(),
        "standard run",
        ev.test(standard.net()).await?.0,
        standard.masks(),
        standard.train_flops(),
    );
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
    Ok(Built { ev, members, train_flops: t.train_flops(), dense_train_flops: dense_run_flops(&t), extras, gate: None })
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
        member_result(parent.spec(), "parent", ev.test(parent.net()).await?.0, parent.masks(), parent.train_flops());
    let tune_steps = ((s.tune_fraction * parent.total_steps() as f64).round() as usize).max(1);
    let mut flops = parent.train_flops();
    let mut members = vec![];
    let mut complementary = true;
    for pair in 0..s.members / 2 {
        let (a, b) =
            anti_random_pair(parent.masks(), &mut Rng::stream(config.seed, "prune-tune-pair").fork(pair as u64));
        let last = parent.masks().layers.len() - 1;
        for l in 0..=last {
            let (x, y, p) = (&a.layers[l].bits, &b.layers[l].bits, &parent.masks().layers[l].bits);
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
            t.load_network(parent.net().clone());
            advance(&mut t, tune_steps, None, pacer).await?;
            flops += t.train_flops();
            members.push(
                Member::new(
                    &ev,
                    format!("child {} (pair {}{side})", k + 1, pair + 1),
                    t.net().clone(),
                    t.masks().clone(),
                    t.train_flops(),
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
        member_result(parent.spec(), "parent", ev.test(parent.net()).await?.0, parent.masks(), parent.train_flops());
    let parent_held_out_accuracy = ev.held_out_accuracy(parent.net()).await?;
    let finetune_steps = ((s.finetune_fraction * parent.total_steps() as f64).round() as usize).max(1);
    let mut flops = parent.train_flops();
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
        t.set_masks(parent.masks().clone());
        t.load_network(parent.net().clone());
        advance(&mut t, finetune_steps, None, pacer).await?;
        flops += t.train_flops();
        let held_out_accuracy = ev.held_out_accuracy(t.net()).await?;
        children.push(SoupChild { name: name.clone(), lr, augment, data_seed, held_out_accuracy });
        members.push(Member::new(&ev, name, t.net().clone(), t.masks().clone(), t.train_flops()).await?);
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
    let wise = interpolation_curve(&ev, parent.net(), &nets[best_child]).await?;
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
        flops += t.train_flops();
        members.push(
            Member::new(e, format!("{name} (seed {seed})"), t.net().clone(), t.masks().clone(), t.train_flops())
                .await?,
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
