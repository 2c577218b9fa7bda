//! A web bundle's `manifest.json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::bundle::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::parse("manifest.json", data) {
        // What the page then does with it: check the weights and size the input.
        let _ = manifest.verify("model.safetensors", data);
        let _ = manifest.preprocessing.input_size();
    }
});
