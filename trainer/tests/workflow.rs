//! The user's workflow on one generated FashionAI dataset, on the CPU backend, through the
//! real binary: prepare -> train, then eval, classify, predict and export of that run, and a
//! crash and resume. Each step is its own test, so that one failure does not hide the others;
//! they share the trained run ([`trained`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use shared::ranking::argmax;

use crate::common::{
    self, TASK, TRAIN, assert_eval_matches, assert_same_epochs, classify_json, copy_dir,
    cpu_recipe, epochs, fashionai_root, floats, prepare, read_json, temp_dir, train,
    train_killed_after_epoch_one, trainer,
};

/// A prepared and trained run, shared by the tests below (training takes most of their time).
/// They only read it: a test whose commands write into the run folder works on a copy.
struct Trained {
    data: PathBuf,
    run: PathBuf,
    prepared: Output,
    trained: Output,
    /// The epochs in `metrics.json`.
    epochs: Vec<serde_json::Value>,
    best: u64,
}

impl Trained {
    fn best_checkpoint(&self) -> PathBuf {
        self.run.join(format!("checkpoint/model-{}.bpk", self.best))
    }

    /// The validation numbers logged for the best epoch.
    fn best_validation(&self) -> &serde_json::Value {
        &self.epochs[self.best as usize - 1]["valid"]
    }

    /// A copy of the run folder in `dir`, for commands that write into it.
    fn copy_run(&self, dir: &Path) -> PathBuf {
        let copy = dir.join("run");
        copy_dir(&self.run, &copy);
        copy
    }

    /// A run folder in `dir` with this run's split and nothing trained yet.
    fn copy_split(&self, dir: &Path) -> PathBuf {
        let copy = dir.join("run");
        fs::create_dir_all(&copy).unwrap();
        for file in ["dataset.json", "train.csv", "val.csv"] {
            fs::copy(self.run.join(file), copy.join(file)).unwrap();
        }
        copy
    }
}

/// 24 images of each of three classes, two bad rows and an image that is not a JPEG, prepared
/// with a quarter for validation and trained for three epochs ([`cpu_recipe`]). Built once,
/// by the first test that asks, in the test build's scratch folder.
fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("workflow");
        let _ = fs::remove_dir_all(&dir);
        let (data, run) = (dir.join("data"), dir.join("run"));
        fashionai_root(
            &data,
            24,
            &[
                &format!("Images/{TASK}/missing.jpg,{TASK},nnynnn"),
                &format!("Images/{TASK}/0000.jpg,{TASK},nyynnn"),
                &format!("Images/{TASK}/broken.jpg,{TASK},ynnnnn"),
            ],
        );
        // A row whose image exists but is not a JPEG: `train` reports it once, then skips it.
        fs::write(
            data.join(format!("Images/{TASK}/broken.jpg")),
            b"not a jpeg",
        )
        .unwrap();
        let prepared = prepare(&data, &run, &["--val-fraction", "0.25"]);
        assert!(prepared.status.success(), "prepare failed");
        let trained = train(&run, &cpu_recipe());
        assert!(trained.status.success(), "training failed");
        let best = read_json(&run.join("metrics.json"))["best_epoch"]
            .as_u64()
            .unwrap();
        Trained {
            epochs: epochs(&run),
            data,
            run,
            prepared,
            trained,
            best,
        }
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn prepare_skips_bad_rows_and_lists_them() {
    let trained = trained();
    let info = read_json(&trained.run.join("dataset.json"));
    assert_eq!(info["counts"]["skipped_rows"], 2);
    assert_eq!(
        info["counts"]["train"].as_u64().unwrap() + info["counts"]["val"].as_u64().unwrap(),
        73
    );
    let bad = fs::read_to_string(trained.run.join("bad_rows.txt")).unwrap();
    assert!(
        bad.contains("label.csv:73: image") && bad.contains("missing.jpg does not exist"),
        "{bad}"
    );
    assert!(
        bad.contains("label.csv:74: label `nyynnn` has 2 `y`"),
        "{bad}"
    );
    assert!(stderr(&trained.prepared).contains("2 bad rows skipped"));
}

