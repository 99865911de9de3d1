//! The settings of the ensemble procedures: which one a configuration runs, its member count, and each method's own
//! knobs. The procedures themselves are in `src/ensembles/`.

use serde::{Deserialize, Serialize};

use crate::corrupt::Corruption;
use crate::num::Shown;
use crate::sparsity::{Method, Scope};

/// The most members one ensemble may have.
pub const MAX_MEMBERS: usize = 32;

/// The corruptions CARD-Deck is evaluated on when none are asked for: two it trains on and four it does not.
pub const CARD_DEFAULT_CORRUPTIONS: [Corruption; 6] = [
    Corruption::GaussianNoise,
    Corruption::ShotNoise,
    Corruption::GaussianBlur,
    Corruption::DefocusBlur,
    Corruption::Contrast,
    Corruption::Fog,
];

/// Which ensemble procedure a configuration runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnsembleKind {
    /// No ensemble: the configuration describes a single run.
    #[default]
    None,
    /// FreeTickets DST Ensemble: M independent dynamic sparse runs from different seeds, softmax averaged.
    DstEnsemble,
    /// FreeTickets EDST: one run (longer than the configuration's, `edst_length`), an exploration phase then M
    /// refinement phases, one ticket per phase.
    Edst,
    /// Sup-tickets: cyclic learning rates at the end of a sparse run, tickets superposed into one network.
    SupTickets,
    /// Prune-and-Tune: a parent, children pruned in anti-random pairs and tuned briefly, predictions averaged.
    PruneTune,
    /// Model soups: children fine-tuned from a parent, their weights averaged (uniform and greedy soups).
    Soup,
    /// CARD-Deck: members trained with different augmentations, a spectral gate routes each test batch.
    CardDeck,
}

impl EnsembleKind {
    pub const ALL: [EnsembleKind; 7] = [
        EnsembleKind::None,
        EnsembleKind::DstEnsemble,
        EnsembleKind::Edst,
        EnsembleKind::SupTickets,
        EnsembleKind::PruneTune,
        EnsembleKind::Soup,
        EnsembleKind::CardDeck,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EnsembleKind::None => "none",
            EnsembleKind::DstEnsemble => "dst-ensemble",
            EnsembleKind::Edst => "edst",
            EnsembleKind::SupTickets => "sup-tickets",
            EnsembleKind::PruneTune => "prune-tune",
            EnsembleKind::Soup => "soup",
            EnsembleKind::CardDeck => "card-deck",
        }
    }

    /// The member count the command line uses when none is given: 3, and 4 for Prune-and-Tune (its children come in
    /// pairs; the reference trains 6).
    pub fn default_members(self) -> usize {
        if self == EnsembleKind::PruneTune { 4 } else { 3 }
    }
}

impl std::str::FromStr for EnsembleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EnsembleKind::ALL.into_iter().find(|k| k.name() == s || k.name().replace('-', "_") == s).ok_or_else(|| {
            let names: Vec<_> = EnsembleKind::ALL[1..].iter().map(|k| k.name()).collect();
            format!("unknown ensemble kind '{s}' (expected one of {})", names.join(", "))
        })
    }
}

impl std::fmt::Display for EnsembleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a re-exploration chooses the weights it regrows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regrow {
    /// Uniformly at random among the inactive positions (the FreeTickets scripts' `--growth random`).
    #[default]
    Random,
    /// The largest dense-gradient magnitudes on one training batch (RigL's rule).
    Gradient,
}

impl Regrow {
    /// The regrowth that matches a dynamic method: by gradient for RigL and DST-EE, at random otherwise.
    pub fn for_method(method: Method) -> Regrow {
        if method.grows_by_gradient() { Regrow::Gradient } else { Regrow::Random }
    }
}

impl std::str::FromStr for Regrow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Regrow::Random),
            "gradient" => Ok(Regrow::Gradient),
            _ => Err(format!("unknown regrowth '{s}' (expected random or gradient)")),
        }
    }
}

