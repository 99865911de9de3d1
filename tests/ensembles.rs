//! Ensembles on the CPU backend with tiny configurations: the invariants of each method (EDST's FLOP budget, exact
//! re-exploration counts, complementary anti-random pairs, soups as means, greedy soups never below their first
//! member, the spectral gate), determinism end to end, and bad settings rejected.

use std::sync::Arc;

use burn::prelude::*;

use ticketlab::config::ensemble::{parse_corruptions, parse_severities};
use ticketlab::config::{DatasetSpec, EnsembleKind, EnsembleSettings, Regrow, TrainConfig};
use ticketlab::corrupt::{Corruption, corrupt_dataset};
use ticketlab::data::synthetic;
use ticketlab::ensembles::{
    anti_random_pair, card_training_set, edst_phases, edst_steps, gate_choices, run_ensemble, training_spectrum,
    uniform_soup,
};
use ticketlab::error::{TrainError, read_f32};
use ticketlab::mask::Masks;
use ticketlab::model::{Arch, Network};
use ticketlab::pace::Unpaced;
use ticketlab::results::{EnsembleResult, Extras};
use ticketlab::rng::Rng;
use ticketlab::sparsity::{DstSettings, Method, Scope, reexplore};
use ticketlab::train::{TrainData, Trainer};

fn config(kind: EnsembleKind, steps: usize) -> TrainConfig {
    TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 256, test: 128 },
        model: Arch::Conv2,
        width: 0.25,
        density: 0.2,
        batch_size: 32,
        steps: Some(steps),
        dst: DstSettings { update_every: 4, drop_fraction: 0.5, ..DstSettings::default() },
        ensemble: EnsembleSettings { kind, members: kind.default_members(), ..EnsembleSettings::default() },
        ..TrainConfig::default()
    }
}

fn data(config: &TrainConfig) -> TrainData {
    let DatasetSpec::Synthetic { train, test } = config.dataset else { panic!("synthetic only here") };
    TrainData::new(synthetic(config.seed, train, test), config.val_fraction, config.seed)
}

fn run(config: &TrainConfig) -> Result<EnsembleResult, TrainError> {
    pollster::block_on(run_ensemble(config, data(config), Device::flex(), "cpu", &mut Unpaced))
}

fn values(t: &Tensor<1>) -> Vec<f32> {
    pollster::block_on(read_f32(t.clone())).unwrap()
}

/// The measures every kind reports, consistent with each other.
fn check_common(r: &EnsembleResult) {
    let m = r.members.len();
    assert_eq!(m, r.config.ensemble.members);
    assert_eq!(r.accuracy_as_members_join.len(), m);
    assert_eq!(r.accuracy_as_members_join[0], r.members[0].test.accuracy, "one member is its own ensemble");
    assert_eq!(*r.accuracy_as_members_join.last().unwrap(), r.ensemble.accuracy);
    for (i, row) in r.disagreement.iter().enumerate() {
        assert_eq!(row.len(), m);
        assert_eq!(row[i], 0.0);
        assert_eq!(r.kl[i][i], 0.0);
        for (j, &d) in row.iter().enumerate() {
            assert_eq!(d, r.disagreement[j][i], "disagreement is symmetric");
            assert!(r.kl[i][j] >= 0.0);
        }
    }
    assert_eq!(r.ensemble.n, 128);
    assert_eq!(r.cost.total_nonzeros, r.members.iter().map(|x| x.nonzeros).sum::<usize>());
    assert_eq!(r.cost.total_params, m * r.cost.dense_params);
    assert!(r.cost.train_flops > 0.0 && r.cost.dense_train_flops > 0.0);
    assert_eq!(r.cost.within_dense_budget, r.cost.train_flops <= r.cost.dense_train_flops);
    // The JSON reads back (floats to within serde_json's default parsing, so compare what is exact).
    let back: EnsembleResult = serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap();
    assert_eq!((back.kind, back.members.len(), back.cost.total_nonzeros), (r.kind, m, r.cost.total_nonzeros));
    assert_eq!(back.config, r.config);
}

