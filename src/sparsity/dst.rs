//! Dynamic sparse training: SET, RigL and DST-EE. They share RigL's scheduler (update every ΔT steps until the end
//! step, drop fraction cosine-annealed to zero) and its drop rule (the smallest magnitudes); they differ only in the
//! score that chooses where to grow.
//!
//! An update runs on the device with the exact top-k selection of [`crate::kernels::top_k_mask`]: no read-back, and
//! each layer ends with exactly the active count it started with. Weights grown into a position that was inactive
//! start at zero with zero optimiser state (the trainer's `apply_masks`); a weight dropped and regrown in the same
//! update simply stays.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::Method;
use super::prune::{Budget, Scope, keep_top, magnitudes};
use crate::error::{TrainError, read_f32};
use crate::kernels::top_k_mask;
use crate::mask::{Bits, LayerMask, Masks};
use crate::model::Network;
use crate::num::Shown;
use crate::rng::Rng;

/// How the drop fraction decays over the update period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anneal {
    /// α(t) = α₀/2 · (1 + cos(π t / T_end)) (RigL's default).
    #[default]
    Cosine,
    /// α(t) = α₀ (SET's original schedule).
    Constant,
}

/// The scheduler's and updater's settings (RigL's CIFAR defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DstSettings {
    /// ΔT: steps between mask updates.
    pub update_every: usize,
    /// α₀: share of each layer's active weights dropped (and regrown) at the first update.
    pub drop_fraction: f64,
    pub anneal: Anneal,
    /// The last update happens at or before this share of training.
    pub end_fraction: f64,
    /// DST-EE's exploration coefficient c in |g| + c·ln t / (N + 1).
    pub exploration: f64,
}

impl Default for DstSettings {
    fn default() -> Self {
        DstSettings {
            update_every: 100,
            drop_fraction: 0.3,
            anneal: Anneal::Cosine,
            end_fraction: 0.75,
            exploration: 1e-3,
        }
    }
}

impl DstSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1_000_000).contains(&self.update_every) {
            return Err(format!("update interval {} is out of range 1..=1000000 steps", self.update_every));
        }
        if !(0.0..=1.0).contains(&self.drop_fraction) {
            return Err(format!("drop fraction {} is out of range [0, 1]", Shown(self.drop_fraction)));
        }
        if !(self.end_fraction > 0.0 && self.end_fraction <= 1.0) {
            return Err(format!(
                "update end {} is out of range (0, 1] (a share of training)",
                Shown(self.end_fraction)
            ));
        }
        if !(0.0..=1e3).contains(&self.exploration) {
            return Err(format!("exploration coefficient {} is out of range [0, 1000]", Shown(self.exploration)));
        }
        Ok(())
    }

    /// The last step at which the mask may change.
    pub fn end_step(&self, total_steps: usize) -> usize {
        (self.end_fraction * total_steps as f64).round() as usize
    }

    /// How many mask updates a run of `total_steps` steps makes: one every ΔT steps up to the end step.
    pub fn updates(&self, total_steps: usize) -> usize {
        self.end_step(total_steps) / self.update_every.max(1)
    }

    /// The drop fraction of the update after `step` steps, or `None` if no update is due then.
    pub fn drop_fraction_at(&self, step: usize, total_steps: usize) -> Option<f64> {
        let end = self.end_step(total_steps);
        if step == 0 || step > end || !step.is_multiple_of(self.update_every) {
            return None;
        }
        Some(self.drop_fraction_for(step, total_steps))
    }

    /// The annealed drop fraction at `step` (zero after the end step).
    pub fn drop_fraction_for(&self, step: usize, total_steps: usize) -> f64 {
        let end = self.end_step(total_steps).max(1);
        if step > end {
            return 0.0;
        }
        match self.anneal {
            Anneal::Constant => self.drop_fraction,
            Anneal::Cosine => {
                self.drop_fraction / 2.0 * (1.0 + (std::f64::consts::PI * step as f64 / end as f64).cos())
            }
        }
    }
}

/// What one mask update did, for the CLI's JSON and the app's topology view.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MaskUpdate {
    pub step: usize,
    pub drop_fraction: f64,
    /// Per prunable layer: active weights after the update.
    pub active: Vec<usize>,
    /// Per prunable layer: weights active before and not after.
    pub dropped: Vec<usize>,
    /// Per prunable layer: weights active after and not before.
    pub grown: Vec<usize>,
    /// In-time over-parameterisation rate: share of prunable weights active at any time so far.
    pub itop_rate: f64,
    /// IoU of the mask with the one before the update, and with the initial mask.
    pub iou_previous: f64,
    pub iou_initial: f64,
}

