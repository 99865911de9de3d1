//! Jobs and what they measure: a labelled, seeded configuration and what to do with it (whatever
//! [`run_procedure`] makes of it, an evaluation under corruptions, or an instability analysis), run in order.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::corrupt::{Corruption, corrupt_dataset};
use crate::data::{DataSplits, Dataset};
use crate::ensembles::Evaluator;
use crate::error::TrainError;
use crate::metrics::{EvalMetrics, evaluate};
use crate::pace::{News, Pacer};
use crate::procedure::{Outcome, run_procedure, train_network};
use crate::progress::Reporter;
use crate::results::{EnsembleResult, ImpResult, Instability, RunResult};
use crate::rng::Rng;
use crate::run::run_to_end;
use crate::sparsity::Method;
use crate::tickets;
use crate::train::{TrainData, Trainer, labels_of};

use super::experiments::Experiment;
use super::setup::Setup;

/// What a job does with its configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Whatever [`run_procedure`] makes of the configuration: a run, IMP's rounds or an ensemble.
    Procedure,
    /// One network trained, then evaluated on corrupted copies of the test set (seeded by the run's seed, as the
    /// ensembles' robustness rows are).
    Corrupted { corruptions: Vec<Corruption>, severities: Vec<u8> },
    /// Train to `from_step`, then two copies to the end on different data orders: the error barrier between them.
    Instability { from_step: usize },
    /// The configuration's pruning-at-initialisation mask, each layer's active positions shuffled (seeded by the
    /// run's seed), then trained: the layer-wise shuffle control of Frankle et al. (2021).
    ShuffledMask,
}

/// One training job of an experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub label: String,
    pub seed: u64,
    pub config: TrainConfig,
    pub task: Task,
    /// Share of training labels replaced by another class, uniformly at random (seeded by the job's seed).
    pub label_noise: f64,
}

impl Job {
    pub fn new(label: &str, seed: u64, config: TrainConfig, task: Task) -> Job {
        Job { label: label.to_string(), seed, config, task, label_noise: 0.0 }
    }

    /// Check the configuration and the task's own ranges.
    pub fn validate(&self) -> Result<(), String> {
        self.config.validate().map_err(|e| format!("{}: {e}", self.label))?;
        let steps = self.config.steps.unwrap_or(usize::MAX);
        if let Task::Instability { from_step } = self.task
            && from_step >= steps
        {
            return Err(format!("{}: rewinding step {from_step} is not inside the run's {steps} steps", self.label));
        }
        if self.task == Task::ShuffledMask && !self.config.method.prunes_at_init() {
            return Err(format!("{}: only a pruning-at-initialisation mask can be shuffled", self.label));
        }
        if self.config.method == Method::Imp {
            self.config.imp.round_densities(self.config.density)?;
        }
        if !(0.0..1.0).contains(&self.label_noise) {
            return Err(format!("{}: label noise {} is out of range [0, 1)", self.label, self.label_noise));
        }
        Ok(())
    }
}

/// What a job measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Measured {
    Outcome(Outcome),
    /// The trained network's run, and its accuracy per corruption and severity.
    Corrupted {
        run: Box<RunResult>,
        rows: Vec<(Corruption, u8, f64)>,
    },
    Instability(Instability),
}

impl Measured {
    pub fn run(&self) -> Option<&RunResult> {
        match self {
            Measured::Outcome(Outcome::Run(r)) | Measured::Corrupted { run: r, .. } => Some(r),
            _ => None,
        }
    }

    pub fn imp(&self) -> Option<&ImpResult> {
        match self {
            Measured::Outcome(Outcome::Imp(r)) => Some(r),
            _ => None,
        }
    }

    pub fn ensemble(&self) -> Option<&EnsembleResult> {
        match self {
            Measured::Outcome(Outcome::Ensemble(r)) => Some(r),
            _ => None,
        }
    }

    pub fn instability(&self) -> Option<&Instability> {
        match self {
            Measured::Instability(i) => Some(i),
            _ => None,
        }
    }

