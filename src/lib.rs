//! ticketlab: train sparse convolutional networks on CIFAR-sized images on your own GPU, and watch lottery tickets
//! form, sparse topologies evolve and sparse ensembles combine.

pub mod accounting;
pub mod app;
pub mod backend;
pub mod config;
pub mod data;
pub mod kernels;
pub mod mask;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod rng;
pub mod run;
pub mod schedule;
pub mod sparsity;
pub mod train;
