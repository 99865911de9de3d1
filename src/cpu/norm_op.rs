//! BatchNorm + activation (`norm.rs`) as burn operations on the flex backend: training mode (batch statistics,
//! differentiable through a hand-written backward step) and evaluation mode (running statistics, forward only).

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension, tensor::FloatTensor,
};
use burn::prelude::*;

use super::norm::{
    NormAct, NormForward, NormGrads, NormShape, act_backward, act_forward, norm_act_backward, norm_act_eval,
    norm_act_forward,
};
use super::op::{cpu_kernels_enabled, uses_cpu_kernels};

#[backend_extension(Flex, Autodiff)]
pub trait CpuNormBackend: burn::backend::Backend {
    /// `act(scale · (x − mean) / √(var + eps) + shift)` per channel of NCHW `x` with its batch statistics; also
    /// returns the batch mean and biased variance.
    fn cpu_norm_act(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        eps: f32,
        act: NormAct,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// Gradients of [`CpuNormBackend::cpu_norm_act`] (input, scale, shift) from the output gradient.
    #[allow(clippy::too_many_arguments)]
    fn cpu_norm_act_backward(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        eps: f32,
        act: NormAct,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// `act(x)` elementwise (differentiable).
    fn cpu_act(x: FloatTensor<Self>, act: NormAct) -> FloatTensor<Self>;
    /// Gradient of [`CpuNormBackend::cpu_act`]: `dy · act'(x)`.
    fn cpu_act_backward(x: FloatTensor<Self>, dy: FloatTensor<Self>, act: NormAct) -> FloatTensor<Self>;
    /// The same with given (running) statistics, not differentiable.
    fn cpu_norm_act_eval(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        eps: f32,
        act: NormAct,
    ) -> FloatTensor<Self>;
}

fn norm_shape(x: &FlexTensor) -> NormShape {
    let s = x.shape();
    NormShape { batch: s[0], channels: s[1], hw: s.num_elements() / (s[0] * s[1]).max(1) }
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl CpuNormBackend for Flex {
    fn cpu_norm_act(
        x: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        eps: f32,
        act: NormAct,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (x, scale, shift) = (x.to_contiguous(), scale.to_contiguous(), shift.to_contiguous());
        let shape = norm_shape(&x);
        let NormForward { y, mean, var } =
            norm_act_forward(shape, x.storage(), scale.storage(), shift.storage(), eps, act);
        let c = shape.channels;
        (flex(y, x.shape().to_vec()), flex(mean, vec![c]), flex(var, vec![c]))
    }

    fn cpu_norm_act_backward(
        x: FlexTensor,
        dy: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        mean: FlexTensor,
        var: FlexTensor,
        eps: f32,
        act: NormAct,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [x, dy, scale, shift, mean, var] = [x, dy, scale, shift, mean, var].map(|t| t.to_contiguous());
        let shape = norm_shape(&x);
        let NormGrads { x: dx, scale: dscale, shift: dshift } = norm_act_backward(
            shape,
            x.storage(),
            dy.storage(),
            scale.storage(),
            shift.storage(),
            mean.storage(),
            var.storage(),
            eps,
            act,
        );
        let c = shape.channels;
        (flex(dx, x.shape().to_vec()), flex(dscale, vec![c]), flex(dshift, vec![c]))
    }

    fn cpu_act(x: FlexTensor, act: NormAct) -> FlexTensor {
        let x = x.to_contiguous();
        flex(act_forward(x.storage(), act), x.shape().to_vec())
    }

    fn cpu_act_backward(x: FlexTensor, dy: FlexTensor, act: NormAct) -> FlexTensor {
        let (x, dy) = (x.to_contiguous(), dy.to_contiguous());
        flex(act_backward(x.storage(), dy.storage(), act), x.shape().to_vec())
    }

    fn cpu_norm_act_eval(
        x: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        mean: FlexTensor,
        var: FlexTensor,
        eps: f32,
        act: NormAct,
    ) -> FlexTensor {
        let [x, scale, shift, mean, var] = [x, scale, shift, mean, var].map(|t| t.to_contiguous());
        let shape = norm_shape(&x);
        let y = norm_act_eval(
            shape,
            x.storage(),
            scale.storage(),
            shift.storage(),
            mean.storage(),
            var.storage(),
            eps,
            act,
        );
        flex(y, x.shape().to_vec())
    }
}

/// The backward step of [`CpuNormBackend::cpu_act`]; the state is the checkpointed input and the activation.
#[derive(Debug)]
struct ActBackward;

impl<B: Backend + CpuNormBackend> Backward<B, 1> for ActBackward {
    type State = (NodeId, NormAct);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let (x, act) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x);
        if let [Some(node)] = ops.parents {
            grads.register::<B>(node.id, B::cpu_act_backward(x, dy, act));
        }
    }
}

/// The backward step of [`CpuNormBackend::cpu_norm_act`]; parents: input, scale, shift.
#[derive(Debug)]
struct NormBackward;

/// Checkpointed input, scale and shift; the batch statistics; epsilon and the activation.
struct NormState<B: Backend> {
    x: NodeId,
    scale: NodeId,
    shift: NodeId,
    mean: FloatTensor<B>,
    var: FloatTensor<B>,
    eps: f32,
    act: NormAct,
}

impl<B: Backend> Clone for NormState<B> {
    fn clone(&self) -> Self {
        NormState { mean: self.mean.clone(), var: self.var.clone(), ..*self }
    }
}

impl<B: Backend> std::fmt::Debug for NormState<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NormState").field("act", &self.act).finish_non_exhaustive()
    }
}

