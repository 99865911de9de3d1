//! The training loop, one step at a time, so the CLI, the app and the methods can all drive it.
//!
//! A step uploads one batch, runs forward and backward on the run's device and updates the parameters there. Train
//! loss and accuracy accumulate on the device and are read back only when asked ([`Trainer::take_train_metrics`]),
//! so a step never waits for the GPU.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::loss::cross_entropy_with_logits;
use serde::{Deserialize, Serialize};

mod recalibrate;
mod scoring;

pub use recalibrate::{RECALIBRATION_BATCHES, Recalibration};

use crate::accounting::Accounting;
use crate::config::{Lookahead, TrainConfig};
use crate::data::{DataSplits, Dataset, Normalizer, fill_batch};
use crate::error::{TrainError, read_f32};
use crate::kernels::SparsePath;
use crate::mask::{Bits, Masks};
use crate::metrics::{EvalMetrics, evaluate};
use crate::model::{BnStats, NetSpec, Network, Role, SparseLayer, whitening};
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::schedule::LrSchedule;
use crate::sparsity::{DynamicSparsity, MaskUpdate, Method, distribution};
use crate::timeline::Thinned;

/// Load (or generate) the dataset a configuration names.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_dataset(spec: &crate::config::DatasetSpec, seed: u64) -> Result<DataSplits, TrainError> {
    use crate::config::DatasetSpec;
    spec.validate().map_err(TrainError::Config)?;
    Ok(match spec {
        DatasetSpec::Synthetic { train, test } => crate::data::synthetic(seed, *train, *test),
        DatasetSpec::Cifar10 { path } => crate::data::load_cifar10(std::path::Path::new(path))?,
        DatasetSpec::Cifar100 { path, coarse } => crate::data::load_cifar100(std::path::Path::new(path), *coarse)?,
    })
}

/// One point of the training curves.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub step: usize,
    pub epoch: f64,
    pub lr: f64,
    pub train_loss: Option<f64>,
    pub train_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
}

/// Which held-out split to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Validation,
    Test,
}

/// The data a run trains and evaluates on, shared (not copied) between the runs of a procedure.
#[derive(Clone)]
pub struct TrainData {
    pub train: Arc<Dataset>,
    pub val: Option<Arc<Dataset>>,
    pub test: Arc<Dataset>,
    pub normalizer: Normalizer,
}

impl TrainData {
    /// The data `config` trains on: [`TrainConfig::test_from_train`] of the training set moved to the test set,
    /// then its validation share held out.
    pub fn for_config(data: DataSplits, config: &TrainConfig) -> Self {
        Self::new(data.move_to_test(config.test_from_train), config.val_fraction, config.seed)
    }

    /// Hold out `val_fraction` of the training set (stratified, from `seed`) and fit the normaliser on the rest.
    pub fn new(data: DataSplits, val_fraction: f64, seed: u64) -> Self {
        let (train, val) = if val_fraction > 0.0 {
            let (t, v) = data.train.split_validation(val_fraction as f32, seed);
            (t, Some(v))
        } else {
            (data.train, None)
        };
        TrainData {
            normalizer: Normalizer::fit(&train),
            train: Arc::new(train),
            val: val.map(Arc::new),
            test: Arc::new(data.test),
        }
    }
}

/// The most masks [`Trainer::new_masks`] holds. A pacer sees the trainer after every step, and between two steps a
/// run takes on at most two masks (an update and a change from outside), so a pacer misses none; a trainer driven
/// without one (the CLI's `train`) keeps a few masks, not one per update.
pub const NEW_MASKS_KEPT: usize = 4;

/// The most mask-update records a run keeps (about 0.3 MB for airbench): runs with up to a thousand updates keep
/// every one, and a run of millions of steps with an update every step keeps an evenly spaced timeline of them.
pub const MAX_MASK_UPDATES: usize = 1024;

/// A mask a run took on: its first (`update` is `None`), or the one an update left.
#[derive(Clone, Debug)]
pub struct MaskSnapshot {
    pub step: usize,
    pub update: Option<MaskUpdate>,
    pub masks: Masks,
}

