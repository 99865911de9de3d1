//! Driving a [`Trainer`] to the end of its run: with progress reports and a [`RunResult`] (the `train` command),
//! or under a [`Pacer`] (the networks of every procedure).

use web_time::Instant;

use crate::error::TrainError;
use crate::pace::{News, Pacer};
use crate::results::{RunResult, Trained};
use crate::train::{Split, Trainer};

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
    let first_step = trainer.step();
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
        } else if trainer.step().is_multiple_of(log_every.max(1)) {
            trainer.take_train_metrics().await.map(|t| t.map(|t| (t, None)))
        } else {
            Ok(None)
        };
        match outcome {
            Ok(Some(((train_loss, train_accuracy), test_accuracy))) => {
                let seconds = start.elapsed().as_secs_f64().max(1e-9);
                on_progress(&Progress {
                    step: trainer.step(),
                    total_steps: trainer.total_steps(),
                    epoch: trainer.epoch(),
                    lr: trainer.lr(),
                    train_loss,
                    train_accuracy,
                    images_per_second: ((trainer.step() - first_step) * trainer.batch_size()) as f64 / seconds,
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
    RunResult::collect(trainer, backend, trainer.step() - first_step, wall_seconds, stopped_early).await
}

/// Train one network to the end of its schedule (from its current step), evaluating when the configuration asks,
/// and summarise it.
pub async fn train_out(trainer: &mut Trainer, pacer: &mut impl Pacer) -> Result<Trained, TrainError> {
    trainer.prepare().await?;
    while !trainer.is_done() {
        trainer.train_step();
        if trainer.has_pending_masks() {
            trainer.sync_masks().await?;
        }
        if trainer.eval_due() {
            pacer.news(News::Testing(trainer.test_set().len()));
            trainer.record_point().await?;
        }
        pacer.after_step(trainer).await?;
    }
    Ok(Trained {
        test: trainer.evaluate(Split::Test).await?,
        curves: trainer.curves().to_vec(),
        l2_from_start: trainer.l2_from_start().await?,
        train_flops: trainer.train_flops(),
    })
}
