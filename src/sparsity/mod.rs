//! Sparsity methods, split as in jaxpruner: a distribution gives per-layer densities ([`distribution`]), a scheduler
//! says when masks change and an updater scores the weights to drop and to grow ([`dst`], which also holds the
//! one-off re-exploration of the ensembles); pruning by scores — magnitude for IMP, and the scores SNIP, GraSP and
//! SynFlow compute at initialisation — is in [`prune`]. Everything here takes tensors and masks, never a trainer.

pub mod distribution;
pub mod dst;
pub mod prune;

use serde::{Deserialize, Serialize};

pub use distribution::Distribution;
pub use dst::{Anneal, DstSettings, DynamicSparsity, MaskUpdate, reexplore};
pub use prune::{Budget, Scope};

/// How a run's sparse topology is chosen and changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A fixed random mask at the distribution's per-layer densities (the static sparse baseline; dense at density 1).
    #[default]
    Static,
    /// Pruning at initialisation by connection sensitivity |g ⊙ θ| on one batch (Lee et al. 2019).
    Snip,
    /// Pruning at initialisation by gradient-signal preservation θ ⊙ Hg (Wang et al. 2020).
    Grasp,
    /// Data-free iterative synaptic-flow pruning at initialisation (Tanaka et al. 2020).
    Synflow,
    /// Sparse evolutionary training: drop the smallest magnitudes, regrow at random (Mocanu et al. 2018).
    Set,
    /// Rigging the lottery: drop the smallest magnitudes, regrow the largest dense gradients (Evci et al. 2020).
    Rigl,
    /// DST-EE: RigL's regrowth plus an exploration bonus for rarely active weights (Huang et al. 2023).
    DstEe,
    /// Iterative magnitude pruning with rewinding: lottery tickets (Frankle & Carbin 2019; Frankle et al. 2020).
    Imp,
    /// Cyclic overlapping lottery tickets: prune on two halves of the data, keep the overlap of the two masks.
    Colt,
}

impl Method {
    pub const ALL: [Method; 9] = [
        Method::Static,
        Method::Snip,
        Method::Grasp,
        Method::Synflow,
        Method::Set,
        Method::Rigl,
        Method::DstEe,
        Method::Imp,
        Method::Colt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Static => "static",
            Method::Snip => "snip",
            Method::Grasp => "grasp",
            Method::Synflow => "synflow",
            Method::Set => "set",
            Method::Rigl => "rigl",
            Method::DstEe => "dst-ee",
            Method::Imp => "imp",
            Method::Colt => "colt",
        }
    }

    /// Whether the mask changes during training (dynamic sparse training).
    pub fn is_dynamic(self) -> bool {
        matches!(self, Method::Set | Method::Rigl | Method::DstEe)
    }

    /// Whether the method is a procedure of pruning rounds (IMP, COLT) rather than one run.
    pub fn is_iterative(self) -> bool {
        matches!(self, Method::Imp | Method::Colt)
    }

    /// Whether the method grows weights where the dense gradient is largest (RigL, DST-EE) rather than at random.
    pub fn grows_by_gradient(self) -> bool {
        matches!(self, Method::Rigl | Method::DstEe)
    }

    /// Whether the initial mask is chosen by scoring the initialised network.
    pub fn prunes_at_init(self) -> bool {
        matches!(self, Method::Snip | Method::Grasp | Method::Synflow)
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s || m.name().replace('-', "_") == s)
            .ok_or_else(|| format!("unknown method '{s}' (expected one of {})", names.join(", ")))
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
