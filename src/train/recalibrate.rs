//! BatchNorm recalibration: running statistics recomputed for weights that were never trained as they stand
//! (averaged, interpolated, re-pruned). Their training-time statistics no longer describe them, and evaluating with
//! stale statistics measures the statistics, not the weights (Wortsman et al., Frankle et al. both recalibrate).

use std::sync::Arc;

use burn::prelude::*;

use super::Trainer;
use crate::data::{Augment, Dataset, Normalizer, fill_batch};
use crate::model::{BN_MOMENTUM, BnStats, NetSpec, Network, SparseLayer};
use crate::rng::Rng;

/// Training batches a recalibration reads unless a setting says otherwise: about 4,000 images at batch 256, enough
/// for per-channel means and variances, cheap enough to repeat along an interpolation path.
pub const RECALIBRATION_BATCHES: usize = 16;

/// What recalibrating BatchNorm needs: the network's shape and the training data as the run sees it.
#[derive(Clone)]
pub struct Recalibration {
    spec: NetSpec,
    train: Arc<Dataset>,
    normalizer: Normalizer,
    augment: Option<Augment>,
    batch_size: usize,
    device: Device,
}

impl Recalibration {
    pub fn of(t: &Trainer) -> Self {
        Recalibration {
            spec: t.spec().clone(),
            train: t.train_set().clone(),
            normalizer: t.normalizer(),
            // The first epoch's: with alternating flips, each image the way its fixed coin says.
            augment: t.config().augmentation(0),
            batch_size: t.batch_size(),
            device: t.device().clone(),
        }
    }

    /// `net` with its BatchNorm running statistics recomputed on `batches` training batches (at most one epoch;
    /// seeded order, the run's augmentation), as a cumulative average of the batch statistics (PyTorch's
    /// `bn_update` with momentum `None`). Networks without BatchNorm come back unchanged. `sparse` is a plan of
    /// `net`'s own masks (empty: every layer dense), as in [`crate::train::predict`].
    pub fn run(&self, net: &Network, sparse: &[Option<SparseLayer>], batches: usize, seed: u64) -> Network {
        if self.spec.bn_channels.is_empty() || batches == 0 {
            return net.clone();
        }
        let bs = self.batch_size.min(self.train.len()).max(1);
        let n = batches.min(self.train.len() / bs).max(1);
        let order = Rng::stream(seed, "bn-recalibration").permutation(self.train.len());
        let mut rng = Rng::stream(seed, "bn-recalibration-augment");
        let (mut images, mut labels) = (vec![], vec![]);
        let zeros = || -> Vec<BnStats> {
            let z = |c: usize| Tensor::<1>::zeros([c], &self.device);
            self.spec.bn_channels.iter().map(|&c| BnStats { mean: z(c), var: z(c) }).collect()
        };
        let mut average = zeros();
        for b in 0..n {
            let batch = &order[b * bs..(b + 1) * bs];
            fill_batch(&self.train, batch, self.augment, &self.normalizer, &mut rng, &mut images, &mut labels);
            let x = Tensor::<4>::from_data(TensorData::new(std::mem::take(&mut images), [bs, 3, 32, 32]), &self.device);
            // From zero running statistics one training-mode pass leaves momentum × the batch statistics.
            let mut stats = zeros();
            let _ = Network::forward_with(&self.spec, &net.params, &mut stats, x, true, sparse);
            let weight = 1.0 / (b + 1) as f32;
            for (avg, batch) in average.iter_mut().zip(stats) {
                let (mean, var) = (batch.mean / BN_MOMENTUM, batch.var / BN_MOMENTUM);
                avg.mean = avg.mean.clone() + (mean - avg.mean.clone()) * weight;
                avg.var = avg.var.clone() + (var - avg.var.clone()) * weight;
            }
        }
        Network { params: net.params.clone(), bn: average }
    }
}