/// One network in training: its data, parameters, masks, optimiser state and history. Procedures drive it through
/// its methods; its fields are its own.
pub struct Trainer {
    config: TrainConfig,
    spec: NetSpec,
    train_set: Arc<Dataset>,
    val_set: Option<Arc<Dataset>>,
    test_set: Arc<Dataset>,
    normalizer: Normalizer,
    device: Device,
    net: Network,
    masks: Masks,
    /// 0/1 mask tensors on the device, indexed like `spec.params` (`None` for unmasked parameters). Ahead of
    /// `masks` while mask updates are pending (see [`Trainer::sync_masks`]).
    mask_tensors: Vec<Option<Tensor<1>>>,
    /// Exact active count of each masked parameter, which mask updates preserve.
    targets: Vec<Option<usize>>,
    /// The parameters this run started from (for the ℓ₂ distance travelled).
    start_params: Vec<Tensor<1>>,
    /// The layers computed from their compressed weight (see [`Network::sparse_plan`]), rebuilt with the masks.
    sparse_plan: Vec<Option<SparseLayer>>,
    sparse_path: SparsePath,
    /// The updater of the dynamic methods.
    dst: Option<DynamicSparsity>,
    /// Mask updates done on the device but not yet read back: (step, drop fraction, masks).
    pending_updates: Vec<(usize, f64, Vec<Option<Tensor<1>>>)>,
    /// What the mask updates so far did (for the run's result), thinned past [`MAX_MASK_UPDATES`].
    mask_updates: Thinned<MaskUpdate, MAX_MASK_UPDATES>,
    /// The masks taken on since a pacer last saw this trainer (see [`crate::pace::Pacer::after_step`], which
    /// forgets them), the latest [`NEW_MASKS_KEPT`] at most.
    new_masks: Vec<MaskSnapshot>,
    initial_masks: Masks,
    /// Union of all masks so far (in-time over-parameterisation).
    ever_active: Masks,
    prepared: bool,
    /// The test metrics and softmax predictions of the latest curve point.
    last_test: Option<(EvalMetrics, Vec<f32>)>,
    /// Whether `last_test` measured the network as it is now (nothing has changed its weights since), so a final
    /// evaluation right after the last curve point can reuse it instead of testing again.
    last_test_is_current: bool,
    optimizer: Optimizer,
    /// The lookahead average of the weights, once it has started (see [`Lookahead`]).
    average: Option<Network>,
    /// Steps taken so far.
    step: usize,
    total_steps: usize,
    steps_per_epoch: usize,
    order: Vec<usize>,
    loss_sum: Option<Tensor<1>>,
    correct_sum: Option<Tensor<1, Int>>,
    seen: usize,
    curves: Vec<CurvePoint>,
    /// Training FLOPs spent so far (RigL's convention: a step costs 3× the sparse forward pass per example).
    train_flops: f64,
    /// Forward FLOPs per example of the masked network, kept current by `set_masks`.
    sparse_flops: f64,
    images: Vec<f32>,
    labels: Vec<i64>,
}

impl Trainer {
    /// A trainer at step 0: parameters initialised and masks drawn from the seed.
    pub fn new(config: TrainConfig, data: DataSplits, device: Device) -> Result<Self, TrainError> {
        let data = TrainData::for_config(data, &config);
        Self::with_data(config, data, device)
    }