#[test]
fn bad_settings_are_rejected() {
    let ok = EnsembleSettings::default();
    assert!(ok.validate().is_ok());
    for bad in [
        EnsembleSettings { members: 0, ..ok.clone() },
        EnsembleSettings { members: 1, ..ok.clone() },
        EnsembleSettings { members: 1000, ..ok.clone() },
        EnsembleSettings { kind: EnsembleKind::PruneTune, members: 3, ..ok.clone() },
        EnsembleSettings { reexplore_fraction: 1.5, ..ok.clone() },
        EnsembleSettings { reexplore_fraction: f64::NAN, ..ok.clone() },
        EnsembleSettings { exploration_fraction: 1.0, ..ok.clone() },
        EnsembleSettings { edst_length: 0.0, ..ok.clone() },
        EnsembleSettings { edst_length: f64::NAN, ..ok.clone() },
        EnsembleSettings { cyclic_fraction: 0.0, ..ok.clone() },
        EnsembleSettings { cycle_low: 0.1, cycle_high: 0.05, ..ok.clone() },
        EnsembleSettings { refine_lr: 0.0, ..ok.clone() },
        EnsembleSettings { tune_fraction: -1.0, ..ok.clone() },
        EnsembleSettings { tune_lr: 0.0, ..ok.clone() },
        EnsembleSettings { tune_lr: f64::INFINITY, ..ok.clone() },
        EnsembleSettings { held_out_fraction: 0.9, ..ok.clone() },
        EnsembleSettings { gate_batch: 0, ..ok.clone() },
        EnsembleSettings { severities: vec![0], ..ok.clone() },
        EnsembleSettings { severities: vec![], corruptions: vec![Corruption::Fog], ..ok.clone() },
        EnsembleSettings { severities: vec![3, 5, 3], ..ok.clone() },
        EnsembleSettings { corruptions: vec![Corruption::Fog, Corruption::Jpeg, Corruption::Fog], ..ok.clone() },
    ] {
        let err = bad.validate().expect_err(&format!("{bad:?}"));
        let config = TrainConfig { ensemble: bad, ..TrainConfig::default() };
        assert_eq!(config.validate(), Err(err), "the configuration's validation covers the ensemble's");
    }
    assert!("dst-ensemble".parse::<EnsembleKind>().is_ok() && "foo".parse::<EnsembleKind>().is_err());
    assert!("gradient".parse::<Regrow>().is_ok() && "magnitude".parse::<Regrow>().is_err());
    assert_eq!(parse_corruptions("all").unwrap().len(), 13);
    assert_eq!(parse_corruptions("fog, jpeg,fog").unwrap(), vec![Corruption::Fog, Corruption::Jpeg]);
    assert!(parse_corruptions("rain").is_err());
    assert_eq!(parse_severities("1,3,5").unwrap(), vec![1, 3, 5]);
    assert!(parse_severities("6").is_err() && parse_severities("x").is_err());
    // The procedures refuse what the settings alone cannot see, with a message rather than a panic.
    let none = config(EnsembleKind::None, 8);
    assert!(matches!(run(&none), Err(TrainError::Config(_))));
    let imp = TrainConfig { method: Method::Imp, ..config(EnsembleKind::DstEnsemble, 8) };
    assert!(matches!(run(&imp), Err(TrainError::Config(_))));
    let short = config(EnsembleKind::Edst, 4);
    let Err(TrainError::Config(msg)) = run(&short) else { panic!("7 steps cannot hold 3 EDST phases") };
    assert!(msg.contains("EDST"), "{msg}");
    assert!(matches!(run(&config(EnsembleKind::SupTickets, 8)), Err(TrainError::Config(_))));
}

