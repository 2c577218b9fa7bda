//! A torchvision weight file, from disk and from memory (`shared::fuzz::weights`).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use burn::prelude::Device;
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("fuzz-weights-{}", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    shared::fuzz::weights(data, scratch(), &Device::flex());
});
