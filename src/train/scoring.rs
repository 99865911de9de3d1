//! Scores the trainer computes from its own network and data to choose masks: one batch's gradients (SNIP, GraSP,
//! the ensembles' regrowth by gradient) and the pruning-at-initialisation methods. The selection itself is
//! [`crate::sparsity::prune`]'s: scores in, mask out.

use burn::prelude::*;
use burn::tensor::loss::cross_entropy_with_logits;

use super::Trainer;
use crate::data::{Augment, fill_batch};
use crate::error::{TrainError, read_f32};
use crate::mask::Masks;
use crate::model::Network;
use crate::rng::Rng;
use crate::sparsity::Method;
use crate::sparsity::prune::{Budget, keep_top};

impl Trainer {
    /// Gradients of the cross-entropy (logits divided by `temperature`) at `params` on one training batch: the first
    /// batch of a permutation drawn from `rng`, augmented (see [`crate::data::fill_batch`]) with further draws from it. BatchNorm runs in
    /// training mode on a copy of the running statistics: nothing of the trainer changes.
    pub fn batch_gradients(
        &self,
        params: &[Tensor<1>],
        mut rng: Rng,
        augment: Option<Augment>,
        temperature: f32,
    ) -> Vec<Tensor<1>> {
        let bs = self.batch_size();
        let indices: Vec<usize> = rng.permutation(self.train_set.len())[..bs].to_vec();
        let (mut images, mut labels) = (vec![], vec![]);
        fill_batch(&self.train_set, &indices, augment, &self.normalizer, &mut rng, &mut images, &mut labels);
        let device = &self.device;
        let c = self.spec.num_classes;
        let mut onehot = vec![0.0f32; bs * c];
        for (row, &label) in labels.iter().enumerate() {
            onehot[row * c + label as usize] = 1.0;
        }
        let x = Tensor::<4>::from_data(TensorData::new(images, [bs, 3, 32, 32]), device);
        let targets = Tensor::<2>::from_data(TensorData::new(onehot, [bs, c]), device);
        let tracked: Vec<Tensor<1>> = params.iter().map(|p| p.clone().autodiff().require_grad()).collect();
        let mut bn = self.net.bn.clone();
        let logits = Network::forward(&self.spec, &tracked, &mut bn, x.autodiff(), true) / temperature;
        let grads = cross_entropy_with_logits(logits, targets.autodiff()).backward();
        tracked.iter().zip(params).map(|(t, p)| t.grad(&grads).unwrap_or_else(|| p.zeros_like())).collect()
    }

    /// The mask a pruning-at-initialisation method chooses for the initialised network at the configured density
    /// (one global budget; the first layer stays dense if the configuration says so).
    pub(super) async fn prune_at_init(&self) -> Result<Masks, TrainError> {
        let dense = Masks::dense(&self.spec);
        let fixed: Vec<bool> = (0..dense.layers.len()).map(|l| self.config.dense_first && l == 0).collect();
        let fixed_count: usize = (0..fixed.len()).filter(|&l| fixed[l]).map(|l| dense.layers[l].bits.len()).sum();
        let target = ((self.config.density * dense.total() as f64).round() as usize).saturating_sub(fixed_count);
        let keep_only = |scores: Vec<Tensor<1>>| -> Vec<Option<Tensor<1>>> {
            scores.into_iter().enumerate().map(|(l, s)| (!fixed[l]).then_some(s)).collect()
        };
        match self.config.method {
            Method::Snip => {
                let grads = self.init_batch_gradients(&self.net.params, 1.0);
                let scores =
                    dense.layers.iter().map(|l| (grads[l.param].clone() * self.net.params[l.param].clone()).abs());
                keep_top(&dense, keep_only(scores.collect()), &Budget::Global(target), &self.device).await
            }
            Method::Grasp => {
                let scores = self.grasp_scores().await?;
                keep_top(&dense, keep_only(scores), &Budget::Global(target), &self.device).await
            }
            Method::Synflow => self.synflow(&dense, &fixed, target).await,
            other => Err(TrainError::Config(format!("{other} does not prune at initialisation"))),
        }
    }

    /// Pruning at initialisation scores every parameter set on the same seeded batch, without augmentation.
    fn init_batch_gradients(&self, params: &[Tensor<1>], temperature: f32) -> Vec<Tensor<1>> {
        self.batch_gradients(params, Rng::stream(self.config.seed, "prune-at-init"), None, temperature)
    }