#[test]
fn training_learns_and_records_every_epoch() {
    let trained = trained();
    assert_eq!(
        stderr(&trained.trained).matches("skipping").count(),
        1,
        "the broken image is reported once"
    );
    assert_eq!(trained.epochs.len(), 3);
    let last = &trained.epochs[2]["valid"];
    let accuracy = last["accuracy"].as_f64().unwrap();
    assert!(
        accuracy >= 0.75,
        "validation accuracy {accuracy} (chance is 1/3)"
    );
    for key in ["loss", "mrr_ap", "fashionai_ap", "basic_precision"] {
        assert!(last[key].as_f64().is_some(), "validation {key} missing");
    }
    let learning_rate = |epoch: usize| {
        trained.epochs[epoch]["train"]["learning_rate"]
            .as_f64()
            .unwrap()
    };
    assert!(learning_rate(0) > learning_rate(2), "the step schedule");
    let run = &trained.run;
    assert!(trained.best_checkpoint().is_file());
    assert!(run.join("checkpoint/model-3.bpk").is_file());
    let csv = fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "a header and three epochs");
    assert!(image::open(run.join("curves.png")).is_ok());
}

/// A run of one task trains as it did before models of several tasks existed: the same seed
/// gives the same numbers. `golden/single_task_metrics.json` is this run's `metrics.json` (its
/// timings left out) as written by the trainer of commit f9b5d08, the last before multi-task
/// training; the tolerance only allows for another CPU's rounding.
#[test]
fn single_task_numbers_are_unchanged_by_multi_task_training() {
    let trained = trained();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/single_task_metrics.json");
    let golden = read_json(&path);
    let best = golden["best_epoch"].as_u64().unwrap();
    assert_eq!(trained.best, best, "best epoch");
    let recorded = golden["epochs"].as_array().unwrap();
    assert_same_epochs(
        &trained.epochs,
        recorded,
        &["train", "valid"],
        "before multi-task training",
    );
}

/// `eval` of the best checkpoint reproduces that epoch's validation numbers; then ten-crop.
#[test]
fn eval_reproduces_the_logged_validation() {
    let trained = trained();
    let dir = temp_dir("eval");
    let run = trained.copy_run(&dir);
    let run_arg = run.to_str().unwrap();
    let evaluated = trainer(&["eval", "--run", run_arg, "--device", "cpu"]);
    assert!(evaluated.status.success());
    let report = read_json(&run.join("eval.json"));
    assert_eval_matches(&report, trained.best_validation(), "training");
    let counted: u64 = report["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    let info = read_json(&run.join("dataset.json"));
    assert_eq!(counted, info["counts"]["val"].as_u64().unwrap());
    assert!(image::open(run.join("confusion.png")).is_ok());
    let ten_crop = trainer(&[
        "eval", "--run", run_arg, "--device", "cpu", "--tta", "ten-crop",
    ]);
    assert!(ten_crop.status.success());
    assert_eq!(read_json(&run.join("eval.json"))["tta"], "ten-crop");
}

/// `classify --json`: one object per photo, an `error` for one that is not an image, and a
/// failing exit code.
#[test]
fn classify_answers_every_photo() {
    let trained = trained();
    let good = trained.data.join(format!("Images/{TASK}/0001.jpg"));
    let broken = trained.data.join(format!("Images/{TASK}/broken.jpg"));
    let (ok, answers) = classify_json(&trained.best_checkpoint(), &[good.clone(), broken]);
    assert!(!ok);
    let first = &answers[0];
    assert_eq!(first["image"], good.to_str().unwrap());
    assert_eq!(first["classes"].as_array().unwrap().len(), 6);
    let (probabilities, logits) = (floats(first, "probabilities"), floats(first, "logits"));
    let total: f64 = logits.iter().map(|l| l.exp()).sum();
    for (p, l) in probabilities.iter().zip(&logits) {
        assert!(
            (p - l.exp() / total).abs() < 1e-5,
            "probabilities are the softmax of the logits"
        );
    }
    assert_eq!(first["top"], 1, "0001.jpg is drawn as class 1");
    let error = answers[1]["error"].as_str().unwrap();
    assert!(error.contains("not a supported image"), "{error}");
}

/// `predict`: the submission file, in the questions' order; an unreadable image stops it
/// unless asked otherwise; a task without a model is left out with a warning.
#[test]
fn predict_writes_the_submission() {
    let trained = trained();
    let dir = temp_dir("predict");
    let mut questions: Vec<String> = (0..6)
        .map(|i| format!("Images/{TASK}/{i:04x}.jpg,{TASK},?"))
        .collect();
    questions.insert(2, format!("Images/{TASK}/broken.jpg,{TASK},?"));
    questions.push("Images/coat_length_labels/c.jpg,coat_length_labels,?".into());
    let questions_file = dir.join("question.csv");
    fs::write(&questions_file, questions.join("\n")).unwrap();
    let submission = dir.join("submission.csv");
    let predict = |on_error: &str| {
        trainer(&[
            "predict",
            "--model",
            trained.best_checkpoint().to_str().unwrap(),
            "--data",
            trained.data.to_str().unwrap(),
            "--questions",
            questions_file.to_str().unwrap(),
            "--out",
            submission.to_str().unwrap(),
            "--device",
            "cpu",
            "--on-error",
            on_error,
        ])
    };
    let failed = predict("fail");
    assert!(!failed.status.success() && !submission.exists());
    assert!(stderr(&failed).contains("broken.jpg"));

    let uniform = predict("uniform");
    assert!(uniform.status.success());
    assert!(stderr(&uniform).contains("no model for coat_length_labels"));
    let rows: Vec<String> = fs::read_to_string(&submission)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        rows.len(),
        7,
        "6 images + the unreadable one with equal probabilities"
    );
    let probabilities = |row: &str| -> Vec<f32> {
        let fields: Vec<&str> = row.split(',').collect();
        fields[2].split(';').map(|p| p.parse().unwrap()).collect()
    };
    for (row, question) in rows.iter().zip(&questions) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields[..2], question.split(',').collect::<Vec<_>>()[..2]);
        let probabilities = probabilities(row);
        assert_eq!(probabilities.len(), 6);
        assert!(
            (probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4,
            "{row}"
        );
        let decimals = fields[2]
            .split(';')
            .map(|p| p.split('.').nth(1).unwrap().len());
        assert!(decimals.clone().all(|d| d >= 4), "{row}");
    }
    assert!(rows[2].ends_with("0.166667;0.166667;0.166667;0.166667;0.166667;0.166667"));
    // Ten-crop by default: the classes drawn in the images win.
    let right = [0usize, 1, 3, 4, 5, 6]
        .iter()
        .enumerate()
        .filter(|&(i, &row)| argmax(&probabilities(&rows[row])) == i % 3)
        .count();
    assert!(right >= 5, "{right} of 6 test images right");

    assert!(predict("skip").status.success());
    assert_eq!(fs::read_to_string(&submission).unwrap().lines().count(), 6);
}

