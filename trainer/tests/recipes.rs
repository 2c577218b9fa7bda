//! The recipe's options through the real binary: a run with every option that keeps state
//! (AdamW's moments, the warm-up and cosine schedule's step, layer-wise rates, the frozen
//! epochs, clipping, label smoothing, every augmentation and batch mixing) resumes after
//! SIGKILL where the uninterrupted run went, and exports its best epoch; class weights train;
//! early stopping ends a run and its resumption. With `--model-ema` (in the modern recipe) the
//! export takes whichever of the trained weights and their average won.

use std::path::Path;

use crate::common::{
    assert_same_epochs, epochs, export, fashionai_root, prepare, read_json, temp_dir, train,
    train_killed_after_epoch_one,
};

/// [`common::TRAIN`]'s tiny model with `--recipe modern` and every option that keeps state.
#[rustfmt::skip]
const MODERN: &[&str] = &[
    "--arch", "resnet18", "--base-width", "8", "--input-size", "32", "--batch-size", "8",
    "--pretrained", "none", "--device", "cpu", "--epochs", "3",
    "--recipe", "modern", "--lr", "0.002", "--lr-warmup-epochs", "1", "--freeze-epochs", "1",
    "--layer-decay", "0.8", "--clip-grad-norm", "1.0", "--cutmix-alpha", "1.0",
    "--mixup-alpha", "0.2",
];

#[test]
fn a_modern_run_resumes_where_it_would_have_gone_and_exports() {
    let dir = temp_dir("modern");
    let (data, run, crashed) = (dir.join("data"), dir.join("run"), dir.join("crashed"));
    fashionai_root(&data, 16, &[]);
    for folder in [&run, &crashed] {
        assert!(
            prepare(&data, folder, &["--val-fraction", "0.25"])
                .status
                .success()
        );
    }
    let whole = train(&run, MODERN);
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    let settings = read_json(&run.join("train.json"));
    assert_eq!(settings["recipe"], "modern");
    assert_eq!(settings["opt"], "adamw");
    assert_eq!(settings["lr"], 0.002);
    assert_eq!(settings["label_smoothing"], 0.1);
    assert_eq!(settings["random_resized_crop"], true);
    assert_eq!(settings["auto_augment"], "ta_wide");
    assert_eq!(settings["random_erase"], 0.1);
    assert_eq!(settings["model_ema"], true);

    train_killed_after_epoch_one(&crashed, MODERN);
    // The resumed run reads every option from train.json.
    let resumed = train(&crashed, &["--resume", "--device", "cpu"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_same_epochs(
        &epochs(&crashed),
        &epochs(&run),
        &["train", "valid"],
        "resumed",
    );

    let best = read_json(&run.join("metrics.json"))["best_epoch"]
        .as_u64()
        .unwrap();
    let bundle = dir.join("bundle");
    let exported = export(&run, &bundle, "f16");
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let manifest = read_json(&bundle.join("manifest.json"));
    assert_eq!(
        manifest["metrics"]["epoch"].as_u64(),
        Some(best),
        "{manifest}"
    );
    let metrics = read_json(&run.join("metrics.json"));
    assert_eq!(manifest["metrics"]["weights"], metrics["best_weights"]);
    exports_the_weights_that_won(&run, best, &dir);
}

/// `--model-ema`: each epoch validates the average beside the trained weights, and `export`
/// takes whichever of a checkpoint's two scored higher in its epoch, and says so. (The run's
/// record is edited so that each wins once.)
fn exports_the_weights_that_won(run: &Path, epoch: u64, dir: &Path) {
    let metrics_file = run.join("metrics.json");
    let mut metrics = read_json(&metrics_file);
    for record in metrics["epochs"].as_array().unwrap() {
        assert!(record["valid"]["ema_fashionai_ap"].is_f64(), "{record}");
        assert!(record["valid"]["ema_loss"].is_f64(), "{record}");
    }
    let checkpoint = run.join(format!("checkpoint/model-{epoch}.bpk"));
    let mut weights = Vec::new();
    for (average, whose) in [(1.0, "ema"), (-1.0, "trained")] {
        let record = metrics["epochs"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["epoch"].as_u64() == Some(epoch))
            .unwrap();
        record["valid"]["ema_fashionai_ap"] = average.into();
        std::fs::write(&metrics_file, metrics.to_string()).unwrap();
        let bundle = dir.join(format!("bundle-{whose}"));
        let exported = export(&checkpoint, &bundle, "f32");
        let stdout = String::from_utf8_lossy(&exported.stdout).to_string();
        assert!(exported.status.success(), "{stdout}");
        let manifest = read_json(&bundle.join("manifest.json"));
        assert_eq!(manifest["metrics"]["weights"], whose, "{manifest}");
        assert_eq!(
            stdout.contains("--model-ema average"),
            whose == "ema",
            "{stdout}"
        );
        weights.push(std::fs::read(bundle.join("model.safetensors")).unwrap());
    }
    assert_ne!(weights[0], weights[1], "the average is the trained weights");
}

/// `--early-stop-patience 1` with a learning rate too small to change the ranking (and class
/// weights in the loss): the run ends at the first epoch without a better validation
/// FashionAI AP, and `--resume` then has nothing to do.
#[test]
fn early_stopping_ends_the_run() {
    let dir = temp_dir("early-stop");
    let (data, run) = (dir.join("data"), dir.join("run"));
    fashionai_root(&data, 8, &[]);
    assert!(
        prepare(&data, &run, &["--val-fraction", "0.25"])
            .status
            .success()
    );
    #[rustfmt::skip]
    let flags = [
        "--arch", "resnet18", "--base-width", "8", "--input-size", "32", "--batch-size", "8",
        "--pretrained", "none", "--device", "cpu", "--epochs", "8",
        "--lr", "1e-9", "--early-stop-patience", "1", "--class-weights", "balanced",
    ];
    let trained = train(&run, &flags);
    let stdout = String::from_utf8_lossy(&trained.stdout).to_string();
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let metrics = read_json(&run.join("metrics.json"));
    let aps: Vec<f64> = metrics["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["valid"]["fashionai_ap"].as_f64().unwrap())
        .collect();
    let last = aps.len();
    assert!(last < 8, "no early stop: {aps:?}");
    // Every epoch but the last improved on all before it; the last did not.
    let improved = |e: usize| aps[..e].iter().all(|&before| aps[e] > before);
    assert!(
        (1..last - 1).all(improved) && !improved(last - 1),
        "{aps:?}"
    );
    assert!(
        stdout.contains(&format!("stopped early after epoch {last}")),
        "{stdout}"
    );
    let again = train(&run, &["--resume", "--device", "cpu"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to resume"));
    assert_eq!(
        read_json(&run.join("metrics.json"))["epochs"]
            .as_array()
            .unwrap()
            .len(),
        last
    );
}
