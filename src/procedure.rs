//! One entry point for everything a configuration can ask for: a single run, IMP's rounds, an ensemble procedure. The app
//! runs it under its pacer; the result is what it exports.

use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::config::{EnsembleKind, TrainConfig};
use crate::ensembles::run_ensemble;
use crate::error::TrainError;
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

impl Outcome {
    pub fn config(&self) -> &TrainConfig {
        match self {
            Outcome::Run(r) => &r.config,
            Outcome::Imp(r) => &r.config,
            Outcome::Ensemble(r) => &r.config,
        }
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
    let mut trainer = Trainer::with_data(config.clone(), data, device)?;
    let start = Instant::now();
    train_out(&mut trainer, pacer).await?;
    let wall = start.elapsed().as_secs_f64();
    Ok(Outcome::Run(Box::new(RunResult::collect(&trainer, backend, trainer.step(), wall, None).await?)))
}
