//! The trainer's library: each `trainer` subcommand is a module, and tests drive the same
//! code. Model, preprocessing and labels live in the `shared` crate.

pub mod atomic;
pub mod augment;
pub mod bench;
pub mod classify;
pub mod data;
pub mod demo;
pub mod device;
pub mod devices;
pub mod distill;
pub mod ensemble;
pub mod evaluate;
pub mod export;
pub mod fuzz;
pub mod infer;
#[cfg(feature = "wgpu")]
pub mod kernel_cache;
pub mod plots;
pub mod predict;
pub mod prepare;
pub mod pretrained;
pub mod ranks;
pub mod recipe;
pub mod run;
pub mod tasks;
pub mod train;
pub mod trained;
pub mod weights;
