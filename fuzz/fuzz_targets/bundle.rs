//! A web bundle: `manifest.json` and `model.safetensors` together. The input is a 2-byte
//! manifest length, the manifest, then the weights; the manifest's checksum is set to the
//! weights' so that the fuzzer gets past it to the loading code.
#![no_main]

use burn::prelude::Device;
use libfuzzer_sys::fuzz_target;
use shared::bundle::{Bundle, sha256_hex};

fuzz_target!(|data: &[u8]| {
    let Some((length, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*length)).min(rest.len());
    let (manifest, weights) = rest.split_at(split);
    let manifest = match serde_json::from_slice::<serde_json::Value>(manifest) {
        Ok(mut json) => {
            if let Some(entry) = json.get_mut("weights").and_then(|w| w.as_object_mut()) {
                entry.insert("sha256".into(), sha256_hex(weights).into());
            }
            serde_json::to_vec(&json).expect("a JSON value serialises")
        }
        Err(_) => manifest.to_vec(),
    };
    let device = Device::flex();
    let _ = Bundle::from_bytes(
        "manifest.json",
        &manifest,
        "model.safetensors",
        weights.to_vec(),
        &device,
    );
});
