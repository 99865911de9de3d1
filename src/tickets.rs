//! Tickets forming: iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Frankle et al. 2020), its
//! controls (Liu et al. 2019), COLT's overlapping tickets and the instability analysis of linear mode connectivity.
//!
//! Round 0 trains the dense network. Each later round prunes a share of the remaining weights by magnitude (one
//! global threshold or per layer), rewinds the survivors (to initialisation, to step k, or keeps them and replays the
//! learning rate) and trains again, until the configured density is reached; the last round prunes exactly to it.

use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::kernels::lerp;
use crate::mask::Masks;
use crate::metrics::EvalMetrics;
use crate::model::Network;
use crate::pace::{News, Pacer, Unpaced};
use crate::rng::Rng;
use crate::sparsity::Method;
use crate::sparsity::prune::{Budget, keep_top, magnitudes};
use crate::train::{CurvePoint, Split, TrainData, TrainError, Trainer};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One magnitude threshold across all prunable layers.
    #[default]
    Global,
    /// The same share pruned in every layer.
    Layerwise,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewind {
    /// Back to the initial weights (the original lottery ticket).
    #[default]
    Init,
    /// Back to the weights after `rewind_step` steps of the dense run (weight rewinding), then train the rest.
    Step,
    /// Keep the trained weights and replay the whole learning-rate schedule (learning-rate rewinding).
    LearningRate,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImpSettings {
    /// Share of the remaining weights pruned per round.
    pub prune_fraction: f64,
    pub scope: Scope,
    pub rewind: Rewind,
    pub rewind_step: usize,
    /// The output layer is pruned at this multiple of the rate (1 = the same, 0.5 = half as in Frankle & Carbin's
    /// conv nets, 0 = never).
    pub output_rate: f64,
    /// Also train, each round, the same mask from a fresh initialisation and a random mask at the same per-layer
    /// densities (from the original initialisation).
    pub controls: bool,
}

impl Default for ImpSettings {
    fn default() -> Self {
        ImpSettings {
            prune_fraction: 0.2,
            scope: Scope::Global,
            rewind: Rewind::Init,
            rewind_step: 0,
            output_rate: 1.0,
            controls: true,
        }
    }
}

/// The most rounds a run may ask for (0.8^30 ≈ 0.1% density).
pub const MAX_ROUNDS: usize = 30;

impl ImpSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.prune_fraction > 0.0 && self.prune_fraction < 1.0) {
            return Err(format!("IMP prune fraction {} is out of range (0, 1)", self.prune_fraction));
        }
        if !(0.0..=1.0).contains(&self.output_rate) {
            return Err(format!("IMP output-layer rate {} is out of range [0, 1]", self.output_rate));
        }
        Ok(())
    }

    /// The density after each round: (1 − p)^r, the last round exactly at `target`.
    pub fn round_densities(&self, target: f64) -> Result<Vec<f64>, String> {
        let mut out = vec![];
        let mut d = 1.0;
        while d > target + 1e-12 {
            d = (d * (1.0 - self.prune_fraction)).max(target);
            out.push(d);
            if out.len() > MAX_ROUNDS {
                return Err(format!(
                    "reaching density {target} by pruning {} per round takes more than {MAX_ROUNDS} rounds",
                    self.prune_fraction
                ));
            }
        }
        Ok(out)
    }
}

/// A histogram of log10 |w| of the weights a round pruned from, with the magnitude threshold it used. Loading one
/// checks that its edges fit its counts (see [`SavedHistogram`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SavedHistogram")]
pub struct MagnitudeHistogram {
    /// Bin edges in log10 |w|, ascending (one more than `counts`; both empty when no weight was non-zero).
    pub edges: Vec<f64>,
    pub counts: Vec<usize>,
    /// The smallest kept |w| (global scope: one; layerwise: one per layer).
    pub thresholds: Vec<f64>,
}

/// [`MagnitudeHistogram`] as a file holds it, before it is checked: the viewer draws bin `i` from `edges[i]` to
/// `edges[i + 1]`.
#[derive(Deserialize)]
struct SavedHistogram {
    edges: Vec<f64>,
    counts: Vec<usize>,
    thresholds: Vec<f64>,
}

impl TryFrom<SavedHistogram> for MagnitudeHistogram {
    type Error = String;

