//! Real data: the default network and recipe learn on the CIFAR-10 subset in `../shared/data/cifar10-mini` (5,000
//! train / 1,000 test).

use std::path::PathBuf;

use burn::prelude::*;

use ticketlab::config::{DatasetSpec, TrainConfig};
use ticketlab::data::load_cifar10;
use ticketlab::run::run_to_end;
use ticketlab::train::Trainer;

/// The shared mini set, or `None` (with a note) outside CI when it is not beside the checkout.
fn cifar10_mini() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10-mini/cifar-10-batches-bin");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "CI needs {}", dir.display());
    eprintln!("skipping: {} is not there", dir.display());
    None
}

#[test]
fn the_default_recipe_learns_on_cifar10_mini() {
    let Some(dir) = cifar10_mini() else { return };
    let data = load_cifar10(&dir).unwrap();
    assert_eq!((data.train.len(), data.test.len(), data.test.num_classes), (5000, 1000, 10));
    let config = TrainConfig {
        dataset: DatasetSpec::Cifar10 { path: dir.display().to_string() },
        density: 0.2,
        epochs: 4,
        // 5,000 images: half the recipe's batch (and learning rate) gives 39 steps per epoch instead of 19.
        batch_size: 128,
        lr: TrainConfig::default().lr / 2.0,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(config, data, Device::flex()).unwrap();
    let result = pollster::block_on(run_to_end(&mut t, "cpu", 20, |_| {})).unwrap();
    println!("airbench at 20% density, 4 epochs on cifar10-mini: test accuracy {:.3}", result.test.accuracy);
    assert!(result.test.accuracy > 0.40, "test accuracy {} (chance 0.10)", result.test.accuracy);
    assert_eq!(result.test.confusion.iter().flatten().sum::<u32>(), 1000);
}