#[test]
fn reexploration_keeps_exact_counts() {
    let c = config(EnsembleKind::Edst, 8);
    let mut t = Trainer::with_data(c.clone(), data(&c), Device::flex()).unwrap();
    for _ in 0..3 {
        t.train_step();
    }
    let device = Device::flex();
    let masks = t.masks().clone();
    let mut rng = Rng::new(5);
    let random = |rng: &mut Rng| -> Vec<Tensor<1>> {
        masks
            .layers
            .iter()
            .map(|l| {
                let v: Vec<f32> = (0..l.bits.len()).map(|_| rng.uniform()).collect();
                Tensor::from_data(TensorData::new(v, [l.bits.len()]), &device)
            })
            .collect()
    };
    let (layerwise, dropped) =
        pollster::block_on(reexplore(t.net(), &masks, 0.8, Scope::Layerwise, random(&mut rng), &device)).unwrap();
    assert_eq!(layerwise.active_counts(), masks.active_counts(), "every layer keeps its count");
    let expected: usize = masks.active_counts().iter().map(|&a| (0.8 * a as f64).floor() as usize).sum();
    assert_eq!(dropped, expected);
    // Kept: the largest magnitudes of each layer; at least the kept share survives, most regrown positions are new.
    let (_, overlap) = layerwise.overlap(&masks);
    assert!(overlap.intersection >= masks.active() - dropped);
    assert!(overlap.intersection < masks.active(), "random regrowth moves weights");
    for (new, old) in layerwise.layers.iter().zip(&masks.layers) {
        // The largest magnitudes survive: every active weight above the (active − drop)-th largest stays.
        let w = values(&t.net().params[old.param]);
        let mut active: Vec<f32> = old.bits.ones_indices().iter().map(|&i| w[i].abs()).collect();
        active.sort_by(|a, b| b.total_cmp(a));
        let keep = active.len() - (0.8 * active.len() as f64).floor() as usize;
        let Some(&threshold) = active.get(keep.saturating_sub(1)) else { continue };
        for i in old.bits.ones_indices() {
            assert!(w[i].abs() <= threshold || new.bits.get(i), "a large weight ({}) was dropped", w[i]);
        }
    }
    let (global, dropped) =
        pollster::block_on(reexplore(t.net(), &masks, 0.8, Scope::Global, random(&mut rng), &device)).unwrap();
    assert_eq!(global.active(), masks.active(), "the global count is exact");
    assert_eq!(dropped, (0.8 * masks.active() as f64).floor() as usize);
    // Setting the new masks zeroes what left and starts what came in at zero.
    t.set_masks(global.clone());
    for layer in &global.layers {
        let w = values(&t.net().params[layer.param]);
        assert!((0..w.len()).all(|i| layer.bits.get(i) || w[i] == 0.0));
    }
}

#[test]
fn edst_stays_within_the_dense_budget() {
    let c = config(EnsembleKind::Edst, 30);
    // The run is 1.8 times the configuration's 30 steps, a third of it exploration.
    let total = edst_steps(30, &c.ensemble);
    let (explore, phases) = edst_phases(total, &c.ensemble).unwrap();
    assert_eq!((total, explore, phases.len(), phases.last().unwrap().1), (54, 18, 3, 54));
    let r = run(&c).unwrap();
    check_common(&r);
    assert!(r.cost.within_dense_budget, "EDST {} vs dense {}", r.cost.train_flops, r.cost.dense_train_flops);
    assert!(r.cost.train_flops_vs_dense < 1.0);
    // The budget is one dense run of the configuration's length, not of EDST's longer run.
    let dense_step = r.cost.dense_train_flops / 30.0;
    let same_length = config(EnsembleKind::Edst, 54);
    let longer = run(&TrainConfig {
        ensemble: EnsembleSettings { edst_length: 1.0, ..same_length.ensemble.clone() },
        ..same_length
    })
    .unwrap();
    assert!((longer.cost.dense_train_flops / 54.0 - dense_step).abs() <= 1e-9 * dense_step);
    assert_eq!(longer.cost.train_flops, r.cost.train_flops, "54 steps either way, the same run");
    let Extras::Edst(x) = &r.extras else { panic!("EDST extras") };
    assert_eq!(x.method, Method::Rigl, "a static configuration's members train with RigL");
    assert_eq!((x.exploration_steps, x.phases.last().unwrap().end_step), (18, 54));
    assert_eq!(x.phases[0].reexplored, 0);
    for p in &x.phases[1..] {
        assert!(p.reexplored > 0 && p.changed > 0 && p.changed <= p.reexplored);
    }
    // Layerwise re-exploration and RigL both keep every layer's count: each ticket has the run's non-zeros.
    assert!(r.members.iter().all(|m| m.nonzeros == r.members[0].nonzeros));
    assert!(x.mask_iou[0][1] < 1.0, "re-exploration gives the tickets different masks");
    // The tickets are taken in order from one run: their FLOPs grow to the run's total.
    assert!(r.members.windows(2).all(|w| w[0].train_flops < w[1].train_flops));
    assert_eq!(r.members.last().unwrap().train_flops, r.cost.train_flops);
}

