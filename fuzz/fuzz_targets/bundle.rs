//! A web bundle, manifest and weights together (`shared::fuzz::bundle`).
#![no_main]

use burn::prelude::Device;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shared::fuzz::bundle(data, &Device::flex());
});
