//! One entry point for everything a configuration can ask for: a single run, IMP's rounds, an ensemble procedure. The app
//! runs it under its pacer; the result is what it exports.

use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::config::{EnsembleKind, TrainConfig};
use crate::ensembles::run_ensemble;
use crate::error::TrainError;
use crate::model::NetSpec;
use crate::pace::Pacer;
use crate::results::{EnsembleResult, ImpResult, RunResult};
use crate::run::train_out;
use crate::sparsity::Method;
use crate::tickets::{run_colt, run_imp};
use crate::train::{TrainData, Trainer};

/// What a finished procedure produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "procedure", rename_all = "snake_case")]
pub enum Outcome {
    Run(Box<RunResult>),
    Imp(Box<ImpResult>),
    Ensemble(Box<EnsembleResult>),
}

/// The most classes a data set here has (CIFAR-100's fine labels).
const MOST_CLASSES: usize = 100;

impl Outcome {
    pub fn config(&self) -> &TrainConfig {
        match self {
            Outcome::Run(r) => &r.config,
            Outcome::Imp(r) => &r.config,
            Outcome::Ensemble(r) => &r.config,
        }
    }

    /// The headline test accuracy (0–1): the run's, IMP's last ticket's, or the ensemble's; `None` for IMP without
    /// rounds.
    pub fn test_accuracy(&self) -> Option<f64> {
        match self {
            Outcome::Run(r) => Some(r.test.accuracy),
            Outcome::Imp(r) => r.rounds.last().map(|r| r.ticket.test.accuracy),
            Outcome::Ensemble(r) => Some(r.ensemble.accuracy),
        }
    }

    /// How many classes the network predicts, as its test results record it.
    pub fn classes(&self) -> usize {
        self.confusions().first().map_or(10, |c| c.len()).max(1)
    }

    /// The confusion matrices of the test results the viewer shows (an IMP result's: each round's ticket's).
    fn confusions(&self) -> Vec<&[Vec<u32>]> {
        match self {
            Outcome::Run(r) => vec![&r.test.confusion],
            Outcome::Imp(r) => r.rounds.iter().map(|r| r.ticket.test.confusion.as_slice()).collect(),
            Outcome::Ensemble(r) => vec![&r.ensemble.confusion],
        }
    }

    /// Whether the result holds together, as one read from a file must before anything looks inside it: a valid
    /// configuration, confusion matrices the viewer can draw, and every mask it holds shaped like the network that
    /// configuration describes.
    pub fn validate(&self) -> Result<(), String> {
        let config = self.config();
        config.validate().map_err(|e| format!("its configuration is invalid: {e}"))?;
        // The viewer draws these matrices cell by cell every frame.
        for rows in self.confusions() {
            if rows.len() > MOST_CLASSES || rows.iter().any(|row| row.len() != rows.len()) {
                return Err(format!(
                    "a confusion matrix is not square with at most {MOST_CLASSES} classes ({} rows)",
                    rows.len()
                ));
            }
        }
        if let Outcome::Imp(r) = self {
            let spec = NetSpec::new(config.model, config.width, self.classes());
            for round in &r.rounds {
                round.masks.check_shape(&spec).map_err(|e| format!("the masks of round {}: {e}", round.round))?;
            }
        }
        Ok(())
    }
}

/// Run what `config` describes on `data`.
pub async fn run_procedure(
    config: &TrainConfig,
    data: TrainData,
    device: burn::prelude::Device,
    backend: &str,
    pacer: &mut impl Pacer,
) -> Result<Outcome, TrainError> {
    if config.ensemble.kind != EnsembleKind::None {
        return Ok(Outcome::Ensemble(Box::new(run_ensemble(config, data, device, backend, pacer).await?)));
    }
    match config.method {
        Method::Imp => return Ok(Outcome::Imp(Box::new(run_imp(config, data, device, backend, pacer).await?))),
        Method::Colt => return Ok(Outcome::Imp(Box::new(run_colt(config, data, device, backend, pacer).await?))),
        _ => {}
    }
    Ok(Outcome::Run(Box::new(train_network(config, data, device, backend, pacer).await?.1)))
}

/// One network trained as `config` says, to the end: the trainer (for whatever is measured of it next) and its run.
pub async fn train_network(
    config: &TrainConfig,
    data: TrainData,
    device: burn::prelude::Device,
    backend: &str,
    pacer: &mut impl Pacer,
) -> Result<(Trainer, RunResult), TrainError> {
    let mut trainer = Trainer::with_data(config.clone(), data, device)?;
    let start = Instant::now();
    train_out(&mut trainer, pacer).await?;
    let wall = start.elapsed().as_secs_f64();
    let run = RunResult::collect(&trainer, backend, trainer.step(), wall, None).await?;
    Ok((trainer, run))
}