/// `export`: an f32 bundle gives the checkpoint's predictions, an f16 one nearly; both evaluate
/// like the checkpoint.
#[test]
fn exported_bundles_predict_like_the_checkpoint() {
    let trained = trained();
    let dir = temp_dir("export");
    let run = trained.copy_run(&dir);
    let photos: Vec<_> = (0..12)
        .map(|i| trained.data.join(format!("Images/{TASK}/{i:04x}.jpg")))
        .collect();
    // The network's own probabilities, before a bundle's calibration.
    let all_probabilities = |model: &Path| {
        let (ok, answers) = classify_json(model, &photos);
        assert!(ok);
        answers
            .iter()
            .flat_map(|a| softmax(&floats(a, "logits"), 1.0))
            .collect::<Vec<f64>>()
    };
    let reference = all_probabilities(&trained.best_checkpoint());
    for precision in ["f32", "f16"] {
        let bundle = export(&run, &dir, precision);
        let manifest = read_json(&bundle.join("manifest.json"));
        assert_eq!(manifest["precision"], precision);
        let info = read_json(&run.join("dataset.json"));
        assert_eq!(manifest["classes"], info["classes"]);
        assert_eq!(manifest["metrics"]["epoch"], trained.best);
        // Calibrated on the validation split; classify applies it and says how sure it is.
        let calibration = &manifest["calibration"];
        assert_eq!(calibration["validation"]["images"], info["counts"]["val"]);
        let temperature = calibration["temperature"].as_f64().unwrap();
        assert!(temperature > 0.0, "{calibration}");
        let (_, answers) = classify_json(&bundle, &photos);
        for answer in &answers {
            let calibrated = softmax(&floats(answer, "logits"), temperature);
            for (p, q) in floats(answer, "probabilities").iter().zip(calibrated) {
                assert!((p - q).abs() < 1e-6, "{answer}");
            }
            assert!(answer["unsure"].is_boolean() && answer["out_of_distribution"].is_boolean());
        }
        let change = all_probabilities(&bundle)
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!("{precision} bundle: largest probability change {change:e}");
        if precision == "f32" {
            assert!(change < 1e-6, "an f32 bundle is the checkpoint: {change}");
        } else {
            assert!(change < 1e-2, "f16 changes probabilities by {change}");
        }
        let run_arg = run.to_str().unwrap();
        let bundle_arg = bundle.to_str().unwrap();
        let evaluated = trainer(&[
            "eval", "--run", run_arg, "--device", "cpu", "--model", bundle_arg,
        ]);
        assert!(evaluated.status.success());
        let accuracy = read_json(&run.join("eval.json"))["accuracy"]
            .as_f64()
            .unwrap();
        let logged = trained.best_validation()["accuracy"].as_f64().unwrap();
        assert!(
            (accuracy - logged).abs() < 0.005,
            "{precision}: accuracy {accuracy}, checkpoint {logged}"
        );
    }
}

