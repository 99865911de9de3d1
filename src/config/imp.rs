//! The settings of iterative magnitude pruning (IMP and COLT): the pruning rate per round, rewinding and controls.

use serde::{Deserialize, Serialize};

use crate::num::Shown;
use crate::sparsity::Scope;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewind {
    /// Back to the initial weights (the original lottery ticket).
    #[default]
    Init,
    /// Back to the weights after `rewind_step` steps of the dense run (weight rewinding), then train the rest.
    Step,
    /// Keep the trained weights and replay the whole learning-rate schedule (learning-rate rewinding).
    LearningRate,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImpSettings {
    /// Share of the remaining weights pruned per round.
    pub prune_fraction: f64,
    pub scope: Scope,
    pub rewind: Rewind,
    pub rewind_step: usize,
    /// The output layer is pruned at this multiple of the rate (1 = the same, 0.5 = half as in Frankle & Carbin's
    /// conv nets, 0 = never).
    pub output_rate: f64,
    /// Also train, each round, the same mask from a fresh initialisation and a random mask at the same per-layer
    /// densities (from the original initialisation).
    pub controls: bool,
}

impl Default for ImpSettings {
    fn default() -> Self {
        ImpSettings {
            prune_fraction: 0.2,
            scope: Scope::Global,
            rewind: Rewind::Init,
            rewind_step: 0,
            output_rate: 1.0,
            controls: true,
        }
    }
}

/// The most rounds a run may ask for (0.8^30 ≈ 0.1% density).
pub const MAX_ROUNDS: usize = 30;

impl ImpSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.prune_fraction > 0.0 && self.prune_fraction < 1.0) {
            return Err(format!("IMP prune fraction {} is out of range (0, 1)", Shown(self.prune_fraction)));
        }
        if !(0.0..=1.0).contains(&self.output_rate) {
            return Err(format!("IMP output-layer rate {} is out of range [0, 1]", Shown(self.output_rate)));
        }
        Ok(())
    }

    /// The density after each round: (1 − p)^r, the last round exactly at `target`. A round that would land within
    /// 0.1% of the target lands on it, so a rate typed to a few digits (0.683772 for two rounds to 10%) does not
    /// add a last round that prunes almost nothing.
    pub fn round_densities(&self, target: f64) -> Result<Vec<f64>, String> {
        const SNAP: f64 = 1e-3;
        let mut out = vec![];
        let mut d = 1.0;
        while d > target + 1e-12 {
            d *= 1.0 - self.prune_fraction;
            if d < target * (1.0 + SNAP) {
                d = target;
            }
            out.push(d);
            if out.len() > MAX_ROUNDS {
                return Err(format!(
                    "reaching density {target} by pruning {} per round takes more than {MAX_ROUNDS} rounds",
                    self.prune_fraction
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_densities_shrink_by_the_rate_and_end_at_the_target() {
        let s = ImpSettings::default();
        let d = s.round_densities(0.5).unwrap();
        assert_eq!(d.len(), 4);
        assert!((d[0] - 0.8).abs() < 1e-12 && (d[1] - 0.64).abs() < 1e-12 && (d[2] - 0.512).abs() < 1e-12);
        assert_eq!(*d.last().unwrap(), 0.5);
        assert!(s.round_densities(1.0).unwrap().is_empty());
        let typed = ImpSettings { prune_fraction: 0.683772, ..s };
        assert_eq!(typed.round_densities(0.1).unwrap().len(), 2, "(1 − 0.683772)² is 0.1 to six digits");
        assert!(s.round_densities(1e-6).is_err(), "too many rounds is an error, not a loop");
        assert!(ImpSettings { prune_fraction: 1.0, ..s }.validate().is_err());
        assert!(ImpSettings { output_rate: 2.0, ..s }.validate().is_err());
    }
}
