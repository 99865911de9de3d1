//! How long procedures (a run, IMP's rounds, an ensemble's members) hand control back to whoever drives them.
//!
//! A procedure calls [`Pacer::after_step`] after every training step, which runs the pacer's [`Pacer::on_step`].
//! The CLI and the tests pass [`Unpaced`]; the app's pacer reports progress to the UI, waits while the user pauses,
//! yields to the browser between frames, and cancels the procedure when the run is reset.

use crate::error::TrainError;
use crate::results::ImpRound;
use crate::train::Trainer;

/// News from a procedure besides its steps.
#[derive(Clone, Debug)]
pub enum News {
    /// A new network starts training (an IMP round, a control, an ensemble member), with a label for the UI.
    Stage(String),
    /// An IMP round finished.
    Round(Box<ImpRound>),
    /// The network in training is being tested on this many images (a large test set takes a while).
    Testing(usize),
}

#[allow(async_fn_in_trait)] // used with generics only, never as `dyn`
pub trait Pacer {
    /// What this pacer does after every training step; an error stops the procedure (`TrainError::Cancelled` when
    /// asked to). [`Trainer::new_masks`] holds the masks taken on since the last call.
    async fn on_step(&mut self, trainer: &mut Trainer) -> Result<(), TrainError>;

    fn news(&mut self, news: News);

    /// Called by procedures after every training step: [`Pacer::on_step`], then the trainer forgets the masks it
    /// has shown, so that a long run keeps no history of masks nobody reads.
    async fn after_step(&mut self, trainer: &mut Trainer) -> Result<(), TrainError> {
        let paced = self.on_step(trainer).await;
        trainer.forget_new_masks();
        paced
    }
}

/// No pacing: run straight through.
pub struct Unpaced;

impl Pacer for Unpaced {
    async fn on_step(&mut self, _: &mut Trainer) -> Result<(), TrainError> {
        Ok(())
    }

    fn news(&mut self, _: News) {}
}
