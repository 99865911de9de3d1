//! What procedures produce: the results of a run, of IMP's rounds and of an ensemble, as the CLI writes them as JSON,
//! the app shows them and `collect` and `reproduce` read them. Below the procedures and their pacers, so that news
//! of a finished round can carry its result.

mod ensemble;
mod imp;
mod run;

pub use ensemble::*;
pub use imp::{ImpResult, ImpRound, Instability, MagnitudeHistogram, Trained};
pub use run::RunResult;

/// Version of the JSON result format of runs and IMP.
pub const RESULT_FORMAT: u32 = 1;