#[test]
fn anti_random_pairs_are_complementary() {
    let c = config(EnsembleKind::PruneTune, 8);
    let t = Trainer::with_data(TrainConfig { density: 1.0, ..c.clone() }, data(&c), Device::flex()).unwrap();
    for parent in [
        t.masks().clone(),
        Masks::random(t.spec(), &t.masks().active_counts().iter().map(|a| a / 3).collect::<Vec<_>>(), &mut Rng::new(1)),
    ] {
        let (a, b) = anti_random_pair(&parent, &mut Rng::new(7));
        let last = parent.layers.len() - 1;
        for l in 0..=last {
            let (x, y, p) = (&a.layers[l].bits, &b.layers[l].bits, &parent.layers[l].bits);
            if l == last {
                assert!(x == p && y == p, "the last layer is excluded");
                continue;
            }
            assert_eq!(x.and(y).count_ones(), 0, "layer {l}: disjoint");
            assert_eq!(&x.or(y), p, "layer {l}: together the parent's mask");
            assert_eq!(x.count_ones(), p.count_ones() / 2, "layer {l}: exactly half");
            assert_eq!(y.count_ones(), p.count_ones() - p.count_ones() / 2);
        }
    }
    // End to end: the children train on their masks (inactive weights stay exactly zero).
    let c = TrainConfig { steps: Some(16), ..c };
    let r = run(&c).unwrap();
    check_common(&r);
    let Extras::PruneTune(x) = &r.extras else { panic!("Prune-and-Tune extras") };
    assert!(x.complementary);
    assert_eq!(x.tune_steps, (16.0 * c.ensemble.tune_fraction).round() as usize);
    assert_eq!(r.members.len(), 4);
    for pair in r.members.chunks(2) {
        let prunable = |m: &ticketlab::results::MemberResult| m.density;
        assert!(prunable(&pair[0]) < x.parent.density && prunable(&pair[1]) < x.parent.density);
    }
}

#[test]
fn uniform_soup_weights_are_the_mean() {
    let c = config(EnsembleKind::Soup, 8);
    let t = Trainer::with_data(c.clone(), data(&c), Device::flex()).unwrap();
    let nets: Vec<Network> = (0..4).map(|s| Network::init(t.spec(), &mut Rng::new(100 + s), &Device::flex())).collect();
    let soup = uniform_soup(&nets).unwrap();
    for (i, p) in soup.params.iter().enumerate() {
        let got = values(p);
        let all: Vec<Vec<f32>> = nets.iter().map(|n| values(&n.params[i])).collect();
        for (j, g) in got.iter().enumerate() {
            let mean = all.iter().map(|v| v[j] as f64).sum::<f64>() / all.len() as f64;
            assert!((*g as f64 - mean).abs() <= 1e-6 * (1.0 + mean.abs()), "param {i}[{j}]: {g} vs mean {mean}");
        }
    }
    assert!(uniform_soup(&[]).is_none());
}

