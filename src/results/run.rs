//! The result of one run, as the CLI writes it and `collect` reads it back.

use serde::{Deserialize, Serialize};

use super::RESULT_FORMAT;
use crate::accounting::Accounting;
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::metrics::EvalMetrics;
use crate::sparsity::MaskUpdate;
use crate::train::{CurvePoint, Split, Trainer};

/// What a finished (or stopped) run reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResult {
    pub format: u32,
    pub config: TrainConfig,
    pub backend: String,
    pub steps: usize,
    pub curves: Vec<CurvePoint>,
    pub test: EvalMetrics,
    pub validation: Option<EvalMetrics>,
    pub accounting: Accounting,
    pub layer_densities: Vec<f64>,
    /// The dynamic methods' mask updates (empty for static masks); past [`crate::train::MAX_MASK_UPDATES`] of them,
    /// the first, every stride-th and the latest.
    pub mask_updates: Vec<MaskUpdate>,
    /// ℓ₂ distance of the prunable weights from initialisation.
    pub l2_from_start: f64,
    pub images_per_second: f64,
    pub wall_seconds: f64,
    /// Why the run stopped early (divergence), if it did.
    pub stopped_early: Option<String>,
}

impl RunResult {
    /// The result of `trainer` as it stands: final evaluations, accounting and mask history. `steps_timed` steps
    /// took `wall_seconds`.
    pub async fn collect(
        trainer: &Trainer,
        backend: &str,
        steps_timed: usize,
        wall_seconds: f64,
        stopped_early: Option<String>,
    ) -> Result<RunResult, TrainError> {
        let test = trainer.evaluate(Split::Test).await?;
        let validation = match trainer.val_set() {
            Some(_) => Some(trainer.evaluate(Split::Validation).await?),
            None => None,
        };
        Ok(RunResult {
            format: RESULT_FORMAT,
            config: trainer.config().clone(),
            backend: backend.to_string(),
            steps: trainer.step(),
            curves: trainer.curves().to_vec(),
            test,
            validation,
            accounting: trainer.accounting(),
            layer_densities: trainer.masks().layer_densities(),
            mask_updates: trainer.mask_updates().to_vec(),
            l2_from_start: trainer.l2_from_start().await?,
            images_per_second: (steps_timed * trainer.batch_size()) as f64 / wall_seconds.max(1e-9),
            wall_seconds,
            stopped_early,
        })
    }
}
