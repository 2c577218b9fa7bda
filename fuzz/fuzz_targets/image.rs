//! A photo (JPEG, PNG or WebP, sniffed), through decoding, EXIF orientation, the size limits,
//! the bicubic resize, the crops and normalisation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::preprocess::{InputSize, Tta, eval_input, tta_inputs};

fuzz_target!(|data: &[u8]| {
    let size = InputSize::with_crop(32);
    if eval_input(data, size).is_ok() {
        let crops = tta_inputs(data, size, Tta::TenCrop).expect("decoded once, decodes again");
        assert_eq!(crops.len(), 10);
    }
});
