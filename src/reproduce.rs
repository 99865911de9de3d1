//! `ticketlab reproduce`: small-scale versions of the seed papers' claims, each run over several seeds and ending in
//! a markdown table (mean ± sample standard deviation over the seeds), a JSON record, a PNG chart and a plain
//! verdict — did the paper's ordering hold here, with the numbers, whichever way it went.
//!
//! An experiment is data: a list of [`Job`]s (a label, a seed, a [`TrainConfig`] and what to do with it — whatever
//! [`run_procedure`] makes of the configuration, an evaluation under corruptions, or an instability analysis) and a
//! summary that turns their measurements into tables, charts and a [`Verdict`]. The verdicts compare means over the
//! seeds; a difference smaller than the seeds' spread is flagged as such, never hidden.
//!
//! Sizes: by default every run is three epochs of the chosen training set in batches of 64 (138 steps on the default
//! `synthetic:3000:1000`), on VGG-11 (BatchNorm) at width ×0.125, which trains to a useful accuracy in that budget
//! where the plain conv nets need far longer. `scale` multiplies the run length, and for `scale > 1` also the number
//! of IMP rounds. The choices forced by the short runs are stated on each page (see [`Experiment::setup_notes`]).

use std::path::{Path, PathBuf};

use serde::Serialize;
use web_time::Instant;

use crate::backend::BackendKind;
use crate::chart::{Chart, Series};
use crate::config::{DatasetSpec, EnsembleKind, EnsembleSettings, ImpSettings, Rewind, TrainConfig};
use crate::corrupt::{Corruption, corrupt_dataset};
use crate::data::{DataSplits, Dataset};
use crate::ensembles::Evaluator;
use crate::error::TrainError;
use crate::metrics::{EvalMetrics, evaluate};
use crate::model::Arch;
use crate::pace::{News, Pacer};
use crate::procedure::{Outcome, run_procedure};
use crate::results::{EnsembleResult, Extras, ImpResult, Instability, RunResult};
use crate::rng::Rng;
use crate::run::train_out;
use crate::sparsity::{Distribution, DstSettings, Method};
use crate::tickets;
use crate::train::{TrainData, Trainer, labels_of};

// ---------------------------------------------------------------------------------------------------------------
// The experiments

/// One named claim of the literature, reproduced at small scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
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

/// Runs per training length: three epochs of the training set at scale 1.
pub const BASE_EPOCHS: f64 = 3.0;
/// No run is shorter than this (EDST's phases and Sup-tickets' cycles need a few steps each).
pub const MIN_STEPS: usize = 24;
/// The sparsities of the DST comparison, as densities.
pub const DST_DENSITIES: [f64; 3] = [0.2, 0.1, 0.05];
/// The density of the sparse networks of the ensemble experiments (FreeTickets' reference density).
pub const ENSEMBLE_DENSITY: f64 = 0.2;
/// Sup-tickets is a method for high sparsity.
pub const SUP_DENSITY: f64 = 0.1;
/// IMP's final density in the tickets experiment, reached in [`TICKET_ROUNDS`] rounds at scale 1.
pub const TICKET_DENSITY: f64 = 0.05;
pub const TICKET_ROUNDS: usize = 4;
/// Weight rewinding goes back to this share of training.
pub const REWIND_SHARE: f64 = 0.05;
/// The instability analysis studies a sparse network at this density (a static ERK mask).
pub const INSTABILITY_DENSITY: f64 = 0.2;
/// The rewinding points of the instability analysis, as shares of training.
pub const INSTABILITY_SHARES: [f64; 5] = [0.0, 0.02, 0.05, 0.1, 0.2];
/// Sparse double descent: IMP down to this density in [`DOUBLE_DESCENT_ROUNDS`] rounds at scale 1, with this share
/// of the training labels replaced by another class.
pub const DOUBLE_DESCENT_DENSITY: f64 = 0.01;
pub const DOUBLE_DESCENT_ROUNDS: usize = 7;
pub const LABEL_NOISE: f64 = 0.2;
/// Pruning at initialisation compares the methods at this density (90% sparse).
pub const PAI_DENSITY: f64 = 0.1;
/// The corruptions of the robustness experiment, at [`SEVERITIES`]: noise (CARD-Deck's second member trains on it),
/// a blur no member trains on, and two weather/digital ones.
pub const ROBUST_CORRUPTIONS: [Corruption; 4] =
    [Corruption::GaussianNoise, Corruption::DefocusBlur, Corruption::Contrast, Corruption::Fog];
pub const SEVERITIES: [u8; 3] = [1, 3, 5];

impl Experiment {
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

