//! End-to-end training on the CPU backend: learning, determinism, mask invariants, divergence.

use burn::prelude::*;

use ticketlab::config::{DatasetSpec, TrainConfig};
use ticketlab::data::synthetic;
use ticketlab::error::{TrainError, read_f32};
use ticketlab::model::Arch;
use ticketlab::optim::OptimizerKind;
use ticketlab::pace::{News, Pacer};
use ticketlab::rng::Rng;
use ticketlab::run::{run_to_end, train_out};
use ticketlab::schedule::LrSchedule;
use ticketlab::sparsity::{Distribution, distribution};
use ticketlab::train::{RECALIBRATION_BATCHES, Recalibration, Split, Trainer};

fn small_config() -> TrainConfig {
    TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 512, test: 256 },
        model: Arch::Conv2,
        width: 0.25,
        density: 0.3,
        batch_size: 32,
        epochs: 1,
        ..TrainConfig::default()
    }
}

fn trainer(config: TrainConfig) -> Trainer {
    let DatasetSpec::Synthetic { train, test } = config.dataset else { panic!("synthetic only here") };
    let data = synthetic(config.seed, train, test);
    Trainer::new(config, data, Device::flex()).expect("valid config")
}

#[test]
fn synthetic_training_lowers_loss_and_beats_chance() {
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 3000, test: 600 },
        model: Arch::Conv4,
        width: 0.25,
        density: 0.5,
        epochs: 5,
        batch_size: 64,
        lr: 1e-3,
        ..TrainConfig::recipe(Arch::Conv4)
    };
    let mut t = trainer(config);
    let before = pollster::block_on(t.evaluate(Split::Test)).unwrap();
    let result = pollster::block_on(run_to_end(&mut t, "cpu", 10, |_| {})).unwrap();
    let first = result.curves.first().unwrap().train_loss.unwrap();
    let last = result.curves.last().unwrap().train_loss.unwrap();
    println!(
        "synthetic conv4×0.25 @50%: test accuracy {:.3} → {:.3}, train loss {first:.3} → {last:.3}",
        before.accuracy, result.test.accuracy
    );
    assert!(last < first * 0.8, "train loss {first} → {last}");
    assert!(result.test.nll < before.nll, "test NLL {} → {}", before.nll, result.test.nll);
    assert!(result.test.accuracy > 0.25, "test accuracy {} (chance 0.10)", result.test.accuracy);
    assert!(result.stopped_early.is_none());
}

#[test]
fn same_seed_gives_bit_identical_weights_and_another_seed_does_not() {
    let run = |seed| {
        let mut t = trainer(TrainConfig { seed, steps: Some(6), ..small_config() });
        for _ in 0..6 {
            t.train_step();
        }
        pollster::block_on(t.param_values()).unwrap()
    };
    let a = run(3);
    let b = run(3);
    let c = run(4);
    assert!(a.iter().zip(&b).all(|(x, y)| x.iter().map(|v| v.to_bits()).eq(y.iter().map(|v| v.to_bits()))));
    assert_ne!(a, c);
}

/// Pruned weights are exactly zero and carry no momentum; active counts are exactly the distribution's counts.
fn check_invariants(t: &Trainer) {
    let values = pollster::block_on(t.param_values()).unwrap();
    let expected = distribution::counts(
        t.spec(),
        &distribution::layer_densities(t.spec(), t.config().distribution, t.config().density, t.config().dense_first),
    );
    assert_eq!(t.masks().active_counts(), expected);
    for (layer, &count) in t.masks().layers.iter().zip(&expected) {
        let w = &values[layer.param];
        let momentum =
            t.optimizer().first_moment(layer.param).map(|m| pollster::block_on(read_f32(m.clone())).unwrap());
        let mut nonzero_active = 0;
        for (i, &v) in w.iter().enumerate() {
            if layer.bits.get(i) {
                nonzero_active += (v != 0.0) as usize;
            } else {
                assert_eq!(v, 0.0, "pruned weight {i} of {} is {v}", t.spec().params[layer.param].name);
                if let Some(m) = &momentum {
                    assert_eq!(m[i], 0.0, "pruned weight {i} has momentum {}", m[i]);
                }
            }
        }
        // Active weights move off zero (Kaiming init is never exactly zero in practice).
        assert!(
            nonzero_active > count * 9 / 10,
            "{nonzero_active} of {count} active weights of {} ({}) are non-zero",
            t.spec().params[layer.param].name,
            t.spec().arch
        );
    }
}

