//! What the tests comparing a sparse path with the dense network share: a randomly masked network, and its logits and
//! gradients on one batch.

use burn::prelude::*;
use ticketlab::error::read_f32;
use ticketlab::mask::Masks;
use ticketlab::model::{NetSpec, Network, SparseLayer};
use ticketlab::rng::Rng;

/// A network of `spec` keeping a random 10% of each prunable layer: its masks, its initial values with the pruned
/// weights zeroed, and per parameter the mask on `device` and the active count (`None` for unmasked parameters).
pub struct MaskedNetwork {
    pub masks: Masks,
    pub values: Vec<Vec<f32>>,
    pub mask_tensors: Vec<Option<Tensor<1>>>,
    pub nnz: Vec<Option<usize>>,
}

impl MaskedNetwork {
    pub fn random(spec: &NetSpec, rng: &mut Rng, device: &Device) -> Self {
        let counts: Vec<usize> = spec.prunable().iter().map(|&i| spec.params[i].numel() / 10).collect();
        let masks = Masks::random(spec, &counts, rng);
        let mut values = spec.init_values(rng);
        let mut mask_tensors = vec![None; spec.params.len()];
        let mut nnz = vec![None; spec.params.len()];
        for layer in &masks.layers {
            let bits = layer.bits.to_f32();
            values[layer.param].iter_mut().zip(&bits).for_each(|(w, m)| *w *= m);
            mask_tensors[layer.param] = Some(Tensor::<1>::from_data(TensorData::new(bits, [layer.bits.len()]), device));
            nnz[layer.param] = Some(layer.bits.count_ones());
        }
        MaskedNetwork { masks, values, mask_tensors, nnz }
    }

    /// The logits of the 8 images `x` (training mode, through `plan`) and every parameter's gradient of their sum of
    /// squares.
    pub fn logits_and_gradients(
        &self,
        spec: &NetSpec,
        x: &[f32],
        device: &Device,
        plan: &[Option<SparseLayer>],
    ) -> (Vec<f32>, Vec<Vec<f32>>) {
        let read = |t: Tensor<1>| pollster::block_on(read_f32(t)).unwrap();
        let net = Network::from_values(spec, &self.values, device);
        let params: Vec<Tensor<1>> = net.params.iter().map(|p| p.clone().autodiff().require_grad()).collect();
        let mut bn = net.bn.clone();
        let input = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [8, 3, 32, 32]), device).autodiff();
        let logits = Network::forward_with(spec, &params, &mut bn, input, true, plan);
        let grads = logits.clone().square().sum().backward();
        let gradients = params.iter().map(|p| read(p.grad(&grads).unwrap())).collect();
        (read(logits.inner().reshape([80])), gradients)
    }
}