/// The updater's state across updates.
#[derive(Clone, Debug)]
pub struct DynamicSparsity {
    pub method: Method,
    pub settings: DstSettings,
    seed: u64,
    updates: u64,
    /// DST-EE's N_i: in how many mask states (the initial one and each update's) weight i was active.
    activity: Vec<Option<Tensor<1>>>,
}

impl DynamicSparsity {
    pub fn new(method: Method, settings: DstSettings, seed: u64, masks: &[Option<Tensor<1>>]) -> Self {
        let activity = match method {
            Method::DstEe => masks.to_vec(),
            _ => vec![None; masks.len()],
        };
        DynamicSparsity { method, settings, seed, updates: 0, activity }
    }

    /// Count a mask state set from outside the updater (EDST's re-exploration) in DST-EE's activity.
    pub fn count_mask_state(&mut self, masks: &[Option<Tensor<1>>]) {
        for (n, mask) in self.activity.iter_mut().zip(masks) {
            if let (Some(n), Some(mask)) = (n, mask) {
                *n = n.clone() + mask.clone();
            }
        }
    }

    /// One update after `step` steps with this step's dense gradients. `masks[i]` and `targets[i]` are parameter
    /// i's 0/1 mask and its exact active count (`None` for unmasked parameters). Returns the new masks.
    pub fn update(
        &mut self,
        step: usize,
        drop_fraction: f64,
        params: &[Tensor<1>],
        grads: &[Tensor<1>],
        masks: &[Option<Tensor<1>>],
        targets: &[Option<usize>],
    ) -> Vec<Option<Tensor<1>>> {
        self.updates += 1;
        let rng = Rng::stream(self.seed, "grow").fork(self.updates);
        let mut out = masks.to_vec();
        for (i, mask) in masks.iter().enumerate() {
            let (Some(mask), Some(active)) = (mask, targets[i]) else { continue };
            let drop = (drop_fraction * active as f64).floor() as usize;
            let score = self.grow_score(i, &grads[i], step, &mut rng.fork(i as u64));
            let new = update_layer(&params[i], mask, active, drop, score);
            if let Some(n) = &mut self.activity[i] {
                *n = n.clone() + new.clone();
            }
            out[i] = Some(new);
        }
        out
    }

    fn grow_score(&self, i: usize, grad: &Tensor<1>, step: usize, rng: &mut Rng) -> Tensor<1> {
        match self.method {
            Method::Rigl => grad.clone().abs(),
            Method::DstEe => {
                let n = self.activity[i].clone().unwrap_or_else(|| grad.zeros_like());
                let bonus = (n + 1.0).recip() * (self.settings.exploration * (step.max(2) as f64).ln());
                grad.clone().abs() + bonus
            }
            // SET: uniform random scores, drawn on the CPU from the run's seed so every backend grows the same.
            _ => random_scores(grad.dims()[0], rng, &grad.device()),
        }
    }
}

/// One layer's update: keep the `active − drop` largest magnitudes among the active weights, then grow `drop` of the
/// positions not kept (a just-dropped weight may come back) by `grow_score`. Exactly `active` weights end active.
pub fn update_layer(
    weight: &Tensor<1>,
    mask: &Tensor<1>,
    active: usize,
    drop: usize,
    grow_score: Tensor<1>,
) -> Tensor<1> {
    let drop = drop.min(active);
    let keep = top_k_mask(weight.clone().abs(), mask.clone(), active - drop);
    let grow = top_k_mask(grow_score, keep.clone().neg() + 1.0, drop);
    keep + grow
}

/// Uniform random scores in [0, 1), drawn on the CPU from `rng` so that every backend grows the same positions.
pub fn random_scores(len: usize, rng: &mut Rng, device: &Device) -> Tensor<1> {
    let values: Vec<f32> = (0..len).map(|_| rng.uniform()).collect();
    Tensor::from_data(TensorData::new(values, [len]), device)
}