    pub fn name(self) -> &'static str {
        match self {
            Experiment::Dst => "dst",
            Experiment::Tickets => "tickets",
            Experiment::Instability => "instability",
            Experiment::Freetickets => "freetickets",
            Experiment::SupTickets => "sup-tickets",
            Experiment::PruneTune => "prune-tune",
            Experiment::Soups => "soups",
            Experiment::DoubleDescent => "double-descent",
            Experiment::Robustness => "robustness",
            Experiment::PruneAtInit => "prune-at-init",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Experiment::Dst => "Dynamic sparse training: RigL vs SET vs static vs dense",
            Experiment::Tickets => "Lottery tickets: IMP winning ticket vs random re-initialisation vs random pruning",
            Experiment::Instability => "Instability: error barrier vs rewinding iteration",
            Experiment::Freetickets => "FreeTickets: DST Ensemble and EDST vs one dense model",
            Experiment::SupTickets => "Sup-tickets: superposed tickets vs the base sparse run",
            Experiment::PruneTune => "Prune-and-Tune ensemble vs its parent",
            Experiment::Soups => "Model soups: uniform and greedy soup vs the best child",
            Experiment::DoubleDescent => "Sparse double descent under label noise",
            Experiment::Robustness => "Robustness under corruptions: dense vs sparse vs ensembles; CARD-Deck gate",
            Experiment::PruneAtInit => "Pruning at initialisation: SNIP vs GraSP vs SynFlow vs random",
        }
    }

    /// The claim whose ordering the verdict checks.
    pub fn claim(self) -> &'static str {
        match self {
            Experiment::Dst => "RigL ≥ SET > static at every sparsity, and the gap to static widens as sparsity grows.",
            Experiment::Tickets => {
                "At high sparsity the winning ticket beats both controls (same mask re-initialised, random mask at the \
                 same layer densities); rewinding to iteration k is at least as good as rewinding to initialisation."
            }
            Experiment::Instability => {
                "The error barrier between two copies trained from iteration k falls as k grows."
            }
            Experiment::Freetickets => {
                "The sparse ensembles match or beat one dense model's accuracy at no more than its training FLOPs."
            }
            Experiment::SupTickets => {
                "Superposing the cycles' tickets improves on the base sparse run at equal non-zeros."
            }
            Experiment::PruneTune => "The ensemble of pruned-and-tuned children beats its parent.",
            Experiment::Soups => {
                "The greedy soup is at least as accurate as the best child (the uniform soup is reported as it is)."
            }
            Experiment::DoubleDescent => {
                "With label noise, test accuracy falls, rises, then falls again as IMP's sparsity grows."
            }
            Experiment::Robustness => {
                "A sparse ensemble is more robust to corruptions than one dense network, and CARD-Deck's spectral gate \
                 beats averaging its members."
            }
            Experiment::PruneAtInit => "SNIP, GraSP and SynFlow each beat random pruning at the same density.",
        }
    }

    /// The papers the claim comes from.
    pub fn source(self) -> &'static str {
        match self {
            Experiment::Dst => {
                "Evci et al., Rigging the Lottery, ICML 2020; Mocanu et al., Sparse Evolutionary Training, Nat. Commun. 2018"
            }
            Experiment::Tickets => {
                "Frankle & Carbin, The Lottery Ticket Hypothesis, ICLR 2019; Frankle et al., Linear Mode Connectivity and \
                 the Lottery Ticket Hypothesis, ICML 2020"
            }
            Experiment::Instability => {
                "Frankle et al., Linear Mode Connectivity and the Lottery Ticket Hypothesis, ICML 2020"
            }
            Experiment::Freetickets => {
                "Liu et al., Deep Ensembling with No Overhead for either Training or Testing, ICLR 2022"
            }
            Experiment::SupTickets => "Yin et al., Superposing Many Tickets into One, 2022",
            Experiment::PruneTune => "Whitaker & Whitley, Prune and Tune Ensembles, AAAI 2022",
            Experiment::Soups => "Wortsman et al., Model Soups, ICML 2022",
            Experiment::DoubleDescent => {
                "He et al., Sparse Double Descent: Where Network Pruning Aggravates Overfitting, ICML 2022"
            }
            Experiment::Robustness => {
                "Diffenderfer et al., A Winning Hand (CARD-Decks), NeurIPS 2021; Liu et al., FreeTickets, ICLR 2022"
            }
            Experiment::PruneAtInit => {
                "Lee et al. (SNIP) ICLR 2019; Wang et al. (GraSP) ICLR 2020; Tanaka et al. (SynFlow) NeurIPS 2020; \
                 Frankle et al., Pruning Neural Networks at Initialization: Why Are We Missing the Mark?, ICLR 2021"
            }
        }
    }

    /// What this small-scale version does, and the choices the short runs force.
    pub fn setup_notes(self, s: &Setup) -> Vec<String> {
        let steps = s.steps();
        let dst = s.dst();
        let erk = "ERK densities";
        match self {
            Experiment::Dst => vec![format!(
                "Sparsities {} ({erk}); SET and RigL update every ΔT = {} steps until {}% of training ({} updates), \
                 drop fraction {} cosine-annealed (RigL's schedule with ΔT scaled to the {steps}-step run).",
                DST_DENSITIES.map(sparsity).join(", "),
                dst.update_every,
                (dst.end_fraction * 100.0).round(),
                dst.end_step(steps) / dst.update_every,
                dst.drop_fraction
            )],
            Experiment::Tickets => vec![
                format!(
                    "Global magnitude IMP to density {TICKET_DENSITY} in {} rounds (pruning {:.0}% of the remaining \
                     weights per round, more than the usual 20% to keep the rounds few); controls every round.",
                    s.grid(TICKET_ROUNDS),
                    100.0 * round_fraction(TICKET_DENSITY, s.grid(TICKET_ROUNDS))
                ),
                format!(
                    "A second IMP, without controls, rewinds to step k = {} ({:.0}% of training) instead of to \
                     initialisation. The controls train from step 0, the step-k ticket for the remaining steps.",
                    s.rewind_step(),
                    100.0 * REWIND_SHARE
                ),
            ],
            Experiment::Instability => vec![format!(
                "The sparse network at density {INSTABILITY_DENSITY} (a static ERK mask, fixed from initialisation), trained to step k (k = {} steps), then two copies on different data orders to the \
                 end; test error along (1 − α)·θ₁ + α·θ₂, α = 0, 0.1, …, 1; barrier = max error − mean of the ends.",
                s.instability_steps().iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
            )],
            Experiment::Freetickets => vec![format!(
                "Both ensembles: 3 members, RigL at density {ENSEMBLE_DENSITY} ({erk}). EDST explores for a third of the \
                 run and then refines three tickets, each phase after re-exploring 80% of the weights. Training FLOPs \
                 follow RigL's convention, relative to one dense run of the same length."
            )],
            Experiment::SupTickets => vec![format!(
                "RigL at density {SUP_DENSITY} ({erk}); the last quarter of the run is 3 triangular learning-rate cycles; \
                 the base is the same configuration trained normally for the whole run (same seed, same non-zeros)."
            )],
            Experiment::PruneTune => vec![
                "A dense parent (learning rate flat for half the run, then linear decay), 4 children in anti-random \
                 pairs (each keeps a random half of every layer but the last, its partner the other half), each tuned \
                 one-cycle for a quarter of the parent's steps; softmax averaged."
                    .into(),
            ],
            Experiment::Soups => vec![
                "A dense parent; 4 children fine-tuned from it for a quarter of its steps with different learning rates, \
                 augmentation and data orders; 10% of the training set held out for the greedy soup. The \
                 interpolation curve runs from the parent (α = 0) to the best child (α = 1)."
                    .into(),
            ],
            Experiment::DoubleDescent => vec![
                format!(
                "{:.0}% of the training labels replaced by another class (symmetric noise, seeded per seed; the test set \
                 is clean). Global IMP to density {DOUBLE_DESCENT_DENSITY} in {} rounds, rewinding to step k = {}. \
                 He et al. train 160 epochs per round, long enough for the dense network to memorise the noise; \
                 these runs are far shorter, so the dense network may never fit the noise and the first descent \
                 (light pruning hurting a network that memorised it) may not appear (longer runs: --scale).",
                100.0 * LABEL_NOISE,
                s.grid(DOUBLE_DESCENT_ROUNDS),
                s.rewind_step()
            ),
            "ℓ₂ distance of the prunable weights between the start and the end of each round's training: from \
             initialisation in round 0, from the rewinding point at step k in later rounds."
                .into(),
            ],
            Experiment::Robustness => vec![format!(
                "Dense network; a DST Ensemble (3 RigL members at density {ENSEMBLE_DENSITY}; its members are the sparse \
                 single networks); a CARD-Deck of 3 RigL members at the same density trained on clean, Gaussian-noise- \
                 and Gaussian-blur-augmented data, gated per batch of 100 test images. Corruptions {} at severities {:?}.",
                ROBUST_CORRUPTIONS.map(|c| c.name()).join(", "),
                SEVERITIES
            )],
            Experiment::PruneAtInit => vec![format!(
                "Each method chooses the mask once at initialisation at density {PAI_DENSITY} (layer densities by its own \
                 scores, globally; random: {erk}); the masks stay fixed."
            )],
        }
    }

    /// The jobs of one seed.
    fn jobs_for_seed(self, s: &Setup, seed: u64) -> Vec<Job> {
        let base = s.base(seed);
        let sparse = |density: f64, method: Method| TrainConfig { density, method, ..base.clone() };
        let imp = |density: f64, rounds: usize, rewind: Rewind, controls: bool| TrainConfig {
            method: Method::Imp,
            density,
            imp: ImpSettings {
                prune_fraction: round_fraction(density, rounds),
                rewind,
                rewind_step: if rewind == Rewind::Step { s.rewind_step() } else { 0 },
                controls,
                ..ImpSettings::default()
            },
            ..base.clone()
        };
        let ensemble = |config: TrainConfig, kind: EnsembleKind, corrupted: bool| TrainConfig {
            ensemble: EnsembleSettings {
                kind,
                // Soups get 4 children (the reference uses many more); the others their command-line default.
                members: if kind == EnsembleKind::Soup { 4 } else { kind.default_members() },
                corruptions: if corrupted { ROBUST_CORRUPTIONS.to_vec() } else { vec![] },
                severities: SEVERITIES.to_vec(),
                ..EnsembleSettings::default()
            },
            ..config
        };
        let job = |label: &str, config: TrainConfig| Job::new(label, seed, config, Task::Procedure);
        let rigl = || sparse(ENSEMBLE_DENSITY, Method::Rigl);
        match self {
            Experiment::Dst => {
                let mut jobs = vec![job(DENSE, base.clone())];
                for d in DST_DENSITIES {
                    for m in DST_METHODS {
                        jobs.push(job(&method_at(m, d), sparse(d, m)));
                    }
                }
                jobs
            }
            Experiment::Tickets => vec![
                job(IMP_INIT, imp(TICKET_DENSITY, s.grid(TICKET_ROUNDS), Rewind::Init, true)),
                job(IMP_STEP, imp(TICKET_DENSITY, s.grid(TICKET_ROUNDS), Rewind::Step, false)),
            ],
            Experiment::Instability => s
                .instability_steps()
                .into_iter()
                .map(|k| {
                    let config = sparse(INSTABILITY_DENSITY, Method::Static);
                    Job::new(&rewind_label(k), seed, config, Task::Instability { from_step: k })
                })
                .collect(),
            Experiment::Freetickets => vec![
                job(DENSE, base.clone()),
                job(DST_ENSEMBLE, ensemble(rigl(), EnsembleKind::DstEnsemble, false)),
                job(EDST, ensemble(rigl(), EnsembleKind::Edst, false)),
            ],
            Experiment::SupTickets => {
                vec![job(SUP, ensemble(sparse(SUP_DENSITY, Method::Rigl), EnsembleKind::SupTickets, false))]
            }
            Experiment::PruneTune => vec![job(PRUNE_TUNE, ensemble(base.clone(), EnsembleKind::PruneTune, false))],
            Experiment::Soups => vec![job(SOUP, ensemble(base.clone(), EnsembleKind::Soup, false))],
            Experiment::DoubleDescent => vec![Job {
                label_noise: LABEL_NOISE,
                ..job(IMP_STEP, imp(DOUBLE_DESCENT_DENSITY, s.grid(DOUBLE_DESCENT_ROUNDS), Rewind::Step, false))
            }],
            Experiment::Robustness => vec![
                Job::new(
                    DENSE,
                    seed,
                    base.clone(),
                    Task::Corrupted { corruptions: ROBUST_CORRUPTIONS.to_vec(), severities: SEVERITIES.to_vec() },
                ),
                job(DST_ENSEMBLE, ensemble(rigl(), EnsembleKind::DstEnsemble, true)),
                job(CARD_DECK, ensemble(rigl(), EnsembleKind::CardDeck, true)),
            ],
            Experiment::PruneAtInit => {
                PAI_METHODS.iter().map(|&(label, m)| job(label, sparse(PAI_DENSITY, m))).collect()
            }
        }
    }

    /// Every job of the experiment: the jobs of each seed, seed by seed.
    pub fn jobs(self, setup: &Setup) -> Vec<Job> {
        setup.seeds.iter().flat_map(|&seed| self.jobs_for_seed(setup, seed)).collect()
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
        let seed: u64 =
            x.trim().parse().map_err(|_| format!("seed '{}' is not a whole number (e.g. --seeds 0,1)", x.trim()))?;
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

// Labels shared by the jobs and their summaries.
const DENSE: &str = "dense";
const DST_ENSEMBLE: &str = "DST Ensemble";
const EDST: &str = "EDST";
const SUP: &str = "Sup-tickets";
const PRUNE_TUNE: &str = "Prune-and-Tune";
const SOUP: &str = "soup";
const CARD_DECK: &str = "CARD-Deck";
const IMP_INIT: &str = "IMP, rewind to init";
const IMP_STEP: &str = "IMP, rewind to step k";
const DST_METHODS: [Method; 3] = [Method::Static, Method::Set, Method::Rigl];
const PAI_METHODS: [(&str, Method); 4] =
    [("SNIP", Method::Snip), ("GraSP", Method::Grasp), ("SynFlow", Method::Synflow), ("random", Method::Static)];

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

// ---------------------------------------------------------------------------------------------------------------
// The setup every experiment shares

/// What all experiments of one invocation share: data, model, seeds and size.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    pub dataset: DatasetSpec,
    /// Images in the training set (the run length is counted in epochs of it).
    pub train_images: usize,
    pub model: Arch,
    pub width: f32,
    pub seeds: Vec<u64>,
    /// Multiplies the run length (and, above 1, the number of IMP rounds).
    pub scale: f64,
    pub batch_size: usize,
}

