//! Pruning by scores: scores in, mask out. Keep the highest-scoring weights, per layer or under one global budget,
//! with the exact selection of [`crate::kernels::top_k_mask`] (on the GPU where training runs there). Magnitude
//! scores give IMP's rounds; the scores of SNIP, GraSP and SynFlow come from the trainer (`train/scoring.rs`), which
//! owns the network they score.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{TrainError, read_f32};
use crate::kernels::top_k_mask;
use crate::mask::{Bits, Masks};
use crate::model::Network;

/// Where one pruning budget applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One magnitude threshold across all prunable layers.
    #[default]
    Global,
    /// The same share pruned in every layer.
    Layerwise,
}

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
