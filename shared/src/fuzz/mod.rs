//! What each fuzz target does with its bytes, in one place for both callers: the libFuzzer
//! targets in `fuzz/fuzz_targets/` (`fuzz/run.sh`, nightly) and the stable test
//! `tests/fuzz_corpus.rs`, which replays the committed corpus and crash regressions through
//! the same functions on every test run. None may panic, whatever the bytes; each returns
//! whether the input was accepted, so the replay can also check that good files still are.

pub mod corpus;

use std::path::Path;

use burn::prelude::Device;

use crate::bundle::{Bundle, Manifest};
use crate::labels::parse_rows;
use crate::preprocess::{InputSize, Tta, eval_input, tta_inputs};
use crate::tasks::TASKS;
use crate::weights::{Head, inspect, load_safetensors_bytes, load_torchvision};

/// A FashionAI label CSV, read for all tasks at once and for each alone: true when some row
/// is labelled for a task.
pub fn label_csv(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let mut labelled = false;
    let each = TASKS.iter().map(core::slice::from_ref);
    for tasks in std::iter::once(&TASKS[..]).chain(each) {
        for (_, row) in parse_rows(&text, tasks) {
            match row {
                Ok(row) => labelled |= matches!(row, crate::labels::Row::Labelled { .. }),
                Err(reason) => assert!(!reason.is_empty(), "a rejected row has a reason"),
            }
        }
    }
    labelled
}

/// A web bundle's `manifest.json`, then what the page does with it: check the weights and
/// size the input.
pub fn manifest(data: &[u8]) -> bool {
    let Ok(manifest) = Manifest::parse("manifest.json", data) else {
        return false;
    };
    let _ = manifest.verify("model.safetensors", data);
    let _ = manifest.preprocessing.input_size();
    true
}

/// A photo (JPEG, PNG or WebP, sniffed), through decoding, EXIF orientation, the size limits,
/// the bicubic resize, the crops, the padded view (any aspect ratio fits the square) and
/// normalisation.
pub fn image(data: &[u8]) -> bool {
    let size = InputSize::IMAGENET.with_crop(32);
    if eval_input(data, size).is_err() {
        return false;
    }
    let tta = Tta {
        pad: true,
        ..Tta::TEN_CROP
    };
    let views = tta_inputs(data, size, tta).expect("decoded once, decodes again");
    assert_eq!(views.len(), 11);
    assert!(views.iter().all(|view| view.len() == 3 * 32 * 32));
    true
}

/// A torchvision weight file (`.pth` zip or legacy pickle, or `.safetensors`), from disk as
/// `trainer --pretrained` reads it (written to `scratch` first), and from memory as the page
/// reads a bundle's weights: true when either loads.
pub fn weights(data: &[u8], scratch: &Path, device: &Device) -> bool {
    std::fs::write(scratch, data).expect("writing the scratch file");
    let from_file = inspect(scratch).is_ok()
        && load_torchvision(scratch, None, Head::Pretrained, device).is_ok();
    let from_bytes =
        load_safetensors_bytes(Path::new("model.safetensors"), data.to_vec(), None, device).is_ok();
    from_file || from_bytes
}

/// A web bundle: a 2-byte little-endian manifest length, the manifest, then the weights. The
/// manifest's checksum is set to the weights' so that the fuzzer gets past it to the loading
/// code.
pub fn bundle(data: &[u8], device: &Device) -> bool {
    let Some((length, rest)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let split = usize::from(u16::from_le_bytes(*length)).min(rest.len());
    let (manifest, weights) = rest.split_at(split);
    let manifest = match serde_json::from_slice::<serde_json::Value>(manifest) {
        Ok(mut json) => {
            if let Some(entry) = json.get_mut("weights").and_then(|w| w.as_object_mut()) {
                entry.insert("sha256".into(), crate::sha256::hex(weights).into());
            }
            serde_json::to_vec(&json).expect("a JSON value serialises")
        }
        Err(_) => manifest.to_vec(),
    };
    Bundle::from_bytes(
        "manifest.json",
        &manifest,
        "model.safetensors",
        weights.to_vec(),
        device,
    )
    .is_ok()
}
