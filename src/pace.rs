//! How long procedures (a run, IMP's rounds, an ensemble's members) hand control back to whoever drives them.
//!
//! A procedure calls [`Pacer::after_step`] after every training step. The CLI and the tests pass [`Unpaced`]; the
//! app's pacer reports progress to the UI, waits while the user pauses, yields to the browser between frames, and
//! cancels the procedure when the run is reset.

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
    /// Called after every training step; an error stops the procedure (`TrainError::Cancelled` when asked to).
    async fn after_step(&mut self, trainer: &mut Trainer) -> Result<(), TrainError>;

    fn news(&mut self, news: News);
}

/// No pacing: run straight through.
pub struct Unpaced;

impl Pacer for Unpaced {
    async fn after_step(&mut self, _: &mut Trainer) -> Result<(), TrainError> {
        Ok(())
    }

    fn news(&mut self, _: News) {}
}