    fn try_from(saved: SavedHistogram) -> Result<Self, String> {
        let SavedHistogram { edges, counts, thresholds } = saved;
        let bins = counts.len();
        if !(edges.is_empty() && bins == 0 || edges.len() == bins + 1) {
            return Err(format!(
                "a magnitude histogram of {bins} bins has {} edges (expected {})",
                edges.len(),
                bins + 1
            ));
        }
        if !edges.iter().all(|e| e.is_finite()) || !edges.windows(2).all(|w| w[0] < w[1]) {
            return Err("a magnitude histogram's edges are not finite and ascending".into());
        }
        Ok(MagnitudeHistogram { edges, counts, thresholds })
    }
}

impl MagnitudeHistogram {
    fn new(values: &[f32], thresholds: Vec<f64>) -> Self {
        const BINS: usize = 40;
        let logs: Vec<f64> = values.iter().filter(|v| **v != 0.0).map(|v| (v.abs() as f64).log10()).collect();
        if logs.is_empty() {
            return MagnitudeHistogram { edges: vec![], counts: vec![], thresholds };
        }
        let lo = logs.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max).max(lo + 1e-6);
        let width = (hi - lo) / BINS as f64;
        let mut counts = vec![0; BINS];
        for v in logs {
            counts[(((v - lo) / width) as usize).min(BINS - 1)] += 1;
        }
        MagnitudeHistogram { edges: (0..=BINS).map(|i| lo + width * i as f64).collect(), counts, thresholds }
    }
}

