//! CPU kernels for the flex backend: a stride-1 convolution of ticketlab's own, forward and backward, dense or from
//! a masked weight's compressed layout (`sparse.rs`), with bias, ReLU and 2×2 max pooling fused; BatchNorm with an
//! activation (`norm.rs`). AVX-512 (its dense products in bfloat16 on vectors, `bf16.rs`, or on AMX tiles, `amx.rs`,
//! where the CPU has them), AVX2 or portable code chosen at run time (`simd.rs`), registered as differentiable burn
//! operations (`op.rs`).
//!
//! Why not burn-flex's convolution: it copies the input to NHWC, builds an im2col tile and calls `gemm` with its
//! AVX2 kernels, and the backward pass goes through a transposed convolution and a separate weight-gradient
//! product. Here the input is laid out once per chunk of images in a padded layout in which every tap of the kernel is
//! a constant shift (`grid.rs`), so the forward pass, the input gradient and the weight gradient are all plain
//! register-tiled loops over shifted rows (`kernels.rs`), without im2col, with bias and ReLU fused, and the three
//! gradients come from one pass over the batch (`conv.rs`).

mod amx;
mod bf16;
mod conv;
mod grid;
mod kernels;
mod norm;
mod norm_op;
mod op;
mod par;
pub(crate) mod simd;
mod sparse;
mod timing;

pub use conv::{
    ConvGrads, Epilogue, Forward, Saved, Wanted, Weight, conv_backward, conv_backward_isa, conv_forward,
    conv_forward_isa,
};
pub use grid::ConvShape;
pub use norm::{
    NormAct, NormForward, NormGrads, NormShape, norm_act_backward, norm_act_eval, norm_act_forward, norm_backward_isa,
    norm_forward_isa,
};
pub use norm_op::{CpuNormBackend, NormOutput, cpu_activation, cpu_batch_norm_act, cpu_batch_norm_act_eval};
pub use op::{ConvSpec, CpuConvBackend, cpu_conv2d, cpu_kernels_enabled, cpu_sparse_linear, uses_cpu_kernels};
#[cfg(not(target_arch = "wasm32"))]
pub use par::side_by_side;
pub use simd::{F32Products, Isa};
pub use sparse::SparseConv;
#[cfg(not(target_arch = "wasm32"))]
pub use timing::{LayerTimes, time_conv, time_conv_products, time_linear};
