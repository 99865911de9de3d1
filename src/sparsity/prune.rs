//! Pruning by scores: keep the highest-scoring weights, per layer or under one global budget, with the exact
//! selection of [`crate::kernels::top_k_mask`] (on the GPU where training runs there). Magnitude scores give IMP's
//! rounds; SNIP, GraSP and SynFlow score the network at initialisation.

use burn::prelude::*;
use burn::tensor::loss::cross_entropy_with_logits;

use crate::data::fill_batch;
use crate::kernels::top_k_mask;
use crate::mask::{Bits, Masks};
use crate::model::Network;
use crate::rng::Rng;
use crate::sparsity::Method;
use crate::train::{TrainError, Trainer, read_f32};

/// How many weights pruning keeps.
#[derive(Clone, Debug, PartialEq)]
pub enum Budget {
    /// This many in each layer (indexed like `Masks::layers`).
    Layerwise(Vec<usize>),
    /// This many in all scored layers together: one threshold across layers.
    Global(usize),
}

/// Keep the highest `scores` among each layer's active weights. `scores[l]` is `None` for a layer left as it is
/// (not counted in a global budget).
pub async fn keep_top(
    masks: &Masks,
    scores: Vec<Option<Tensor<1>>>,
    budget: &Budget,
    device: &Device,
) -> Result<Masks, TrainError> {
    let upload = |b: &Bits| Tensor::<1>::from_data(TensorData::new(b.to_f32(), [b.len()]), device);
    let mut out = masks.clone();
    match budget {
        Budget::Layerwise(counts) => {
            for (l, score) in scores.into_iter().enumerate() {
                let Some(score) = score else { continue };
                let kept = top_k_mask(score, upload(&masks.layers[l].bits), counts[l]);
                out.layers[l].bits = bits_of(kept).await?;
            }
        }
        Budget::Global(k) => {
            let scored: Vec<usize> = (0..scores.len()).filter(|&l| scores[l].is_some()).collect();
            if scored.is_empty() {
                return Ok(out);
            }
            let all_scores = Tensor::cat(scores.into_iter().flatten().collect(), 0);
            let candidates = Tensor::cat(scored.iter().map(|&l| upload(&masks.layers[l].bits)).collect(), 0);
            let kept = read_f32(top_k_mask(all_scores, candidates, *k)).await?;
            let mut offset = 0;
            for &l in &scored {
                let len = masks.layers[l].bits.len();
                out.layers[l].bits = Bits::from_bools(kept[offset..offset + len].iter().map(|&v| v != 0.0));
                offset += len;
            }
        }
    }
    Ok(out)
}

async fn bits_of(t: Tensor<1>) -> Result<Bits, TrainError> {
    Ok(Bits::from_bools(read_f32(t).await?.into_iter().map(|v| v != 0.0)))
}

/// |w| of every prunable layer, indexed like `masks.layers`.
pub fn magnitudes(net: &Network, masks: &Masks) -> Vec<Option<Tensor<1>>> {
    masks.layers.iter().map(|l| Some(net.params[l.param].clone().abs())).collect()
}

/// The mask a pruning-at-initialisation method chooses for the trainer's initialised network at its configured
/// density (one global budget; the first layer stays dense if the configuration says so).
pub async fn prune_at_init(trainer: &Trainer) -> Result<Masks, TrainError> {
    let dense = Masks::dense(&trainer.spec);
    let fixed: Vec<bool> = (0..dense.layers.len()).map(|l| trainer.config.dense_first && l == 0).collect();
    let fixed_count: usize = (0..fixed.len()).filter(|&l| fixed[l]).map(|l| dense.layers[l].bits.len()).sum();
    let target = ((trainer.config.density * dense.total() as f64).round() as usize).saturating_sub(fixed_count);
    let keep_only = |scores: Vec<Tensor<1>>| -> Vec<Option<Tensor<1>>> {
        scores.into_iter().enumerate().map(|(l, s)| (!fixed[l]).then_some(s)).collect()
    };
    match trainer.config.method {
        Method::Snip => {
            let grads = batch_gradients(trainer, &trainer.net.params, 1.0);
            let scores =
                dense.layers.iter().map(|l| (grads[l.param].clone() * trainer.net.params[l.param].clone()).abs());
            keep_top(&dense, keep_only(scores.collect()), &Budget::Global(target), &trainer.device).await
        }
        Method::Grasp => {
            let scores = grasp_scores(trainer).await?;
            keep_top(&dense, keep_only(scores), &Budget::Global(target), &trainer.device).await
        }
        Method::Synflow => synflow(trainer, &dense, &fixed, target).await,
        other => Err(TrainError::Config(format!("{other} does not prune at initialisation"))),
    }
}

