//! A FashionAI label CSV, read for every task (`shared::fuzz::label_csv`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shared::fuzz::label_csv(data);
});
