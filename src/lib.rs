//! ticketlab: train sparse convolutional networks on CIFAR-sized images on your own GPU, and watch lottery tickets
//! form, sparse topologies evolve and sparse ensembles combine.

// These docs are written for the engineers of this crate, who build them with `--document-private-items`; there a
// public item's link to the private constant or helper it depends on resolves, and it is the link worth having.
#![allow(rustdoc::private_intra_doc_links)]

pub mod accounting;
pub mod app;
pub mod backend;
pub mod bench;
pub mod config;
pub mod corrupt;
pub mod cpu;
pub mod data;
pub mod ensembles;
pub mod error;
pub mod kernels;
pub mod mask;
pub mod metrics;
pub mod model;
pub mod num;
pub mod optim;
pub mod pace;
pub mod presets;
pub mod procedure;
#[cfg(not(target_arch = "wasm32"))]
pub mod progress;
#[cfg(not(target_arch = "wasm32"))]
pub mod reproduce;
pub mod results;
pub mod rng;
pub mod run;
pub mod schedule;
pub mod sparsity;
pub mod textconfig;
pub mod tickets;
pub mod timeline;
pub mod train;
pub mod verdict;