/// One trained network of a procedure: its test metrics, curves and distance travelled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trained {
    pub test: EvalMetrics,
    pub curves: Vec<CurvePoint>,
    /// ℓ₂ distance of the prunable weights from where training started.
    pub l2_from_start: f64,
    pub train_flops: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImpRound {
    pub round: usize,
    pub density: f64,
    pub layer_densities: Vec<f64>,
    /// The rewound subnetwork trained (round 0: the dense network).
    pub ticket: Trained,
    /// The same mask from a fresh initialisation.
    pub reinit: Option<Trained>,
    /// A random mask at the same per-layer densities, from the original initialisation.
    pub random: Option<Trained>,
    /// Magnitudes of the previous round's trained weights this round's mask was cut from (none in round 0).
    pub histogram: Option<MagnitudeHistogram>,
    pub masks: Masks,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImpResult {
    pub format: u32,
    pub config: TrainConfig,
    pub backend: String,
    pub rounds: Vec<ImpRound>,
    /// Each round's mask is contained in the previous one's.
    pub nested: bool,
}

impl ImpRound {
    /// Round 0: the dense network, trained.
    fn dense(trainer: &Trainer, ticket: Trained) -> Self {
        let masks = trainer.masks.clone();
        ImpRound {
            round: 0,
            density: 1.0,
            layer_densities: masks.layer_densities(),
            ticket,
            reinit: None,
            random: None,
            histogram: None,
            masks,
        }
    }
}

impl ImpResult {
    fn new(config: &TrainConfig, backend: &str, rounds: Vec<ImpRound>) -> Self {
        let nested = rounds.windows(2).all(|w| w[1].masks.is_subset_of(&w[0].masks));
        ImpResult { format: crate::run::RESULT_FORMAT, config: config.clone(), backend: backend.into(), rounds, nested }
    }
}

/// Train one network to the end of its schedule (from its current step) and summarise it.
pub async fn train_out(trainer: &mut Trainer, pacer: &mut impl Pacer) -> Result<Trained, TrainError> {
    trainer.prepare().await?;
    while !trainer.is_done() {
        trainer.train_step();
        if trainer.has_pending_masks() {
            trainer.sync_masks().await?;
        }
        if trainer.eval_due() {
            trainer.record_point().await?;
        }
        pacer.after_step(trainer).await?;
    }
    Ok(Trained {
        test: trainer.evaluate(Split::Test).await?,
        curves: trainer.curves.clone(),
        l2_from_start: trainer.l2_from_start().await?,
        train_flops: trainer.train_flops,
    })
}

/// The configuration each round's trainer runs: dense start, static masks (IMP sets them).
fn round_config(config: &TrainConfig) -> TrainConfig {
    TrainConfig { density: 1.0, method: Method::Static, ..config.clone() }
}

/// Iterative magnitude pruning from `config` (its `density` is the final target, `imp` the procedure). The pacer
/// hears of every round as it completes.
pub async fn run_imp(
    config: &TrainConfig,
    data: TrainData,
    device: burn::prelude::Device,
    backend: &str,
    pacer: &mut impl Pacer,
) -> Result<ImpResult, TrainError> {
    config.validate().map_err(TrainError::Config)?;
    let settings = config.imp;
    let densities = settings.round_densities(config.density).map_err(TrainError::Config)?;
    let base = round_config(config);
    let mut dense = Trainer::with_data(base.clone(), data.clone(), device.clone())?;
    if settings.rewind == Rewind::Step && settings.rewind_step >= dense.total_steps {
        return Err(TrainError::Config(format!(
            "rewind step {} is not inside the run's {} steps",
            settings.rewind_step, dense.total_steps
        )));
    }
    let rewind_step = if settings.rewind == Rewind::Step { settings.rewind_step } else { 0 };
    let init = dense.net.clone();
    // Round 0: the dense run, keeping the rewinding point on the way.
    pacer.news(News::Stage("round 0: dense".into()));
    let mut rewind_net = init.clone();
    while dense.step < rewind_step {
        dense.train_step();
        pacer.after_step(&mut dense).await?;
    }
    if rewind_step > 0 {
        rewind_net = dense.net.clone();
    }
    let ticket = train_out(&mut dense, pacer).await?;
    let mut rounds = vec![ImpRound::dense(&dense, ticket)];
    pacer.news(News::Round(Box::new(rounds[0].clone())));
    let mut previous = dense;
    for (r, &density) in densities.iter().enumerate() {
        let round = r + 1;
        let (masks, histogram) = prune_round(&previous, &settings, density).await?;
        // The ticket: the surviving weights rewound.
        let mut ticket = Trainer::with_data(base.clone(), data.clone(), device.clone())?;
        ticket.set_masks(masks.clone());
        match settings.rewind {
            Rewind::Init => ticket.load_network(init.clone()),
            Rewind::Step => {
                ticket.load_network(rewind_net.clone());
                ticket.step = rewind_step;
            }
            Rewind::LearningRate => ticket.load_network(previous.net.clone()),
        }
        pacer.news(News::Stage(format!("round {round}: ticket at density {:.3}", masks.density())));
        let trained = train_out(&mut ticket, pacer).await?;
        let (reinit, random) = if settings.controls {
            let [mut reinit, mut random] = controls(&base, &data, &device, &masks, round, rewind_step)?;
            pacer.news(News::Stage(format!("round {round}: same mask, random re-initialisation")));
            let reinit = train_out(&mut reinit, pacer).await?;
            pacer.news(News::Stage(format!("round {round}: random mask, same layer densities")));
            (Some(reinit), Some(train_out(&mut random, pacer).await?))
        } else {
            (None, None)
        };
        let result = ImpRound {
            round,
            density: masks.density(),
            layer_densities: masks.layer_densities(),
            ticket: trained,
            reinit,
            random,
            histogram: Some(histogram),
            masks,
        };
        pacer.news(News::Round(Box::new(result.clone())));
        rounds.push(result);
        previous = ticket;
    }
    Ok(ImpResult::new(config, backend, rounds))
}

/// The two controls of an IMP round, ready to train: the ticket's mask from a fresh initialisation, and a random
/// mask at the same per-layer densities from the original initialisation. Each differs from the ticket in that one
/// respect only: same seed, so the same data order and augmentation, and the same steps (from `rewind_step`, where
/// the ticket resumes, to the end of the schedule).
fn controls(
    base: &TrainConfig,
    data: &TrainData,
    device: &burn::prelude::Device,
    masks: &Masks,
    round: usize,
    rewind_step: usize,
) -> Result<[Trainer; 2], TrainError> {
    let mut reinit = Trainer::with_data(base.clone(), data.clone(), device.clone())?;
    reinit.set_masks(masks.clone());
    let fresh = Network::init(&reinit.spec, &mut Rng::stream(base.seed, "imp-reinit").fork(round as u64), device);
    reinit.load_network(fresh);
    let mut random = Trainer::with_data(base.clone(), data.clone(), device.clone())?;
    let mut rng = Rng::stream(base.seed, "imp-random").fork(round as u64);
    random.set_masks(Masks::random(&random.spec, &masks.active_counts(), &mut rng));
    for control in [&mut reinit, &mut random] {
        control.step = rewind_step;
    }
    Ok([reinit, random])
}

/// IMP or COLT, as the configuration's method says.
pub async fn run_iterative(
    config: &TrainConfig,
    data: TrainData,
    device: burn::prelude::Device,
    backend: &str,
    pacer: &mut impl Pacer,
) -> Result<ImpResult, TrainError> {
    match config.method {
        Method::Colt => run_colt(config, data, device, backend, pacer).await,
        _ => run_imp(config, data, device, backend, pacer).await,
    }
}

/// COLT (cyclic overlapping lottery tickets): the training set is split in two seeded halves. Each round trains the
/// current subnetwork from the initial weights on each half, prunes each by magnitude (IMP's settings: rate, scope,
/// output rate), keeps only the weights both kept, and trains that ticket from the initial weights on all the data
/// (the round's result). Rounds go on until the density reaches the target; since the overlap keeps fewer weights
/// than either half, the last round may end below it (the result reports the density reached).
pub async fn run_colt(
    config: &TrainConfig,
    data: TrainData,
    device: burn::prelude::Device,
    backend: &str,
    pacer: &mut impl Pacer,
) -> Result<ImpResult, TrainError> {
    config.validate().map_err(TrainError::Config)?;
    let settings = config.imp;
    let densities = settings.round_densities(config.density).map_err(TrainError::Config)?;
    let base = round_config(config);
    let order = Rng::stream(config.seed, "colt-halves").permutation(data.train.len());
    let (a, b) = order.split_at(order.len() / 2);
    let half = |idx: &[usize]| TrainData { train: std::sync::Arc::new(data.train.subset(idx)), ..data.clone() };
    let halves = [half(a), half(b)];
    let mut full = Trainer::with_data(base.clone(), data.clone(), device.clone())?;
    let init = full.net.clone();
    pacer.news(News::Stage("round 0: dense, all the data".into()));
    let ticket = train_out(&mut full, pacer).await?;
    let mut rounds = vec![ImpRound::dense(&full, ticket)];
    pacer.news(News::Round(Box::new(rounds[0].clone())));
    let mut masks = full.masks.clone();
    for (r, &target) in densities.iter().enumerate() {
        let round = r + 1;
        if masks.density() <= config.density + 1e-12 {
            break;
        }
        let mut kept = vec![];
        let mut histogram = None;
        for (h, half_data) in halves.iter().enumerate() {
            let mut t = Trainer::with_data(base.clone(), half_data.clone(), device.clone())?;
            t.set_masks(masks.clone());
            t.load_network(init.clone());
            pacer.news(News::Stage(format!("round {round}: half {} of the data", h + 1)));
            train_out(&mut t, pacer).await?;
            let (pruned, hist) = prune_round(&t, &settings, target).await?;
            histogram.get_or_insert(hist);
            kept.push(pruned);
        }
        masks = kept[0].intersect(&kept[1]);
        let mut ticket = Trainer::with_data(base.clone(), data.clone(), device.clone())?;
        ticket.set_masks(masks.clone());
        ticket.load_network(init.clone());
        pacer.news(News::Stage(format!("round {round}: the overlap ({:.3} dense), all the data", masks.density())));
        let trained = train_out(&mut ticket, pacer).await?;
        let result = ImpRound {
            round,
            density: masks.density(),
            layer_densities: masks.layer_densities(),
            ticket: trained,
            reinit: None,
            random: None,
            histogram,
            masks: masks.clone(),
        };
        pacer.news(News::Round(Box::new(result.clone())));
        rounds.push(result);
    }
    Ok(ImpResult::new(config, backend, rounds))
}

/// The mask of the next round: prune `previous`'s trained weights by magnitude down to `density` overall.
async fn prune_round(
    previous: &Trainer,
    settings: &ImpSettings,
    density: f64,
) -> Result<(Masks, MagnitudeHistogram), TrainError> {
    let masks = &previous.masks;
    let n = masks.layers.len();
    let total = masks.total();
    let prev_density = masks.density();
    // The round's own pruning rate, and the output layer's (a multiple of it).
    let rate = 1.0 - density / prev_density;
    let out_rate = rate * settings.output_rate;
    let out = n - 1;
    let keep_of = |l: usize, rate: f64| ((masks.layers[l].bits.count_ones() as f64) * (1.0 - rate)).round() as usize;
    let mut scores = magnitudes(&previous.net, masks);
    let budget = match settings.scope {
        Scope::Layerwise => {
            Budget::Layerwise((0..n).map(|l| keep_of(l, if l == out { out_rate } else { rate })).collect())
        }
        Scope::Global if settings.output_rate == 1.0 => Budget::Global((density * total as f64).round() as usize),
        Scope::Global => {
            // The output layer at its own rate, the rest under one threshold for the remaining budget.
            let out_keep = keep_of(out, out_rate);
            let mut only_out = vec![None; n];
            only_out[out] = scores[out].take();
            let masks = keep_top(masks, only_out, &Budget::Layerwise(vec![out_keep; n]), &previous.device).await?;
            let rest = ((density * total as f64).round() as usize).saturating_sub(out_keep);
            let pruned = keep_top(&masks, scores, &Budget::Global(rest), &previous.device).await?;
            return Ok((pruned.clone(), histogram_of(previous, &pruned).await?));
        }
    };
    let pruned = keep_top(masks, scores, &budget, &previous.device).await?;
    Ok((pruned.clone(), histogram_of(previous, &pruned).await?))
}

/// The magnitude histogram of `previous`'s active weights and the smallest magnitude `pruned` kept (overall, or per
/// layer).
async fn histogram_of(previous: &Trainer, pruned: &Masks) -> Result<MagnitudeHistogram, TrainError> {
    let values = previous.param_values().await?;
    let mut all = vec![];
    let mut thresholds = vec![];
    for (layer, kept) in previous.masks.layers.iter().zip(&pruned.layers) {
        let w = &values[layer.param];
        all.extend((0..w.len()).filter(|&i| layer.bits.get(i)).map(|i| w[i]));
        let min_kept =
            (0..w.len()).filter(|&i| kept.bits.get(i)).map(|i| w[i].abs() as f64).fold(f64::INFINITY, f64::min);
        thresholds.push(min_kept);
    }
    if previous.config.imp.scope == Scope::Global && previous.config.imp.output_rate == 1.0 {
        thresholds = vec![thresholds.iter().cloned().fold(f64::INFINITY, f64::min)];
    }
    Ok(MagnitudeHistogram::new(&all, thresholds))
}

/// Linear mode connectivity of two networks trained from one state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Instability {
    pub from_step: usize,
    pub alphas: Vec<f64>,
    /// Test error (%) of (1 − α)·θ₁ + α·θ₂.
    pub errors: Vec<f64>,
    /// max error − mean of the endpoints' errors, in percentage points.
    pub barrier: f64,
}

