//! The experiments: one file each, implementing [`Reproduction`], and [`Experiment`], the catalogue that lists them
//! once. Each file brings what it needs into scope through `use super::*`: the types and helpers imported here.

mod double_descent;
mod dst;
mod freetickets;
mod instability;
mod prune_at_init;
mod prune_tune;
mod robustness;
mod soups;
mod sup_tickets;
mod tickets;

use serde::Serialize;

pub(super) use super::chart::{Chart, Series};
pub(super) use super::jobs::{Job, Measured, Task};
pub(super) use super::setup::{REWIND_SHARE, Setup};
pub(super) use super::summary::{
    Results, Summary, Table, accuracy, ensemble_metrics, extras, flops_vs_dense, join_chart, level, member_mean,
    metric_stats, num, pc, pct, stat_series, text,
};
pub(super) use crate::config::{EnsembleKind, EnsembleSettings, ImpSettings, Rewind, TrainConfig};
pub(super) use crate::corrupt::Corruption;
pub(super) use crate::metrics::Stat;
pub(super) use crate::results::{EnsembleResult, Extras, ImpRound, SoupExtras, SupCycle, SupTicketsExtras, Trained};
pub(super) use crate::sparsity::{Distribution, Method};
pub(super) use crate::verdict::{Check, Order, compare, fall_rise_fall, falls, rise_then_fall, widens};

/// One claim of the literature, reproduced at small scale: what it says, the jobs that test it, and the summary that
/// turns their measurements into tables, charts and a verdict.
pub trait Reproduction: Sync {
    /// The name `reproduce` takes, and the stem of the page's files.
    fn name(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// The claim whose ordering the verdict checks.
    fn claim(&self) -> &'static str;
    /// The papers the claim comes from.
    fn source(&self) -> &'static str;
    /// What this small-scale version does, and the choices the short runs force.
    fn notes(&self, setup: &Setup) -> Vec<String>;
    /// The jobs of one seed.
    fn jobs(&self, setup: &Setup, seed: u64) -> Vec<Job>;
    /// Tables, charts and verdict from the measurements of every seed.
    fn summary(&self, results: &Results) -> Summary;
}

/// An experiment of `reproduce`, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Experiment {
    Dst,
    Tickets,
    Instability,
    Freetickets,
    SupTickets,
    PruneTune,
    Soups,
    DoubleDescent,
    Robustness,
    PruneAtInit,
}

impl Experiment {
    /// Every experiment, in the order `all` runs them.
    pub const ALL: [Experiment; 10] = [
        Experiment::Dst,
        Experiment::Tickets,
        Experiment::Instability,
        Experiment::Freetickets,
        Experiment::SupTickets,
        Experiment::PruneTune,
        Experiment::Soups,
        Experiment::DoubleDescent,
        Experiment::Robustness,
        Experiment::PruneAtInit,
    ];

    /// The experiment itself.
    pub fn get(self) -> &'static dyn Reproduction {
        match self {
            Experiment::Dst => &dst::Dst,
            Experiment::Tickets => &tickets::Tickets,
            Experiment::Instability => &instability::Instability,
            Experiment::Freetickets => &freetickets::Freetickets,
            Experiment::SupTickets => &sup_tickets::SupTickets,
            Experiment::PruneTune => &prune_tune::PruneTune,
            Experiment::Soups => &soups::Soups,
            Experiment::DoubleDescent => &double_descent::DoubleDescent,
            Experiment::Robustness => &robustness::Robustness,
            Experiment::PruneAtInit => &prune_at_init::PruneAtInit,
        }
    }

    pub fn name(self) -> &'static str {
        self.get().name()
    }

    pub fn title(self) -> &'static str {
        self.get().title()
    }

    pub fn claim(self) -> &'static str {
        self.get().claim()
    }

    pub fn source(self) -> &'static str {
        self.get().source()
    }

    pub fn setup_notes(self, setup: &Setup) -> Vec<String> {
        self.get().notes(setup)
    }

    /// Every job of the experiment: the jobs of each seed, seed by seed.
    pub fn jobs(self, setup: &Setup) -> Vec<Job> {
        setup.seeds.iter().flat_map(|&seed| self.get().jobs(setup, seed)).collect()
    }

    pub fn summarise(self, results: &Results) -> Summary {
        self.get().summary(results)
    }
}

impl Serialize for Experiment {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl std::str::FromStr for Experiment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Experiment::ALL.into_iter().find(|e| e.name() == s || e.name().replace('-', "_") == s).ok_or_else(|| {
            format!("unknown experiment '{s}' (expected all or one of {})", experiment_names().join(", "))
        })
    }
}

impl std::fmt::Display for Experiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn experiment_names() -> Vec<&'static str> {
    Experiment::ALL.iter().map(|e| e.name()).collect()
}