impl<B: Backend + CpuNormBackend> Backward<B, 3> for NormBackward {
    type State = NormState<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let NormState { x, scale, shift, mean, var, eps, act } = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x);
        let scale: FloatTensor<B> = checkpointer.retrieve_node_output(scale);
        let shift: FloatTensor<B> = checkpointer.retrieve_node_output(shift);
        let (dx, dscale, dshift) = B::cpu_norm_act_backward(x, dy, scale, shift, mean, var, eps, act);
        let [x_node, scale_node, shift_node] = ops.parents;
        for (node, grad) in [(x_node, dx), (scale_node, dscale), (shift_node, dshift)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + CpuNormBackend, C: CheckpointStrategy> CpuNormBackend for Autodiff<B, C> {
    fn cpu_norm_act(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        eps: f32,
        act: NormAct,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        match NormBackward.prepare::<C>([x.node(), scale.node(), shift.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let [xs, ss, hs] = [&x, &scale, &shift].map(|t| prep.checkpoint(t));
                let (y, mean, var) =
                    B::cpu_norm_act(x.into_primitive(), scale.into_primitive(), shift.into_primitive(), eps, act);
                let state = NormState { x: xs, scale: ss, shift: hs, mean: mean.clone(), var: var.clone(), eps, act };
                (prep.finish(state, y), Self::from_inner(mean), Self::from_inner(var))
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, var) =
                    B::cpu_norm_act(x.into_primitive(), scale.into_primitive(), shift.into_primitive(), eps, act);
                (prep.finish(y), Self::from_inner(mean), Self::from_inner(var))
            }
        }
    }

    fn cpu_norm_act_backward(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        eps: f32,
        act: NormAct,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [x, dy, scale, shift, mean, var] = [x, dy, scale, shift, mean, var].map(Self::inner);
        let (dx, dscale, dshift) = B::cpu_norm_act_backward(x, dy, scale, shift, mean, var, eps, act);
        (Self::from_inner(dx), Self::from_inner(dscale), Self::from_inner(dshift))
    }

    fn cpu_act(x: FloatTensor<Self>, act: NormAct) -> FloatTensor<Self> {
        match ActBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), act);
                prep.finish(state, B::cpu_act(x.into_primitive(), act))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_act(x.into_primitive(), act)),
        }
    }

    fn cpu_act_backward(x: FloatTensor<Self>, dy: FloatTensor<Self>, act: NormAct) -> FloatTensor<Self> {
        Self::from_inner(B::cpu_act_backward(Self::inner(x), Self::inner(dy), act))
    }

    fn cpu_norm_act_eval(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        eps: f32,
        act: NormAct,
    ) -> FloatTensor<Self> {
        let [x, scale, shift, mean, var] = [x, scale, shift, mean, var].map(Self::inner);
        Self::from_inner(B::cpu_norm_act_eval(x, scale, shift, mean, var, eps, act))
    }
}

