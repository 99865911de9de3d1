//! One-click setups for teaching: each preset is a short queue of runs that shows one claim of the literature.

use crate::config::{DatasetSpec, EnsembleKind, EnsembleSettings, ImpSettings, TrainConfig};
use crate::model::Arch;
use crate::optim::OptimizerKind;
use crate::sparsity::{DstSettings, Method};

pub struct Preset {
    pub name: &'static str,
    /// What the preset shows, in one or two sentences.
    pub about: &'static str,
    /// The runs, trained one after the other.
    pub runs: fn() -> Vec<TrainConfig>,
}

/// The app's default run: a small conv net at 20% density on the built-in images, quick on any device.
pub fn base() -> TrainConfig {
    TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 5000, test: 1000 },
        model: Arch::Conv4,
        width: 0.25,
        density: 0.2,
        epochs: 5,
        optimizer: OptimizerKind::adam(),
        lr: 1e-3,
        eval_every: 40,
        dst: DstSettings { update_every: 25, ..DstSettings::default() },
        ..TrainConfig::default()
    }
}

fn with_method(method: Method, density: f64) -> TrainConfig {
    TrainConfig { method, density, ..base() }
}

fn ensemble(kind: EnsembleKind, method: Method) -> TrainConfig {
    TrainConfig {
        method,
        ensemble: EnsembleSettings { kind, members: kind.default_members(), ..EnsembleSettings::default() },
        ..base()
    }
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "Lottery ticket on conv4",
        about: "Iterative magnitude pruning: train, prune 20% of the smallest weights, rewind the rest to their \
                initial values, retrain. Each round is compared with the same mask re-initialised and with a random \
                mask of the same layer densities.",
        runs: || {
            vec![TrainConfig {
                dataset: DatasetSpec::Synthetic { train: 3000, test: 1000 },
                method: Method::Imp,
                density: 0.33,
                epochs: 3,
                eval_every: 0,
                imp: ImpSettings::default(),
                ..base()
            }]
        },
    },
    Preset {
        name: "RigL vs SET at 90%",
        about: "Three networks with 10% of their weights: a fixed random mask (static), SET (drop small weights, \
                regrow at random) and RigL (regrow where the gradient is largest). Watch the topology view.",
        runs: || vec![with_method(Method::Static, 0.1), with_method(Method::Set, 0.1), with_method(Method::Rigl, 0.1)],
    },
    Preset {
        name: "Pruning at initialisation",
        about: "Masks chosen before any training at 10% density: random (ERK), SNIP, GraSP and SynFlow.",
        runs: || {
            [Method::Static, Method::Snip, Method::Grasp, Method::Synflow]
                .into_iter()
                .map(|m| with_method(m, 0.1))
                .collect()
        },
    },
    Preset {
        name: "FreeTickets ensemble",
        about: "Three RigL networks at 20% density from different seeds, their predictions averaged: the ensemble \
                against its members, at a fraction of the training cost of one dense network.",
        runs: || vec![ensemble(EnsembleKind::DstEnsemble, Method::Rigl)],
    },
    Preset {
        name: "Model soup",
        about: "A parent network fine-tuned three ways; the uniform soup averages the children's weights, the greedy \
                soup adds a child only if held-out accuracy improves.",
        runs: || vec![ensemble(EnsembleKind::Soup, Method::Static)],
    },
    Preset {
        name: "Dense vs sparse",
        about: "The same network dense and with a fixed random 20% mask: how much does sparsity cost?",
        runs: || vec![with_method(Method::Static, 1.0), with_method(Method::Static, 0.2)],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_a_valid_queue() {
        for preset in PRESETS {
            let runs = (preset.runs)();
            assert!(!runs.is_empty(), "{}", preset.name);
            for run in runs {
                assert_eq!(run.validate(), Ok(()), "{}", preset.name);
            }
        }
        assert_eq!(base().validate(), Ok(()));
    }
}