/// The ensemble procedure and its settings. Only `kind`, `members`, the corruption settings and `dense_baseline`
/// apply to every kind; the other fields belong to the method named in their comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnsembleSettings {
    pub kind: EnsembleKind,
    /// Members: seeds (DST Ensemble), tickets (EDST), cycles (Sup-tickets), children (Prune-and-Tune, soups),
    /// augmentations (CARD-Deck).
    pub members: usize,
    /// EDST: the length of its one run as a multiple of the configuration's (reference: 450 epochs against the 250 of
    /// a dense run or a DST Ensemble member, 1.8); its training FLOPs still stay below one dense run's. (A saved
    /// configuration from before this setting existed ran as long as the configuration.)
    #[serde(default = "as_long_as_the_run")]
    pub edst_length: f64,
    /// EDST: share of the run spent in the exploration phase at the constant base learning rate (reference: 150 of
    /// 450 epochs).
    pub exploration_fraction: f64,
    /// EDST: a refinement phase starts at `lr × refine_lr` (reference 0.01 after 0.1) ...
    pub refine_lr: f64,
    /// ... and multiplies it by `refine_decay` halfway through (reference 0.001).
    pub refine_decay: f64,
    /// EDST: share of the active weights dropped (smallest magnitudes) and regrown at the start of each later phase
    /// (reference q = 0.8).
    pub reexplore_fraction: f64,
    /// EDST: drop and regrow within each layer (the reference code's `truncate_weights`; per-layer counts stay
    /// exact) or under one global threshold (the global count stays exact, layer densities move).
    pub reexplore_scope: Scope,
    /// EDST: how re-exploration regrows.
    pub regrow: Regrow,
    /// Sup-tickets: share of the run given to the learning-rate cycles at its end (ours: a quarter).
    pub cyclic_fraction: f64,
    /// Sup-tickets: a cycle's learning rate goes `lr × cycle_low → lr × cycle_high → lr × cycle_low`.
    pub cycle_low: f64,
    pub cycle_high: f64,
    /// Sup-tickets: share of each layer's active weights dropped and regrown at each cycle's start (reference 0.5);
    /// regrowth by gradient for RigL and DST-EE runs, at random otherwise.
    pub cycle_reexplore: f64,
    /// Sup-tickets: training batches used to recalibrate BatchNorm statistics of the superposed network (a
    /// cumulative average, as PyTorch's `bn_update`; at most one epoch). No effect on networks without BatchNorm.
    pub bn_batches: usize,
    /// Prune-and-Tune: each child's tuning budget as a share of the parent's steps. The reference tunes 6 children
    /// for 10 epochs each after a parent of a few hundred; our parents train a few epochs, so a child needs a larger
    /// share to recover from losing half its weights (ours: a half; at a quarter, children on cifar10-mini ended
    /// about 6.5 points below their parent).
    pub tune_fraction: f64,
    /// Prune-and-Tune: a child's one-cycle peak learning rate as a multiple of the configuration's (the reference
    /// peaks at its parent's initial rate, 1).
    pub tune_lr: f64,
    /// Model soups: each child's fine-tuning budget as a share of the parent's steps.
    pub finetune_fraction: f64,
    /// Model soups: share of the training set held out for the greedy soup when the data has no validation split.
    pub held_out_fraction: f64,
    /// CARD-Deck: test images per gating decision.
    pub gate_batch: usize,
    /// CARD-Deck: share of a member's training images replaced by their corruption (severity drawn from 1..=5 per
    /// image, once, from the seed); the rest stay clean.
    pub augment_share: f64,
    /// Evaluate members and ensemble on the test set under these corruptions (CARD-Deck uses
    /// [`CARD_DEFAULT_CORRUPTIONS`] when this is empty) ...
    pub corruptions: Vec<Corruption>,
    /// ... at these severities.
    pub severities: Vec<u8>,
    /// Also train one dense network of the same configuration (static, density 1) for comparison.
    pub dense_baseline: bool,
}

impl Default for EnsembleSettings {
    fn default() -> Self {
        EnsembleSettings {
            kind: EnsembleKind::None,
            members: 3,
            edst_length: 1.8,
            exploration_fraction: 1.0 / 3.0,
            refine_lr: 0.1,
            refine_decay: 0.1,
            reexplore_fraction: 0.8,
            reexplore_scope: Scope::Layerwise,
            regrow: Regrow::Random,
            cyclic_fraction: 0.25,
            cycle_low: 0.01,
            cycle_high: 0.05,
            cycle_reexplore: 0.5,
            bn_batches: 50,
            tune_fraction: 0.5,
            tune_lr: 1.0,
            finetune_fraction: 0.25,
            held_out_fraction: 0.1,
            gate_batch: 100,
            augment_share: 0.5,
            corruptions: vec![],
            severities: vec![1, 3, 5],
            dense_baseline: false,
        }
    }
}

fn as_long_as_the_run() -> f64 {
    1.0
}

