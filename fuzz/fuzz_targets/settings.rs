//! A run folder's `train.json` (`trainer::fuzz::settings`).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// A scratch run folder of this process.
fn run() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("fuzz-settings-{}", std::process::id()));
        std::fs::create_dir_all(&path).expect("creating the scratch run folder");
        path
    })
}

fuzz_target!(|data: &[u8]| {
    trainer::fuzz::settings(data, run());
});