/// Softmax of `logits` divided by `temperature`.
fn softmax(logits: &[f64], temperature: f64) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits
        .iter()
        .map(|l| ((l - max) / temperature).exp())
        .collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// A bundle whose weights were damaged, or from a newer format, is refused with a clear
/// message.
#[test]
fn damaged_or_newer_bundles_are_refused() {
    let trained = trained();
    let dir = temp_dir("bundle");
    let bundle = export(&trained.run, &dir, "f16");
    let photo = trained.data.join(format!("Images/{TASK}/0000.jpg"));
    let classify = || {
        trainer(&[
            "classify",
            "--model",
            bundle.to_str().unwrap(),
            "--device",
            "cpu",
            photo.to_str().unwrap(),
        ])
    };
    let weights = bundle.join("model.safetensors");
    let mut bytes = fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&weights, &bytes).unwrap();
    let damaged = classify();
    assert!(!damaged.status.success());
    assert!(stderr(&damaged).contains("model.safetensors: checksum mismatch"));

    let manifest = fs::read_to_string(bundle.join("manifest.json")).unwrap();
    let newer = manifest.replace("\"format_version\": 1", "\"format_version\": 99");
    fs::write(bundle.join("manifest.json"), newer).unwrap();
    let refused = classify();
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("bundle format version 99, this version reads 1 to 2"));
}

/// `trainer export` of `run`'s best epoch into `<dir>/bundle-<precision>`.
fn export(run: &Path, dir: &Path, precision: &str) -> PathBuf {
    let bundle = dir.join(format!("bundle-{precision}"));
    let exported = common::export(run, &bundle, precision);
    assert!(exported.status.success(), "export failed");
    bundle
}

/// Training again in a run folder with checkpoints is refused (`--resume` continues it).
#[test]
fn a_trained_run_is_not_started_over() {
    let again = train(&trained().run, &cpu_recipe());
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--resume"));
}

/// `--accumulate`: a batch that must split evenly, then trained in two passes per step.
#[test]
fn accumulation_trains_a_batch_in_passes() {
    let trained = trained();
    let dir = temp_dir("accumulate");
    let run = trained.copy_split(&dir);
    let recipe = |accumulate| {
        #[rustfmt::skip]
        let settings = [
            "--pretrained", "none", "--epochs", "1", "--device", "cpu", "--accumulate", accumulate,
        ];
        [TRAIN, &settings].concat()
    };
    let uneven = train(&run, &recipe("3"));
    assert!(!uneven.status.success());
    assert!(stderr(&uneven).contains("--batch-size 8 cannot be split into --accumulate 3"));
    let passes = train(&run, &recipe("2"));
    assert!(passes.status.success(), "training in passes failed");
    assert_eq!(read_json(&run.join("train.json"))["accumulate"], 2);
    let loss = epochs(&run)[0]["train"]["loss"].as_f64().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "training loss {loss}");
}

/// A crash: training killed with SIGKILL once epoch 1 is recorded, then resumed, ends where
/// the uninterrupted run did, epoch by epoch (same seed, same batches, same crops).
#[test]
fn resume_after_sigkill_matches_the_uninterrupted_run() {
    let trained = trained();
    let dir = temp_dir("crash");
    let crashed = trained.copy_split(&dir);
    train_killed_after_epoch_one(&crashed, &cpu_recipe());
    let resumed = train(&crashed, &["--resume", "--device", "cpu"]);
    assert!(resumed.status.success());
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resuming after epoch"));

    assert_same_epochs(
        &epochs(&crashed),
        &trained.epochs,
        &["train", "valid"],
        "resumed",
    );
}