#[test]
fn greedy_soup_is_never_below_its_first_member() {
    let mut c = config(EnsembleKind::Soup, 16);
    c.lr = 0.05;
    let r = run(&c).unwrap();
    check_common(&r);
    let Extras::Soup(x) = &r.extras else { panic!("soup extras") };
    assert!(x.held_out.contains("held out"), "{}", x.held_out);
    let first = x.greedy.ingredients[0];
    assert_eq!(first, x.best_child);
    let best = x.children.iter().map(|ch| ch.held_out_accuracy).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(x.children[first].held_out_accuracy, best, "the greedy soup starts from the best child");
    assert!(x.greedy.held_out_accuracy >= x.children[first].held_out_accuracy);
    assert!(x.greedy.held_out_path.windows(2).all(|w| w[1] >= w[0]), "held-out accuracy never falls");
    assert_eq!(x.greedy.only_best_child, x.greedy.ingredients.len() == 1);
    assert_eq!(x.wise.len(), 11);
    assert_eq!((x.wise[0].alpha, x.wise[10].alpha), (0.0, 1.0));
    assert!((x.wise[0].test_accuracy - x.parent.test.accuracy).abs() < 1e-12, "α = 0 is the parent");
    assert!((x.wise[10].test_accuracy - r.members[x.best_child].test.accuracy).abs() < 1e-12, "α = 1 the best child");
    // Children fine-tune on the parent's mask: the soups stay as sparse as the parent.
    assert!(r.members.iter().all(|m| m.nonzeros == x.parent.nonzeros));
}

#[test]
fn dst_ensemble_is_deterministic() {
    let mut c = config(EnsembleKind::DstEnsemble, 12);
    c.ensemble.corruptions = vec![Corruption::GaussianNoise];
    c.ensemble.severities = vec![3];
    let a = run(&c).unwrap();
    let b = run(&c).unwrap();
    check_common(&a);
    let strip = |r: &EnsembleResult| {
        let mut r = r.clone();
        r.wall_seconds = 0.0;
        serde_json::to_string(&r).unwrap()
    };
    assert_eq!(strip(&a), strip(&b), "same configuration, same result");
    let Extras::DstEnsemble(x) = &a.extras else { panic!("DST Ensemble extras") };
    // The first member pairs with a single network from the run's seed; the others are derived from it, so runs
    // with neighbouring seeds share no member.
    assert_eq!(x.seeds[0], 0);
    let next = TrainConfig { seed: 1, ..c.clone() };
    let Extras::DstEnsemble(y) = &run(&next).unwrap().extras else { panic!("DST Ensemble extras") };
    assert_eq!(y.seeds[0], 1);
    assert!(x.seeds.iter().all(|s| !y.seeds.contains(s)), "seeds {:?} and {:?} overlap", x.seeds, y.seeds);
    assert!(x.mask_iou[0][1] < 0.5, "different seeds give different masks");
    assert_eq!(a.robustness.len(), 1);
    assert_eq!(a.robustness[0].members.len(), 3);
    assert!(a.robustness[0].gated.is_none());
    assert!(a.members.iter().all(|m| (m.density - 0.2).abs() < 0.01));
}

#[test]
fn sup_tickets_superpose_at_the_same_budget() {
    // VGG-11 has BatchNorm, so the superposed network's statistics are recalibrated.
    let mut c = config(EnsembleKind::SupTickets, 24);
    c.model = Arch::Vgg11;
    c.width = 0.125;
    c.lr = 0.05;
    c.ensemble.bn_batches = 4;
    let r = run(&c).unwrap();
    check_common(&r);
    let Extras::SupTickets(x) = &r.extras else { panic!("Sup-tickets extras") };
    assert_eq!((x.base_steps, x.cycle_steps, x.cycles.len()), (18, 2, 3));
    assert_eq!(x.superposed.nonzeros, x.final_network.nonzeros, "re-pruned to the same budget");
    assert_eq!(x.standard_run.nonzeros, x.final_network.nonzeros);
    assert!(x.cycles.iter().all(|cy| cy.reexplored > 0));
    assert!(x.superposed.test.nll.is_finite());
    assert!(x.superposed_mask_iou > 0.0 && x.superposed_mask_iou <= 1.0);
}

