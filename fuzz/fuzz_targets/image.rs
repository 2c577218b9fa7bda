//! A photo, through decoding, EXIF, the limits, the resize and the crops
//! (`shared::fuzz::image`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shared::fuzz::image(data);
});
