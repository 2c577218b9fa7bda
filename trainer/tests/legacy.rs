//! A run from before the model zoo still works: `tests/legacy/` was written by the trainer of
//! commit 4634b4f (`tools/make_legacy_run.sh`), when the network was a bare ResNet (its
//! checkpoints' tensors named `net.conv1.weight`) and the settings gave the width as
//! `base_width`: a run killed once epoch 1 was saved, and what that trainer said of it. Today's
//! trainer evaluates and classifies with epoch 1 as it did, exports it, and resumes the run to
//! the numbers that trainer reached uninterrupted.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{
    assert_eval_matches, assert_same_epochs, classify_json, copy_dir, epochs, floats, read_json,
    temp_dir, trainer,
};

/// Where the script made the run; its files name the photos there.
const MADE_IN: &str = "/tmp/fashionai-legacy";

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/legacy")
        .join(path)
}

/// The committed photos and run, copied into `dir`, the run's files pointing at the copy.
fn legacy_run(dir: &Path) -> PathBuf {
    copy_dir(&fixture("data"), &dir.join("data"));
    let run = dir.join("run");
    copy_dir(&fixture("run"), &run);
    for file in ["dataset.json", "train.csv", "val.csv"] {
        let text = fs::read_to_string(run.join(file)).unwrap();
        fs::write(run.join(file), text.replace(MADE_IN, dir.to_str().unwrap())).unwrap();
    }
    run
}

fn succeeds(args: &[&str]) {
    let out = trainer(args);
    assert!(
        out.status.success(),
        "trainer {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_run_from_before_the_model_zoo_evaluates_exports_and_resumes() {
    let dir = temp_dir("legacy");
    let run = legacy_run(&dir);
    let run_arg = run.to_str().unwrap();

    // Epoch 1's checkpoint evaluates as it did, and classifies a photo with the same logits.
    succeeds(&["eval", "--run", run_arg, "--device", "cpu"]);
    let then = read_json(&fixture("expected/eval-epoch-1.json"));
    assert_eval_matches(&read_json(&run.join("eval.json")), &then, "the old trainer");
    let checkpoint = run.join("checkpoint/model-1.bpk");
    let photo = dir.join("data/Images/skirt_length_labels/0000.jpg");
    let (ok, answers) = classify_json(&checkpoint, std::slice::from_ref(&photo));
    assert!(ok, "{answers:?}");
    let before = &read_json(&fixture("expected/classify-epoch-1.json"))[0];
    for (now, then) in floats(&answers[0], "logits")
        .iter()
        .zip(floats(before, "logits"))
    {
        assert!(
            (now - then).abs() < 1e-5,
            "logit {now}, the old trainer's {then}"
        );
    }

    // It exports to a bundle of today's format, which classifies the photo alike.
    let bundle = dir.join("bundle");
    succeeds(&[
        "export",
        "--model",
        run_arg,
        "--out",
        bundle.to_str().unwrap(),
        "--precision",
        "f32",
        "--device",
        "cpu",
    ]);
    let manifest = read_json(&bundle.join("manifest.json"));
    assert_eq!(manifest["arch"], "resnet18");
    assert_eq!(manifest["width_mult"], 0.125);
    assert_eq!(manifest["preprocessing"]["interpolation"], "bicubic");
    let (ok, exported) = classify_json(&bundle, &[photo]);
    assert!(ok);
    // An f32 bundle holds the checkpoint's weights as they are.
    assert_eq!(
        floats(&exported[0], "logits"),
        floats(&answers[0], "logits")
    );

    // --resume trains epochs 2 and 3 as the old trainer did without the kill.
    succeeds(&["train", "--run", run_arg, "--resume", "--device", "cpu"]);
    let uninterrupted = read_json(&fixture("expected/metrics-uninterrupted.json"));
    assert_same_epochs(
        &epochs(&run),
        uninterrupted["epochs"].as_array().unwrap(),
        &["train", "valid"],
        "resumed from the old trainer's checkpoint",
    );
}
