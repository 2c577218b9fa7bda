//! A web bundle's `manifest.json` (`shared::fuzz::manifest`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shared::fuzz::manifest(data);
});
