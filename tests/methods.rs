//! The sparsity methods on the CPU backend: dynamic sparse training (exact counts, zero-initialised regrowth,
//! momentum reset, schedule), pruning at initialisation, iterative magnitude pruning and instability.

use burn::prelude::*;

use ticketlab::accounting::{Accounting, rigl_flops_share};
use ticketlab::config::{DatasetSpec, ImpSettings, Rewind, TrainConfig};
use ticketlab::data::synthetic;
use ticketlab::error::read_f32;
use ticketlab::model::Arch;
use ticketlab::pace::{News, Pacer, Unpaced};
use ticketlab::rng::Rng;
use ticketlab::run::{run_to_end, train_out};
use ticketlab::sparsity::{Anneal, Distribution, DstSettings, DynamicSparsity, Method, Scope};
use ticketlab::tickets::{instability, run_colt, run_imp};
use ticketlab::train::{MAX_MASK_UPDATES, MaskSnapshot, NEW_MASKS_KEPT, TrainData, Trainer};

fn config(method: Method) -> TrainConfig {
    TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 256, test: 128 },
        model: Arch::Conv2,
        width: 0.25,
        density: 0.2,
        batch_size: 32,
        steps: Some(16),
        method,
        dst: DstSettings { update_every: 3, drop_fraction: 0.5, ..DstSettings::default() },
        // The default recipe's optimiser at a rate conv2 (no BatchNorm) trains at: at airbench's 0.375 it can diverge.
        lr: TrainConfig::default_lr(Arch::Conv2),
        ..TrainConfig::default()
    }
}

fn data(config: &TrainConfig) -> TrainData {
    let DatasetSpec::Synthetic { train, test } = config.dataset else { panic!("synthetic only here") };
    TrainData::new(synthetic(config.seed, train, test), config.val_fraction, config.seed)
}

fn trainer(config: TrainConfig) -> Trainer {
    let d = data(&config);
    Trainer::with_data(config, d, Device::flex()).expect("valid config")
}

fn values(t: &Tensor<1>) -> Vec<f32> {
    pollster::block_on(read_f32(t.clone())).unwrap()
}

/// Runs a dynamic method step by step and checks every update: exact per-layer counts, inactive weights and
/// momentum exactly zero, newly grown weights and their momentum exactly zero right after the update.
fn check_dynamic(config: TrainConfig) -> Trainer {
    let mut t = trainer(config);
    let targets = t.masks().active_counts();
    let mut updates = 0;
    while !t.is_done() {
        let before = t.masks().clone();
        t.train_step();
        if !t.has_pending_masks() {
            continue;
        }
        pollster::block_on(t.sync_masks()).unwrap();
        updates += 1;
        assert_eq!(t.masks().active_counts(), targets, "exact active counts after the update at step {}", t.step());
        let record = t.mask_updates().last().unwrap();
        assert_eq!(record.dropped, record.grown, "each layer regrows what it dropped");
        for (layer, old) in t.masks().layers.iter().zip(&before.layers) {
            let w = values(&t.net().params[layer.param]);
            let m = t.optimizer().first_moment(layer.param).map(values).unwrap_or_else(|| vec![0.0; w.len()]);
            for i in 0..w.len() {
                let (now, was) = (layer.bits.get(i), old.bits.get(i));
                if !now || !was {
                    assert_eq!(
                        (w[i], m[i]),
                        (0.0, 0.0),
                        "{} [{i}] inactive or just grown",
                        t.spec().params[layer.param].name
                    );
                }
            }
        }
    }
    let settings = t.config().dst;
    let expected = (1..=settings.end_step(t.total_steps())).filter(|s| s % settings.update_every == 0).count();
    assert_eq!(updates, expected, "updates happen every ΔT steps up to the end step");
    assert_eq!(t.mask_updates().len(), expected);
    t
}