/// A randomised property test: architectures, widths, class counts, densities, distributions and optimisers drawn
/// from a fixed seed, each trained for a few steps.
#[test]
fn mask_invariants_hold_under_training() {
    let mut cases = Rng::new(2024);
    for _ in 0..6 {
        let arch = Arch::ALL[cases.below(Arch::ALL.len() as u32) as usize];
        let width = [0.0625f32, 0.125, 0.2][cases.below(3) as usize];
        let classes = [10usize, 100][cases.below(2) as usize];
        let density = cases.range_f32(0.02, 0.9) as f64;
        let dist = Distribution::ALL[cases.below(3) as usize];
        let adam = cases.bernoulli(0.5);
        let seed = cases.next_u64() % 1000;
        let mut data = synthetic(seed, 96, 32);
        // Relabel into `classes` classes so the classifier's shape varies too.
        for set in [&mut data.train, &mut data.test] {
            set.num_classes = classes;
            set.class_names = (0..classes).map(|c| c.to_string()).collect();
            for (i, l) in set.labels.iter_mut().enumerate() {
                *l = ((*l as usize * 7 + i) % classes) as u16;
            }
        }
        let config = TrainConfig {
            dataset: DatasetSpec::Synthetic { train: 96, test: 32 },
            model: arch,
            width,
            density,
            distribution: dist,
            seed,
            batch_size: 16,
            steps: Some(3),
            optimizer: if adam { OptimizerKind::adam() } else { OptimizerKind::sgd() },
            lr: if adam { 1e-3 } else { 0.05 },
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(config, data, Device::flex()).unwrap();
        for _ in 0..3 {
            t.train_step();
        }
        check_invariants(&t);
    }
}

#[test]
fn divergence_is_reported_with_its_step_and_the_run_stops() {
    // Poison the network after a few healthy steps, as a blow-up would: the loss turns NaN at step 6.
    let mut t = trainer(TrainConfig { density: 1.0, epochs: 3, ..small_config() });
    for _ in 0..5 {
        t.train_step();
    }
    pollster::block_on(t.take_train_metrics()).unwrap().expect("five steps ran");
    let mut poisoned = t.net().clone();
    let n = poisoned.params[0].dims()[0];
    poisoned.params[0] = Tensor::full([n], f32::NAN, t.device());
    t.load_network(poisoned);
    let result = pollster::block_on(run_to_end(&mut t, "cpu", 4, |_| {})).unwrap();
    let why = result.stopped_early.expect("the run should report the divergence");
    assert!(why.contains("diverged") && why.contains("step 8"), "{why}");
    assert_eq!(result.steps, 8, "the run stops at the first check after the blow-up (every 4 steps)");
    assert!(result.steps < t.total_steps());
}

#[test]
fn invalid_configs_are_rejected_with_a_message() {
    for (config, needle) in [
        (TrainConfig { density: 0.0, ..small_config() }, "density"),
        (TrainConfig { density: 1.5, ..small_config() }, "density"),
        (TrainConfig { batch_size: 0, ..small_config() }, "batch size"),
        (TrainConfig { lr: -1.0, ..small_config() }, "learning rate"),
        (TrainConfig { label_smoothing: 1.0, ..small_config() }, "label smoothing"),
        (TrainConfig { test_from_train: 0.8, ..small_config() }, "moved to the test set"),
        (TrainConfig { schedule: LrSchedule::Cosine { final_frac: 3.0 }, ..small_config() }, "schedule"),
    ] {
        let err = Trainer::new(config, synthetic(0, 64, 16), Device::flex()).err().expect("must be rejected");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

/// The lookahead's average is evaluated with BatchNorm statistics of its own weights, not the average of past
/// running statistics (which, for very sparse networks, can leave one class predicted for most images). Without
/// augmentation and with the recalibration reading the whole training set, the first BatchNorm layer's recomputed
/// means (of a linear function of the images) do not depend on the batches' order: any other recalibration of the
/// final weights must find the same means. Deeper layers see batch-normalised inputs, so theirs do depend on it.
#[test]
fn lookahead_runs_end_with_batchnorm_statistics_of_their_own_weights() {
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 512, test: 128 },
        width: 0.25,
        density: 0.05,
        batch_size: 32,
        epochs: 2,
        augment: false,
        ..TrainConfig::recipe(Arch::Airbench)
    };
    assert!(config.lookahead.is_some(), "the airbench recipe averages its weights");
    let mut t = trainer(config);
    pollster::block_on(run_to_end(&mut t, "cpu", 1000, |_| {})).unwrap();
    assert_eq!(512 / 32, RECALIBRATION_BATCHES, "the recalibration reads the whole training set");
    let again = Recalibration::of(&t).run(t.net(), t.sparse_plan(), RECALIBRATION_BATCHES, 12345);
    let mut worst: f32 = 0.0;
    if let (Some(ours), Some(theirs)) = (t.net().bn.first(), again.bn.first()) {
        let (a, b) = (
            pollster::block_on(read_f32(ours.mean.clone())).unwrap(),
            pollster::block_on(read_f32(theirs.mean.clone())).unwrap(),
        );
        for (x, y) in a.iter().zip(&b) {
            worst = worst.max((x - y).abs() / (1e-2 + y.abs()));
        }
    }
    assert!(worst < 1e-3, "BatchNorm means differ from those of the final weights by {worst} (relative)");
}

/// A sparse network is tested as it trains, its masked layers computed from their compressed weight: the
/// predictions are the dense path's up to rounding, and `predict` reads only the plan's active weights (a value
/// planted at a pruned position changes the dense path's predictions, not the sparse path's).
#[test]
fn evaluation_computes_masked_layers_from_their_compressed_weight() {
    let _f32 = ticketlab::cpu::Isa::f32_products();
    let config = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 256, test: 128 },
        width: 0.25,
        density: 0.1,
        batch_size: 32,
        steps: Some(4),
        ..TrainConfig::recipe(Arch::Airbench)
    };
    let mut t = trainer(config);
    for _ in 0..4 {
        t.train_step();
    }
    assert!(t.sparse_layers() > 0, "the masked layers take the sparse path");
    let predict = |net: &ticketlab::model::Network, sparse| {
        let (spec, set, device) = (t.spec(), t.test_set(), t.device());
        pollster::block_on(ticketlab::train::predict(spec, net, sparse, set, &t.normalizer(), device, true)).unwrap()
    };
    let dense = predict(t.net(), &[]);
    let as_trained = pollster::block_on(t.eval_job(Split::Test).predict()).unwrap();
    let gap = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(gap(&as_trained, &dense) < 1e-4, "sparse and dense evaluation differ by {}", gap(&as_trained, &dense));

    let layer = (0..t.spec().params.len()).find(|&i| t.sparse_plan()[i].is_some()).unwrap();
    let mask = pollster::block_on(read_f32(t.mask_tensors()[layer].clone().unwrap())).unwrap();
    let mut values = pollster::block_on(t.param_values()).unwrap();
    for (v, m) in values[layer].iter_mut().zip(&mask) {
        if *m == 0.0 {
            *v = 1.0;
        }
    }
    let mut planted = t.net().clone();
    planted.params = ticketlab::model::Network::from_values(t.spec(), &values, t.device()).params;
    assert!(gap(&predict(&planted, t.sparse_plan()), &dense) < 1e-4, "the sparse path reads only active weights");
    assert!(gap(&predict(&planted, &[]), &dense) > 1e-2, "the planted values reach the dense path");
}