/// A re-exploration: drop `fraction` of the active weights with the smallest magnitudes and regrow as many among
/// the positions not kept (a just-dropped weight may come back) by `grow_scores` (indexed like `masks.layers`).
/// `Layerwise` drops ⌊fraction · active⌋ in each layer and keeps every layer's count; `Global` drops
/// ⌊fraction · total active⌋ under one magnitude threshold and regrows under one score threshold, keeping the total.
/// Returns the new masks and the number of weights dropped (= regrown).
pub async fn reexplore(
    net: &Network,
    masks: &Masks,
    fraction: f64,
    scope: Scope,
    grow_scores: Vec<Tensor<1>>,
    device: &Device,
) -> Result<(Masks, usize), TrainError> {
    let upload = |b: &Bits| Tensor::<1>::from_data(TensorData::new(b.to_f32(), [b.len()]), device);
    match scope {
        Scope::Layerwise => {
            let mut out = masks.clone();
            let mut dropped = 0;
            for ((layer, new), score) in masks.layers.iter().zip(&mut out.layers).zip(grow_scores) {
                let active = layer.bits.count_ones();
                let drop = (fraction * active as f64).floor() as usize;
                let t = update_layer(&net.params[layer.param], &upload(&layer.bits), active, drop, score);
                new.bits = Bits::from_bools(read_f32(t).await?.into_iter().map(|v| v != 0.0));
                dropped += drop;
            }
            Ok((out, dropped))
        }
        Scope::Global => {
            let active = masks.active();
            let drop = (fraction * active as f64).floor() as usize;
            let kept = keep_top(masks, magnitudes(net, masks), &Budget::Global(active - drop), device).await?;
            let free = Masks {
                layers: kept.layers.iter().map(|l| LayerMask { param: l.param, bits: l.bits.not() }).collect(),
            };
            let grown =
                keep_top(&free, grow_scores.into_iter().map(Some).collect(), &Budget::Global(drop), device).await?;
            Ok((kept.union(&grown), drop))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_follows_rigl() {
        let s = DstSettings::default();
        assert_eq!(s.drop_fraction_at(0, 1000), None);
        assert_eq!(s.drop_fraction_at(50, 1000), None);
        assert!(
            (s.drop_fraction_at(100, 1000).unwrap() - 0.15 * (1.0 + (std::f64::consts::PI / 7.5).cos())).abs() < 1e-12
        );
        assert!(s.drop_fraction_at(700, 1000).is_some());
        assert_eq!(s.drop_fraction_at(800, 1000), None, "no update after 75% of training");
        assert!(s.drop_fraction_for(750, 1000).abs() < 1e-12, "annealed to zero at the end step");
        let c = DstSettings { anneal: Anneal::Constant, ..s };
        assert_eq!(c.drop_fraction_at(300, 1000), Some(0.3));
        // Monotone decay.
        let fr: Vec<f64> = (1..8).map(|k| s.drop_fraction_for(100 * k, 1000)).collect();
        assert!(fr.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn bad_settings_are_rejected() {
        for bad in [
            DstSettings { update_every: 0, ..Default::default() },
            DstSettings { drop_fraction: 1.5, ..Default::default() },
            DstSettings { end_fraction: 0.0, ..Default::default() },
            DstSettings { exploration: -1.0, ..Default::default() },
            DstSettings { drop_fraction: f64::NAN, ..Default::default() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(DstSettings::default().validate().is_ok());
    }

    #[test]
    fn layer_update_keeps_the_count_and_follows_the_scores() {
        let d = Device::flex();
        let t = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &d);
        // Active: 0 (|w| 0.1), 1 (0.9), 3 (0.5); drop 1 → index 0 goes; grow 1 by score among {0, 2, 4, 5}.
        let w = t(&[0.1, -0.9, 0.0, 0.5, 0.0, 0.0]);
        let m = t(&[1.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        let score = t(&[0.0, 9.0, 0.2, 9.0, 0.7, 0.7]);
        let new = update_layer(&w, &m, 3, 1, score).into_data().try_into_vec_as::<f32>().unwrap();
        assert_eq!(new, [0.0, 1.0, 0.0, 1.0, 1.0, 0.0], "ties go to the lower index");
        // A dropped weight may be regrown when its score is the largest.
        let score = t(&[5.0, 0.0, 0.2, 0.0, 0.7, 0.7]);
        let new = update_layer(&w, &m, 3, 1, score).into_data().try_into_vec_as::<f32>().unwrap();
        assert_eq!(new, [1.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
    }
}