/// A pacer sees each mask a run takes on once, in order (the first, then one per update), and the trainer forgets
/// them once seen: a run with millions of updates keeps one mask, not one per update.
#[test]
fn the_pacer_sees_each_mask_once_and_the_trainer_keeps_none() {
    struct MasksSeen(Vec<MaskSnapshot>);
    impl Pacer for MasksSeen {
        async fn on_step(&mut self, t: &mut Trainer) -> Result<(), ticketlab::error::TrainError> {
            self.0.extend(t.new_masks().iter().cloned());
            Ok(())
        }
        fn news(&mut self, _: News) {}
    }
    let mut t = trainer(config(Method::Rigl));
    let mut seen = MasksSeen(vec![]);
    pollster::block_on(train_out(&mut t, &mut seen)).unwrap();
    assert!(t.new_masks().is_empty(), "nothing kept once the pacer has seen it");
    let (first, after_updates) = seen.0.split_first().expect("the first mask");
    assert_eq!((first.step, &first.update, &first.masks), (0, &None, t.initial_masks()));
    let updates: Vec<_> = after_updates.iter().map(|s| s.update.clone().expect("an update")).collect();
    assert!(updates.len() >= 2 && updates == t.mask_updates(), "each update seen once, in order");
    assert!(after_updates.iter().all(|s| s.update.as_ref().is_some_and(|u| u.step == s.step)));
    assert_eq!(&after_updates.last().unwrap().masks, t.masks());

    // Driven without a pacer, as the CLI's `train` drives it, a trainer keeps the latest few masks only.
    let c = config(Method::Rigl);
    let mut t = trainer(TrainConfig { dst: DstSettings { update_every: 1, ..c.dst }, ..c });
    pollster::block_on(run_to_end(&mut t, "cpu", 1, |_| {})).unwrap();
    assert!(t.mask_updates().len() > NEW_MASKS_KEPT);
    let kept: Vec<_> = t.new_masks().iter().map(|s| s.update.clone()).collect();
    let latest = &t.mask_updates()[t.mask_updates().len() - NEW_MASKS_KEPT..];
    assert_eq!(kept, latest.iter().cloned().map(Some).collect::<Vec<_>>());
}

/// A run keeps a bounded record of its mask updates: every one up to [`MAX_MASK_UPDATES`], and past that an evenly
/// spaced timeline from the first update to the latest (a run with an update every step used to hold one record per
/// step, gigabytes at the CLI's longest runs).
#[test]
fn a_run_keeps_a_bounded_record_of_its_mask_updates() {
    let c = config(Method::Set);
    let steps = MAX_MASK_UPDATES + 200;
    let dst = DstSettings { update_every: 1, end_fraction: 1.0, ..c.dst };
    let mut t = trainer(TrainConfig { steps: Some(steps), batch_size: 2, dst, ..c });
    pollster::block_on(run_to_end(&mut t, "cpu", 1, |_| {})).unwrap();
    let record: Vec<usize> = t.mask_updates().iter().map(|u| u.step).collect();
    assert!(record.len() <= MAX_MASK_UPDATES && record.len() > MAX_MASK_UPDATES / 4, "{} kept", record.len());
    assert_eq!((record[0], record[record.len() - 1]), (1, steps), "from the first update to the last");
    let gaps: Vec<usize> = record.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[..gaps.len() - 1].iter().all(|&g| g == gaps[0]) && gaps[0] > 1, "evenly spaced: {gaps:?}");
}

/// Training FLOPs follow RigL's accounting (Evci et al. 2020): 3·f_S per image and step, and 2·f_S + f_D on the
/// steps that compute the dense weight gradient for a mask update, which RigL's updates need and SET's do not.
#[test]
fn training_flops_follow_rigls_accounting() {
    for method in [Method::Set, Method::Rigl] {
        let t = check_dynamic(config(method));
        let a = Accounting::new(t.spec(), t.masks(), 0.0);
        let (f_s, f_d, bs) = (a.sparse_flops, a.dense_flops, t.config().batch_size as f64);
        let (steps, updates) = (t.total_steps() as f64, t.mask_updates().len() as f64);
        assert!(updates >= 2.0 && f_s < f_d / 2.0);
        let expected = match method {
            Method::Rigl => bs * (3.0 * f_s * (steps - updates) + (2.0 * f_s + f_d) * updates),
            _ => bs * 3.0 * f_s * steps,
        };
        assert!((t.train_flops() - expected).abs() <= 1e-9 * expected, "{method}: {} vs {expected}", t.train_flops());
        if method == Method::Rigl {
            // The same cost predicted before training (how FreeTickets' members are sized), up to the rounding of
            // the layers' weight counts.
            let c = t.config();
            assert_eq!(c.dst.updates(t.total_steps()), t.mask_updates().len());
            let predicted = rigl_flops_share(t.spec(), c.distribution, c.density, t.total_steps(), updates as usize);
            let measured = t.train_flops() / (bs * 3.0 * f_d * steps);
            assert!((predicted - measured).abs() < 1e-3, "predicted {predicted} vs {measured}");
        }
    }
}