    /// Clean test metrics of a single network (a run or a corrupted-evaluation job).
    pub fn test(&self) -> Option<&EvalMetrics> {
        self.run().map(|r| &r.test)
    }
}

/// A copy of `set` with `fraction` of its labels (chosen from `seed`) replaced by a different class drawn uniformly
/// (symmetric label noise).
pub fn with_label_noise(set: &Dataset, fraction: f64, seed: u64) -> Dataset {
    let mut out = set.clone();
    let k = set.num_classes as u32;
    if k < 2 || fraction <= 0.0 {
        return out;
    }
    let n = ((fraction * set.len() as f64).round() as usize).min(set.len());
    let mut rng = Rng::stream(seed, "label-noise");
    for i in rng.permutation(set.len()).into_iter().take(n) {
        let shift = 1 + rng.below(k - 1);
        out.labels[i] = ((out.labels[i] as u32 + shift) % k) as u16;
    }
    out
}

async fn measure(
    job: &Job,
    data: TrainData,
    device: burn::prelude::Device,
    backend: &str,
    pacer: &mut Reporter,
) -> Result<Measured, TrainError> {
    match &job.task {
        Task::Procedure => Ok(Measured::Outcome(run_procedure(&job.config, data, device, backend, pacer).await?)),
        Task::Corrupted { corruptions, severities } => {
            let (t, run) = train_network(&job.config, data, device, backend, pacer).await?;
            let run = Box::new(run);
            let ev = Evaluator::of(&t);
            let mut rows = vec![];
            for &c in corruptions {
                for &severity in severities {
                    let set =
                        corrupt_dataset(t.test_set(), c, severity, job.config.seed).map_err(TrainError::Config)?;
                    let probs = ev.predict(t.net(), t.sparse_plan(), &set).await?;
                    rows.push((c, severity, evaluate(&probs, t.spec().num_classes, &labels_of(&set)).accuracy));
                }
            }
            Ok(Measured::Corrupted { run, rows })
        }
        Task::ShuffledMask => {
            let mut t = Trainer::with_data(job.config.clone(), data, device)?;
            t.prepare().await?;
            let shuffled = t.masks().shuffled_within_layers(&mut Rng::stream(job.config.seed, "layer-shuffle"));
            t.set_masks(shuffled);
            let run = run_to_end(&mut t, backend, usize::MAX, |_| {}).await?;
            Ok(Measured::Outcome(Outcome::Run(Box::new(run))))
        }
        Task::Instability { from_step } => {
            let mut t = Trainer::with_data(job.config.clone(), data.clone(), device)?;
            t.prepare().await?;
            while t.step() < *from_step {
                t.train_step();
                if t.has_pending_masks() {
                    t.sync_masks().await?;
                }
                pacer.after_step(&mut t).await?;
            }
            pacer.news(News::Stage(format!("two copies from step {from_step}, on different data orders")));
            Ok(Measured::Instability(tickets::instability(&t, data).await?))
        }
    }
}

/// A finished job as the cache keeps it.
#[derive(Serialize, Deserialize)]
struct Cached {
    job: Job,
    seconds: f64,
    measured: Measured,
}

/// The revision of what a job computes from its settings. Raise it with every change to the code that changes a
/// job's result for the same settings (as 2 did: the DST Ensemble's and CARD-Deck's members no longer share seeds
/// across runs), so that a cache written before is not read as if it were a result of the new code. 3: a corrupted
/// evaluation keeps its whole run, and jobs are keyed without their labels. 4: IMP's random-mask control starts from
/// the ticket's rewound weights, not from the initialisation, and RigL's accounting charges an update step 2·f_S + f_D
/// (SET's none of the dense gradient it does not use). 5: a sparse network is tested (and its lookahead average's
/// BatchNorm statistics recomputed) through its sparse path, which rounds differently from the dense one.
const PROCEDURE_REVISION: u32 = 5;