    /// GraSP's keep score θ ⊙ Hg (it removes the highest −θ ⊙ Hg), with the logits at temperature 200 as in the
    /// reference. burn's autodiff is first order, so the Hessian-vector product is a central difference of
    /// gradients: Hg ≈ (∇L(θ + εg) − ∇L(θ − εg)) / 2ε, with ε scaled so the step εg has norm 10⁻³ of ‖θ‖.
    async fn grasp_scores(&self) -> Result<Vec<Tensor<1>>, TrainError> {
        const TEMPERATURE: f32 = 200.0;
        let params = &self.net.params;
        let g = self.init_batch_gradients(params, TEMPERATURE);
        let eps = 1e-3 * l2_norm(params).await?.max(1e-12) / l2_norm(&g).await?.max(1e-12);
        let shifted = |sign: f32| -> Vec<Tensor<1>> {
            params.iter().zip(&g).map(|(p, gi)| p.clone() + gi.clone() * (sign * eps)).collect()
        };
        let plus = self.init_batch_gradients(&shifted(1.0), TEMPERATURE);
        let minus = self.init_batch_gradients(&shifted(-1.0), TEMPERATURE);
        let masks = Masks::dense(&self.spec);
        Ok(masks
            .layers
            .iter()
            .map(|l| {
                let hg = (plus[l.param].clone() - minus[l.param].clone()) / (2.0 * eps);
                params[l.param].clone() * hg
            })
            .collect())
    }

    /// SynFlow: 100 rounds, each scoring |θ ⊙ ∂R/∂θ| with R the summed output of the network with every parameter
    /// replaced by its absolute value (and pruned ones by zero) on an all-ones input, BatchNorm in evaluation mode,
    /// then keeping the top scores globally at the round's density d^(k/100).
    async fn synflow(&self, dense: &Masks, fixed: &[bool], target: usize) -> Result<Masks, TrainError> {
        const ROUNDS: usize = 100;
        let device = &self.device;
        let spec = &self.spec;
        let scored_total: usize = (0..fixed.len()).filter(|&l| !fixed[l]).map(|l| dense.layers[l].bits.len()).sum();
        let final_density = target as f64 / scored_total.max(1) as f64;
        let abs: Vec<Tensor<1>> = self.net.params.iter().map(|p| p.clone().abs()).collect();
        let ones = Tensor::<4>::ones([1, 3, 32, 32], device);
        let mut masks = dense.clone();
        for round in 1..=ROUNDS {
            let mut params = abs.clone();
            for layer in &masks.layers {
                let m = Tensor::<1>::from_data(TensorData::new(layer.bits.to_f32(), [layer.bits.len()]), device);
                params[layer.param] = params[layer.param].clone() * m;
            }
            let tracked: Vec<Tensor<1>> = params.iter().map(|p| p.clone().autodiff().require_grad()).collect();
            let mut bn = self.net.bn.clone();
            let r = Network::forward(spec, &tracked, &mut bn, ones.clone().autodiff(), false).sum();
            let grads = r.backward();
            let scores: Vec<Option<Tensor<1>>> = masks
                .layers
                .iter()
                .enumerate()
                .map(|(l, layer)| {
                    let g = tracked[layer.param].grad(&grads).unwrap_or_else(|| params[layer.param].zeros_like());
                    (!fixed[l]).then(|| (g * params[layer.param].clone()).abs())
                })
                .collect();
            if let Some(s) = scores.iter().flatten().next() {
                let first = read_f32(s.clone().sum()).await?[0];
                if !first.is_finite() {
                    return Err(TrainError::Config(format!(
                        "SynFlow's scores overflowed f32 on {} (round {round}); use SNIP, GraSP or a shallower model",
                        self.config.model
                    )));
                }
            }
            let keep = (final_density.powf(round as f64 / ROUNDS as f64) * scored_total as f64).round() as usize;
            let keep = if round == ROUNDS { target } else { keep.max(target) };
            masks = keep_top(&masks, scores, &Budget::Global(keep), device).await?;
        }
        Ok(masks)
    }
}

async fn l2_norm(tensors: &[Tensor<1>]) -> Result<f32, TrainError> {
    let sum = Tensor::cat(tensors.iter().map(|t| t.clone().square().sum()).collect(), 0).sum();
    Ok(read_f32(sum).await?[0].sqrt())
}