    /// As [`Trainer::new`], on data already split (the runs of a procedure share it).
    pub fn with_data(config: TrainConfig, data: TrainData, device: Device) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        if data.train.is_empty() || data.test.is_empty() {
            return Err(TrainError::Config("the training and test sets must not be empty".into()));
        }
        if data.val.as_ref().is_some_and(|v| v.is_empty()) {
            return Err(TrainError::Config(format!(
                "validation fraction {} holds out no image of the {} training images (it is taken per class): \
                 raise it, or train on more images",
                config.val_fraction,
                data.train.len()
            )));
        }
        let spec = NetSpec::new(config.model, config.width, data.test.num_classes.max(data.train.num_classes));
        let mut values = spec.init_values(&mut Rng::stream(config.seed, "init"));
        if let Some(i) = spec.whitening() {
            values[i] = whitening::weights(&data.train, &data.normalizer);
        }
        let net = Network::from_values(&spec, &values, &device);
        let densities = distribution::layer_densities(&spec, config.distribution, config.density, config.dense_first);
        // Pruning at initialisation scores the dense network: its mask comes from `prepare`.
        let masks = if config.density >= 1.0 || config.method.prunes_at_init() {
            Masks::dense(&spec)
        } else {
            Masks::random(&spec, &distribution::counts(&spec, &densities), &mut Rng::stream(config.seed, "mask"))
        };
        let steps_per_epoch = config.steps_per_epoch(data.train.len());
        let total_steps = config.total_steps(data.train.len()).ok_or_else(|| {
            TrainError::Config(format!("{} epochs of {steps_per_epoch} steps are too many", config.epochs))
        })?;
        let lr_scales = spec
            .params
            .iter()
            .map(|p| match p.role {
                _ if !p.trainable() => None,
                Role::BnScale | Role::BnShift => Some(config.bn_lr_scale),
                _ => Some(1.0),
            })
            .collect();
        let optimizer = Optimizer::new(config.optimizer, config.weight_decay, lr_scales);
        let mut trainer = Trainer {
            normalizer: data.normalizer,
            config,
            train_set: data.train,
            val_set: data.val,
            test_set: data.test,
            device,
            start_params: net.params.clone(),
            net,
            mask_tensors: vec![],
            sparse_plan: vec![],
            sparse_path: SparsePath::default(),
            targets: vec![],
            dst: None,
            pending_updates: vec![],
            mask_updates: Thinned::default(),
            new_masks: vec![],
            initial_masks: Masks::dense(&spec),
            ever_active: Masks::dense(&spec),
            prepared: false,
            last_test: None,
            last_test_is_current: false,
            optimizer,
            average: None,
            step: 0,
            total_steps,
            steps_per_epoch,
            order: vec![],
            loss_sum: None,
            correct_sum: None,
            seen: 0,
            curves: vec![],
            train_flops: 0.0,
            sparse_flops: 0.0,
            images: vec![],
            labels: vec![],
            masks: Masks::dense(&spec),
            spec,
        };
        trainer.set_masks(masks);
        Ok(trainer)
    }

    /// Start from another network's parameters and BatchNorm statistics (rewinding), under the current masks.
    pub fn load_network(&mut self, net: Network) {
        self.last_test_is_current = false;
        self.net = net;
        self.optimizer.apply_masks(&mut self.net.params, &self.mask_tensors);
        self.start_params = self.net.params.clone();
        self.average = None;
    }

    /// Fresh initial values for every learned parameter, drawn from `rng`, under the current masks (IMP's
    /// re-initialisation control). A whitening layer keeps its weight: it is set from the training images, not
    /// learned, and left at the zero of a fresh draw it would blind the network.
    pub fn reinitialise(&mut self, rng: &mut Rng) {
        let mut fresh = Network::init(&self.spec, rng, &self.device);
        if let Some(i) = self.spec.whitening() {
            fresh.params[i] = self.net.params[i].clone();
        }
        self.load_network(fresh);
    }

    /// Work a method needs before the first step: the pruning-at-initialisation methods score the initialised
    /// network and choose the mask. Drivers call it once before training; later calls do nothing.
    pub async fn prepare(&mut self) -> Result<(), TrainError> {
        if std::mem::replace(&mut self.prepared, true) || self.step > 0 {
            return Ok(());
        }
        if self.config.method.prunes_at_init() && self.config.density < 1.0 {
            let masks = self.prune_at_init().await?;
            self.set_masks(masks);
        }
        Ok(())
    }

    /// Replace the masks: uploads them, zeroes the newly inactive weights and their optimiser state, and starts
    /// the mask history (and the dynamic updater) from them.
    pub fn set_masks(&mut self, masks: Masks) {
        self.enforce_masks(&masks);
        self.dst =
            self.config.method.is_dynamic().then(|| {
                DynamicSparsity::new(self.config.method, self.config.dst, self.config.seed, &self.mask_tensors)
            });
        self.pending_updates.clear();
        self.mask_updates.clear();
        self.new_masks = vec![MaskSnapshot { step: self.step, update: None, masks: masks.clone() }];
        self.initial_masks = masks.clone();
        self.ever_active = masks.clone();
        self.masks = masks;
    }

    /// Change the masks in the middle of this run (EDST's re-exploration between phases), `drop_fraction` of the
    /// active weights having moved. Enforced as by [`Trainer::set_masks`], but the run's history goes on: the
    /// dynamic updater keeps its update counter (SET's regrowth draws continue instead of replaying) and DST-EE's
    /// activity counts, and the change is recorded as one more mask update, so the ITOP rate keeps counting.
    pub async fn change_masks(&mut self, masks: Masks, drop_fraction: f64) -> Result<(), TrainError> {
        self.sync_masks().await?;
        self.enforce_masks(&masks);
        if let Some(dst) = &mut self.dst {
            dst.count_mask_state(&self.mask_tensors);
        }
        self.record_mask_update(self.step, drop_fraction, masks);
        Ok(())
    }

    /// Upload `masks` and zero the inactive weights (of the network and its average) and their optimiser state.
    fn enforce_masks(&mut self, masks: &Masks) {
        self.last_test_is_current = false;
        let mut tensors = vec![None; self.spec.params.len()];
        let mut targets = vec![None; self.spec.params.len()];
        for layer in &masks.layers {
            let bits = layer.bits.to_f32();
            tensors[layer.param] = Some(Tensor::from_data(TensorData::new(bits, [layer.bits.len()]), &self.device));
            targets[layer.param] = Some(layer.bits.count_ones());
        }
        self.mask_tensors = tensors;
        self.targets = targets;
        self.rebuild_sparse_plan();
        self.sparse_flops = Accounting::new(&self.spec, masks, 0.0).sparse_flops;
        self.optimizer.apply_masks(&mut self.net.params, &self.mask_tensors);
        if let Some(average) = &mut self.average {
            apply_masks(&mut average.params, &self.mask_tensors);
        }
    }

    /// Choose when masked linear layers run through the sparse path (by default by a fixed rule of their shape, so
    /// a run's numeric path depends on its settings alone; see `kernels::sparse_linear_wins`).
    pub fn set_sparse_path(&mut self, path: SparsePath) {
        self.sparse_path = path;
        self.rebuild_sparse_plan();
    }

    /// How many layers the training step computes through the sparse path.
    pub fn sparse_layers(&self) -> usize {
        self.sparse_plan.iter().flatten().count()
    }

    /// The layers of [`Trainer::net`] computed from their compressed weight, for evaluating it as it stands.
    pub fn sparse_plan(&self) -> &[Option<SparseLayer>] {
        &self.sparse_plan
    }

    fn rebuild_sparse_plan(&mut self) {
        let (spec, masks, targets) = (&self.spec, &self.mask_tensors, &self.targets);
        self.sparse_plan = Network::sparse_plan(spec, masks, targets, self.sparse_path);
    }

    /// The 0/1 mask tensors on the device (current, even while updates are pending).
    pub fn mask_tensors(&self) -> &[Option<Tensor<1>>] {
        &self.mask_tensors
    }

    /// Whether mask updates ran on the device that [`Trainer::sync_masks`] has not yet read back.
    pub fn has_pending_masks(&self) -> bool {
        !self.pending_updates.is_empty()
    }

    /// Read back the masks of the updates done since the last call and record what each changed.
    pub async fn sync_masks(&mut self) -> Result<(), TrainError> {
        for (step, drop_fraction, tensors) in std::mem::take(&mut self.pending_updates) {
            let mut masks = self.masks.clone();
            for layer in &mut masks.layers {
                if let Some(t) = &tensors[layer.param] {
                    layer.bits = Bits::from_bools(read_f32(t.clone()).await?.into_iter().map(|v| v != 0.0));
                }
            }
            self.record_mask_update(step, drop_fraction, masks);
        }
        Ok(())
    }

    /// Record what the change from the current masks to `masks` at `step` did, and make `masks` current.
    fn record_mask_update(&mut self, step: usize, drop_fraction: f64, masks: Masks) {
        let before = &self.masks;
        let changed = |a: &Masks, b: &Masks| -> Vec<usize> {
            a.layers.iter().zip(&b.layers).map(|(x, y)| x.bits.and(&y.bits.not()).count_ones()).collect()
        };
        self.ever_active = self.ever_active.union(&masks);
        let update = MaskUpdate {
            step,
            drop_fraction,
            active: masks.active_counts(),
            dropped: changed(before, &masks),
            grown: changed(&masks, before),
            itop_rate: self.ever_active.density(),
            iou_previous: masks.overlap(before).1.iou,
            iou_initial: masks.overlap(&self.initial_masks).1.iou,
        };
        if self.new_masks.len() == NEW_MASKS_KEPT {
            self.new_masks.remove(0);
        }
        self.new_masks.push(MaskSnapshot { step, update: Some(update.clone()), masks: masks.clone() });
        self.mask_updates.push(update);
        self.masks = masks;
    }

    /// ℓ₂ distance of the prunable weights from where this run started.
    pub async fn l2_from_start(&self) -> Result<f64, TrainError> {
        let mut sum = 0.0;
        for layer in &self.masks.layers {
            let d = self.net.params[layer.param].clone() - self.start_params[layer.param].clone();
            sum += read_f32(d.square().sum()).await?[0] as f64;
        }
        Ok(sum.sqrt())
    }

    pub fn is_done(&self) -> bool {
        self.step >= self.total_steps
    }

    pub fn epoch(&self) -> f64 {
        self.step as f64 / self.steps_per_epoch as f64
    }

    pub fn lr(&self) -> f64 {
        self.config.schedule.lr_at(self.config.lr, self.step.min(self.total_steps.saturating_sub(1)), self.total_steps)
    }

    pub fn batch_size(&self) -> usize {
        self.config.batch_size.min(self.train_set.len())
    }

    /// One optimisation step on the next batch of the seeded data order.
    pub fn train_step(&mut self) {
        self.last_test_is_current = false;
        let bs = self.batch_size();
        let epoch = self.step / self.steps_per_epoch;
        let in_epoch = self.step % self.steps_per_epoch;
        if in_epoch == 0 || self.order.is_empty() {
            self.order =
                Rng::stream(self.config.data_seed(), "order").fork(epoch as u64).permutation(self.train_set.len());
        }
        let indices = &self.order[in_epoch * bs..(in_epoch + 1) * bs];
        let mut rng = Rng::stream(self.config.data_seed(), "augment").fork(self.step as u64);
        fill_batch(
            &self.train_set,
            indices,
            self.config.augmentation(epoch),
            &self.normalizer,
            &mut rng,
            &mut self.images,
            &mut self.labels,
        );
        let lr = self.lr();
        let x = Tensor::<4>::from_data(TensorData::new(self.images.clone(), [bs, 3, 32, 32]), &self.device);
        let targets = self.smoothed_targets();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(self.labels.clone(), [bs]), &self.device);

        // A mask update that regrows by gradient scores regrowth with this step's dense gradients: that step runs
        // without the sparse path (inactive weights are zero, not masked out of the dense forward pass, so their
        // gradients are the dense ones), except on the CPU, whose sparse layers can compute the dense weight
        // gradient themselves.
        let update = self.dst.as_ref().and_then(|d| d.settings.drop_fraction_at(self.step + 1, self.total_steps));
        let dense_grad_step = update.is_some() && self.config.method.grows_by_gradient();
        let dense_grad_plan: Vec<Option<SparseLayer>>;
        let plan: &[Option<SparseLayer>] = if dense_grad_step {
            dense_grad_plan = self.sparse_plan.iter().map(|l| l.as_ref()?.with_dense_weight_grad()).collect();
            &dense_grad_plan
        } else {
            &self.sparse_plan
        };
        let params: Vec<Tensor<1>> = (self.net.params.iter().zip(&self.spec.params))
            .map(|(p, spec)| if spec.trainable() { p.clone().autodiff().require_grad() } else { p.clone().autodiff() })
            .collect();
        let logits = Network::forward_with(&self.spec, &params, &mut self.net.bn, x.autodiff(), true, plan);
        let loss = cross_entropy_with_logits(logits.clone(), targets.autodiff());
        let grads = loss.backward();
        let grads: Vec<Tensor<1>> = params
            .iter()
            .zip(&self.net.params)
            .map(|(p, w)| p.grad(&grads).unwrap_or_else(|| w.zeros_like()))
            .collect();
        let dense_grads = update.map(|_| grads.clone());
        self.optimizer.step(&mut self.net.params, grads, &self.mask_tensors, lr);

        let correct = logits.inner().argmax(1).reshape([bs]).equal(labels).int().sum();
        let loss = loss.inner();
        self.loss_sum = Some(match self.loss_sum.take() {
            Some(s) => s + loss * bs as f32,
            None => loss * bs as f32,
        });
        self.correct_sum = Some(match self.correct_sum.take() {
            Some(s) => s + correct,
            None => correct,
        });
        self.seen += bs;
        // RigL's accounting (Evci et al. 2020, appendix): a step costs a sparse forward pass and the backward pass's
        // two sparse products, 3·f_S; a step that also computes the dense weight gradient costs 2·f_S + f_D.
        self.train_flops += bs as f64
            * if dense_grad_step { 2.0 * self.sparse_flops + self.dense_flops() } else { 3.0 * self.sparse_flops };
        self.step += 1;
        if let (Some(drop_fraction), Some(grads), Some(dst)) = (update, dense_grads, self.dst.as_mut()) {
            let masks =
                dst.update(self.step, drop_fraction, &self.net.params, &grads, &self.mask_tensors, &self.targets);
            self.optimizer.apply_masks(&mut self.net.params, &masks);
            if let Some(average) = &mut self.average {
                apply_masks(&mut average.params, &masks);
            }
            self.mask_tensors = masks.clone();
            self.rebuild_sparse_plan();
            self.pending_updates.push((self.step, drop_fraction, masks));
        }
        if let Some(lookahead) = self.config.lookahead {
            self.lookahead_step(lookahead);
        }
    }

    /// Move the lookahead average toward the weights when due and set the weights to it; at the end of each epoch
    /// (and of the run) the weights take the average as it stands. Masked: pruned weights stay exactly zero.
    ///
    /// Whenever the averaged weights are about to be evaluated (an evaluation is due, the run's end included),
    /// their BatchNorm statistics are recomputed: the average of past running statistics does not describe the
    /// average of past weights, and for very sparse networks the mismatch is large (a 95%-sparse airbench tested at
    /// 16.5% with averaged statistics and at 61.0% recalibrated). Training itself never reads running statistics, so
    /// this changes evaluations only.
    fn lookahead_step(&mut self, lookahead: Lookahead) {
        let (step, total) = (self.step, self.total_steps);
        let epoch_end = step.is_multiple_of(self.steps_per_epoch) || step >= total;
        if lookahead.due(step, total) {
            let rho = lookahead.rho(step, total) as f32;
            let average = match self.average.take() {
                None => self.net.clone(),
                Some(mut avg) => {
                    let toward = |a: Tensor<1>, w: &Tensor<1>| a.clone() + (w.clone() - a) * (1.0 - rho);
                    for (a, w) in avg.params.iter_mut().zip(&self.net.params) {
                        *a = toward(a.clone(), w);
                    }
                    for (a, w) in avg.bn.iter_mut().zip(&self.net.bn) {
                        *a = BnStats { mean: toward(a.mean.clone(), &w.mean), var: toward(a.var.clone(), &w.var) };
                    }
                    apply_masks(&mut avg.params, &self.mask_tensors);
                    avg
                }
            };
            self.net = average.clone();
            self.average = Some(average);
        } else if epoch_end && let Some(average) = &self.average {
            let mut net = average.clone();
            apply_masks(&mut net.params, &self.mask_tensors);
            self.net = net;
        }
        if self.average.is_some() && self.eval_due() {
            let seed = Rng::stream(self.config.data_seed(), "lookahead-bn").fork(step as u64).next_u64();
            self.net = Recalibration::of(self).run(&self.net, &self.sparse_plan, RECALIBRATION_BATCHES, seed);
        }
    }

    fn dense_flops(&self) -> f64 {
        Accounting::new(&self.spec, &Masks::dense(&self.spec), 0.0).dense_flops
    }

    /// Label-smoothed one-hot targets for the current batch: (1 − ε)·onehot + ε/C.
    fn smoothed_targets(&self) -> Tensor<2> {
        let c = self.spec.num_classes;
        let eps = self.config.label_smoothing as f32;
        let mut t = vec![eps / c as f32; self.labels.len() * c];
        for (row, &label) in self.labels.iter().enumerate() {
            t[row * c + label as usize] += 1.0 - eps;
        }
        Tensor::from_data(TensorData::new(t, [self.labels.len(), c]), &self.device)
    }

    /// Hand over the train loss and accuracy accumulated on the device since the last call, to be read back
    /// without holding the trainer (the browser awaits it while training goes on). `None` if no step ran since.
    pub fn take_pending_metrics(&mut self) -> Option<PendingMetrics> {
        let (loss_sum, correct) = (self.loss_sum.take()?, self.correct_sum.take()?);
        Some(PendingMetrics { loss_sum, correct, seen: std::mem::take(&mut self.seen), step: self.step })
    }

    /// Mean train loss and accuracy since the last call (one read-back), or `None` if no step ran since.
    /// A non-finite loss stops the run with [`TrainError::Diverged`].
    pub async fn take_train_metrics(&mut self) -> Result<Option<(f64, f64)>, TrainError> {
        match self.take_pending_metrics() {
            Some(pending) => pending.read().await.map(Some),
            None => Ok(None),
        }
    }

    /// An evaluation of the current network on `split` that owns what it needs (parameter handles, not copies),
    /// its masked layers computed from their compressed weight as in training.
    pub fn eval_job(&self, split: Split) -> EvalJob {
        EvalJob { sparse: self.sparse_plan.clone(), ..self.eval_job_for(self.net.clone(), split) }
    }

    /// An evaluation of another network of the same architecture (an interpolation, a soup) on this run's data,
    /// every layer dense (its zeros need not be this run's masks).
    pub fn eval_job_for(&self, net: Network, split: Split) -> EvalJob {
        let set = match split {
            Split::Validation => self.val_set.as_ref().unwrap_or(&self.test_set),
            Split::Test => &self.test_set,
        };
        EvalJob {
            spec: self.spec.clone(),
            net,
            sparse: vec![],
            normalizer: self.normalizer,
            set: set.clone(),
            device: self.device.clone(),
            tta: self.config.tta,
        }
    }

    /// Softmax predictions (row-major n × classes) of the current network on `split`, in evaluation mode.
    pub async fn predict(&self, split: Split) -> Result<Vec<f32>, TrainError> {
        self.eval_job(split).predict().await
    }

    pub async fn evaluate(&self, split: Split) -> Result<EvalMetrics, TrainError> {
        if split == Split::Test
            && self.last_test_is_current
            && let Some((metrics, _)) = &self.last_test
        {
            return Ok(metrics.clone());
        }
        self.eval_job(split).run().await
    }

    /// Whether the step just taken ends an evaluation period.
    pub fn eval_due(&self) -> bool {
        let every = if self.config.eval_every == 0 { self.steps_per_epoch } else { self.config.eval_every };
        self.step.is_multiple_of(every) || self.is_done()
    }

    /// Read the train metrics, evaluate on the test set and append a curve point.
    pub async fn record_point(&mut self) -> Result<CurvePoint, TrainError> {
        let train = self.take_train_metrics().await?;
        let probs = self.predict(Split::Test).await?;
        let test = evaluate(&probs, self.spec.num_classes, &labels_of(&self.test_set));
        let point = CurvePoint {
            step: self.step,
            epoch: self.epoch(),
            lr: self.lr(),
            train_loss: train.map(|t| t.0),
            train_accuracy: train.map(|t| t.1),
            test_loss: Some(test.nll),
            test_accuracy: Some(test.accuracy),
        };
        self.curves.push(point.clone());
        self.last_test = Some((test, probs));
        self.last_test_is_current = true;
        Ok(point)
    }

    pub fn accounting(&self) -> Accounting {
        Accounting::new(&self.spec, &self.masks, self.train_flops)
    }

    /// The parameter values on the CPU (for saving, comparing and tests).
    pub async fn param_values(&self) -> Result<Vec<Vec<f32>>, TrainError> {
        let mut out = Vec::with_capacity(self.net.params.len());
        for p in &self.net.params {
            out.push(read_f32(p.clone()).await?);
        }
        Ok(out)
    }
}