/// Gradients of the cross-entropy (logits divided by `temperature`) at `params` on one seeded training batch,
/// BatchNorm in training mode; nothing is updated.
fn batch_gradients(trainer: &Trainer, params: &[Tensor<1>], temperature: f32) -> Vec<Tensor<1>> {
    let bs = trainer.batch_size();
    let mut rng = Rng::stream(trainer.config.seed, "prune-at-init");
    let indices: Vec<usize> = rng.permutation(trainer.train_set.len())[..bs].to_vec();
    let (mut images, mut labels) = (vec![], vec![]);
    fill_batch(&trainer.train_set, &indices, None, &trainer.normalizer, &mut rng, &mut images, &mut labels);
    let device = &trainer.device;
    let c = trainer.spec.num_classes;
    let mut onehot = vec![0.0f32; bs * c];
    for (row, &label) in labels.iter().enumerate() {
        onehot[row * c + label as usize] = 1.0;
    }
    let x = Tensor::<4>::from_data(TensorData::new(images, [bs, 3, 32, 32]), device);
    let targets = Tensor::<2>::from_data(TensorData::new(onehot, [bs, c]), device);
    let tracked: Vec<Tensor<1>> = params.iter().map(|p| p.clone().autodiff().require_grad()).collect();
    let mut bn = trainer.net.bn.clone();
    let logits = Network::forward(&trainer.spec, &tracked, &mut bn, x.autodiff(), true) / temperature;
    let grads = cross_entropy_with_logits(logits, targets.autodiff()).backward();
    tracked.iter().zip(params).map(|(t, p)| t.grad(&grads).unwrap_or_else(|| p.zeros_like())).collect()
}

/// GraSP's keep score θ ⊙ Hg (it removes the highest −θ ⊙ Hg), with the logits at temperature 200 as in the
/// reference. burn's autodiff is first order, so the Hessian-vector product is a central difference of gradients:
/// Hg ≈ (∇L(θ + εg) − ∇L(θ − εg)) / 2ε, with ε scaled so the step εg has norm 10⁻³ of ‖θ‖.
async fn grasp_scores(trainer: &Trainer) -> Result<Vec<Tensor<1>>, TrainError> {
    const TEMPERATURE: f32 = 200.0;
    let params = &trainer.net.params;
    let g = batch_gradients(trainer, params, TEMPERATURE);
    let eps = 1e-3 * l2_norm(params).await?.max(1e-12) / l2_norm(&g).await?.max(1e-12);
    let shifted = |sign: f32| -> Vec<Tensor<1>> {
        params.iter().zip(&g).map(|(p, gi)| p.clone() + gi.clone() * (sign * eps)).collect()
    };
    let plus = batch_gradients(trainer, &shifted(1.0), TEMPERATURE);
    let minus = batch_gradients(trainer, &shifted(-1.0), TEMPERATURE);
    let masks = Masks::dense(&trainer.spec);
    Ok(masks
        .layers
        .iter()
        .map(|l| {
            let hg = (plus[l.param].clone() - minus[l.param].clone()) / (2.0 * eps);
            params[l.param].clone() * hg
        })
        .collect())
}

async fn l2_norm(tensors: &[Tensor<1>]) -> Result<f32, TrainError> {
    let sum = Tensor::cat(tensors.iter().map(|t| t.clone().square().sum()).collect(), 0).sum();
    Ok(read_f32(sum).await?[0].sqrt())
}

/// SynFlow: 100 rounds, each scoring |θ ⊙ ∂R/∂θ| with R the summed output of the network with every parameter
/// replaced by its absolute value (and pruned ones by zero) on an all-ones input, BatchNorm in evaluation mode, then
/// keeping the top scores globally at the round's density d^(k/100).
async fn synflow(trainer: &Trainer, dense: &Masks, fixed: &[bool], target: usize) -> Result<Masks, TrainError> {
    const ROUNDS: usize = 100;
    let device = &trainer.device;
    let spec = &trainer.spec;
    let scored_total: usize = (0..fixed.len()).filter(|&l| !fixed[l]).map(|l| dense.layers[l].bits.len()).sum();
    let final_density = target as f64 / scored_total.max(1) as f64;
    let abs: Vec<Tensor<1>> = trainer.net.params.iter().map(|p| p.clone().abs()).collect();
    let ones = Tensor::<4>::ones([1, 3, 32, 32], device);
    let mut masks = dense.clone();
    for round in 1..=ROUNDS {
        let mut params = abs.clone();
        for layer in &masks.layers {
            let m = Tensor::<1>::from_data(TensorData::new(layer.bits.to_f32(), [layer.bits.len()]), device);
            params[layer.param] = params[layer.param].clone() * m;
        }
        let tracked: Vec<Tensor<1>> = params.iter().map(|p| p.clone().autodiff().require_grad()).collect();
        let mut bn = trainer.net.bn.clone();
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
                    trainer.config.model
                )));
            }
        }
        let keep = (final_density.powf(round as f64 / ROUNDS as f64) * scored_total as f64).round() as usize;
        let keep = if round == ROUNDS { target } else { keep.max(target) };
        masks = keep_top(&masks, scores, &Budget::Global(keep), device).await?;
    }
    Ok(masks)
}
