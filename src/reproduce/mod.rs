//! `ticketlab reproduce`: small-scale versions of the seed papers' claims, each run over several seeds and ending in
//! a markdown table (mean ± sample standard deviation over the seeds), a JSON record, a PNG chart and a plain
//! verdict — was the paper's effect shown here beyond the seed noise, with the numbers, whichever way it went.
//!
//! Each experiment is one file under `experiments/` implementing [`Reproduction`]: its claim, a list of [`Job`]s (a
//! label, a seed, a [`TrainConfig`](crate::config::TrainConfig) and what to do with it — whatever
//! [`run_procedure`](crate::procedure::run_procedure) makes of the configuration, an evaluation under corruptions,
//! an instability analysis, a shuffled pruning-at-initialisation mask) and a summary that turns their measurements
//! into tables, charts and a [`Verdict`] (`verdict.rs`). Comparisons are paired: seed by seed, same data order; a
//! claim is shown only when the paired margin's mean is positive and larger than its spread over ≥ 3 seeds.
//!
//! Sizes: every run is the model's recipe ([`TrainConfig::recipe`](crate::config::TrainConfig::recipe); airbench by
//! default) for [`setup::BASE_EPOCHS`] epochs of the chosen training set; `scale` multiplies the run length, and for
//! `scale > 1` also the number of IMP rounds. Each experiment's sparsities and budgets are where its paper's effect is
//! large, and its page says why (see [`Reproduction::notes`]). Finished jobs are cached under the output folder, so an
//! interrupted page continues where it stopped.

mod chart;
mod experiments;
mod jobs;
mod page;
mod setup;
mod summary;

use std::path::PathBuf;

use crate::backend::BackendKind;
use crate::config::DatasetSpec;
use crate::data::DataSplits;
use crate::model::Arch;

pub use crate::verdict::{Check, Order, Verdict, compare, fall_rise_fall, falls, rise_then_fall, widens};
pub use experiments::{Experiment, Reproduction, parse_seeds, parse_selection, round_fraction};
pub use jobs::{Job, Measured, Runner, Task, run_jobs, with_label_noise};
pub use page::{Report, index_markdown};
pub use setup::Setup;
pub use summary::{Results, Summary, Table};

/// The folder under `--out` that keeps finished jobs.
pub const CACHE_DIR: &str = "jobs-cache";

/// Run one experiment (reading finished jobs from the runner's cache, writing new ones there) and summarise it.
pub fn run_experiment(
    experiment: Experiment,
    setup: &Setup,
    data: &DataSplits,
    runner: &Runner,
) -> Result<Report, String> {
    let (entries, seconds) = run_jobs(experiment, setup, data, runner)?;
    Ok(report(experiment, setup, &entries, &runner.backend, seconds))
}

/// The report of measurements already taken.
pub fn report(
    experiment: Experiment,
    setup: &Setup,
    entries: &[(Job, Measured)],
    backend: &str,
    wall_seconds: f64,
) -> Report {
    let results = Results { setup, entries };
    let Summary { tables, charts, verdict, mut notes } = experiment.summarise(&results);
    let mut setup_notes = experiment.setup_notes(setup);
    setup_notes.append(&mut notes);
    Report {
        experiment,
        title: experiment.title().into(),
        claim: experiment.claim().into(),
        source: experiment.source().into(),
        setup: setup.clone(),
        setup_text: setup.describe(),
        notes: setup_notes,
        verdict,
        tables,
        backend: backend.into(),
        wall_seconds,
        command: setup.command(experiment.name()),
        jobs: entries.iter().map(|(j, _)| j.clone()).collect(),
        charts: charts.into_iter().map(|(suffix, c)| (suffix, c.size(900, 560))).collect(),
    }
}

/// What `ticketlab reproduce` was asked for.
pub struct Request {
    pub experiments: Vec<Experiment>,
    pub dataset: DatasetSpec,
    pub model: Arch,
    pub width: Option<f32>,
    pub seeds: Vec<u64>,
    pub scale: f64,
    /// Share of the training set moved to the test set
    /// ([`TrainConfig::test_from_train`](crate::config::TrainConfig::test_from_train)).
    pub test_from_train: f64,
    pub backend: BackendKind,
    /// Jobs trained at the same time.
    pub jobs: usize,
    pub out: PathBuf,
    pub verbose: bool,
}

/// Load the data, run every experiment asked for (an experiment that fails is reported and the others still run),
/// print each page's verdict and table, and write the pages, JSON, charts and (for several experiments) the index.
/// Returns whether every experiment ran; `Err` for bad input (nothing was run).
pub fn run_request(req: &Request) -> Result<bool, String> {
    if req.experiments.is_empty() {
        return Err("no experiment given".into());
    }
    if !(1..=64).contains(&req.jobs) {
        return Err(format!("jobs {} is out of range 1..=64", req.jobs));
    }
    if !(req.scale > 0.0 && req.scale <= 100.0) {
        return Err(format!("scale {} is out of range (0, 100]", req.scale));
    }
    // Moved once here, as every job's `test_from_train` says; the jobs share the result.
    let data =
        crate::train::load_dataset(&req.dataset, 0).map_err(|e| e.to_string())?.move_to_test(req.test_from_train);
    let setup = Setup::new(req.dataset.clone(), data.train.len(), req.model, req.width, req.seeds.clone(), req.scale)?
        .with_test_from_train(req.test_from_train, data.test.len())?;
    for e in &req.experiments {
        for job in e.jobs(&setup) {
            job.validate().map_err(|m| format!("{e}: {m}"))?;
        }
    }
    std::fs::create_dir_all(&req.out).map_err(|e| format!("could not create {}: {e}", req.out.display()))?;
    let backend = req.backend.label();
    let runner = Runner {
        device: crate::backend::device(req.backend)?,
        backend: backend.into(),
        parallel: req.jobs,
        verbose: req.verbose,
        // Finished jobs are kept here, so running the same command again continues where an interrupted one stopped.
        cache: Some(req.out.join(CACHE_DIR)),
    };
    let mut entries = vec![];
    for &e in &req.experiments {
        eprintln!("== {e}: {} ({} jobs)", e.title(), e.jobs(&setup).len());
        let result = run_experiment(e, &setup, &data, &runner).and_then(|r| {
            let files = r.write(&req.out)?;
            println!("{}", r.to_markdown());
            for f in files {
                println!("wrote {}", f.display());
            }
            Ok(r)
        });
        if let Err(msg) = &result {
            eprintln!("error: {msg}");
        }
        entries.push((e, result));
        // The index is rewritten after every experiment, so an interrupted page still links what has finished.
        if req.experiments.len() > 1 {
            let path = req.out.join("README.md");
            let pending = &req.experiments[entries.len()..];
            std::fs::write(&path, index_markdown(&setup, backend, &entries, pending))
                .map_err(|e| format!("could not write {}: {e}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    for (e, r) in &entries {
        match r {
            Ok(r) => println!("{e}: the claim {} — {}", r.verdict.word(), r.verdict.summary()),
            Err(msg) => println!("{e}: failed to run: {msg}"),
        }
    }
    Ok(entries.iter().all(|(_, r)| r.is_ok()))
}