/// Zero each masked parameter where its mask is 0: a select, as the optimiser masks, so that a NaN or infinite
/// value at a pruned position cannot survive (NaN·0 is NaN).
fn apply_masks(params: &mut [Tensor<1>], masks: &[Option<Tensor<1>>]) {
    for (p, mask) in params.iter_mut().zip(masks) {
        if let Some(m) = mask {
            *p = p.clone().mask_fill(m.clone().equal_elem(0.0), 0.0);
        }
    }
}

pub fn labels_of(set: &Dataset) -> Vec<i64> {
    set.labels.iter().map(|&l| l as i64).collect()
}

/// Train loss and accuracy sums still on the device.
pub struct PendingMetrics {
    loss_sum: Tensor<1>,
    correct: Tensor<1, Int>,
    seen: usize,
    /// The step at which they were handed over.
    pub step: usize,
}

impl PendingMetrics {
    /// Mean loss and accuracy; a non-finite loss is [`TrainError::Diverged`].
    pub async fn read(self) -> Result<(f64, f64), TrainError> {
        let seen = self.seen.max(1) as f64;
        let loss = read_f32(self.loss_sum).await?[0];
        if !loss.is_finite() {
            return Err(TrainError::Diverged { step: self.step, loss });
        }
        let correct = self.correct.into_data_async().await.map_err(|e| TrainError::Readback(e.to_string()))?;
        let correct = correct.try_into_vec_as::<i64>().map_err(|e| TrainError::Readback(format!("{e:?}")))?[0];
        Ok((loss as f64 / seen, correct as f64 / seen))
    }
}