impl Setup {
    /// The width the experiments use for `model` unless told otherwise: small enough that every default finishes in
    /// minutes on a laptop CPU.
    pub fn default_width(model: Arch) -> f32 {
        match model {
            Arch::Vgg11 => 0.125,
            Arch::Conv2 | Arch::Conv4 | Arch::Conv6 | Arch::Resnet20 => 0.25,
        }
    }

    pub fn new(
        dataset: DatasetSpec,
        train_images: usize,
        model: Arch,
        width: Option<f32>,
        seeds: Vec<u64>,
        scale: f64,
    ) -> Result<Setup, String> {
        if seeds.is_empty() {
            return Err("at least one seed is needed".into());
        }
        if !(scale > 0.0 && scale <= 100.0) {
            return Err(format!("scale {scale} is out of range (0, 100]"));
        }
        let setup = Setup {
            dataset,
            train_images,
            model,
            width: width.unwrap_or(Self::default_width(model)),
            seeds,
            scale,
            batch_size: 64,
        };
        setup.base(0).validate()?;
        Ok(setup)
    }

    /// Steps of one run: [`BASE_EPOCHS`] × `scale` epochs, at least [`MIN_STEPS`].
    pub fn steps(&self) -> usize {
        let per_epoch = (self.train_images / self.batch_size.max(1)).max(1) as f64;
        ((BASE_EPOCHS * self.scale * per_epoch).round() as usize).max(MIN_STEPS)
    }

    /// `n` grid points (IMP rounds) at scale 1, more above it.
    pub fn grid(&self, n: usize) -> usize {
        (n as f64 * self.scale.max(1.0)).round() as usize
    }

    /// RigL's scheduler with ΔT scaled to the run: at least 10 updates before the end of updates (75% of training),
    /// and never more than 100 steps apart (the CIFAR default).
    pub fn dst(&self) -> DstSettings {
        let d = DstSettings::default();
        DstSettings { update_every: (d.end_step(self.steps()) / 10).clamp(1, 100), ..d }
    }

    /// The weight-rewinding step k: [`REWIND_SHARE`] of training, at least 1.
    pub fn rewind_step(&self) -> usize {
        ((REWIND_SHARE * self.steps() as f64).round() as usize).max(1)
    }

    /// The rewinding points of the instability analysis (distinct steps).
    pub fn instability_steps(&self) -> Vec<usize> {
        let mut ks: Vec<usize> =
            INSTABILITY_SHARES.iter().map(|f| (f * self.steps() as f64).round() as usize).collect();
        ks.dedup();
        ks
    }

    /// The dense configuration every experiment starts from.
    pub fn base(&self, seed: u64) -> TrainConfig {
        let steps = self.steps();
        TrainConfig {
            dataset: self.dataset.clone(),
            model: self.model,
            width: self.width,
            density: 1.0,
            distribution: Distribution::Erk,
            method: Method::Static,
            dst: self.dst(),
            steps: Some(steps),
            batch_size: self.batch_size,
            lr: TrainConfig::default_lr(self.model),
            seed,
            // One evaluation at the end: the experiments read the final metrics only.
            eval_every: steps,
            ..TrainConfig::default()
        }
    }

    /// The command line that regenerates `what` with this setup.
    pub fn command(&self, what: &str) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        format!(
            "ticketlab reproduce {what} --dataset {} --model {} --width {} --seeds {} --scale {}",
            self.dataset,
            self.model,
            self.width,
            seeds.join(","),
            self.scale
        )
    }

    fn describe(&self) -> String {
        format!(
            "{} ({} training images), {} ×{}, {} steps of batch {} per run ({:.1} epochs), SGD (Nesterov) lr {} \
             cosine-annealed, weight decay 5e-4, seeds {:?}, scale {}",
            self.dataset,
            self.train_images,
            self.model,
            self.width,
            self.steps(),
            self.batch_size,
            (self.steps() * self.batch_size) as f64 / self.train_images.max(1) as f64,
            TrainConfig::default_lr(self.model),
            self.seeds,
            self.scale
        )
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Jobs and what they measure

/// What a job does with its configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Whatever [`run_procedure`] makes of the configuration: a run, IMP's rounds or an ensemble.
    Procedure,
    /// One network trained, then evaluated on corrupted copies of the test set (seeded by the run's seed, as the
    /// ensembles' robustness rows are).
    Corrupted { corruptions: Vec<Corruption>, severities: Vec<u8> },
    /// Train to `from_step`, then two copies to the end on different data orders: the error barrier between them.
    Instability { from_step: usize },
}

/// One training job of an experiment.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    pub label: String,
    pub seed: u64,
    pub config: TrainConfig,
    pub task: Task,
    /// Share of training labels replaced by another class, uniformly at random (seeded by the job's seed).
    pub label_noise: f64,
}