/// A mask change in the middle of a run (EDST's re-exploration) continues the run's history (issue 14): the
/// change is one more mask update, the ITOP rate never falls, the initial masks stay, and the updater keeps its
/// counter. With SET a no-op change therefore leaves the run exactly as it was; restarting the updater (as
/// `set_masks` does) replayed SET's first regrowth draws.
#[test]
fn a_mask_change_inside_a_run_continues_its_history() {
    let base = config(Method::Set);
    let c = TrainConfig { steps: Some(9), dst: DstSettings { end_fraction: 1.0, ..base.dst }, ..base };
    let run = |change_at: Option<usize>| {
        let mut t = trainer(c.clone());
        while !t.is_done() {
            t.train_step();
            pollster::block_on(t.sync_masks()).unwrap();
            if Some(t.step()) == change_at {
                let same = t.masks().clone();
                pollster::block_on(t.change_masks(same, 0.0)).unwrap();
            }
        }
        let params: Vec<Vec<f32>> = t.net().params.iter().map(values).collect();
        (t, params)
    };
    let (plain, plain_params) = run(None);
    let (changed, changed_params) = run(Some(6));
    assert_eq!(plain.mask_updates().len(), 3, "updates at steps 3, 6 and 9");
    let updates = changed.mask_updates();
    assert_eq!(updates.iter().map(|u| u.step).collect::<Vec<_>>(), [3, 6, 6, 9], "the change is one more update");
    assert!(updates.windows(2).all(|w| w[1].itop_rate >= w[0].itop_rate), "the ITOP rate never falls");
    assert_eq!(changed.initial_masks(), plain.initial_masks());
    assert_eq!(changed.masks(), plain.masks(), "SET's regrowth after the change draws as if nothing had changed");
    assert!(changed_params == plain_params);

    // A real change: exact counts, the new masks enforced, and the history still counts from the start.
    let mut t = trainer(c.clone());
    while t.step() < 6 {
        t.train_step();
    }
    let counts = pollster::block_on(async {
        t.sync_masks().await.unwrap();
        t.masks().active_counts()
    });
    let moved = ticketlab::mask::Masks::random(t.spec(), &counts, &mut Rng::new(5));
    pollster::block_on(t.change_masks(moved.clone(), 0.5)).unwrap();
    assert_eq!((t.masks(), t.mask_updates().len()), (&moved, 3));
    assert!(t.mask_updates()[2].grown.iter().sum::<usize>() > 0);
    for layer in &moved.layers {
        let w = values(&t.net().params[layer.param]);
        assert!((0..w.len()).all(|i| layer.bits.get(i) || w[i] == 0.0), "inactive weights are zero");
    }
}

#[test]
fn set_rigl_and_dst_ee_keep_exact_counts_and_zero_regrowth() {
    let mut rng = Rng::new(11);
    for (i, method) in [Method::Set, Method::Rigl, Method::DstEe].into_iter().enumerate() {
        for trial in 0..2 {
            let c = TrainConfig {
                seed: rng.next_u64() % 1000,
                model: [Arch::Conv2, Arch::Resnet20][(i + trial) % 2],
                density: [0.05, 0.2, 0.5][rng.below(3) as usize],
                distribution: [Distribution::Erk, Distribution::Uniform][trial],
                dense_first: trial == 1,
                dst: DstSettings {
                    update_every: 2 + rng.below(3) as usize,
                    drop_fraction: 0.1 + 0.8 * rng.uniform() as f64,
                    anneal: [Anneal::Cosine, Anneal::Constant][trial],
                    end_fraction: 0.8,
                    exploration: 1e-2,
                },
                steps: Some(10),
                ..config(method)
            };
            let t = check_dynamic(c);
            let last = t.mask_updates().last().expect("at least one update");
            assert!(last.itop_rate >= t.masks().density() - 1e-12, "ITOP rate {} below density", last.itop_rate);
            assert!(t.mask_updates().iter().any(|u| u.dropped.iter().sum::<usize>() > 0), "{method}: nothing moved");
        }
    }
}