/// An evaluation that owns its inputs, so it can be awaited while the trainer moves on.
pub struct EvalJob {
    spec: NetSpec,
    net: Network,
    /// The layers of `net` to compute from their compressed weight (see [`predict`]).
    sparse: Vec<Option<SparseLayer>>,
    normalizer: Normalizer,
    set: Arc<Dataset>,
    device: Device,
    tta: bool,
}

/// Evaluation-mode softmax predictions of `net` on `set`, row-major n × classes, computed in batches; with `tta`
/// the logits of each image and its mirror image are averaged first (flip test-time augmentation). The layers with
/// an entry in `sparse` (a plan of `net`'s own masks, as [`Trainer::sparse_plan`]; empty for every layer dense) are
/// computed from their compressed weight: the same predictions up to rounding, in the time the active weights take.
pub async fn predict(
    spec: &NetSpec,
    net: &Network,
    sparse: &[Option<SparseLayer>],
    set: &Dataset,
    normalizer: &Normalizer,
    device: &Device,
    tta: bool,
) -> Result<Vec<f32>, TrainError> {
    const EVAL_BATCH: usize = 500;
    let mut out = Vec::with_capacity(set.len() * spec.num_classes);
    let (mut images, mut labels) = (vec![], vec![]);
    let mut bn = net.bn.clone();
    let mut rng = Rng::new(0); // unused without augmentation, but fill_batch takes one
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        fill_batch(set, chunk, None, normalizer, &mut rng, &mut images, &mut labels);
        let x = Tensor::<4>::from_data(TensorData::new(images.clone(), [chunk.len(), 3, 32, 32]), device);
        let mut logits = Network::forward_with(spec, &net.params, &mut bn, x.clone(), false, sparse);
        if tta {
            let mirrored = Network::forward_with(spec, &net.params, &mut bn, x.flip([3]), false, sparse);
            logits = (logits + mirrored) * 0.5;
        }
        out.extend(read_f32(softmax(logits, 1)).await?);
    }
    Ok(out)
}

