//! The fuzz targets' seeds and crash regressions, replayed through the targets' own entry
//! points (`shared::fuzz`) on the stable toolchain, in the ordinary test build: every input
//! must be handled without a panic, and the known-good files must still be accepted. Real
//! fuzzing (libFuzzer, nightly) is `fuzz/run.sh SECONDS`, which seeds from the same files.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use burn::prelude::Device;

use crate::common::temp_dir;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

const CORPUS: &str = "trainer/tests/bad_inputs";

/// The files of `folder` whose extension is one of `extensions` (any, when empty), sorted.
fn files(folder: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .filter(|path| {
            let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            extensions.is_empty() || extensions.contains(&extension)
        })
        .collect();
    files.sort();
    files
}

/// Seeds for `target` (as `fuzz/run.sh` copies them) and its committed crash regressions
/// (`fuzz/regressions/<target>/`), as (name, bytes).
fn inputs(target: &str, seeds: Vec<PathBuf>) -> Vec<(String, Vec<u8>)> {
    let regressions = files(&repo(&format!("fuzz/regressions/{target}")), &[]);
    seeds
        .into_iter()
        .chain(regressions)
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect()
}

/// Runs `entry` on every input; panics naming each input that panicked, and returns the
/// names of the accepted ones.
fn replay(
    target: &str,
    inputs: &[(String, Vec<u8>)],
    entry: impl Fn(&[u8]) -> bool,
) -> Vec<String> {
    assert!(!inputs.is_empty(), "no inputs for the {target} target");
    let mut accepted = Vec::new();
    let mut panicked = Vec::new();
    for (name, bytes) in inputs {
        match catch_unwind(AssertUnwindSafe(|| entry(bytes))) {
            Ok(true) => accepted.push(name.clone()),
            Ok(false) => {}
            Err(_) => panicked.push(name.clone()),
        }
    }
    assert!(panicked.is_empty(), "{target}: panicked on {panicked:?}");
    accepted
}

fn assert_accepts(accepted: &[String], names: &[&str]) {
    for name in names {
        assert!(
            accepted.iter().any(|a| a == name),
            "{name} was refused; accepted: {accepted:?}"
        );
    }
}

fn assert_refuses(accepted: &[String], names: &[&str]) {
    for name in names {
        assert!(!accepted.iter().any(|a| a == name), "{name} was accepted");
    }
}

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
    assert_accepts(&accepted, &["manifest.json"]);
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
    let seeds = files(&repo(CORPUS), &["pth", "safetensors"]);
    let dir = temp_dir("fuzz-weights");
    let scratch = dir.join("weights");
    let device = Device::flex();
    let accepted = replay("weights", &inputs("weights", seeds), |data| {
        shared::fuzz::weights(data, &scratch, &device)
    });
    assert_accepts(
        &accepted,
        &["tiny-resnet18.safetensors", "tiny-resnet18-f16.pth"],
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
    assert_accepts(&accepted, &["tiny"]);
}
