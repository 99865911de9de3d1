//! Size and cost accounting in ShrinkBench's terms: parameters, non-zeros, compression ratio and FLOPs.
//!
//! FLOPs count the conv and linear layers only, as 2 × multiply-accumulates per example; a sparse layer costs in
//! proportion to its active weights. Training FLOPs follow RigL: forward + backward ≈ 3 × the sparse forward pass.

use serde::{Deserialize, Serialize};

use crate::mask::Masks;
use crate::model::NetSpec;
use crate::sparsity::{Distribution, distribution};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerAccount {
    pub name: String,
    pub shape: Vec<usize>,
    pub params: usize,
    pub nonzeros: usize,
    pub density: f64,
    pub dense_flops: f64,
    pub sparse_flops: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accounting {
    pub layers: Vec<LayerAccount>,
    /// All parameters, prunable or not.
    pub params: usize,
    pub prunable_params: usize,
    /// Active prunable weights plus every unprunable parameter.
    pub nonzeros: usize,
    pub compression: f64,
    pub dense_flops: f64,
    pub sparse_flops: f64,
    pub theoretical_speedup: f64,
    pub train_flops: f64,
}

impl Accounting {
    pub fn new(spec: &NetSpec, masks: &Masks, train_flops: f64) -> Self {
        let layers: Vec<LayerAccount> = masks
            .layers
            .iter()
            .map(|l| {
                let p = &spec.params[l.param];
                let nonzeros = l.bits.count_ones();
                let per_weight = 2.0 * (p.out_hw[0] * p.out_hw[1]) as f64;
                LayerAccount {
                    name: p.name.clone(),
                    shape: p.shape.clone(),
                    params: p.numel(),
                    nonzeros,
                    density: nonzeros as f64 / p.numel() as f64,
                    dense_flops: per_weight * p.numel() as f64,
                    sparse_flops: per_weight * nonzeros as f64,
                }
            })
            .collect();
        let params = spec.num_params();
        let prunable_params: usize = layers.iter().map(|l| l.params).sum();
        let nonzeros = params - prunable_params + layers.iter().map(|l| l.nonzeros).sum::<usize>();
        let dense_flops: f64 = layers.iter().map(|l| l.dense_flops).sum();
        let sparse_flops: f64 = layers.iter().map(|l| l.sparse_flops).sum();
        Accounting {
            layers,
            params,
            prunable_params,
            nonzeros,
            compression: params as f64 / nonzeros.max(1) as f64,
            dense_flops,
            sparse_flops,
            theoretical_speedup: dense_flops / sparse_flops.max(1.0),
            train_flops,
        }
    }

    /// A per-layer table for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<28} {:>18} {:>10} {:>10} {:>8} {:>12} {:>12}\n",
            "layer", "shape", "params", "nonzeros", "density", "dense MFLOP", "sparse MFLOP"
        );
        for l in &self.layers {
            let shape = l.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
            out += &format!(
                "{:<28} {:>18} {:>10} {:>10} {:>8.4} {:>12.3} {:>12.3}\n",
                l.name,
                shape,
                l.params,
                l.nonzeros,
                l.density,
                l.dense_flops / 1e6,
                l.sparse_flops / 1e6
            );
        }
        out += &format!(
            "parameters {} (prunable {}), non-zeros {}, compression {:.2}×, forward {:.2} → {:.2} MFLOPs ({:.2}× fewer)\n",
            self.params,
            self.prunable_params,
            self.nonzeros,
            self.compression,
            self.dense_flops / 1e6,
            self.sparse_flops / 1e6,
            self.theoretical_speedup
        );
        out
    }
}

/// Forward FLOPs of `spec` at the layer densities `dist` gives for `density`, as a share of the dense network's (the
/// same layers and count as [`Accounting`]). ERK keeps small layers denser, and small conv layers on large maps are
/// where the FLOPs are, so its share exceeds the density.
pub fn flops_share(spec: &NetSpec, dist: Distribution, density: f64, dense_first: bool) -> f64 {
    let densities = distribution::layer_densities(spec, dist, density, dense_first);
    let (mut dense, mut sparse) = (0.0, 0.0);
    for (&i, d) in spec.prunable().iter().zip(densities) {
        let p = &spec.params[i];
        let flops = 2.0 * (p.out_hw[0] * p.out_hw[1] * p.numel()) as f64;
        dense += flops;
        sparse += flops * d;
    }
    if dense > 0.0 { sparse / dense } else { 1.0 }
}

/// Training FLOPs of a RigL run at `density` (layer densities by `dist`), relative to a dense run of the same length,
/// by RigL's accounting: 3·f_S a step, and 2·f_S + f_D for each of the `updates` steps of its `steps` that compute the
/// dense weight gradient of a mask update.
pub fn rigl_flops_share(spec: &NetSpec, dist: Distribution, density: f64, steps: usize, updates: usize) -> f64 {
    let share = flops_share(spec, dist, density, false);
    share + updates as f64 * (1.0 - share) / (3.0 * steps.max(1) as f64)
}

/// The largest density (to 0.01) at which `members` such RigL runs together cost at most one dense run's training
/// FLOPs: FreeTickets' budget for its DST Ensemble.
pub fn ensemble_density(spec: &NetSpec, dist: Distribution, members: usize, steps: usize, updates: usize) -> f64 {
    (1..=100)
        .rev()
        .map(|p| p as f64 / 100.0)
        .find(|&d| members as f64 * rigl_flops_share(spec, dist, d, steps, updates) <= 1.0)
        .unwrap_or(0.01)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

    #[test]
    fn the_flops_share_matches_the_accounting_of_a_mask_at_those_densities() {
        let spec = NetSpec::new(Arch::Airbench, 0.5, 10);
        let mut rng = crate::rng::Rng::new(3);
        for dist in [Distribution::Uniform, Distribution::Erk] {
            let densities = distribution::layer_densities(&spec, dist, 0.1, false);
            let masks = Masks::random(&spec, &distribution::counts(&spec, &densities), &mut rng);
            let a = Accounting::new(&spec, &masks, 0.0);
            let share = flops_share(&spec, dist, 0.1, false);
            assert!((share - a.sparse_flops / a.dense_flops).abs() < 1e-3, "{dist}: {share} vs the mask's");
        }
        assert!((flops_share(&spec, Distribution::Uniform, 0.1, false) - 0.1).abs() < 1e-3);
        assert!(flops_share(&spec, Distribution::Erk, 0.1, false) > 0.1, "ERK spends density where the FLOPs are");
    }
}