#[test]
fn itop_rate_only_grows_and_dynamic_runs_are_deterministic() {
    let run = || check_dynamic(config(Method::Set));
    let (a, b) = (run(), run());
    assert_eq!(a.masks(), b.masks(), "same seed, same topology");
    assert!(a.mask_updates().windows(2).all(|w| w[1].itop_rate >= w[0].itop_rate));
    let other = check_dynamic(TrainConfig { seed: 9, ..config(Method::Set) });
    assert_ne!(a.masks(), other.masks());
}

#[test]
fn rigl_grows_where_the_dense_gradient_is_largest() {
    // In a training run: one update at step 1, exact counts (check_dynamic).
    let c = TrainConfig {
        steps: Some(4),
        dst: DstSettings {
            update_every: 1,
            drop_fraction: 1.0,
            anneal: Anneal::Constant,
            end_fraction: 0.25,
            exploration: 0.0,
        },
        ..config(Method::Rigl)
    };
    let t = check_dynamic(c);
    assert_eq!(t.mask_updates().len(), 1);
    assert_eq!(t.mask_updates()[0].step, 1);

    // The update itself, on known weights and gradients: it keeps the largest |w| among the active weights and
    // grows exactly the positions with the largest |gradient| among the others (ties to the lower index).
    let device = Device::flex();
    let mut rng = Rng::new(5);
    let n = 400;
    let active = 120;
    let drop = 60;
    let w: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    // Gradients with ties, so the order among equal magnitudes matters.
    let g: Vec<f32> = (0..n).map(|_| (rng.below(40) as f32 - 20.0) / 10.0).collect();
    let mask: Vec<f32> = {
        let chosen = rng.permutation(n);
        let mut m = vec![0.0; n];
        chosen[..active].iter().for_each(|&i| m[i] = 1.0);
        m
    };
    let tensor = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
    let masked_w: Vec<f32> = w.iter().zip(&mask).map(|(w, m)| w * m).collect();
    let mut updater = DynamicSparsity::new(Method::Rigl, DstSettings::default(), 0, &[Some(tensor(&mask))]);
    let new = updater.update(
        1,
        drop as f64 / active as f64,
        &[tensor(&masked_w)],
        &[tensor(&g)],
        &[Some(tensor(&mask))],
        &[Some(active)],
    );
    let new = values(new[0].as_ref().unwrap());
    // The reference: sort by magnitude, larger first, then by index.
    let top = |candidates: Vec<usize>, score: &dyn Fn(usize) -> f32, k: usize| -> Vec<usize> {
        let mut c = candidates;
        c.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
        c.truncate(k);
        c
    };
    let kept = top((0..n).filter(|&i| mask[i] == 1.0).collect(), &|i| masked_w[i].abs(), active - drop);
    let grown = top((0..n).filter(|i| !kept.contains(i)).collect(), &|i| g[i].abs(), drop);
    let mut expected = vec![0.0; n];
    kept.iter().chain(&grown).for_each(|&i| expected[i] = 1.0);
    assert_eq!(new, expected, "kept: the largest |w|; grown: the largest |gradient| elsewhere");
    assert_eq!(new.iter().filter(|&&v| v == 1.0).count(), active);
    let smallest_grown = grown.iter().map(|&i| g[i].abs()).fold(f32::INFINITY, f32::min);
    let not_grown = (0..n).filter(|&i| expected[i] == 0.0).map(|i| g[i].abs()).fold(0.0, f32::max);
    assert!(smallest_grown >= not_grown, "no position left out has a larger gradient than one grown");
}

