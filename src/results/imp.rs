//! What iterative magnitude pruning (IMP, COLT) and the instability analysis report.

use serde::{Deserialize, Serialize};

use super::RESULT_FORMAT;
use crate::config::TrainConfig;
use crate::mask::Masks;
use crate::metrics::EvalMetrics;
use crate::train::{CurvePoint, Trainer};

/// A histogram of log10 |w| of the weights a round pruned from, with the magnitude threshold it used. Loading one
/// checks that its edges fit its counts (see [`SavedHistogram`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SavedHistogram")]
pub struct MagnitudeHistogram {
    /// Bin edges in log10 |w|, ascending (one more than `counts`; both empty when no weight was non-zero).
    pub edges: Vec<f64>,
    pub counts: Vec<usize>,
    /// The smallest kept |w| (global scope: one; layerwise: one per layer).
    pub thresholds: Vec<f64>,
}

/// [`MagnitudeHistogram`] as a file holds it, before it is checked: the viewer draws bin `i` from `edges[i]` to
/// `edges[i + 1]`.
#[derive(Deserialize)]
struct SavedHistogram {
    edges: Vec<f64>,
    counts: Vec<usize>,
    thresholds: Vec<f64>,
}

impl TryFrom<SavedHistogram> for MagnitudeHistogram {
    type Error = String;

    fn try_from(saved: SavedHistogram) -> Result<Self, String> {
        let SavedHistogram { edges, counts, thresholds } = saved;
        let bins = counts.len();
        if !(edges.is_empty() && bins == 0 || edges.len() == bins + 1) {
            return Err(format!(
                "a magnitude histogram of {bins} bins has {} edges (expected {})",
                edges.len(),
                bins + 1
            ));
        }
        if !edges.iter().all(|e| e.is_finite()) || !edges.windows(2).all(|w| w[0] < w[1]) {
            return Err("a magnitude histogram's edges are not finite and ascending".into());
        }
        Ok(MagnitudeHistogram { edges, counts, thresholds })
    }
}

impl MagnitudeHistogram {
    pub fn new(values: &[f32], thresholds: Vec<f64>) -> Self {
        const BINS: usize = 40;
        let logs: Vec<f64> = values.iter().filter(|v| **v != 0.0).map(|v| (v.abs() as f64).log10()).collect();
        if logs.is_empty() {
            return MagnitudeHistogram { edges: vec![], counts: vec![], thresholds };
        }
        let lo = logs.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max).max(lo + 1e-6);
        let width = (hi - lo) / BINS as f64;
        let mut counts = vec![0; BINS];
        for v in logs {
            counts[(((v - lo) / width) as usize).min(BINS - 1)] += 1;
        }
        MagnitudeHistogram { edges: (0..=BINS).map(|i| lo + width * i as f64).collect(), counts, thresholds }
    }
}

/// One trained network of a procedure: its test metrics, curves and distance travelled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trained {
    pub test: EvalMetrics,
    pub curves: Vec<CurvePoint>,
    /// ℓ₂ distance of the prunable weights from where training started.
    pub l2_from_start: f64,
    pub train_flops: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImpRound {
    pub round: usize,
    pub density: f64,
    pub layer_densities: Vec<f64>,
    /// The rewound subnetwork trained (round 0: the dense network).
    pub ticket: Trained,
    /// The same mask from a fresh initialisation.
    pub reinit: Option<Trained>,
    /// A random mask at the same per-layer densities, from the original initialisation.
    pub random: Option<Trained>,
    /// Magnitudes of the previous round's trained weights this round's mask was cut from (none in round 0).
    pub histogram: Option<MagnitudeHistogram>,
    pub masks: Masks,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImpResult {
    pub format: u32,
    pub config: TrainConfig,
    pub backend: String,
    pub rounds: Vec<ImpRound>,
    /// Each round's mask is contained in the previous one's.
    pub nested: bool,
}

impl ImpRound {
    /// Round 0: the dense network, trained.
    pub fn dense(trainer: &Trainer, ticket: Trained) -> Self {
        let masks = trainer.masks().clone();
        ImpRound {
            round: 0,
            density: 1.0,
            layer_densities: masks.layer_densities(),
            ticket,
            reinit: None,
            random: None,
            histogram: None,
            masks,
        }
    }
}

impl ImpResult {
    /// The result of `rounds`, with whether their masks are nested.
    pub fn new(config: &TrainConfig, backend: &str, rounds: Vec<ImpRound>) -> Self {
        let nested = rounds.windows(2).all(|w| w[1].masks.is_subset_of(&w[0].masks));
        ImpResult { format: RESULT_FORMAT, config: config.clone(), backend: backend.into(), rounds, nested }
    }
}

/// Linear mode connectivity of two networks trained from one state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Instability {
    pub from_step: usize,
    pub alphas: Vec<f64>,
    /// Test error (%) of (1 − α)·θ₁ + α·θ₂.
    pub errors: Vec<f64>,
    /// max error − mean of the endpoints' errors, in percentage points.
    pub barrier: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A saved histogram with too few edges would index past them in the viewer: loading refuses it.
    #[test]
    fn loading_checks_histogram_edges() {
        let ok = MagnitudeHistogram::new(&[0.1, 1.0, 10.0], vec![0.5]);
        let loaded = serde_json::from_str::<MagnitudeHistogram>(&serde_json::to_string(&ok).unwrap()).unwrap();
        assert_eq!((loaded.edges.len(), &loaded.counts, &loaded.thresholds), (41, &ok.counts, &ok.thresholds));
        let empty = r#"{"edges":[],"counts":[],"thresholds":[]}"#;
        assert!(serde_json::from_str::<MagnitudeHistogram>(empty).is_ok(), "no non-zero weights");
        for bad in [
            r#"{"edges":[0.0],"counts":[5],"thresholds":[]}"#,
            r#"{"edges":[],"counts":[5],"thresholds":[]}"#,
            r#"{"edges":[1.0,0.0],"counts":[5],"thresholds":[]}"#,
        ] {
            assert!(serde_json::from_str::<MagnitudeHistogram>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn histogram_counts_nonzero_magnitudes() {
        let h = MagnitudeHistogram::new(&[0.0, 0.1, -0.1, 1.0, 10.0], vec![0.5]);
        assert_eq!(h.counts.iter().sum::<usize>(), 4);
        assert_eq!(h.edges.len(), h.counts.len() + 1);
        assert!((h.edges[0] + 1.0).abs() < 1e-6 && (h.edges.last().unwrap() - 1.0).abs() < 1e-6);
    }
}