/// The output of [`cpu_batch_norm_act`] and the batch statistics it used (mean and biased variance, detached).
pub struct NormOutput {
    pub output: Tensor<4>,
    pub mean: Tensor<1>,
    pub variance: Tensor<1>,
}

fn applies(x: &Tensor<4>) -> bool {
    cpu_kernels_enabled() && uses_cpu_kernels(&x.device()) && x.dtype() == burn::tensor::DType::F32
}

/// `act(batch_norm_train(x, scale, shift, eps))` in one operation on the CPU backend, differentiable in `x`,
/// `scale` and `shift`; `None` elsewhere (the caller composes burn's operations).
pub fn cpu_batch_norm_act(
    x: &Tensor<4>,
    scale: &Tensor<1>,
    shift: &Tensor<1>,
    eps: f64,
    act: NormAct,
) -> Option<NormOutput> {
    if !applies(x) {
        return None;
    }
    let (y, mean, var) = <Dispatch as CpuNormBackend>::cpu_norm_act(
        x.clone().into_dispatch(),
        scale.clone().into_dispatch(),
        shift.clone().into_dispatch(),
        eps as f32,
        act,
    );
    Some(NormOutput {
        output: Tensor::from_dispatch(y),
        mean: Tensor::from_dispatch(mean),
        variance: Tensor::from_dispatch(var),
    })
}

/// `act(batch_norm(x, scale, shift, mean, var, eps))` with given statistics (evaluation mode) in one pass on the
/// CPU backend; `None` elsewhere, and where a gradient must flow through it (this form has no backward step).
/// "Tracked", not "requires grad": an activation computed from tracked weights (SynFlow's scoring runs BatchNorm in
/// evaluation mode under autodiff) is tracked without requiring a gradient of its own.
pub fn cpu_batch_norm_act_eval(
    x: &Tensor<4>,
    scale: &Tensor<1>,
    shift: &Tensor<1>,
    mean: &Tensor<1>,
    var: &Tensor<1>,
    eps: f64,
    act: NormAct,
) -> Option<Tensor<4>> {
    if !applies(x) || x.is_tracked() || scale.is_tracked() || shift.is_tracked() {
        return None;
    }
    Some(Tensor::from_dispatch(<Dispatch as CpuNormBackend>::cpu_norm_act_eval(
        x.clone().into_dispatch(),
        scale.clone().into_dispatch(),
        shift.clone().into_dispatch(),
        mean.clone().into_dispatch(),
        var.clone().into_dispatch(),
        eps as f32,
        act,
    )))
}

/// `act(x)` elementwise in one vector pass on the CPU backend, differentiable (the backward pass one more);
/// `None` elsewhere.
pub fn cpu_activation<const D: usize>(x: &Tensor<D>, act: NormAct) -> Option<Tensor<D>> {
    if !(cpu_kernels_enabled() && uses_cpu_kernels(&x.device()) && x.dtype() == burn::tensor::DType::F32) {
        return None;
    }
    Some(Tensor::from_dispatch(<Dispatch as CpuNormBackend>::cpu_act(x.clone().into_dispatch(), act)))
}
