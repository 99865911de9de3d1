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

/// The largest saved result read (an IMP run of vgg11 with thirty rounds of masks is about a tenth of it).
pub const MAX_SAVED_BYTES: u64 = 1 << 30;

/// The bytes of a saved result at `path`, refusing a file above [`MAX_SAVED_BYTES`] before reading it. The error
/// says why, without the path (callers name the file).
pub fn read_saved(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let unreadable = |e: std::io::Error| format!("could not be read ({e})");
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_SAVED_BYTES {
        let mib = |bytes: u64| bytes >> 20;
        return Err(format!(
            "{} MiB is more than the {} MiB a saved result can be; not read",
            mib(size),
            mib(MAX_SAVED_BYTES)
        ));
    }
    std::fs::read(path).map_err(unreadable)
}