/// Train two copies of `trainer`'s current state (at its current step) with different data orders to the end and
/// evaluate the test error along the line between them (11 points). BatchNorm statistics are interpolated too.
pub async fn instability(trainer: &Trainer, data: TrainData) -> Result<Instability, TrainError> {
    let mut copies = vec![];
    for copy in 0..2u64 {
        let data_seed = Some(Rng::stream(trainer.config.seed, "instability").fork(copy).next_u64());
        let config = TrainConfig { data_seed, ..trainer.config.clone() };
        let mut t = Trainer::with_data(config, data.clone(), trainer.device.clone())?;
        t.set_masks(trainer.masks.clone());
        t.load_network(trainer.net.clone());
        t.step = trainer.step;
        train_out(&mut t, &mut Unpaced).await?;
        copies.push(t);
    }
    let (a, b) = (&copies[0], &copies[1]);
    let alphas: Vec<f64> = (0..=10).map(|i| i as f64 / 10.0).collect();
    let mut errors = vec![];
    for &alpha in &alphas {
        let net = interpolate(&a.net, &b.net, alpha);
        errors.push(100.0 * (1.0 - a.eval_job_for(net, Split::Test).run().await?.accuracy));
    }
    let ends = (errors[0] + errors[10]) / 2.0;
    let barrier = errors.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - ends;
    Ok(Instability { from_step: trainer.step, alphas, errors, barrier })
}

