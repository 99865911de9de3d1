//! Sparsity methods, split as in jaxpruner: a distribution gives per-layer densities, a scheduler says when masks
//! change, an updater scores the weights to drop and to grow.

pub mod distribution;

pub use distribution::Distribution;
