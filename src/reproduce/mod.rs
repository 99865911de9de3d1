//! `ticketlab reproduce`: small-scale versions of the seed papers' claims, each run over several seeds and ending in
//! a markdown table (mean ± sample standard deviation over the seeds), a JSON record, a PNG chart and a plain
//! verdict — did the paper's ordering hold here, with the numbers, whichever way it went.
//!
//! Each experiment is one file under `experiments/` implementing [`Reproduction`]: its claim, a list of [`Job`]s (a label, a seed, a [`TrainConfig`] and what to do with it — whatever
//! [`run_procedure`] makes of the configuration, an evaluation under corruptions, or an instability analysis) and a
//! summary that turns their measurements into tables, charts and a [`Verdict`] (`verdict.rs`). The verdicts compare means over the
//! seeds; a difference smaller than the seeds' spread is flagged as such, never hidden.
//!
//! Sizes: by default every run is three epochs of the chosen training set in batches of 64 (138 steps on the default
//! `synthetic:3000:1000`), on VGG-11 (BatchNorm) at width ×0.125, which trains to a useful accuracy in that budget
//! where the plain conv nets need far longer. `scale` multiplies the run length, and for `scale > 1` also the number
//! of IMP rounds. The choices forced by the short runs are stated on each page (see [`Reproduction::notes`]).

use crate::chart;
mod experiments;
mod jobs;
mod page;
mod setup;
mod summary;
mod verdict;

use std::path::PathBuf;

use web_time::Instant;

use crate::backend::BackendKind;
use crate::config::DatasetSpec;
use crate::data::DataSplits;
use crate::model::Arch;

pub use experiments::{Experiment, Reproduction, parse_seeds, parse_selection, round_fraction};
pub use jobs::{Job, Measured, Task, run_jobs, with_label_noise};
pub use page::{Report, index_markdown};
pub use setup::Setup;
pub use summary::{Results, Summary, Table};
pub use verdict::{Check, Order, Shape, Verdict, compare, falls, non_decreasing, shape};

/// Run one experiment and summarise it.
pub fn run_experiment(
    experiment: Experiment,
    setup: &Setup,
    data: &DataSplits,
    device: &burn::prelude::Device,
    backend: &str,
    verbose: bool,
) -> Result<Report, String> {
    let start = Instant::now();
    let entries = run_jobs(experiment, setup, data, device, backend, verbose)?;
    Ok(report(experiment, setup, &entries, backend, start.elapsed().as_secs_f64()))
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
    pub backend: BackendKind,
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
    if !(req.scale > 0.0 && req.scale <= 100.0) {
        return Err(format!("scale {} is out of range (0, 100]", req.scale));
    }
    let data = crate::train::load_dataset(&req.dataset, 0).map_err(|e| e.to_string())?;
    let setup = Setup::new(req.dataset.clone(), data.train.len(), req.model, req.width, req.seeds.clone(), req.scale)?;
    for e in &req.experiments {
        for job in e.jobs(&setup) {
            job.validate().map_err(|m| format!("{e}: {m}"))?;
        }
    }
    std::fs::create_dir_all(&req.out).map_err(|e| format!("could not create {}: {e}", req.out.display()))?;
    let device = crate::backend::device(req.backend)?;
    let backend = req.backend.name();
    let mut entries = vec![];
    for &e in &req.experiments {
        eprintln!("== {e}: {} ({} jobs)", e.title(), e.jobs(&setup).len());
        let result = run_experiment(e, &setup, &data, &device, backend, req.verbose).and_then(|r| {
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
    }
    if entries.len() > 1 {
        let path = req.out.join("README.md");
        std::fs::write(&path, index_markdown(&setup, backend, &entries))
            .map_err(|e| format!("could not write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    for (e, r) in &entries {
        match r {
            Ok(r) => println!("{e}: the claim {} — {}", r.verdict.word(), r.verdict.summary()),
            Err(msg) => println!("{e}: failed to run: {msg}"),
        }
    }
    Ok(entries.iter().all(|(_, r)| r.is_ok()))
}