#[test]
fn the_gate_picks_the_matching_member() {
    let c = config(EnsembleKind::CardDeck, 8);
    let splits = synthetic(3, 512, 400);
    let train = Arc::new(splits.train.clone());
    let sets: Vec<_> = (0..3).map(|k| card_training_set(&train, k, 0.5, 3)).collect();
    assert_eq!(
        sets.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![None, Some(Corruption::GaussianNoise), Some(Corruption::GaussianBlur)]
    );
    assert!(Arc::ptr_eq(&sets[0].1, &train), "the first member trains on the clean set itself");
    let changed = sets[1].1.images.chunks(3072).zip(splits.train.images.chunks(3072)).filter(|(a, b)| a != b).count();
    assert!((150..=360).contains(&changed), "about half the images are corrupted: {changed} of 512");
    let spectra: Vec<_> = sets.iter().map(|(_, s)| training_spectrum(s, 3)).collect();
    let noisy = corrupt_dataset(&splits.test, Corruption::GaussianNoise, 5, 1).unwrap();
    let blurred = corrupt_dataset(&splits.test, Corruption::GaussianBlur, 5, 1).unwrap();
    assert_eq!(gate_choices(&noisy, &spectra, 100), vec![1; 4], "noise goes to the noise-trained member");
    assert_eq!(gate_choices(&blurred, &spectra, 100), vec![2; 4], "blur goes to the blur-trained member");
    assert_eq!(gate_choices(&splits.test, &spectra, 100), vec![0; 4], "clean images go to the clean member");
    // End to end: the deck's robustness rows carry the gate's choices.
    let mut c = TrainConfig { steps: Some(8), ..c };
    c.ensemble.corruptions = vec![Corruption::GaussianNoise];
    c.ensemble.severities = vec![5];
    let r = run(&c).unwrap();
    check_common(&r);
    let Extras::CardDeck(x) = &r.extras else { panic!("CARD-Deck extras") };
    assert_eq!(x.gate_choices.iter().sum::<usize>(), 2, "128 test images in batches of 100");
    let row = &r.robustness[0];
    assert_eq!(row.gate_choices.as_ref().unwrap(), &vec![0, 2, 0]);
    assert!(row.gated.is_some());
}

/// Weights that were averaged or interpolated are evaluated with BatchNorm statistics recomputed for them: stale
/// statistics ruin a good network, and recalibration on training batches brings it back, to the statistics training
/// itself kept (up to the batches' sampling).
#[test]
fn batchnorm_recalibration_restores_a_network_whose_statistics_are_stale() {
    use ticketlab::model::BnStats;
    use ticketlab::train::{Recalibration, Split};
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 512, test: 256 },
        model: Arch::Airbench,
        width: 0.25,
        density: 1.0,
        batch_size: 64,
        steps: Some(40),
        lookahead: None,
        ..TrainConfig::recipe(Arch::Airbench)
    };
    let mut t = Trainer::with_data(config.clone(), data(&config), Device::flex()).unwrap();
    while !t.is_done() {
        t.train_step();
    }
    let trained = pollster::block_on(t.eval_job(Split::Test).run()).unwrap().accuracy;
    assert!(trained > 0.3, "the network learned something: {trained}");
    // Stale statistics: what an average of two networks' running statistics can be far from.
    let mut stale = t.net().clone();
    stale.bn = stale.bn.iter().map(|s| BnStats { mean: s.mean.clone() + 3.0, var: s.var.clone() * 0.01 }).collect();
    let broken = pollster::block_on(t.eval_job_for(stale.clone(), Split::Test).run()).unwrap().accuracy;
    let fixed = Recalibration::of(&t).run(&stale, &[], 8, 0);
    let restored = pollster::block_on(t.eval_job_for(fixed.clone(), Split::Test).run()).unwrap().accuracy;
    assert!(broken < trained - 0.1, "stale statistics hurt: {broken} vs {trained}");
    assert!((restored - trained).abs() < 0.05, "recalibrated {restored} vs trained {trained}");
    assert_eq!(fixed.params.len(), stale.params.len(), "only statistics change");
    for (a, b) in fixed.params.iter().zip(&stale.params) {
        assert_eq!(values(a), values(b));
    }
    // Seeded: the same batches give the same statistics.
    let again = Recalibration::of(&t).run(&stale, &[], 8, 0);
    for (a, b) in again.bn.iter().zip(&fixed.bn) {
        assert_eq!(values(&a.mean), values(&b.mean));
    }
}