#[test]
fn pruning_at_init_hits_the_density_exactly_and_is_deterministic() {
    for method in [Method::Snip, Method::Grasp, Method::Synflow] {
        let run = |seed| {
            let mut t = trainer(TrainConfig { seed, dense_first: method == Method::Snip, ..config(method) });
            pollster::block_on(t.prepare()).unwrap();
            t
        };
        let t = run(1);
        let target = (0.2 * t.masks().total() as f64).round() as usize;
        assert_eq!(t.masks().active(), target, "{method}: exact global budget");
        if method == Method::Snip {
            assert_eq!(t.masks().layer_densities()[0], 1.0, "first layer kept dense");
        }
        assert_eq!(t.masks(), run(1).masks(), "{method}: deterministic");
        assert_ne!(t.masks(), run(2).masks(), "{method}: depends on the initialisation");
        // Not a random mask: per-layer densities differ from ERK's.
        let erk = trainer(config(Method::Static)).masks().layer_densities();
        assert_ne!(t.masks().layer_densities(), erk, "{method}");
    }
}

/// SynFlow scores with BatchNorm in evaluation mode under autodiff: the gradient must flow through every
/// BatchNorm, or the layers before the last one score nothing real and whole layers are pruned away (airbench at
/// 20% used to keep its first three convolutions dense and the last three and the classifier empty).
#[test]
fn synflow_through_batchnorm_prunes_no_layer_away() {
    let mut t = trainer(TrainConfig { model: Arch::Airbench, ..config(Method::Synflow) });
    pollster::block_on(t.prepare()).unwrap();
    let densities = t.masks().layer_densities();
    assert!(densities.iter().all(|&d| d > 0.0), "no layer emptied: {densities:?}");
}

/// Records the IMP rounds reported.
struct RoundsSeen(Vec<usize>);

impl Pacer for RoundsSeen {
    async fn on_step(&mut self, _: &mut Trainer) -> Result<(), ticketlab::error::TrainError> {
        Ok(())
    }

    fn news(&mut self, news: News) {
        if let News::Round(r) = news {
            self.0.push(r.round);
        }
    }
}

#[test]
fn imp_masks_are_nested_with_exact_round_densities_and_controls_match_them() {
    for (scope, rewind, output_rate) in [
        (Scope::Global, Rewind::Init, 1.0),
        (Scope::Layerwise, Rewind::Step, 0.5),
        (Scope::Global, Rewind::LearningRate, 0.5),
    ] {
        let c = TrainConfig {
            density: 0.5,
            steps: Some(6),
            imp: ImpSettings { scope, rewind, rewind_step: 2, output_rate, ..ImpSettings::default() },
            ..config(Method::Imp)
        };
        let mut seen = RoundsSeen(vec![]);
        let result = pollster::block_on(run_imp(&c, data(&c), Device::flex(), "cpu", &mut seen)).unwrap();
        assert_eq!(seen.0, [0, 1, 2, 3, 4], "rounds reported as they finish");
        assert!(result.nested, "{scope:?}: each round's mask inside the previous one");
        let total = result.rounds[0].masks.total();
        for (round, expected) in result.rounds.iter().skip(1).zip([0.8, 0.64, 0.512, 0.5]) {
            let active = round.masks.active();
            assert_eq!(active, (expected * total as f64).round() as usize, "{scope:?}: round {}", round.round);
            let histogram = round.histogram.as_ref().unwrap();
            assert!(!histogram.counts.is_empty() && !histogram.thresholds.is_empty());
            assert!(round.reinit.is_some() && round.random.is_some());
        }
        // Output layer at half the rate: it keeps more of its weights than the network as a whole.
        if output_rate < 1.0 {
            let last = result.rounds.last().unwrap();
            assert!(*last.layer_densities.last().unwrap() > last.density);
        }
    }
}