impl EvalJob {
    /// Evaluation-mode softmax predictions, row-major n × classes (see [`predict`]).
    pub async fn predict(&self) -> Result<Vec<f32>, TrainError> {
        predict(&self.spec, &self.net, &self.sparse, &self.set, &self.normalizer, &self.device, self.tta).await
    }

    pub async fn run(self) -> Result<EvalMetrics, TrainError> {
        let probs = self.predict().await?;
        Ok(evaluate(&probs, self.spec.num_classes, &labels_of(&self.set)))
    }
}

/// What procedures read of a trainer, and the few changes they make besides training it.
impl Trainer {
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The parameters and BatchNorm statistics as they stand.
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// The masks as last read back (see [`Trainer::sync_masks`]).
    pub fn masks(&self) -> &Masks {
        &self.masks
    }

    /// The masks this run (or its latest [`Trainer::set_masks`]) started from.
    pub fn initial_masks(&self) -> &Masks {
        &self.initial_masks
    }

    /// The mask updates so far: every one, or past [`MAX_MASK_UPDATES`] the first, every stride-th and the latest
    /// (each says its step).
    pub fn mask_updates(&self) -> &[MaskUpdate] {
        &self.mask_updates
    }

    /// The masks taken on (at the start, or by an update) since a pacer last saw this trainer, the latest
    /// [`NEW_MASKS_KEPT`] at most.
    pub fn new_masks(&self) -> &[MaskSnapshot] {
        &self.new_masks
    }

