//! The fuzz targets' seeds and crash regressions, replayed through the targets' own entry
//! points (`shared::fuzz`) on the stable toolchain, in the ordinary test build: every input
//! must be handled without a panic, and the known-good files must still be accepted. Real
//! fuzzing (libFuzzer, nightly) is `fuzz/run.sh SECONDS`, which seeds from the same files.

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use shared::fuzz::corpus::{assert_accepts, assert_refuses, files, replay};

use crate::common::temp_dir;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// `seeds`, then the target's committed seeds and regressions.
fn inputs(target: &str, seeds: Vec<PathBuf>) -> Vec<(String, Vec<u8>)> {
    shared::fuzz::corpus::inputs(&repo(""), target, seeds)
}

const CORPUS: &str = "trainer/tests/bad_inputs";

#[test]
fn label_csv_corpus() {
    let inputs = inputs("label_csv", files(&repo(CORPUS), &["csv"]));
    let accepted = replay("label_csv", &inputs, shared::fuzz::label_csv);
    assert_accepts(&accepted, &["bom-crlf.csv", "missing-image.csv"]);
}

#[test]
fn manifest_corpus() {
    let seeds = vec![repo(CORPUS).join("bad-checksum/manifest.json")];
    let inputs = inputs("manifest", seeds);
    let accepted = replay("manifest", &inputs, shared::fuzz::manifest);
    // A manifest naming each architecture, and one of a model over several tasks.
    assert_accepts(
        &accepted,
        &[
            "manifest.json",
            "resnet152.json",
            "mobilenet_v3_large.json",
            "efficientnet_b3.json",
            "convnext_tiny.json",
            "multi-task.json",
        ],
    );
}

#[test]
fn image_corpus() {
    let mut seeds = files(&repo(CORPUS), &["jpg", "png", "gif", "webp"]);
    seeds.extend(files(&repo("shared/tests/golden/preprocess"), &[]));
    let accepted = replay("image", &inputs("image", seeds), shared::fuzz::image);
    assert_accepts(
        &accepted,
        &["good.jpg", "exif-6.jpg", "grey-16bit.png", "photo.jpg"],
    );
    assert_refuses(
        &accepted,
        &["empty.jpg", "truncated.jpg", "bomb.png", "notes.jpg"],
    );
}

#[test]
fn weights_corpus() {
    // The corpus, and a weight file of every family.
    let mut seeds = files(&repo(CORPUS), &["pth", "safetensors"]);
    seeds.extend(files(&repo("shared/tests/golden"), &["pth", "safetensors"]));
    let dir = temp_dir("fuzz-weights");
    let scratch = dir.join("weights");
    let device = Device::flex();
    let accepted = replay("weights", &inputs("weights", seeds), |data| {
        shared::fuzz::weights(data, &scratch, &device)
    });
    assert_accepts(
        &accepted,
        &[
            "tiny-resnet18.safetensors",
            "tiny-resnet18-f16.pth",
            "resnet50_w8.pth",
            "mobilenet_v3_small_w25.pth",
            "efficientnet_b3_w25.safetensors",
            "convnext_tiny_w25.pth",
        ],
    );
    assert_refuses(
        &accepted,
        &[
            "os-system.pth",
            "os-system-entry.pth",
            "wrong-shapes.safetensors",
        ],
    );
}

#[test]
fn bundle_corpus() {
    // The seed `fuzz/run.sh` writes: the manifest's length (2 bytes, little-endian), the
    // manifest, the weights.
    let manifest = fs::read(repo(CORPUS).join("bad-checksum/manifest.json")).unwrap();
    let weights = fs::read(repo(CORPUS).join("tiny-resnet18.safetensors")).unwrap();
    let length = u16::try_from(manifest.len()).unwrap().to_le_bytes();
    let seed = [&length[..], &manifest, &weights].concat();
    let mut inputs = inputs("bundle", Vec::new());
    inputs.push(("tiny".to_string(), seed));
    let device = Device::flex();
    let accepted = replay("bundle", &inputs, |data| {
        shared::fuzz::bundle(data, &device)
    });
    assert_accepts(&accepted, &["tiny", "mobilenet_v3_small", "multi-task"]);
}
