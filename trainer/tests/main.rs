//! The trainer's integration tests, one binary (each test binary links burn: one link instead
//! of six). Most run the real `trainer` binary on generated data.

mod bad_inputs;
mod bench;
mod classify;
mod common;
mod crash_safety;
#[cfg(feature = "mpi")]
mod data_parallel;
mod devices;
mod end_to_end;
mod ensembles;
mod fuzz_corpus;
#[cfg(feature = "wgpu")]
mod kernel_cache;
mod legacy;
mod multi_task;
mod prepare;
mod recipes;
mod sgd_fidelity;
mod workflow;
