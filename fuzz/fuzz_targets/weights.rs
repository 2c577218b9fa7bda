//! A torchvision weight file (`.pth` zip or legacy pickle, or `.safetensors`), from disk as
//! `trainer --pretrained` reads it, and from memory as the page reads a bundle's weights.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::prelude::Device;
use libfuzzer_sys::fuzz_target;
use shared::weights::{Head, inspect, load_safetensors_bytes, load_torchvision};

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("fuzz-weights-{}", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let device = Device::flex();
    let path = scratch();
    std::fs::write(path, data).expect("writing the scratch file");
    if inspect(path).is_ok() {
        let _ = load_torchvision(path, None, Head::Pretrained, &device);
    }
    let _ = load_safetensors_bytes(Path::new("model.safetensors"), data.to_vec(), None, &device);
});