impl EnsembleSettings {
    /// Every range, checked in one place (the configuration's `validate` calls it).
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, msg: String| if ok { Ok(()) } else { Err(msg) };
        let share = |name: &str, x: f64, open_low: bool, open_high: bool| {
            let low_ok = if open_low { x > 0.0 } else { x >= 0.0 };
            let high_ok = if open_high { x < 1.0 } else { x <= 1.0 };
            check(
                low_ok && high_ok,
                format!(
                    "ensemble {name} {} is out of range {}0, 1{}",
                    Shown(x),
                    ["[", "("][open_low as usize],
                    ["]", ")"][open_high as usize]
                ),
            )
        };
        check(
            (2..=MAX_MEMBERS).contains(&self.members),
            format!("ensemble members {} is out of range 2..={MAX_MEMBERS}", self.members),
        )?;
        if self.kind == EnsembleKind::PruneTune {
            check(
                self.members.is_multiple_of(2),
                format!(
                    "Prune-and-Tune trains children in anti-random pairs: members must be even, not {}",
                    self.members
                ),
            )?;
        }
        check(
            self.edst_length > 0.0 && self.edst_length <= 10.0,
            format!("EDST run length {}× is out of range (0, 10]", Shown(self.edst_length)),
        )?;
        share("exploration fraction", self.exploration_fraction, false, true)?;
        share("refinement learning-rate factor", self.refine_lr, true, false)?;
        share("refinement decay", self.refine_decay, true, false)?;
        share("re-exploration fraction", self.reexplore_fraction, false, false)?;
        share("cyclic fraction", self.cyclic_fraction, true, true)?;
        check(
            self.cycle_low > 0.0 && self.cycle_low <= self.cycle_high && self.cycle_high <= 10.0,
            format!(
                "Sup-tickets cycle learning rates ×{} → ×{} must satisfy 0 < low <= high <= 10",
                Shown(self.cycle_low),
                Shown(self.cycle_high)
            ),
        )?;
        share("cycle re-exploration", self.cycle_reexplore, false, false)?;
        check(self.bn_batches <= 100_000, format!("BatchNorm batches {} is out of range 0..=100000", self.bn_batches))?;
        check(
            self.tune_fraction > 0.0 && self.tune_fraction <= 10.0,
            format!("Prune-and-Tune tuning fraction {} is out of range (0, 10]", Shown(self.tune_fraction)),
        )?;
        check(
            self.tune_lr > 0.0 && self.tune_lr <= 10.0,
            format!("Prune-and-Tune peak learning-rate factor {} is out of range (0, 10]", Shown(self.tune_lr)),
        )?;
        check(
            self.finetune_fraction > 0.0 && self.finetune_fraction <= 10.0,
            format!("soup fine-tuning fraction {} is out of range (0, 10]", Shown(self.finetune_fraction)),
        )?;
        check(
            self.held_out_fraction > 0.0 && self.held_out_fraction <= 0.5,
            format!("held-out fraction {} is out of range (0, 0.5]", Shown(self.held_out_fraction)),
        )?;
        check(
            (1..=10_000).contains(&self.gate_batch),
            format!("gate batch {} is out of range 1..=10000", self.gate_batch),
        )?;
        share("CARD-Deck augmented share", self.augment_share, false, false)?;
        check(
            !self.severities.is_empty() || self.corruptions.is_empty(),
            "corruptions were asked for but no severities".into(),
        )?;
        if let Some(s) = self.severities.iter().find(|s| !(1..=5).contains(*s)) {
            return Err(format!("corruption severity {s} is out of range 1..=5"));
        }
        // Each entry is one more evaluation of every member under every corruption: a repeat only costs time.
        if let Some((i, s)) = self.severities.iter().enumerate().find(|(i, s)| self.severities[..*i].contains(s)) {
            return Err(format!("corruption severity {s} is listed twice (entry {})", i + 1));
        }
        if let Some((i, c)) = self.corruptions.iter().enumerate().find(|(i, c)| self.corruptions[..*i].contains(c)) {
            return Err(format!("corruption {} is listed twice (entry {})", c.name(), i + 1));
        }
        Ok(())
    }

    /// The corruptions the robustness evaluation covers.
    pub fn evaluated_corruptions(&self) -> Vec<Corruption> {
        if self.corruptions.is_empty() && self.kind == EnsembleKind::CardDeck {
            CARD_DEFAULT_CORRUPTIONS.to_vec()
        } else {
            self.corruptions.clone()
        }
    }
}

/// A comma-separated list of corruption names, or `all` (empty text: none).
pub fn parse_corruptions(s: &str) -> Result<Vec<Corruption>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(vec![]);
    }
    if s == "all" {
        return Ok(Corruption::ALL.to_vec());
    }
    let mut out = vec![];
    for name in s.split(',') {
        let c: Corruption = name.trim().parse()?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// A comma-separated list of severities from 1 to 5.
pub fn parse_severities(s: &str) -> Result<Vec<u8>, String> {
    let mut out = vec![];
    for x in s.split(',') {
        let v: u8 =
            x.trim().parse().map_err(|_| format!("severity '{}' is not a whole number from 1 to 5", x.trim()))?;
        if !(1..=5).contains(&v) {
            return Err(format!("severity {v} is out of range 1..=5"));
        }
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}
