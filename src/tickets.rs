//! Tickets forming: iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Frankle et al. 2020), its
//! controls (Liu et al. 2019), COLT's overlapping tickets and the instability analysis of linear mode connectivity.
//!
//! Round 0 trains the dense network. Each later round prunes a share of the remaining weights by magnitude (one
//! global threshold or per layer), rewinds the survivors (to initialisation, to step k, or keeps them and replays the
//! learning rate) and trains again, until the configured density is reached; the last round prunes exactly to it.

use crate::config::{ImpSettings, Rewind, TrainConfig};
use crate::error::TrainError;
use crate::mask::Masks;
use crate::model::Network;
use crate::pace::{News, Pacer, Unpaced};
use crate::results::{ImpResult, ImpRound, Instability, MagnitudeHistogram};
use crate::rng::Rng;
use crate::run::train_out;
use crate::sparsity::Method;
use crate::sparsity::prune::{Budget, Scope, keep_top, magnitudes};
use crate::train::{RECALIBRATION_BATCHES, Recalibration, Split, TrainData, Trainer};

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
    if settings.rewind == Rewind::Step && settings.rewind_step >= dense.total_steps() {
        return Err(TrainError::Config(format!(
            "rewind step {} is not inside the run's {} steps",
            settings.rewind_step,
            dense.total_steps()
        )));
    }
    let rewind_step = if settings.rewind == Rewind::Step { settings.rewind_step } else { 0 };
    let init = dense.net().clone();
    // Round 0: the dense run, keeping the rewinding point on the way.
    pacer.news(News::Stage("round 0: dense".into()));
    let mut rewind_net = init.clone();
    while dense.step() < rewind_step {
        dense.train_step();
        pacer.after_step(&mut dense).await?;
    }
    if rewind_step > 0 {
        rewind_net = dense.net().clone();
    }
    let ticket = train_out(&mut dense, pacer).await?;
    let mut rounds = vec![ImpRound::dense(&dense, ticket)];
    pacer.news(News::Round(Box::new(rounds[0].clone())));
    let mut previous = dense;
    for (r, &density) in densities.iter().enumerate() {
        let round = r + 1;
        let (masks, histogram) = prune_round(&previous, &settings, density).await?;
        // The ticket: the surviving weights rewound.
        let start = match settings.rewind {
            Rewind::Init => &init,
            Rewind::Step => &rewind_net,
            Rewind::LearningRate => previous.net(),
        };
        let mut ticket = Trainer::with_data(base.clone(), data.clone(), device.clone())?;
        ticket.set_masks(masks.clone());
        ticket.load_network(start.clone());
        ticket.start_at(rewind_step);
        pacer.news(News::Stage(format!("round {round}: ticket at density {:.3}", masks.density())));
        let trained = train_out(&mut ticket, pacer).await?;
        let (reinit, random) = if settings.controls {
            let [mut reinit, mut random] = controls(&base, &data, &device, &masks, start, round, rewind_step)?;
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
/// mask at the same per-layer densities on the weights the ticket starts from (`start`: the initialisation, or the
/// weights at the rewinding step, as OpenLTH's `randomly_prune` branch loads them). Each differs from the ticket in
/// that one respect only: same seed, so the same data order and augmentation, and the same steps (from
/// `rewind_step`, where the ticket resumes, to the end of the schedule).
fn controls(
    base: &TrainConfig,
    data: &TrainData,
    device: &burn::prelude::Device,
    masks: &Masks,
    start: &Network,
    round: usize,
    rewind_step: usize,
) -> Result<[Trainer; 2], TrainError> {
    let mut reinit = Trainer::with_data(base.clone(), data.clone(), device.clone())?;
    reinit.set_masks(masks.clone());
    reinit.reinitialise(&mut Rng::stream(base.seed, "imp-reinit").fork(round as u64));
    let mut random = Trainer::with_data(base.clone(), data.clone(), device.clone())?;
    let mut rng = Rng::stream(base.seed, "imp-random").fork(round as u64);
    random.set_masks(Masks::random(random.spec(), &masks.active_counts(), &mut rng));
    random.load_network(start.clone());
    for control in [&mut reinit, &mut random] {
        control.start_at(rewind_step);
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
    let init = full.net().clone();
    pacer.news(News::Stage("round 0: dense, all the data".into()));
    let ticket = train_out(&mut full, pacer).await?;
    let mut rounds = vec![ImpRound::dense(&full, ticket)];
    pacer.news(News::Round(Box::new(rounds[0].clone())));
    let mut masks = full.masks().clone();
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
    let masks = previous.masks();
    let n = masks.layers.len();
    let total = masks.total();
    let prev_density = masks.density();
    // The round's own pruning rate, and the output layer's (a multiple of it).
    let rate = 1.0 - density / prev_density;
    let out_rate = rate * settings.output_rate;
    let out = n - 1;
    let keep_of = |l: usize, rate: f64| ((masks.layers[l].bits.count_ones() as f64) * (1.0 - rate)).round() as usize;
    let target = (density * total as f64).round() as usize;
    let mut scores = magnitudes(previous.net(), masks);
    let budget = match settings.scope {
        Scope::Layerwise => Budget::Layerwise(layerwise_keep(masks, settings.output_rate, target)),
        Scope::Global if settings.output_rate == 1.0 => Budget::Global(target),
        Scope::Global => {
            // The output layer at its own rate, the rest under one threshold for the remaining budget.
            let out_keep = keep_of(out, out_rate);
            let mut only_out = vec![None; n];
            only_out[out] = scores[out].take();
            let masks = keep_top(masks, only_out, &Budget::Layerwise(vec![out_keep; n]), previous.device()).await?;
            let rest = target.saturating_sub(out_keep);
            let pruned = keep_top(&masks, scores, &Budget::Global(rest), previous.device()).await?;
            return Ok((pruned.clone(), histogram_of(previous, &pruned).await?));
        }
    };
    let pruned = keep_top(masks, scores, &budget, previous.device()).await?;
    Ok((pruned.clone(), histogram_of(previous, &pruned).await?))
}

/// Per-layer pruning (Frankle & Carbin): every layer loses the same share r of its active weights, the output layer
/// `output_rate`·r, with r solved so that the round keeps `target` weights in all; the largest other layer absorbs
/// what rounding each layer's count leaves over, so the total is exact.
fn layerwise_keep(masks: &Masks, output_rate: f64, target: usize) -> Vec<usize> {
    let active: Vec<usize> = masks.layers.iter().map(|l| l.bits.count_ones()).collect();
    let out = active.len() - 1;
    let now: usize = active.iter().sum();
    let shrinkable = (now - active[out]) as f64 + output_rate * active[out] as f64;
    let r = if shrinkable > 0.0 { (now.saturating_sub(target) as f64 / shrinkable).clamp(0.0, 1.0) } else { 0.0 };
    let mut keep: Vec<usize> = (active.iter().enumerate())
        .map(|(l, &a)| (a as f64 * (1.0 - if l == out { output_rate * r } else { r })).round() as usize)
        .collect();
    let absorber = (0..active.len()).filter(|&l| l != out || out == 0).max_by_key(|&l| active[l]).unwrap_or(out);
    let others: usize = keep.iter().enumerate().filter(|&(l, _)| l != absorber).map(|(_, &k)| k).sum();
    keep[absorber] = target.saturating_sub(others).min(active[absorber]);
    keep
}

/// The magnitude histogram of `previous`'s active weights and the smallest magnitude `pruned` kept (overall, or per
/// layer).
async fn histogram_of(previous: &Trainer, pruned: &Masks) -> Result<MagnitudeHistogram, TrainError> {
    let values = previous.param_values().await?;
    let mut all = vec![];
    let mut thresholds = vec![];
    for (layer, kept) in previous.masks().layers.iter().zip(&pruned.layers) {
        let w = &values[layer.param];
        all.extend((0..w.len()).filter(|&i| layer.bits.get(i)).map(|i| w[i]));
        let min_kept =
            (0..w.len()).filter(|&i| kept.bits.get(i)).map(|i| w[i].abs() as f64).fold(f64::INFINITY, f64::min);
        thresholds.push(min_kept);
    }
    if previous.config().imp.scope == Scope::Global && previous.config().imp.output_rate == 1.0 {
        thresholds = vec![thresholds.iter().cloned().fold(f64::INFINITY, f64::min)];
    }
    Ok(MagnitudeHistogram::new(&all, thresholds))
}

/// Whether the instability analysis can study a run of `method`. The two copies share the run's mask, so the method
/// must keep it fixed: under a dynamic one (SET, RigL, DST-EE) their masks would drift apart and the line between
/// them would leave the sparse network.
pub fn instability_applies_to(method: Method) -> Result<(), TrainError> {
    if method.is_dynamic() {
        return Err(TrainError::Config(format!(
            "the instability analysis needs a fixed mask, and {method} changes it during training: use static, \
             snip, grasp or synflow"
        )));
    }
    Ok(())
}

/// Train two copies of `trainer`'s current state (at its current step) with different data orders to the end and
/// evaluate the test error along the line between them (11 points), BatchNorm recalibrated at every inner point.
pub async fn instability(trainer: &Trainer, data: TrainData) -> Result<Instability, TrainError> {
    instability_applies_to(trainer.config().method)?;
    let mut copies = vec![];
    for copy in 0..2u64 {
        let data_seed = Some(Rng::stream(trainer.config().seed, "instability").fork(copy).next_u64());
        let config = TrainConfig { data_seed, ..trainer.config().clone() };
        let mut t = Trainer::with_data(config, data.clone(), trainer.device().clone())?;
        t.set_masks(trainer.masks().clone());
        t.load_network(trainer.net().clone());
        t.start_at(trainer.step());
        train_out(&mut t, &mut Unpaced).await?;
        copies.push(t);
    }
    let (a, b) = (&copies[0], &copies[1]);
    let alphas: Vec<f64> = (0..=10).map(|i| i as f64 / 10.0).collect();
    let (recalibration, seed) = (Recalibration::of(a), trainer.config().seed);
    let mut errors = vec![];
    for &alpha in &alphas {
        let net = a.net().interpolate(b.net(), alpha);
        let net =
            if alpha > 0.0 && alpha < 1.0 { recalibration.run(&net, &[], RECALIBRATION_BATCHES, seed) } else { net };
        errors.push(100.0 * (1.0 - a.eval_job_for(net, Split::Test).run().await?.accuracy));
    }
    let ends = (errors[0] + errors[10]) / 2.0;
    let barrier = errors.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - ends;
    Ok(Instability { from_step: trainer.step(), alphas, errors, barrier })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IMP's controls differ from the ticket only in what they control for: the re-initialisation only in its
    /// initial weights (same seed, so the same data order and augmentation), the random mask only in its mask; and
    /// with weight rewinding both train the ticket's steps, from the rewinding step to the end.
    #[test]
    fn controls_change_only_what_they_control_and_train_as_long_as_the_ticket() {
        use crate::config::DatasetSpec;
        use crate::mask::Bits;
        use crate::model::Arch;
        let config = TrainConfig {
            dataset: DatasetSpec::Synthetic { train: 64, test: 32 },
            // airbench: its frozen whitening layer is set from the data, and every control must keep it.
            model: Arch::Airbench,
            width: 0.25,
            batch_size: 16,
            steps: Some(8),
            ..TrainConfig::default()
        };
        let base = round_config(&config);
        let data = TrainData::new(crate::data::synthetic(config.seed, 64, 32), 0.0, config.seed);
        let device = burn::prelude::Device::flex();
        let ticket = Trainer::with_data(base.clone(), data.clone(), device.clone()).unwrap();
        let half: Vec<usize> = ticket.masks().layers.iter().map(|l| l.bits.len() / 2).collect();
        let masks = Masks::random(ticket.spec(), &half, &mut Rng::new(3));
        // The weights at the rewinding step, where the ticket and the random-mask control both start.
        let mut dense = Trainer::with_data(base.clone(), data.clone(), device.clone()).unwrap();
        for _ in 0..3 {
            dense.train_step();
        }
        let [reinit, random] = controls(&base, &data, &device, &masks, dense.net(), 1, 3).unwrap();
        for control in [&reinit, &random] {
            assert_eq!(control.config(), &base, "the ticket's settings, seed included");
            assert_eq!((control.step(), control.total_steps()), (3, ticket.total_steps()), "the ticket's steps");
        }
        assert_eq!(reinit.masks(), &masks);
        assert_eq!(random.masks().active_counts(), masks.active_counts());
        assert_ne!(random.masks(), &masks);
        let values = |t: &Trainer| pollster::block_on(t.param_values()).unwrap();
        let (init, fresh, original, rewound) = (values(&ticket), values(&reinit), values(&random), values(&dense));
        let kept = |v: &[f32], bits: &Bits| (0..v.len()).filter(|&i| bits.get(i)).map(|i| v[i]).collect::<Vec<_>>();
        let stem = ticket.spec().whitening().expect("airbench has a whitening layer");
        assert!(init[stem].iter().any(|&w| w != 0.0), "the ticket's whitening layer is set from the data");
        assert_eq!(fresh[stem], init[stem], "the re-initialised control keeps the whitening layer");
        assert_eq!(original[stem], init[stem], "the random-mask control keeps the whitening layer");
        for (layer, random_layer) in masks.layers.iter().zip(&random.masks().layers) {
            let p = layer.param;
            assert_ne!(kept(&fresh[p], &layer.bits), kept(&init[p], &layer.bits), "re-initialised weights");
            let bits = &random_layer.bits;
            assert_eq!(kept(&original[p], bits), kept(&rewound[p], bits), "the ticket's starting weights");
            assert_ne!(kept(&rewound[p], bits), kept(&init[p], bits), "step k's weights are not the initialisation");
        }
    }
}