    /// Forget [`Trainer::new_masks`]: the pacer has seen them.
    pub fn forget_new_masks(&mut self) {
        self.new_masks.clear();
    }

    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// Steps taken so far.
    pub fn step(&self) -> usize {
        self.step
    }

    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    pub fn curves(&self) -> &[CurvePoint] {
        &self.curves
    }

    /// The test metrics and softmax predictions of the latest curve point.
    pub fn last_test(&self) -> Option<&(EvalMetrics, Vec<f32>)> {
        self.last_test.as_ref()
    }

    /// Training FLOPs spent so far.
    pub fn train_flops(&self) -> f64 {
        self.train_flops
    }

    pub fn train_set(&self) -> &Arc<Dataset> {
        &self.train_set
    }

    pub fn val_set(&self) -> Option<&Arc<Dataset>> {
        self.val_set.as_ref()
    }

    pub fn test_set(&self) -> &Arc<Dataset> {
        &self.test_set
    }

    pub fn normalizer(&self) -> Normalizer {
        self.normalizer
    }

    /// Continue from step `step` of the schedule (a network rewound to step k trains only the rest of the run).
    pub fn start_at(&mut self, step: usize) {
        self.step = step;
    }

    /// Train on until `total_steps` steps in all (the learning-rate schedule stretches to the new length).
    pub fn extend_to(&mut self, total_steps: usize) {
        self.total_steps = total_steps;
    }

    /// The learning rate of the next steps, held constant (procedures with learning rates of their own set it
    /// before each step).
    pub fn set_constant_lr(&mut self, lr: f64) {
        self.config.schedule = LrSchedule::Constant;
        self.config.lr = lr;
    }

    /// No more mask updates: the method becomes static, and the current masks start a new mask history.
    pub fn freeze_masks(&mut self) {
        self.config.method = Method::Static;
        let masks = self.masks.clone();
        self.set_masks(masks);
    }

    /// Count one dense forward and backward pass on one batch in the training FLOPs (a regrowth by gradient).
    pub fn count_dense_batch(&mut self) {
        self.train_flops += 3.0 * self.dense_flops() * self.batch_size() as f64;
    }
}