/// The final evaluation right after the last curve point reuses that point's test metrics, and only while the
/// weights are unchanged: after a step or a new network it tests again.
#[test]
fn a_final_test_reuses_the_last_point_only_while_the_weights_are_unchanged() {
    let mut t = trainer(TrainConfig { steps: Some(2), ..small_config() });
    let fresh = |t: &Trainer| pollster::block_on(t.eval_job(Split::Test).run()).unwrap().nll.to_bits();
    let evaluate = |t: &Trainer| pollster::block_on(t.evaluate(Split::Test)).unwrap().nll.to_bits();
    t.train_step();
    let point = pollster::block_on(t.record_point()).unwrap().test_loss.unwrap().to_bits();
    assert_eq!((evaluate(&t), fresh(&t)), (point, point));
    t.train_step();
    assert_eq!(evaluate(&t), fresh(&t));
    assert_ne!(evaluate(&t), point, "a step changes the test loss");
    pollster::block_on(t.record_point()).unwrap();
    t.reinitialise(&mut Rng::new(9));
    assert_eq!(evaluate(&t), fresh(&t));
}

/// Before each evaluation the pacer hears how many images are tested, so the app can say why the step stands still.
#[test]
fn the_pacer_hears_of_each_test_before_it_runs() {
    struct Listener {
        heard: Vec<usize>,
    }
    impl Pacer for Listener {
        async fn on_step(&mut self, _: &mut Trainer) -> Result<(), TrainError> {
            Ok(())
        }
        fn news(&mut self, news: News) {
            if let News::Testing(images) = news {
                self.heard.push(images);
            }
        }
    }
    let mut t = trainer(TrainConfig { steps: Some(6), eval_every: 2, ..small_config() });
    let mut listener = Listener { heard: vec![] };
    pollster::block_on(train_out(&mut t, &mut listener)).unwrap();
    assert_eq!(t.curves().len(), 3);
    assert_eq!(listener.heard, vec![256; 3], "one notice per evaluation, naming the 256 test images");
}
