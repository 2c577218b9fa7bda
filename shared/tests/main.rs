//! The shared crate's integration tests, one binary (each test binary links burn: one link
//! instead of seven).

mod class_activation;
mod common;
#[cfg(feature = "download")]
mod download;
mod fuzz_corpus;
mod preprocess_inputs;
mod preprocess_parity;
mod preprocess_views;
mod resnet_parity;
mod weight_errors;
mod zoo_parity;