/// Where a finished job's measurement is kept under `dir`: named by experiment, label and seed for people, and by a
/// hash of everything that determines the result (the job without its label, the backend, the data's size and first
/// images, and [`PROCEDURE_REVISION`]) so that a changed setting never reads a stale result, and the same job in
/// another experiment reads this one (see [`find_cached`]).
fn cache_path(dir: &Path, experiment: Experiment, job: &Job, backend: &str, data: &DataSplits) -> PathBuf {
    let Job { label, seed, config, task, label_noise } = job;
    let key = serde_json::to_string(&(PROCEDURE_REVISION, seed, config, task, label_noise, backend))
        .unwrap_or_default()
        + &format!(":{}:{}", data.train.len(), data.test.len());
    let head = |images: &[u8]| images[..images.len().min(1 << 16)].to_vec();
    let bytes = [key.into_bytes(), head(&data.train.images), head(&data.test.images)].concat();
    let slug: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    dir.join(experiment.name()).join(format!("{slug}-seed{seed}-{:016x}.json", crate::rng::fnv1a(&bytes)))
}

/// The finished job at `path`, or the same job (the same hash in its name) finished for another experiment under
/// the same cache folder, with that experiment's name. Experiments share jobs: the dense baseline, for one.
fn find_cached(path: &Path) -> Option<(Cached, Option<String>)> {
    if let Some(cached) = read_cached(path) {
        return Some((cached, None));
    }
    let (here, name) = (path.parent()?, path.file_name()?.to_str()?);
    let suffix = &name[name.rfind("-seed")?..];
    let mut others: Vec<PathBuf> = std::fs::read_dir(here.parent()?)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p != here)
        .collect();
    others.sort();
    others.iter().find_map(|dir| {
        let file = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .find(|f| f.file_name().to_str().is_some_and(|f| f.ends_with(suffix)))?;
        Some((read_cached(&file.path())?, Some(dir.file_name()?.to_string_lossy().into_owned())))
    })
}