/// (1 − α)·a + α·b for every parameter and BatchNorm statistic.
pub fn interpolate(a: &Network, b: &Network, alpha: f64) -> Network {
    let params = a.params.iter().zip(&b.params).map(|(x, y)| lerp(x.clone(), y.clone(), alpha as f32)).collect();
    let bn =
        a.bn.iter()
            .zip(&b.bn)
            .map(|(x, y)| crate::model::BnStats {
                mean: lerp(x.mean.clone(), y.mean.clone(), alpha as f32),
                var: lerp(x.var.clone(), y.var.clone(), alpha as f32),
            })
            .collect();
    Network { params, bn }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_densities_shrink_by_the_rate_and_end_at_the_target() {
        let s = ImpSettings::default();
        let d = s.round_densities(0.5).unwrap();
        assert_eq!(d.len(), 4);
        assert!((d[0] - 0.8).abs() < 1e-12 && (d[1] - 0.64).abs() < 1e-12 && (d[2] - 0.512).abs() < 1e-12);
        assert_eq!(*d.last().unwrap(), 0.5);
        assert!(s.round_densities(1.0).unwrap().is_empty());
        assert!(s.round_densities(1e-6).is_err(), "too many rounds is an error, not a loop");
        assert!(ImpSettings { prune_fraction: 1.0, ..s }.validate().is_err());
        assert!(ImpSettings { output_rate: 2.0, ..s }.validate().is_err());
    }

    /// IMP's controls differ from the ticket only in what they control for: the re-initialisation only in its
    /// initial weights (same seed, so the same data order and augmentation), the random mask only in its mask; and
    /// with weight rewinding both train the ticket's steps, from the rewinding step to the end.
    #[test]
    fn controls_change_only_what_they_control_and_train_as_long_as_the_ticket() {
        use crate::config::DatasetSpec;
        use crate::model::Arch;
        let config = TrainConfig {
            dataset: DatasetSpec::Synthetic { train: 64, test: 32 },
            model: Arch::Conv2,
            width: 0.25,
            batch_size: 16,
            steps: Some(8),
            ..TrainConfig::default()
        };
        let base = round_config(&config);
        let data = TrainData::new(crate::data::synthetic(config.seed, 64, 32), 0.0, config.seed);
        let device = burn::prelude::Device::flex();
        let ticket = Trainer::with_data(base.clone(), data.clone(), device.clone()).unwrap();
        let half: Vec<usize> = ticket.masks.layers.iter().map(|l| l.bits.len() / 2).collect();
        let masks = Masks::random(&ticket.spec, &half, &mut Rng::new(3));
        let [reinit, random] = controls(&base, &data, &device, &masks, 1, 3).unwrap();
        for control in [&reinit, &random] {
            assert_eq!(control.config, base, "the ticket's settings, seed included");
            assert_eq!((control.step, control.total_steps), (3, ticket.total_steps), "the ticket's steps");
        }
        assert_eq!(reinit.masks, masks);
        assert_eq!(random.masks.active_counts(), masks.active_counts());
        assert_ne!(random.masks, masks);
        let values = |t: &Trainer| pollster::block_on(t.param_values()).unwrap();
        let (init, fresh, original) = (values(&ticket), values(&reinit), values(&random));
        for layer in &masks.layers {
            let p = layer.param;
            let kept = |v: &[f32], bits: &crate::mask::Bits| {
                (0..v.len()).filter(|&i| bits.get(i)).map(|i| v[i]).collect::<Vec<_>>()
            };
            assert_ne!(kept(&fresh[p], &layer.bits), kept(&init[p], &layer.bits), "re-initialised weights");
            let random_bits = &random.masks.layers.iter().find(|l| l.param == p).unwrap().bits;
            assert_eq!(kept(&original[p], random_bits), kept(&init[p], random_bits), "the original initialisation");
        }
    }

    /// A saved histogram with too few edges would index past them in the viewer: loading refuses it.
    #[test]
    fn loading_checks_histogram_edges() {
        let ok = MagnitudeHistogram::new(&[0.1, 1.0, 10.0], vec![0.5]);
        let loaded = serde_json::from_str::<MagnitudeHistogram>(&serde_json::to_string(&ok).unwrap()).unwrap();
        assert_eq!((loaded.edges.len(), &loaded.counts, &loaded.thresholds), (41, &ok.counts, &ok.thresholds));
        let empty = r#"{"edges":[],"counts":[],"thresholds":[]}"#;
        assert!(serde_json::from_str::<MagnitudeHistogram>(empty).is_ok(), "no non-zero weights");
        for bad in [
            r#"{"edges":[0.0],"counts":[5],"thresholds":[]}"#,
            r#"{"edges":[],"counts":[5],"thresholds":[]}"#,
            r#"{"edges":[1.0,0.0],"counts":[5],"thresholds":[]}"#,
        ] {
            assert!(serde_json::from_str::<MagnitudeHistogram>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn histogram_counts_nonzero_magnitudes() {
        let h = MagnitudeHistogram::new(&[0.0, 0.1, -0.1, 1.0, 10.0], vec![0.5]);
        assert_eq!(h.counts.iter().sum::<usize>(), 4);
        assert_eq!(h.edges.len(), h.counts.len() + 1);
        assert!((h.edges[0] + 1.0).abs() < 1e-6 && (h.edges.last().unwrap() - 1.0).abs() < 1e-6);
    }
}