/// `all`, one experiment name, or several separated by commas (in the order given, without repeats).
pub fn parse_selection(s: &str) -> Result<Vec<Experiment>, String> {
    if s.trim() == "all" {
        return Ok(Experiment::ALL.to_vec());
    }
    let mut out = vec![];
    for name in s.split(',') {
        let e: Experiment = name.trim().parse()?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// A comma-separated list of distinct seeds, e.g. `0,1` (at most 32).
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, String> {
    let mut out = vec![];
    for x in s.split(',') {
        let seed: u64 = x.trim().parse().map_err(|_| {
            format!("seed '{}' is not a whole number from 0 to {} (e.g. --seeds 0,1)", x.trim(), u64::MAX)
        })?;
        if out.contains(&seed) {
            return Err(format!("seed {seed} is listed twice"));
        }
        out.push(seed);
    }
    if out.len() > 32 {
        return Err(format!("{} seeds are too many (at most 32)", out.len()));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------------
// What several experiments share

/// Members of the DST Ensembles (and CARD-Deck) of the ensemble experiments.
const ENSEMBLE_MEMBERS: usize = 3;

// Labels of jobs several experiments run.
const DENSE: &str = "dense";
const DST_ENSEMBLE: &str = "DST Ensemble";
const IMP_STEP: &str = "IMP, rewind to step k";

/// The configurations of one seed's jobs, all made from the setup's dense base configuration.
struct JobKit<'a> {
    setup: &'a Setup,
    seed: u64,
    base: TrainConfig,
}

impl<'a> JobKit<'a> {
    fn new(setup: &'a Setup, seed: u64) -> Self {
        JobKit { setup, seed, base: setup.base(seed) }
    }

    fn base(&self) -> TrainConfig {
        self.base.clone()
    }

    fn sparse(&self, density: f64, method: Method) -> TrainConfig {
        TrainConfig { density, method, ..self.base() }
    }

    /// RigL at the ensembles' density: three members cost no more training FLOPs than one dense run.
    fn rigl(&self) -> TrainConfig {
        self.sparse(self.setup.ensemble_density(ENSEMBLE_MEMBERS), Method::Rigl)
    }

    /// IMP down to `density` in `rounds` rounds, rewinding to initialisation or to the setup's step k.
    fn imp(&self, density: f64, rounds: usize, rewind: Rewind, controls: bool) -> TrainConfig {
        TrainConfig {
            method: Method::Imp,
            density,
            imp: ImpSettings {
                prune_fraction: round_fraction(density, rounds),
                rewind,
                rewind_step: if rewind == Rewind::Step { self.setup.rewind_step() } else { 0 },
                controls,
                ..ImpSettings::default()
            },
            ..self.base()
        }
    }

    /// `config` as the members of an ensemble of `kind`, evaluated under the robustness experiment's corruptions if
    /// `corrupted`.
    fn ensemble(&self, config: TrainConfig, kind: EnsembleKind, corrupted: bool) -> TrainConfig {
        TrainConfig {
            ensemble: EnsembleSettings {
                kind,
                // Soups get their own number of children; the others their command-line default.
                members: if kind == EnsembleKind::Soup { soups::SOUP_CHILDREN } else { kind.default_members() },
                corruptions: if corrupted { robustness::ROBUST_CORRUPTIONS.to_vec() } else { vec![] },
                severities: robustness::SEVERITIES.to_vec(),
                ..EnsembleSettings::default()
            },
            ..config
        }
    }

    /// The dense network, evaluated under the robustness experiment's corruptions too: one job for every
    /// experiment that compares against it, so that `reproduce all` trains it once per seed.
    fn dense(&self) -> Job {
        let corrupted = Task::Corrupted {
            corruptions: robustness::ROBUST_CORRUPTIONS.to_vec(),
            severities: robustness::SEVERITIES.to_vec(),
        };
        Job::new(DENSE, self.seed, self.base(), corrupted)
    }

    /// The DST Ensemble of RigL members, evaluated under corruptions too: FreeTickets and robustness share it.
    fn dst_ensemble(&self) -> Job {
        self.job(DST_ENSEMBLE, self.ensemble(self.rigl(), EnsembleKind::DstEnsemble, true))
    }

    /// A job that runs whatever its configuration describes.
    fn job(&self, label: &str, config: TrainConfig) -> Job {
        Job::new(label, self.seed, config, Task::Procedure)
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Set => "SET",
        Method::Rigl => "RigL",
        other => other.name(),
    }
}

fn sparsity(density: f64) -> String {
    format!("{}%", ((1.0 - density) * 1000.0).round() / 10.0)
}

fn method_at(m: Method, density: f64) -> String {
    format!("{} {}", method_name(m), sparsity(density))
}

fn rewind_label(k: usize) -> String {
    format!("k = {k}")
}

/// The share of the remaining weights each of `rounds` IMP rounds prunes to reach `density`.
pub fn round_fraction(density: f64, rounds: usize) -> f64 {
    1.0 - density.powf(1.0 / rounds.max(1) as f64)
}
