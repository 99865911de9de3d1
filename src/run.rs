//! Driving a [`Trainer`] to the end of its run and collecting the result the CLI writes as JSON.

use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::accounting::Accounting;
use crate::config::TrainConfig;
use crate::metrics::EvalMetrics;
use crate::train::{CurvePoint, Split, TrainError, Trainer};

/// Version of the JSON result format.
pub const RESULT_FORMAT: u32 = 1;

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
    /// The dynamic methods' mask updates (empty for static masks).
    pub mask_updates: Vec<crate::sparsity::MaskUpdate>,
    /// ℓ₂ distance of the prunable weights from initialisation.
    pub l2_from_start: f64,
    pub images_per_second: f64,
    pub wall_seconds: f64,
    /// Why the run stopped early (divergence), if it did.
    pub stopped_early: Option<String>,
}

/// A progress report for a progress bar.
#[derive(Clone, Debug)]
pub struct Progress {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: f64,
    pub lr: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub images_per_second: f64,
    pub test_accuracy: Option<f64>,
}

/// Train to the end, reading train metrics every `log_every` steps (the only read-backs besides evaluation) and
/// evaluating on the test set when the configuration asks. A diverging run stops cleanly at the check that caught
/// it, and its result says so.
pub async fn run_to_end(
    trainer: &mut Trainer,
    backend: &str,
    log_every: usize,
    mut on_progress: impl FnMut(&Progress),
) -> Result<RunResult, TrainError> {
    let start = Instant::now();
    let first_step = trainer.step;
    let mut stopped_early = None;
    trainer.prepare().await?;
    while !trainer.is_done() {
        trainer.train_step();
        if trainer.has_pending_masks() {
            trainer.sync_masks().await?;
        }
        let eval_due = trainer.eval_due();
        let outcome = if eval_due {
            trainer.record_point().await.map(|p| p.train_loss.zip(p.train_accuracy).map(|t| (t, p.test_accuracy)))
        } else if trainer.step.is_multiple_of(log_every.max(1)) {
            trainer.take_train_metrics().await.map(|t| t.map(|t| (t, None)))
        } else {
            Ok(None)
        };
        match outcome {
            Ok(Some(((train_loss, train_accuracy), test_accuracy))) => {
                let seconds = start.elapsed().as_secs_f64().max(1e-9);
                on_progress(&Progress {
                    step: trainer.step,
                    total_steps: trainer.total_steps,
                    epoch: trainer.epoch(),
                    lr: trainer.lr(),
                    train_loss,
                    train_accuracy,
                    images_per_second: ((trainer.step - first_step) * trainer.batch_size()) as f64 / seconds,
                    test_accuracy,
                });
            }
            Ok(None) => {}
            Err(e @ TrainError::Diverged { .. }) => {
                stopped_early = Some(e.to_string());
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    RunResult::collect(trainer, backend, trainer.step - first_step, wall_seconds, stopped_early).await
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
        let validation = match trainer.val_set {
            Some(_) => Some(trainer.evaluate(Split::Validation).await?),
            None => None,
        };
        Ok(RunResult {
            format: RESULT_FORMAT,
            config: trainer.config.clone(),
            backend: backend.to_string(),
            steps: trainer.step,
            curves: trainer.curves.clone(),
            test,
            validation,
            accounting: trainer.accounting(),
            layer_densities: trainer.masks.layer_densities(),
            mask_updates: trainer.mask_updates.clone(),
            l2_from_start: trainer.l2_from_start().await?,
            images_per_second: (steps_timed * trainer.batch_size()) as f64 / wall_seconds.max(1e-9),
            wall_seconds,
            stopped_early,
        })
    }
}