impl Job {
    fn new(label: &str, seed: u64, config: TrainConfig, task: Task) -> Job {
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
#[derive(Clone, Debug)]
pub enum Measured {
    Outcome(Outcome),
    Corrupted { clean: EvalMetrics, rows: Vec<(Corruption, u8, f64)> },
    Instability(Instability),
}

impl Measured {
    fn run(&self) -> Option<&RunResult> {
        match self {
            Measured::Outcome(Outcome::Run(r)) => Some(r),
            _ => None,
        }
    }

    fn imp(&self) -> Option<&ImpResult> {
        match self {
            Measured::Outcome(Outcome::Imp(r)) => Some(r),
            _ => None,
        }
    }

    fn ensemble(&self) -> Option<&EnsembleResult> {
        match self {
            Measured::Outcome(Outcome::Ensemble(r)) => Some(r),
            _ => None,
        }
    }

    fn instability(&self) -> Option<&Instability> {
        match self {
            Measured::Instability(i) => Some(i),
            _ => None,
        }
    }

    /// Clean test metrics of a single network (a run or a corrupted-evaluation job).
    fn test(&self) -> Option<&EvalMetrics> {
        match self {
            Measured::Corrupted { clean, .. } => Some(clean),
            other => other.run().map(|r| &r.test),
        }
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

/// Prints each job and stage on stderr, and (on a terminal) a step counter while a network trains.
struct Progress {
    prefix: String,
    verbose: bool,
    counter: bool,
}

impl Progress {
    fn new(prefix: String, verbose: bool) -> Self {
        use std::io::IsTerminal;
        Progress { prefix, verbose, counter: verbose && std::io::stderr().is_terminal() }
    }

    fn line(&self, what: &str) {
        if self.verbose {
            let clear = if self.counter { "\r\x1b[K" } else { "" };
            eprintln!("{clear}{}  {what}", self.prefix);
        }
    }
}

impl Progress {
    /// Clear the step counter.
    fn done(&self) {
        if self.counter {
            eprint!("\r\x1b[K");
        }
    }
}

impl Pacer for Progress {
    async fn after_step(&mut self, t: &mut Trainer) -> Result<(), TrainError> {
        if self.counter && (t.step().is_multiple_of(10) || t.is_done()) {
            eprint!("\r\x1b[K    step {}/{}", t.step(), t.total_steps());
        }
        Ok(())
    }

    fn news(&mut self, news: News) {
        if let News::Stage(stage) = news {
            self.line(&stage);
        }
    }
}

async fn measure(
    job: &Job,
    data: TrainData,
    device: burn::prelude::Device,
    backend: &str,
    pacer: &mut Progress,
) -> Result<Measured, TrainError> {
    match &job.task {
        Task::Procedure => Ok(Measured::Outcome(run_procedure(&job.config, data, device, backend, pacer).await?)),
        Task::Corrupted { corruptions, severities } => {
            let mut t = Trainer::with_data(job.config.clone(), data, device)?;
            let clean = train_out(&mut t, pacer).await?.test;
            let ev = Evaluator::of(&t);
            let mut rows = vec![];
            for &c in corruptions {
                for &severity in severities {
                    let set =
                        corrupt_dataset(t.test_set(), c, severity, job.config.seed).map_err(TrainError::Config)?;
                    let probs = ev.predict(t.net(), &set).await?;
                    rows.push((c, severity, evaluate(&probs, t.spec().num_classes, &labels_of(&set)).accuracy));
                }
            }
            Ok(Measured::Corrupted { clean, rows })
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

/// Every job of `experiment` on `data` (the clean training set; noisy copies are made per job), in order.
pub fn run_jobs(
    experiment: Experiment,
    setup: &Setup,
    data: &DataSplits,
    device: &burn::prelude::Device,
    backend: &str,
    verbose: bool,
) -> Result<Vec<(Job, Measured)>, String> {
    let jobs = experiment.jobs(setup);
    for job in &jobs {
        job.validate()?;
    }
    let clean = TrainData::new(data.clone(), 0.0, 0);
    let n = jobs.len();
    let mut out = vec![];
    for (i, job) in jobs.into_iter().enumerate() {
        let train_data = if job.label_noise > 0.0 {
            let noisy = DataSplits { train: with_label_noise(&data.train, job.label_noise, job.seed), ..data.clone() };
            TrainData::new(noisy, 0.0, 0)
        } else {
            clean.clone()
        };
        let mut pacer =
            Progress::new(format!("[{experiment} {}/{n}] {} (seed {})", i + 1, job.label, job.seed), verbose);
        pacer.line("starts");
        let measured = pollster::block_on(measure(&job, train_data, device.clone(), backend, &mut pacer))
            .map_err(|e| format!("{experiment}: {} (seed {}): {e}", job.label, job.seed))?;
        pacer.done();
        out.push((job, measured));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics, tables and verdicts

/// A mean over seeds and the sample standard deviation (`None` for one value); the values are kept for the JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
    pub values: Vec<f64>,
}

impl Stat {
    /// The finite values' mean and spread (mean NaN when there are none).
    pub fn of(values: &[f64]) -> Stat {
        let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = values.len() as f64;
        let mean = if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / n };
        let std =
            (values.len() > 1).then(|| (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Stat { mean, std, values }
    }

    /// Seed-by-seed `f(a, b)` of two statistics over the same seeds.
    pub fn paired(a: &Stat, b: &Stat, f: impl Fn(f64, f64) -> f64) -> Stat {
        Stat::of(&a.values.iter().zip(&b.values).map(|(&x, &y)| f(x, y)).collect::<Vec<_>>())
    }

    pub fn show(&self, decimals: usize) -> String {
        match (self.mean.is_finite(), self.std) {
            (false, _) => "–".into(),
            (true, Some(std)) => format!("{:.decimals$} ± {std:.decimals$}", self.mean),
            (true, None) => format!("{:.decimals$}", self.mean),
        }
    }

    fn spread(&self) -> f64 {
        self.std.unwrap_or(0.0)
    }
}

/// A table cell: text, or a statistic shown with some decimals.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Text(String),
    Stat {
        #[serde(flatten)]
        stat: Stat,
        #[serde(skip)]
        decimals: usize,
    },
}

impl Cell {
    fn show(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Stat { stat, decimals } => stat.show(*decimals),
        }
    }
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// A statistic in percent (accuracies) or another quantity, to two decimals (`num` with more).
fn pc(stat: &Stat) -> Cell {
    Cell::Stat { stat: stat.clone(), decimals: 2 }
}

fn num(stat: &Stat, decimals: usize) -> Cell {
    Cell::Stat { stat: stat.clone(), decimals }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    fn new(title: &str, columns: &[&str]) -> Table {
        Table { title: title.into(), columns: columns.iter().map(|c| c.to_string()).collect(), rows: vec![] }
    }

    fn row(mut self, cells: Vec<Cell>) -> Table {
        self.rows.push(cells);
        self
    }

    fn rows(mut self, rows: impl IntoIterator<Item = Vec<Cell>>) -> Table {
        self.rows.extend(rows);
        self
    }

    pub fn to_markdown(&self) -> String {
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut out = String::new();
        if !self.title.is_empty() {
            out += &format!("**{}**\n\n", self.title);
        }
        out += &line(self.columns.clone());
        out += &line(self.columns.iter().map(|_| "---".to_string()).collect());
        for row in &self.rows {
            out += &line(row.iter().map(Cell::show).collect());
        }
        out
    }
}

/// One comparison of a claim, with its numbers. Checks that are not `part_of_claim` are reported beside the verdict
/// (what was observed) without deciding it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub statement: String,
    pub held: bool,
    pub numbers: String,
    /// The difference is smaller than the larger of the two seed spreads.
    pub within_noise: bool,
    pub part_of_claim: bool,
}

impl Check {
    /// The same check, reported beside the verdict without deciding it.
    pub fn observed(self) -> Check {
        Check { part_of_claim: false, ..self }
    }

    fn line(&self) -> String {
        format!(
            "{} **{}**: {} — {}{}",
            if self.held { "✔" } else { "✘" },
            if self.held { "held" } else { "did not hold" },
            self.statement,
            self.numbers,
            if self.within_noise { " (the difference is within the seed spread)" } else { "" }
        )
    }
}

/// How two means are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// a ≥ b
    AtLeast,
    /// a > b
    Above,
    /// a ≤ b (lower is better: NLL, ECE)
    AtMost,
}

/// `a` (named) against `b`: held when the means are in the order asked.
pub fn compare(a_name: &str, a: &Stat, order: Order, b_name: &str, b: &Stat, unit: &str) -> Check {
    let (sign, held) = match order {
        Order::AtLeast => ("≥", a.mean >= b.mean),
        Order::Above => (">", a.mean > b.mean),
        Order::AtMost => ("≤", a.mean <= b.mean),
    };
    let diff = a.mean - b.mean;
    Check {
        statement: format!("{a_name} {sign} {b_name}"),
        held: held && diff.is_finite(),
        numbers: format!("{} vs {}{unit} ({diff:+.2})", a.show(2), b.show(2)),
        within_noise: diff.abs() <= a.spread().max(b.spread()),
        part_of_claim: true,
    }
}

/// The means never decrease along the sequence (ties allowed).
pub fn non_decreasing(statement: &str, points: &[(String, Stat)]) -> Check {
    let held = points.len() >= 2 && points.windows(2).all(|w| w[1].1.mean >= w[0].1.mean);
    Check {
        statement: statement.into(),
        held,
        numbers: points.iter().map(|(l, s)| format!("{l}: {}", s.show(2))).collect::<Vec<_>>().join(", "),
        within_noise: false,
        part_of_claim: true,
    }
}

/// The means fall along the sequence: the last is below the first and the least-squares slope (against position)
/// is negative. The numbers say whether the fall is monotone.
pub fn falls(statement: &str, points: &[(String, Stat)]) -> Check {
    let ys: Vec<f64> = points.iter().map(|(_, s)| s.mean).collect();
    let n = ys.len() as f64;
    let xbar = (n - 1.0) / 2.0;
    let ybar = ys.iter().sum::<f64>() / n;
    let slope = ys.iter().enumerate().map(|(i, y)| (i as f64 - xbar) * (y - ybar)).sum::<f64>();
    let monotone = ys.windows(2).all(|w| w[1] <= w[0]);
    let held = ys.len() >= 2 && ys[ys.len() - 1] < ys[0] && slope < 0.0;
    Check {
        statement: statement.into(),
        held,
        numbers: format!(
            "{} ({})",
            points.iter().map(|(l, s)| format!("{l}: {}", s.show(2))).collect::<Vec<_>>().join(", "),
            if monotone { "monotone" } else { "not monotone" }
        ),
        within_noise: false,
        part_of_claim: true,
    }
}

/// The shape of an accuracy-vs-sparsity curve that starts at the dense network. Every step counts only when it is
/// larger than `tolerance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shape {
    /// Somewhere the curve fell (below an earlier point) and later rose again (above the low point).
    pub rise_after_fall: bool,
    /// Sparse double descent: the curve falls below its first (dense) point, rises again, then falls again.
    pub fall_rise_fall: bool,
}

pub fn shape(ys: &[f64], tolerance: f64) -> Shape {
    let n = ys.len();
    let mut shape = Shape { rise_after_fall: false, fall_rise_fall: false };
    // A fall to index b, a rise from b to c, then a fall after c.
    for b in 1..n {
        let from_start = ys[0] - ys[b] > tolerance;
        if !from_start && !ys[..b].iter().any(|&a| a - ys[b] > tolerance) {
            continue;
        }
        for c in b + 1..n {
            if ys[c] - ys[b] > tolerance {
                shape.rise_after_fall = true;
                shape.fall_rise_fall |= from_start && ys[c + 1..].iter().any(|&d| ys[c] - d > tolerance);
            }
        }
    }
    shape
}

/// The verdict: held when every check that is part of the claim held.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub held: bool,
    pub checks: Vec<Check>,
}

impl Verdict {
    pub fn of(checks: Vec<Check>) -> Verdict {
        let claim: Vec<&Check> = checks.iter().filter(|c| c.part_of_claim).collect();
        Verdict { held: !claim.is_empty() && claim.iter().all(|c| c.held), checks }
    }

    pub fn word(&self) -> &'static str {
        if self.held { "held" } else { "did not hold" }
    }

    /// One line: the verdict, and the first failed check if any.
    pub fn summary(&self) -> String {
        match self.checks.iter().find(|c| c.part_of_claim && !c.held) {
            None => format!("**held** ({} of {} checks)", self.count(), self.count()),
            Some(c) => format!(
                "**did not hold** ({} of {} checks held; first failure: {}: {})",
                self.checks.iter().filter(|c| c.part_of_claim && c.held).count(),
                self.count(),
                c.statement,
                c.numbers
            ),
        }
    }

    fn count(&self) -> usize {
        self.checks.iter().filter(|c| c.part_of_claim).count()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Summaries

/// An experiment's result: what the page, the JSON and the index show.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub experiment: Experiment,
    pub title: String,
    pub claim: String,
    pub source: String,
    pub setup: Setup,
    pub setup_text: String,
    pub notes: Vec<String>,
    pub verdict: Verdict,
    pub tables: Vec<Table>,
    pub backend: String,
    pub wall_seconds: f64,
    pub command: String,
    pub jobs: Vec<Job>,
    /// Charts, written as `<name><suffix>.png` (the first has no suffix).
    #[serde(skip)]
    pub charts: Vec<(String, Chart)>,
}

/// The measurements of one experiment, looked up by job label across seeds.
pub struct Results<'a> {
    pub setup: &'a Setup,
    pub entries: &'a [(Job, Measured)],
}

impl Results<'_> {
    /// `f` of the job labelled `label`, over the seeds.
    fn stat(&self, label: &str, f: impl Fn(&Measured) -> Option<f64>) -> Stat {
        let values: Vec<f64> =
            self.entries.iter().filter(|(j, _)| j.label == label).filter_map(|(_, m)| f(m)).collect();
        Stat::of(&values)
    }

    /// `f` (one value per point, e.g. per IMP round) of the job labelled `label`, point by point over the seeds.
    fn stats(&self, label: &str, f: impl Fn(&Measured) -> Option<Vec<f64>>) -> Vec<Stat> {
        let rows: Vec<Vec<f64>> =
            self.entries.iter().filter(|(j, _)| j.label == label).filter_map(|(_, m)| f(m)).collect();
        let n = rows.iter().map(Vec::len).min().unwrap_or(0);
        (0..n).map(|i| Stat::of(&rows.iter().map(|r| r[i]).collect::<Vec<_>>())).collect()
    }
}

fn pct(x: f64) -> f64 {
    100.0 * x
}

fn accuracy(m: &Measured) -> Option<f64> {
    m.test().map(|t| pct(t.accuracy))
}

/// Test accuracy, NLL and ECE of a metrics getter, as three statistics.
fn metric_stats(r: &Results, label: &str, get: impl Fn(&Measured) -> Option<EvalMetrics>) -> [Stat; 3] {
    [
        r.stat(label, |m| get(m).map(|t| pct(t.accuracy))),
        r.stat(label, |m| get(m).map(|t| t.nll)),
        r.stat(label, |m| get(m).map(|t| t.ece)),
    ]
}

fn ensemble_metrics(m: &Measured) -> Option<EvalMetrics> {
    m.ensemble().map(|e| e.ensemble.clone())
}

/// Mean test accuracy of the ensemble's members.
fn member_mean(m: &Measured) -> Option<f64> {
    let e = m.ensemble()?;
    Some(pct(e.members.iter().map(|x| x.test.accuracy).sum::<f64>() / e.members.len().max(1) as f64))
}

fn flops_vs_dense(m: &Measured) -> Option<f64> {
    match m {
        Measured::Outcome(Outcome::Ensemble(e)) => Some(e.cost.train_flops_vs_dense),
        Measured::Outcome(Outcome::Run(r)) => {
            let a = &r.accounting;
            Some(a.train_flops / (3.0 * a.dense_flops * r.config.batch_size as f64 * r.steps as f64).max(1.0))
        }
        _ => None,
    }
}

fn joins(m: &Measured) -> Option<Vec<f64>> {
    m.ensemble().map(|e| e.accuracy_as_members_join.iter().map(|&a| pct(a)).collect())
}

fn extras<T>(m: &Measured, f: impl Fn(&Extras) -> Option<T>) -> Option<T> {
    m.ensemble().and_then(|e| f(&e.extras))
}

/// A line with error bars through `(x, stat)` points.
fn stat_series(name: &str, points: impl IntoIterator<Item = (f64, Stat)>) -> Series {
    let (xy, err): (Vec<(f64, f64)>, Vec<f64>) = points.into_iter().map(|(x, s)| ((x, s.mean), s.spread())).unzip();
    Series::line_and_points(name, xy).with_error(err)
}

/// A flat reference line at `y` across `[x0, x1]`.
fn level(name: &str, y: f64, x0: f64, x1: f64) -> Series {
    Series::line(name, [(x0, y), (x1, y)])
}

/// The accuracy-as-members-join chart of ensembles, against a reference network.
fn join_chart(title: &str, r: &Results, labels: &[&str], reference: (&str, &Stat)) -> Chart {
    let mut chart = Chart::new(title, "members averaged", "test accuracy (%)");
    let mut most = 1.0f64;
    for label in labels {
        let curve = r.stats(label, joins);
        most = most.max(curve.len() as f64);
        chart = chart.series(stat_series(label, curve.into_iter().enumerate().map(|(i, s)| ((i + 1) as f64, s))));
    }
    chart.series(level(reference.0, reference.1.mean, 1.0, most))
}

/// What a summary makes of an experiment's measurements.
pub struct Summary {
    pub tables: Vec<Table>,
    /// Charts with their file-name suffixes (the first has none).
    pub charts: Vec<(String, Chart)>,
    pub verdict: Verdict,
    pub notes: Vec<String>,
}

impl Summary {
    /// One table, one chart and the verdict of `checks`.
    fn new(table: Table, chart: Chart, checks: Vec<Check>) -> Summary {
        Summary {
            tables: vec![table],
            charts: vec![(String::new(), chart)],
            verdict: Verdict::of(checks),
            notes: vec![],
        }
    }

    /// A further chart, written as `<name><suffix>.png`.
    fn chart(mut self, suffix: &str, chart: Chart) -> Summary {
        self.charts.push((suffix.into(), chart));
        self
    }

    fn notes(mut self, notes: Vec<String>) -> Summary {
        self.notes = notes;
        self
    }
}

impl Experiment {
    /// Tables, charts and verdict from the measurements.
    pub fn summarise(self, r: &Results) -> Summary {
        match self {
            Experiment::Dst => dst(r),
            Experiment::Tickets => tickets(r),
            Experiment::Instability => instability(r),
            Experiment::Freetickets => freetickets(r),
            Experiment::SupTickets => sup_tickets(r),
            Experiment::PruneTune => prune_tune(r),
            Experiment::Soups => soups(r),
            Experiment::DoubleDescent => double_descent(r),
            Experiment::Robustness => robustness(r),
            Experiment::PruneAtInit => prune_at_init(r),
        }
    }
}

/// Accuracy against sparsity per method; RigL ≥ SET > static at each sparsity, and the RigL − static gap.
fn dst(r: &Results) -> Summary {
    let dense = r.stat(DENSE, accuracy);
    let grid: Vec<(f64, Vec<Stat>)> = DST_DENSITIES
        .iter()
        .map(|&d| (d, DST_METHODS.iter().map(|&m| r.stat(&method_at(m, d), accuracy)).collect()))
        .collect();
    let gap = |s: &[Stat]| Stat::paired(&s[2], &s[0], |a, b| a - b);
    let table = Table::new("Test accuracy (%)", &["sparsity", "dense", "static", "SET", "RigL", "RigL − static"]).rows(
        grid.iter().map(|(d, s)| vec![text(sparsity(*d)), pc(&dense), pc(&s[0]), pc(&s[1]), pc(&s[2]), pc(&gap(s))]),
    );
    let mut checks = vec![];
    for (d, s) in &grid {
        let at = sparsity(*d);
        checks.push(compare(&format!("RigL at {at}"), &s[2], Order::AtLeast, "SET", &s[1], "%"));
        checks.push(compare(&format!("SET at {at}"), &s[1], Order::Above, "static", &s[0], "%"));
    }
    let gaps: Vec<(String, Stat)> = grid.iter().map(|(d, s)| (sparsity(*d), gap(s))).collect();
    checks.push(non_decreasing("the RigL − static gap widens as sparsity grows", &gaps));
    let x = |d: f64| 100.0 * (1.0 - d);
    let mut chart = Chart::new("RigL vs SET vs static (ERK)", "sparsity (%)", "test accuracy (%)");
    for (i, &m) in DST_METHODS.iter().enumerate() {
        chart = chart.series(stat_series(method_name(m), grid.iter().map(|(d, s)| (x(*d), s[i].clone()))));
    }
    let (lo, hi) = (x(DST_DENSITIES[0]), x(DST_DENSITIES[DST_DENSITIES.len() - 1]));
    chart = chart.series(level("dense", dense.mean, lo, hi));
    Summary::new(table, chart, checks)
}

/// Accuracy per IMP round of the ticket, its controls and the step-k ticket; the comparisons at the last round.
fn tickets(r: &Results) -> Summary {
    let rounds = |f: fn(&crate::results::ImpRound) -> f64| {
        move |m: &Measured| m.imp().map(|i| i.rounds.iter().map(f).collect::<Vec<f64>>())
    };
    let maybe = |t: &Option<crate::results::Trained>| t.as_ref().map_or(f64::NAN, |t| pct(t.test.accuracy));
    let density = r.stats(IMP_INIT, rounds(|x| x.density));
    let ticket = r.stats(IMP_INIT, rounds(|x| pct(x.ticket.test.accuracy)));
    let reinit = r.stats(IMP_INIT, move |m| m.imp().map(|i| i.rounds.iter().map(|x| maybe(&x.reinit)).collect()));
    let random = r.stats(IMP_INIT, move |m| m.imp().map(|i| i.rounds.iter().map(|x| maybe(&x.random)).collect()));
    let rewound = r.stats(IMP_STEP, rounds(|x| pct(x.ticket.test.accuracy)));
    let table = Table::new(
        "Test accuracy (%) per IMP round",
        &[
            "round",
            "density",
            "ticket (rewind to init)",
            "same mask, re-initialised",
            "random mask",
            "ticket (rewind to step k)",
        ],
    )
    .rows((0..ticket.len()).map(|i| {
        let at = |v: &[Stat]| v.get(i).map_or(text("–"), pc);
        vec![
            text(i.to_string()),
            text(format!("{:.4}", density[i].mean)),
            pc(&ticket[i]),
            at(&reinit),
            at(&random),
            at(&rewound),
        ]
    }));
    let mut checks = vec![];
    if let (Some(t), Some(re), Some(ra), Some(k)) = (ticket.last(), reinit.last(), random.last(), rewound.last()) {
        let at = format!("at density {:.3}", density.last().map_or(f64::NAN, |d| d.mean));
        checks.push(compare(&format!("the ticket {at}"), t, Order::Above, "the same mask re-initialised", re, "%"));
        checks.push(compare(&format!("the ticket {at}"), t, Order::Above, "a random mask", ra, "%"));
        checks.push(compare(&format!("rewinding to step k {at}"), k, Order::AtLeast, "rewinding to init", t, "%"));
        checks.push(
            compare("the final ticket (rewind to init)", t, Order::AtLeast, "the dense network", &ticket[0], "%")
                .observed(),
        );
    }
    let x: Vec<f64> = density.iter().map(|d| 100.0 * d.mean).collect();
    let series = |name: &str, v: &[Stat]| stat_series(name, x.iter().copied().zip(v.iter().cloned()));
    let chart = Chart::new("IMP: ticket vs controls", "density (% of weights kept, log)", "test accuracy (%)")
        .log_x(true)
        .series(series("ticket, rewind to init", &ticket))
        .series(series("same mask, re-initialised", &reinit))
        .series(series("random mask", &random))
        .series(series("ticket, rewind to step k", &rewound));
    Summary::new(table, chart, checks)
}

/// The error barrier per rewinding step, and the error along the path between the copies.
fn instability(r: &Results) -> Summary {
    let steps = r.setup.steps() as f64;
    let ks = r.setup.instability_steps();
    let inst = |k: usize| rewind_label(k);
    let barrier: Vec<Stat> = ks.iter().map(|&k| r.stat(&inst(k), |m| m.instability().map(|i| i.barrier))).collect();
    let errors: Vec<Vec<Stat>> =
        ks.iter().map(|&k| r.stats(&inst(k), |m| m.instability().map(|i| i.errors.clone()))).collect();
    let at = |e: &[Stat], i: usize| e.get(i).map_or(text("–"), pc);
    let table = Table::new(
        "Error barrier (percentage points) and test error (%) along the path",
        &["k (steps)", "k (% of training)", "barrier", "error at α = 0", "error at α = 0.5", "error at α = 1"],
    )
    .rows(ks.iter().enumerate().map(|(i, &k)| {
        vec![
            text(k.to_string()),
            text(format!("{:.1}", 100.0 * k as f64 / steps)),
            pc(&barrier[i]),
            at(&errors[i], 0),
            at(&errors[i], 5),
            at(&errors[i], 10),
        ]
    }));
    let points: Vec<(String, Stat)> = ks.iter().zip(&barrier).map(|(k, b)| (inst(*k), b.clone())).collect();
    let checks = vec![falls("the error barrier falls as the rewinding step k grows", &points)];
    let chart = Chart::new("Instability vs rewinding step", "rewinding step k", "error barrier (points)")
        .series(stat_series("barrier", ks.iter().map(|&k| k as f64).zip(barrier.iter().cloned())));
    let mut path = Chart::new("Test error between the two copies", "alpha (0: copy 1, 1: copy 2)", "test error (%)");
    for (k, e) in ks.iter().zip(&errors) {
        path = path.series(stat_series(&inst(*k), e.iter().enumerate().map(|(i, s)| (i as f64 / 10.0, s.clone()))));
    }
    Summary::new(table, chart, checks).chart("-path", path)
}

/// Accuracy, NLL, ECE and training FLOPs of the dense network and the two ensembles.
fn freetickets(r: &Results) -> Summary {
    let dense = metric_stats(r, DENSE, |m| m.test().cloned());
    let dense_flops = r.stat(DENSE, flops_vs_dense);
    let mut table = Table::new("", &["network", "test accuracy (%)", "NLL", "ECE", "training FLOPs (× dense)"])
        .row(vec![text("dense"), pc(&dense[0]), num(&dense[1], 4), num(&dense[2], 4), num(&dense_flops, 2)]);
    let mut checks = vec![];
    for label in [DST_ENSEMBLE, EDST] {
        let e = metric_stats(r, label, ensemble_metrics);
        let flops = r.stat(label, flops_vs_dense);
        let members = r.stat(label, member_mean);
        table = table.row(vec![text(label), pc(&e[0]), num(&e[1], 4), num(&e[2], 4), num(&flops, 2)]).row(vec![
            text(format!("{label}: mean member")),
            pc(&members),
            text(""),
            text(""),
            text(""),
        ]);
        checks.push(compare(&format!("{label} accuracy"), &e[0], Order::AtLeast, "dense", &dense[0], "%"));
        let cheap = flops.mean <= 1.0;
        checks.push(Check {
            statement: format!("{label} training FLOPs ≤ one dense run"),
            held: cheap,
            numbers: format!("{}× dense", flops.show(2)),
            within_noise: false,
            part_of_claim: true,
        });
        checks.push(compare(&format!("{label} NLL"), &e[1], Order::AtMost, "dense NLL", &dense[1], "").observed());
    }
    let chart = join_chart("FreeTickets: accuracy as members join", r, &[DST_ENSEMBLE, EDST], ("dense", &dense[0]));
    Summary::new(table, chart, checks)
}

/// The superposed network against the base run and the cyclic run's final network.
fn sup_tickets(r: &Results) -> Summary {
    let sup = |f: fn(&crate::results::SupTicketsExtras) -> f64| {
        move |m: &Measured| extras(m, |x| if let Extras::SupTickets(s) = x { Some(f(s)) } else { None })
    };
    let base = r.stat(SUP, sup(|s| pct(s.standard_run.test.accuracy)));
    let last = r.stat(SUP, sup(|s| pct(s.final_network.test.accuracy)));
    let superposed = r.stat(SUP, sup(|s| pct(s.superposed.test.accuracy)));
    let nz = |f: fn(&crate::results::SupTicketsExtras) -> f64| num(&r.stat(SUP, sup(f)), 0);
    let table = Table::new("", &["network", "test accuracy (%)", "non-zeros"])
        .row(vec![text("base: the configuration trained normally"), pc(&base), nz(|s| s.standard_run.nonzeros as f64)])
        .row(vec![text("the cyclic run's final network"), pc(&last), nz(|s| s.final_network.nonzeros as f64)])
        .row(vec![text("superposed tickets"), pc(&superposed), nz(|s| s.superposed.nonzeros as f64)]);
    let checks = vec![
        compare("the superposed network", &superposed, Order::Above, "the base sparse run", &base, "%"),
        compare("the superposed network", &superposed, Order::Above, "the cyclic run's final network", &last, "%")
            .observed(),
    ];
    let cycles = |f: fn(&crate::results::SupCycle) -> f64| {
        move |m: &Measured| {
            extras(m, |x| if let Extras::SupTickets(s) = x { Some(s.cycles.iter().map(f).collect()) } else { None })
        }
    };
    let tickets = r.stats(SUP, cycles(|c| pct(c.ticket_accuracy)));
    let sups = r.stats(SUP, cycles(|c| pct(c.superposed_accuracy)));
    let x = |v: Vec<Stat>| v.into_iter().enumerate().map(|(i, s)| ((i + 1) as f64, s)).collect::<Vec<_>>();
    let n = tickets.len().max(1) as f64;
    let chart = Chart::new("Sup-tickets: cycle by cycle", "cycle", "test accuracy (%)")
        .series(stat_series("cycle's ticket", x(tickets)))
        .series(stat_series("superposed so far", x(sups)))
        .series(level("base sparse run", base.mean, 1.0, n));
    Summary::new(table, chart, checks)
}

/// The ensemble of children against the parent.
fn prune_tune(r: &Results) -> Summary {
    let parent_of =
        |m: &Measured| extras(m, |x| if let Extras::PruneTune(p) = x { Some(p.parent.test.clone()) } else { None });
    let parent = metric_stats(r, PRUNE_TUNE, parent_of);
    let e = metric_stats(r, PRUNE_TUNE, ensemble_metrics);
    let members = r.stat(PRUNE_TUNE, member_mean);
    let flops = r.stat(PRUNE_TUNE, flops_vs_dense);
    let table = Table::new("", &["network", "test accuracy (%)", "NLL", "ECE"])
        .row(vec![text("parent (dense)"), pc(&parent[0]), num(&parent[1], 4), num(&parent[2], 4)])
        .row(vec![text("children (mean)"), pc(&members), text(""), text("")])
        .row(vec![
            text(format!("ensemble of the children ({}× dense training FLOPs)", flops.show(2))),
            pc(&e[0]),
            num(&e[1], 4),
            num(&e[2], 4),
        ]);
    let checks = vec![
        compare("the ensemble", &e[0], Order::Above, "its parent", &parent[0], "%"),
        compare("the ensemble's NLL", &e[1], Order::AtMost, "its parent's", &parent[1], "").observed(),
    ];
    let chart = join_chart("Prune-and-Tune: accuracy as children join", r, &[PRUNE_TUNE], ("parent", &parent[0]));
    Summary::new(table, chart, checks)
}

/// The soups against the best child; the parent → best child interpolation curve.
fn soups(r: &Results) -> Summary {
    let soup = |f: fn(&EnsembleResult, &crate::results::SoupExtras) -> f64| {
        move |m: &Measured| {
            m.ensemble().and_then(|e| if let Extras::Soup(s) = &e.extras { Some(f(e, s)) } else { None })
        }
    };
    let parent = r.stat(SOUP, soup(|_, s| pct(s.parent.test.accuracy)));
    let best = r.stat(SOUP, soup(|e, s| pct(e.members[s.best_child].test.accuracy)));
    let uniform = r.stat(SOUP, soup(|_, s| pct(s.uniform.test.accuracy)));
    let greedy = r.stat(SOUP, soup(|_, s| pct(s.greedy.test.accuracy)));
    let ingredients = r.stat(SOUP, soup(|_, s| s.greedy.ingredients.len() as f64));
    let averaged = r.stat(SOUP, |m| ensemble_metrics(m).map(|t| pct(t.accuracy)));
    let table = Table::new("Test accuracy (%)", &["network", "test accuracy (%)"])
        .row(vec![text("parent"), pc(&parent)])
        .row(vec![text("best child (by held-out accuracy)"), pc(&best)])
        .row(vec![text("uniform soup"), pc(&uniform)])
        .row(vec![text(format!("greedy soup ({} ingredients)", ingredients.show(1))), pc(&greedy)])
        .row(vec![text("children's predictions averaged (an ensemble, for reference)"), pc(&averaged)]);
    let checks = vec![
        compare("the greedy soup", &greedy, Order::AtLeast, "the best child", &best, "%"),
        compare("the uniform soup", &uniform, Order::AtLeast, "the best child", &best, "%").observed(),
    ];
    let wise = r.stats(SOUP, soup_curve);
    let chart =
        Chart::new("Soups: from the parent to the best child", "alpha (0: parent, 1: best child)", "test accuracy (%)")
            .series(stat_series(
                "interpolated weights",
                wise.into_iter().enumerate().map(|(i, s)| (i as f64 / 10.0, s)),
            ))
            .series(level("best child", best.mean, 0.0, 1.0))
            .series(level("uniform soup", uniform.mean, 0.0, 1.0))
            .series(level("greedy soup", greedy.mean, 0.0, 1.0));
    let notes = vec![format!(
        "The greedy soup ended as the best child alone in {} of {} seeds.",
        ingredients.values.iter().filter(|&&n| n == 1.0).count(),
        ingredients.values.len()
    )];
    Summary::new(table, chart, checks).notes(notes)
}

/// Accuracy and ℓ₂ distance per IMP round under label noise; the shape of the accuracy curve.
fn double_descent(r: &Results) -> Summary {
    let rounds = |f: fn(&crate::results::ImpRound) -> f64| {
        move |m: &Measured| m.imp().map(|i| i.rounds.iter().map(f).collect::<Vec<f64>>())
    };
    let density = r.stats(IMP_STEP, rounds(|x| x.density));
    let acc = r.stats(IMP_STEP, rounds(|x| pct(x.ticket.test.accuracy)));
    let l2 = r.stats(IMP_STEP, rounds(|x| x.ticket.l2_from_start));
    let table = Table::new(
        "IMP under 20% label noise (test set clean)",
        &["round", "density", "sparsity (%)", "test accuracy (%)", "ℓ₂ distance from the start"],
    )
    .rows((0..acc.len()).map(|i| {
        vec![
            text(i.to_string()),
            text(format!("{:.4}", density[i].mean)),
            text(format!("{:.1}", 100.0 * (1.0 - density[i].mean))),
            pc(&acc[i]),
            num(&l2[i], 3),
        ]
    }));
    let means: Vec<f64> = acc.iter().map(|s| s.mean).collect();
    let tolerance = 0.5;
    let sh = shape(&means, tolerance);
    let numbers = acc
        .iter()
        .zip(&density)
        .map(|(a, d)| format!("{}: {}", sparsity(d.mean), a.show(2)))
        .collect::<Vec<_>>()
        .join(", ");
    let check = |statement: &str, held: bool| Check {
        statement: statement.into(),
        held,
        numbers: numbers.clone(),
        within_noise: false,
        part_of_claim: true,
    };
    let checks = vec![
        check(
            "from the dense network, test accuracy falls, rises, then falls again as sparsity grows (steps > 0.5 points)",
            sh.fall_rise_fall,
        ),
        check("somewhere, a rise after a fall (steps > 0.5 points)", sh.rise_after_fall).observed(),
    ];
    let x: Vec<f64> = density.iter().map(|d| 100.0 * d.mean).collect();
    let chart =
        Chart::new("Sparse double descent (20% label noise)", "density (% of weights kept, log)", "test accuracy (%)")
            .log_x(true)
            .series(stat_series("IMP ticket", x.iter().copied().zip(acc.iter().cloned())));
    let l2_chart = Chart::new(
        "L2 distance travelled vs density",
        "density (% of weights kept, log)",
        "L2 distance from the start",
    )
    .log_x(true)
    .series(stat_series("IMP ticket", x.iter().copied().zip(l2.iter().cloned())));
    Summary::new(table, chart, checks).chart("-l2", l2_chart)
}

/// Each pruning-at-initialisation method against random pruning.
fn prune_at_init(r: &Results) -> Summary {
    let stats: Vec<(&str, [Stat; 3])> =
        PAI_METHODS.iter().map(|&(label, _)| (label, metric_stats(r, label, |m| m.test().cloned()))).collect();
    let table =
        Table::new(&format!("At {} sparsity", sparsity(PAI_DENSITY)), &["method", "test accuracy (%)", "NLL", "ECE"])
            .rows(stats.iter().map(|(l, s)| vec![text(*l), pc(&s[0]), num(&s[1], 4), num(&s[2], 4)]));
    let random = &stats[stats.len() - 1].1[0];
    let checks = stats[..stats.len() - 1]
        .iter()
        .map(|(l, s)| compare(l, &s[0], Order::Above, "random pruning", random, "%"))
        .collect();
    let x = 100.0 * (1.0 - PAI_DENSITY);
    let chart =
        stats.iter().fold(Chart::new("Pruning at initialisation", "sparsity (%)", "test accuracy (%)"), |c, (l, s)| {
            c.series(Series::bars(*l, [(x, s[0].mean)]).with_error(vec![s[0].spread()]))
        });
    let notes = vec![
        "Frankle et al. (2021) found these methods often beat random pruning by little, and that shuffling \
             their masks within each layer does not hurt: what they choose is mostly the layer densities."
            .into(),
    ];
    Summary::new(table, chart, checks).notes(notes)
}

fn soup_curve(m: &Measured) -> Option<Vec<f64>> {
    extras(
        m,
        |x| if let Extras::Soup(s) = x { Some(s.wise.iter().map(|p| pct(p.test_accuracy)).collect()) } else { None },
    )
}

/// The robustness experiment: accuracy per corruption and severity for each network, averaged per severity.
fn robustness(r: &Results) -> Summary {
    type Getter = Box<dyn Fn(&Measured, Option<(Corruption, u8)>) -> Option<f64>>;
    let row_of = |m: &Measured, c: Corruption, s: u8| {
        m.ensemble().and_then(|e| e.robustness.iter().find(|x| x.corruption == c && x.severity == s).cloned())
    };
    let dense: Getter = Box::new(|m, cs| match (m, cs) {
        (Measured::Corrupted { clean, .. }, None) => Some(clean.accuracy),
        (Measured::Corrupted { rows, .. }, Some((c, s))) => rows.iter().find(|x| x.0 == c && x.1 == s).map(|x| x.2),
        _ => None,
    });
    let single: Getter = Box::new(move |m, cs| match cs {
        None => member_mean(m).map(|a| a / 100.0),
        Some((c, s)) => row_of(m, c, s).map(|x| x.members.iter().sum::<f64>() / x.members.len().max(1) as f64),
    });
    let averaged: Getter = Box::new(move |m, cs| match cs {
        None => m.ensemble().map(|e| e.ensemble.accuracy),
        Some((c, s)) => row_of(m, c, s).map(|x| x.ensemble),
    });
    let gated: Getter = Box::new(move |m, cs| match cs {
        None => extras(m, |x| if let Extras::CardDeck(d) = x { Some(d.gated.accuracy) } else { None }),
        Some((c, s)) => row_of(m, c, s).and_then(|x| x.gated),
    });
    let columns: [(&str, &str, &Getter); 5] = [
        ("dense", DENSE, &dense),
        ("sparse single (DST member, mean)", DST_ENSEMBLE, &single),
        ("DST Ensemble", DST_ENSEMBLE, &averaged),
        ("CARD-Deck, averaged", CARD_DECK, &averaged),
        ("CARD-Deck, gated", CARD_DECK, &gated),
    ];
    let at = |cs: Option<(Corruption, u8)>| -> Vec<Stat> {
        columns.iter().map(|(_, label, get)| r.stat(label, |m| get(m, cs).map(pct))).collect()
    };
    // Mean over the corruptions of each seed's accuracy, per severity (or over all of them).
    let mean_over = |severities: &[u8]| -> Vec<Stat> {
        columns
            .iter()
            .map(|(_, label, get)| {
                r.stat(label, |m| {
                    let v: Vec<f64> = ROBUST_CORRUPTIONS
                        .iter()
                        .flat_map(|&c| severities.iter().map(move |&s| (c, s)))
                        .filter_map(|cs| get(m, Some(cs)))
                        .collect();
                    (!v.is_empty()).then(|| pct(v.iter().sum::<f64>() / v.len() as f64))
                })
            })
            .collect()
    };
    let mut header = vec!["test set", "severity"];
    header.extend(columns.iter().map(|c| c.0));
    let line = |name: String, sev: String, stats: Vec<Stat>| {
        let mut row = vec![text(name), text(sev)];
        row.extend(stats.iter().map(pc));
        row
    };
    let mut table = Table::new("Test accuracy (%)", &header).row(line("clean".into(), "–".into(), at(None)));
    for c in ROBUST_CORRUPTIONS {
        for s in SEVERITIES {
            table = table.row(line(c.name().into(), s.to_string(), at(Some((c, s)))));
        }
    }
    let overall = mean_over(&SEVERITIES);
    table = table.row(line("mean over corruptions".into(), "all".into(), overall.clone()));
    let [d, single, dst, card_avg, card_gated] = <[Stat; 5]>::try_from(overall).expect("five columns");
    let checks = vec![
        compare(
            "the sparse ensemble (DST Ensemble) under corruption",
            &dst,
            Order::Above,
            "the dense network",
            &d,
            "%",
        ),
        compare("CARD-Deck gated under corruption", &card_gated, Order::Above, "CARD-Deck averaged", &card_avg, "%"),
        compare("a single sparse network under corruption", &single, Order::Above, "the dense network", &d, "%")
            .observed(),
        compare("CARD-Deck averaged under corruption", &card_avg, Order::Above, "the dense network", &d, "%")
            .observed(),
    ];
    let mut chart =
        Chart::new("Accuracy under corruption (mean over corruptions)", "severity (0 = clean)", "test accuracy (%)");
    let clean = at(None);
    let per_severity: Vec<Vec<Stat>> = SEVERITIES.iter().map(|&s| mean_over(&[s])).collect();
    for (i, (name, _, _)) in columns.iter().enumerate() {
        let points = std::iter::once((0.0, clean[i].clone()))
            .chain(SEVERITIES.iter().zip(&per_severity).map(|(&s, v)| (s as f64, v[i].clone())));
        chart = chart.series(stat_series(name, points));
    }
    Summary::new(table, chart, checks)
}

// ---------------------------------------------------------------------------------------------------------------
// Running, writing and the index

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

impl Report {
    /// The page: claim, verdict with its checks, tables, chart, setup and the command that regenerates it.
    pub fn to_markdown(&self) -> String {
        let name = self.experiment.name();
        let mut out = format!("# {}\n\n", self.title);
        out += &format!("**Claim** ({}): {}\n\n", self.source, self.claim);
        out += &format!("## Verdict: the claim {}\n\n", self.verdict.word());
        let (claim, observed): (Vec<&Check>, Vec<&Check>) = self.verdict.checks.iter().partition(|c| c.part_of_claim);
        for c in claim {
            out += &format!("- {}\n", c.line());
        }
        if !observed.is_empty() {
            out += "\nAlso observed (not part of the claim):\n\n";
            for c in observed {
                out += &format!("- {}\n", c.line());
            }
        }
        out += &format!("\nMeans ± sample standard deviation over {} seed(s).\n\n", self.setup.seeds.len());
        for t in &self.tables {
            out += &t.to_markdown();
            out += "\n";
        }
        for (suffix, chart) in &self.charts {
            out += &format!("![{}]({name}{suffix}.png)\n\n", chart.title);
        }
        out += &format!("## Setup\n\n{}.\n\n", self.setup_text);
        for n in &self.notes {
            out += &format!("- {n}\n");
        }
        out += &format!(
            "\nRan on the {} backend in {:.1} minutes. Regenerate with:\n\n```sh\n{}\n```\n\nEvery number is in \
             [{name}.json]({name}.json) (per-seed values and each job's configuration).\n",
            self.backend,
            self.wall_seconds / 60.0,
            self.command
        );
        out
    }

    /// Write `<name>.md`, `<name>.json` and the charts' PNGs into `dir`; returns the paths written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        let name = self.experiment.name();
        let mut files = vec![
            (dir.join(format!("{name}.md")), self.to_markdown().into_bytes()),
            (dir.join(format!("{name}.json")), serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?),
        ];
        for (suffix, chart) in &self.charts {
            files.push((dir.join(format!("{name}{suffix}.png")), chart.to_png()?));
        }
        for (path, bytes) in &files {
            std::fs::write(path, bytes).map_err(|e| format!("could not write {}: {e}", path.display()))?;
        }
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }
}

/// The index page of a `reproduce` run: each experiment with its claim and verdict, linked to its page.
pub fn index_markdown(setup: &Setup, backend: &str, entries: &[(Experiment, Result<Report, String>)]) -> String {
    let names: Vec<&str> = entries.iter().map(|(e, _)| e.name()).collect();
    let what = if names.len() == Experiment::ALL.len() { "all".to_string() } else { names.join(",") };
    let mut out = String::from("# ticketlab: the seed papers' claims at small scale\n\n");
    out += &format!(
        "Each experiment is a small version of a published claim, run over {} seed(s); its page has the table (mean ± \
         sample standard deviation), a chart, the setup and its JSON. A claim **held** when every comparison it \
         makes went the paper's way in the means over the seeds; small runs on small data can and do disagree with \
         the papers, and the pages show by how much.\n\n",
        setup.seeds.len()
    );
    out += &format!("Setup: {}; {backend} backend.\n\n", setup.describe());
    out += "| # | experiment | claim | verdict | minutes |\n| --- | --- | --- | --- | --- |\n";
    for (i, (e, result)) in entries.iter().enumerate() {
        let (verdict, minutes) = match result {
            Ok(r) => (r.verdict.summary(), format!("{:.1}", r.wall_seconds / 60.0)),
            Err(msg) => (format!("**failed to run**: {msg}"), "–".into()),
        };
        out += &format!(
            "| {} | [{}]({}.md) | {} | {} | {minutes} |\n",
            i + 1,
            e.title(),
            e.name(),
            e.claim(),
            verdict.replace('|', "\\|")
        );
    }
    let held = entries.iter().filter(|(_, r)| r.as_ref().is_ok_and(|r| r.verdict.held)).count();
    out += &format!(
        "\n{held} of {} claims held.\n\nRegenerate this page and every page it links with:\n\n```sh\n{} --out DIR\n```\n",
        entries.len(),
        setup.command(&what)
    );
    out
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