fn read_cached(path: &Path) -> Option<Cached> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Write `cached` whole or not at all (a temporary file renamed into place), so an interrupted run leaves no torn file.
fn write_cached(path: &Path, cached: &Cached) -> Result<(), String> {
    let err = |e: std::io::Error| format!("could not write {}: {e}", path.display());
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let json = serde_json::to_vec(cached).map_err(|e| format!("could not encode {}: {e}", path.display()))?;
    let tmp = path.with_extension("json.part");
    std::fs::write(&tmp, json).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// How an experiment's jobs run: on which device, how many at once, with what progress, and where finished jobs are
/// kept.
#[derive(Clone)]
pub struct Runner {
    pub device: burn::prelude::Device,
    pub backend: String,
    /// Jobs trained at the same time (at least 1). One job at a time shows each job's steps; several show a line per
    /// finished job. Results are the same either way: every job is seeded on its own.
    pub parallel: usize,
    pub verbose: bool,
    /// With a folder, a job whose result is already there is read instead of run, and each finished job is written
    /// there at once: an interrupted `reproduce` continues where it stopped.
    pub cache: Option<PathBuf>,
}

/// What the jobs running at once share: each finished job's measurement, when the last one finished (a job's
/// recorded time is the wall-clock time it added to the experiment, so the times sum to the experiment's wall clock
/// whether jobs ran one or several at a time, and across an interrupted and resumed run), and the first failure.
struct Finished {
    results: Vec<Option<(Measured, f64)>>,
    last: Instant,
    failure: Option<String>,
}

/// Every job of `experiment` on `data` (the clean training set; noisy copies are made per job), in order, and the
/// wall-clock seconds they took.
pub fn run_jobs(
    experiment: Experiment,
    setup: &Setup,
    data: &DataSplits,
    runner: &Runner,
) -> Result<(Vec<(Job, Measured)>, f64), String> {
    let jobs = experiment.jobs(setup);
    for job in &jobs {
        job.validate()?;
    }
    let n = jobs.len();
    let mut progress = if runner.verbose { Reporter::new() } else { Reporter::quiet() };
    let name = |i: usize| format!("[{experiment} {}/{n}] {} (seed {})", i + 1, jobs[i].label, jobs[i].seed);
    let paths: Vec<Option<PathBuf>> = jobs
        .iter()
        .map(|job| runner.cache.as_deref().map(|dir| cache_path(dir, experiment, job, &runner.backend, data)))
        .collect();
    let mut results = vec![];
    for (i, path) in paths.iter().enumerate() {
        let found = path.as_deref().and_then(find_cached);
        match &found {
            Some((_, None)) => progress.line(&format!("{}  done before, read from the cache", name(i))),
            Some((_, Some(other))) => {
                progress.line(&format!("{}  the same job as in {other}, read from the cache", name(i)))
            }
            None => {}
        }
        results.push(found.map(|(c, _)| (c.measured, c.seconds)));
    }
    let mut todo: Vec<usize> = (0..n).filter(|&i| results[i].is_none()).collect();
    if runner.parallel > 1 {
        // The same job of every seed side by side (the list is seed by seed): runs of equal length start together, so
        // no core waits at the end of a wave for a longer job of another kind.
        let place = |i: usize| jobs[..i].iter().filter(|j| j.seed == jobs[i].seed).count();
        todo.sort_by_key(|&i| (place(i), i));
    }
    let finished = Mutex::new(Finished { results, last: Instant::now(), failure: None });
    let failed = || finished.lock().unwrap_or_else(|e| e.into_inner()).failure.is_some();
    let clean = TrainData::new(data.clone(), 0.0, 0);
    // One job: measured, then recorded (and written to the cache) as soon as it ends; returns its own seconds.
    let run_one = |i: usize, pacer: &mut Reporter| -> Option<f64> {
        let job = &jobs[i];
        let train_data = if job.label_noise > 0.0 {
            let noisy = DataSplits { train: with_label_noise(&data.train, job.label_noise, job.seed), ..data.clone() };
            TrainData::new(noisy, 0.0, 0)
        } else {
            clean.clone()
        };
        let start = Instant::now();
        let measured = pollster::block_on(measure(job, train_data, runner.device.clone(), &runner.backend, pacer))
            .map_err(|e| format!("{experiment}: {} (seed {}): {e}", job.label, job.seed));
        let mut f = finished.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let written = measured.and_then(|measured| {
            let seconds = now.duration_since(f.last.max(start)).as_secs_f64();
            if let Some(path) = &paths[i] {
                write_cached(path, &Cached { job: job.clone(), seconds, measured: measured.clone() })?;
            }
            Ok((measured, seconds))
        });
        f.last = now;
        match written {
            Ok(result) => f.results[i] = Some(result),
            Err(e) => {
                f.failure.get_or_insert(e);
                return None;
            }
        }
        Some(now.duration_since(start).as_secs_f64())
    };
    if runner.parallel <= 1 || todo.len() <= 1 {
        // One at a time, each job's steps on the progress bar.
        for &i in &todo {
            if failed() {
                break;
            }
            progress.set_prefix(&name(i));
            progress.line("starts");
            if let Some(took) = run_one(i, &mut progress) {
                progress.line(&format!("done in {took:.0} s"));
            }
            progress.finish();
        }
    } else {
        // Several at a time: a line as each job starts and ends, and the count of finished jobs on the bar.
        let done = AtomicUsize::new(0);
        let progress = &progress;
        let count = || format!("jobs of {experiment} finished");
        progress.progress(0, todo.len(), count);
        crate::cpu::side_by_side(todo.len(), runner.parallel, |k| {
            let i = todo[k];
            if failed() {
                return false;
            }
            progress.line(&format!("{}  starts", name(i)));
            if let Some(took) = run_one(i, &mut Reporter::quiet()) {
                progress.line(&format!("{}  done in {took:.0} s", name(i)));
            }
            progress.progress(done.fetch_add(1, Ordering::Relaxed) + 1, todo.len(), count);
            true
        });
        progress.finish();
    }
    let finished = finished.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = finished.failure {
        return Err(e);
    }
    let mut seconds = 0.0;
    let mut out = vec![];
    for (job, result) in jobs.into_iter().zip(finished.results) {
        let (measured, s) =
            result.ok_or_else(|| format!("{experiment}: {} (seed {}) did not run", job.label, job.seed))?;
        seconds += s;
        out.push((job, measured));
    }
    Ok((out, seconds))
}
