//! Per-layer densities for a global density budget (jaxpruner's "distribution").

use serde::{Deserialize, Serialize};

use crate::model::NetSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// Every layer at the same density.
    Uniform,
    /// Erdős–Rényi: raw density ∝ (n_in + n_out) / (n_in · n_out), kernel size ignored.
    ErdosRenyi,
    /// Erdős–Rényi-Kernel (RigL): raw density ∝ sum of all dimensions / their product.
    Erk,
}

impl Distribution {
    pub const ALL: [Distribution; 3] = [Distribution::Uniform, Distribution::ErdosRenyi, Distribution::Erk];

    pub fn name(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::ErdosRenyi => "er",
            Distribution::Erk => "erk",
        }
    }
}

impl std::str::FromStr for Distribution {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Distribution::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown sparsity distribution '{s}' (expected uniform, er or erk)"))
    }
}

impl std::fmt::Display for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-layer densities (one per prunable parameter, forward order) for an overall `density` of the prunable weights.
/// With `dense_first`, the first layer stays dense; for ER/ERK it is counted in the budget, as in RigL.
pub fn layer_densities(spec: &NetSpec, dist: Distribution, density: f64, dense_first: bool) -> Vec<f64> {
    let shapes: Vec<&[usize]> = spec.prunable().iter().map(|&i| spec.params[i].shape.as_slice()).collect();
    densities_for_shapes(&shapes, dist, density, dense_first)
}

pub fn densities_for_shapes(shapes: &[&[usize]], dist: Distribution, density: f64, dense_first: bool) -> Vec<f64> {
    let sizes: Vec<f64> = shapes.iter().map(|s| s.iter().product::<usize>() as f64).collect();
    let mut dense: Vec<bool> = (0..shapes.len()).map(|l| dense_first && l == 0).collect();
    if density >= 1.0 {
        return vec![1.0; shapes.len()];
    }
    if dist == Distribution::Uniform {
        return dense.iter().map(|&d| if d { 1.0 } else { density }).collect();
    }
    let raw: Vec<f64> = shapes
        .iter()
        .map(|s| match dist {
            Distribution::Erk => s.iter().sum::<usize>() as f64 / s.iter().product::<usize>() as f64,
            // ER looks only at the fan-out and fan-in (dims 0 and 1 of an [out, in, ...] weight).
            _ => (s[0] + s[1]) as f64 / (s[0] * s[1]) as f64,
        })
        .collect();
    // RigL's fixed point: solve for ε with the dense layers removed from the budget; make the layer with the
    // largest raw density dense whenever ε·raw exceeds 1, and solve again.
    loop {
        let (mut rhs, mut divisor) = (0.0, 0.0);
        for l in 0..shapes.len() {
            if dense[l] {
                rhs -= (1.0 - density) * sizes[l];
            } else {
                rhs += density * sizes[l];
                divisor += raw[l] * sizes[l];
            }
        }
        if divisor == 0.0 {
            return vec![1.0; shapes.len()];
        }
        let eps = rhs / divisor;
        let worst = (0..shapes.len()).filter(|&l| !dense[l]).max_by(|&a, &b| raw[a].total_cmp(&raw[b]));
        match worst {
            Some(l) if eps * raw[l] > 1.0 => dense[l] = true,
            _ => {
                return (0..shapes.len()).map(|l| if dense[l] { 1.0 } else { (eps * raw[l]).max(0.0) }).collect();
            }
        }
    }
}

/// Active-weight counts from densities: each layer's count is rounded to the nearest integer, at least 1 weight.
pub fn counts(spec: &NetSpec, densities: &[f64]) -> Vec<usize> {
    spec.prunable()
        .iter()
        .zip(densities)
        .map(|(&i, &d)| {
            let n = spec.params[i].numel();
            ((n as f64 * d).round() as usize).clamp(1, n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

    fn budget(spec: &NetSpec, dens: &[f64]) -> f64 {
        let sizes: Vec<f64> = spec.prunable().iter().map(|&i| spec.params[i].numel() as f64).collect();
        sizes.iter().zip(dens).map(|(n, d)| n * d).sum::<f64>() / sizes.iter().sum::<f64>()
    }

    #[test]
    fn erk_and_er_meet_the_budget_with_no_layer_above_one() {
        for arch in Arch::ALL {
            let spec = NetSpec::new(arch, 1.0, 10);
            for dist in [Distribution::Erk, Distribution::ErdosRenyi] {
                for density in [0.01, 0.05, 0.1, 0.2, 0.5, 0.8] {
                    for dense_first in [false, true] {
                        let d = layer_densities(&spec, dist, density, dense_first);
                        assert!(d.iter().all(|&x| (0.0..=1.0).contains(&x)), "{arch} {dist} {d:?}");
                        let got = budget(&spec, &d);
                        assert!((got - density).abs() < 1e-9, "{arch} {dist} {density}: {got}");
                        if dense_first {
                            assert_eq!(d[0], 1.0);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn erk_density_is_proportional_to_the_raw_density_below_saturation() {
        let spec = NetSpec::new(Arch::Conv4, 1.0, 10);
        let d = layer_densities(&spec, Distribution::Erk, 0.1, false);
        // The 3-channel input conv and the 10-way output layer saturate; every other layer gets ε·raw.
        assert_eq!((d[0], d[6]), (1.0, 1.0), "{d:?}");
        let raw = |l: usize| {
            let s = &spec.params[spec.prunable()[l]].shape;
            s.iter().sum::<usize>() as f64 / s.iter().product::<usize>() as f64
        };
        let eps = d[1] / raw(1);
        for l in 1..6 {
            assert!((d[l] / raw(l) - eps).abs() < 1e-9 * eps, "layer {l}: {d:?}");
        }
    }

    #[test]
    fn counts_are_exact_and_near_the_budget() {
        let spec = NetSpec::new(Arch::Resnet20, 1.0, 10);
        let d = layer_densities(&spec, Distribution::Erk, 0.1, false);
        let c = counts(&spec, &d);
        let total: usize = spec.prunable().iter().map(|&i| spec.params[i].numel()).sum();
        let target = 0.1 * total as f64;
        assert!((c.iter().sum::<usize>() as f64 - target).abs() <= c.len() as f64);
    }
}