#[test]
fn imp_rewinds_to_the_initial_weights() {
    let c = TrainConfig {
        density: 0.8,
        steps: Some(4),
        imp: ImpSettings { controls: false, ..Default::default() },
        ..config(Method::Imp)
    };
    let result = pollster::block_on(run_imp(&c, data(&c), Device::flex(), "cpu", &mut Unpaced)).unwrap();
    assert_eq!(result.rounds.len(), 2);
    assert!(result.rounds[1].reinit.is_none(), "the controls were skipped");
    let ticket = &result.rounds[1].ticket;
    // The ticket of round 1 is θ₀ (the seed's initialisation) on the round's mask, trained again: training exactly
    // that by hand gives the same network, to the bit.
    let dense = TrainConfig { density: 1.0, method: Method::Static, ..c.clone() };
    let theta0 = trainer(dense.clone()).net().clone();
    let mut by_hand = trainer(dense);
    by_hand.set_masks(result.rounds[1].masks.clone());
    by_hand.load_network(theta0);
    let expected = pollster::block_on(train_out(&mut by_hand, &mut Unpaced)).unwrap();
    assert_eq!(ticket.l2_from_start, expected.l2_from_start);
    assert_eq!(ticket.test.accuracy, expected.test.accuracy);
    assert_eq!(ticket.test.nll, expected.test.nll);
    // Rewinding elsewhere (learning-rate rewinding keeps the trained weights) gives another ticket.
    let lr = TrainConfig { imp: ImpSettings { rewind: Rewind::LearningRate, ..c.imp }, ..c.clone() };
    let other = pollster::block_on(run_imp(&lr, data(&lr), Device::flex(), "cpu", &mut Unpaced)).unwrap();
    assert_eq!(other.rounds[1].masks, result.rounds[1].masks, "the same round-1 mask");
    assert_ne!(other.rounds[1].ticket.l2_from_start, ticket.l2_from_start, "from different weights");
    // The same run twice is the same.
    let again = pollster::block_on(run_imp(&c, data(&c), Device::flex(), "cpu", &mut Unpaced)).unwrap();
    assert_eq!(result.rounds[1].masks, again.rounds[1].masks);
    assert_eq!(result.rounds[1].ticket.test.accuracy, again.rounds[1].ticket.test.accuracy);
}

#[test]
fn instability_interpolates_between_two_data_orders() {
    let c = TrainConfig { density: 1.0, steps: Some(8), ..config(Method::Static) };
    let mut t = trainer(c.clone());
    for _ in 0..2 {
        t.train_step();
    }
    let result = pollster::block_on(instability(&t, data(&c))).unwrap();
    assert_eq!(result.alphas.len(), 11);
    assert_eq!(result.from_step, 2);
    let max = result.errors.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert!((result.barrier - (max - (result.errors[0] + result.errors[10]) / 2.0)).abs() < 1e-9);
    assert!(result.barrier >= -1e-9, "the maximum includes the endpoints");
}

#[test]
fn bad_method_settings_are_rejected() {
    for bad in [
        TrainConfig { dst: DstSettings { update_every: 0, ..Default::default() }, ..config(Method::Rigl) },
        TrainConfig { imp: ImpSettings { prune_fraction: 0.0, ..Default::default() }, ..config(Method::Imp) },
        TrainConfig { density: 1e-9, ..config(Method::Imp) },
    ] {
        let c = bad.clone();
        let err = match bad.method {
            Method::Imp => pollster::block_on(run_imp(&c, data(&c), Device::flex(), "cpu", &mut Unpaced)).err(),
            _ => Trainer::with_data(c.clone(), data(&c), Device::flex()).err(),
        };
        assert!(err.is_some(), "{bad:?} accepted");
    }
    assert!("rigl".parse::<Method>().is_ok() && "dst_ee".parse::<Method>().is_ok());
    assert!("magic".parse::<Method>().unwrap_err().contains("expected one of"));
}

#[test]
fn colt_keeps_the_overlap_of_two_halves_and_nests() {
    let c = TrainConfig {
        density: 0.5,
        steps: Some(4),
        imp: ImpSettings { controls: false, ..ImpSettings::default() },
        ..config(Method::Colt)
    };
    let result = pollster::block_on(run_colt(&c, data(&c), Device::flex(), "cpu", &mut Unpaced)).unwrap();
    assert!(result.nested, "each round's mask inside the previous one");
    let rounds = &result.rounds;
    assert!(rounds.len() >= 2 && rounds.len() <= 5);
    // The overlap of two masks that each keep 80% keeps at most 80%, and the rounds stop once at the target.
    assert!(rounds[1].density <= 0.8 + 1e-9, "round 1 density {}", rounds[1].density);
    assert!(rounds.last().unwrap().density <= 0.5 + 1e-9);
    assert!(rounds[rounds.len() - 2].density > 0.5, "no round after reaching the target");
    let again = pollster::block_on(run_colt(&c, data(&c), Device::flex(), "cpu", &mut Unpaced)).unwrap();
    assert_eq!(rounds.last().unwrap().masks, again.rounds.last().unwrap().masks, "deterministic");
}
