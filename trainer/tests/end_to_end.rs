//! prepare -> train -> crash -> resume on a generated FashionAI dataset, on the CPU backend,
//! through the real binary.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    TASK, check_finished_checkpoints, classify_json, fashionai_root, floats, prepare, read_json,
    temp_dir, trainer, trainer_with_env,
};

/// A tiny, quick recipe: the same code as a real run, smaller model and images.
#[rustfmt::skip]
const TRAIN: &[&str] = &[
    "--arch", "resnet18", "--base-width", "8", "--input-size", "32",
    "--batch-size", "8", "--lr", "0.02", "--lr-steps", "2",
];

/// Three epochs on the CPU backend, from random weights.
fn cpu_recipe() -> Vec<&'static str> {
    [
        TRAIN,
        &["--pretrained", "none", "--epochs", "3", "--device", "cpu"],
    ]
    .concat()
}

fn train(run: &Path, extra: &[&str]) -> std::process::Output {
    let run = run.to_str().unwrap();
    let mut args = vec!["train", "--run", run];
    args.extend_from_slice(extra);
    trainer(&args)
}

fn epochs(run: &Path) -> Vec<serde_json::Value> {
    read_json(&run.join("metrics.json"))["epochs"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn prepare_train_and_resume_after_a_crash() {
    let dir = temp_dir("e2e");
    let data = dir.join("data");
    fashionai_root(
        &data,
        24,
        &[
            &format!("Images/{TASK}/missing.jpg,{TASK},nnynnn"),
            &format!("Images/{TASK}/0000.jpg,{TASK},nyynnn"),
            &format!("Images/{TASK}/broken.jpg,{TASK},ynnnnn"),
        ],
    );
    // A row whose image exists but is not a JPEG: reported once by `train`, then skipped.
    fs::write(
        data.join(format!("Images/{TASK}/broken.jpg")),
        b"not a jpeg",
    )
    .unwrap();

    let run = dir.join("run");
    let prepared = prepare(&data, &run, &["--val-fraction", "0.25"]);
    assert!(prepared.status.success());
    let info = read_json(&run.join("dataset.json"));
    assert_eq!(info["counts"]["skipped_rows"], 2);
    assert_eq!(
        info["counts"]["train"].as_u64().unwrap() + info["counts"]["val"].as_u64().unwrap(),
        73
    );
    let bad = fs::read_to_string(run.join("bad_rows.txt")).unwrap();
    assert!(
        bad.contains("label.csv:73: image") && bad.contains("missing.jpg does not exist"),
        "{bad}"
    );
    assert!(
        bad.contains("label.csv:74: label `nyynnn` has 2 `y`"),
        "{bad}"
    );

    // The uninterrupted run.
    let trained = train(&run, &cpu_recipe());
    assert!(trained.status.success());
    let stderr = String::from_utf8_lossy(&trained.stderr);
    assert_eq!(
        stderr.matches("skipping").count(),
        1,
        "the broken image is reported once"
    );
    let reference = epochs(&run);
    assert_eq!(reference.len(), 3);
    let last = &reference[2]["valid"];
    let accuracy = last["accuracy"].as_f64().unwrap();
    assert!(
        accuracy >= 0.75,
        "validation accuracy {accuracy} (chance is 1/3)"
    );
    for key in ["loss", "mrr_ap", "fashionai_ap", "basic_precision"] {
        assert!(last[key].as_f64().is_some(), "validation {key} missing");
    }
    assert!(
        reference[0]["train"]["learning_rate"].as_f64().unwrap()
            > reference[2]["train"]["learning_rate"].as_f64().unwrap()
    );
    let best = read_json(&run.join("metrics.json"))["best_epoch"]
        .as_u64()
        .unwrap();
    assert!(run.join(format!("checkpoint/model-{best}.bpk")).is_file());
    assert!(run.join("checkpoint/model-3.bpk").is_file());
    assert!(
        fs::read_to_string(run.join("metrics.csv"))
            .unwrap()
            .lines()
            .count()
            == 4
    );
    assert!(image::open(run.join("curves.png")).is_ok());

    // `eval` of the best checkpoint reproduces that epoch's validation numbers, then ten-crop.
    let run_arg = run.to_str().unwrap();
    let evaluated = trainer(&["eval", "--run", run_arg, "--device", "cpu"]);
    assert!(evaluated.status.success());
    let report = read_json(&run.join("eval.json"));
    let logged = &reference[best as usize - 1]["valid"];
    for key in [
        "accuracy",
        "mrr_ap",
        "fashionai_ap",
        "basic_precision",
        "loss",
    ] {
        let (a, b) = (report[key].as_f64().unwrap(), logged[key].as_f64().unwrap());
        assert!(
            (a - b).abs() <= 1e-4 * b.abs().max(1.0),
            "eval {key} {a}, training logged {b}"
        );
    }
    let confusion = report["confusion"].as_array().unwrap();
    let counted: u64 = confusion
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counted, info["counts"]["val"].as_u64().unwrap());
    assert!(image::open(run.join("confusion.png")).is_ok());
    let ten_crop = trainer(&[
        "eval", "--run", run_arg, "--device", "cpu", "--tta", "ten-crop",
    ]);
    assert!(ten_crop.status.success());
    assert_eq!(read_json(&run.join("eval.json"))["tta"], "ten-crop");

    // `classify --json`: one object per photo, an `error` for one that is not an image, and a
    // failing exit code.
    let checkpoint = run.join(format!("checkpoint/model-{best}.bpk"));
    let good = data.join(format!("Images/{TASK}/0001.jpg"));
    let broken = data.join(format!("Images/{TASK}/broken.jpg"));
    let classified = trainer(&[
        "classify",
        "--json",
        "--device",
        "cpu",
        "--model",
        checkpoint.to_str().unwrap(),
        good.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert!(!classified.status.success());
    let answers: serde_json::Value = serde_json::from_slice(&classified.stdout).unwrap();
    let first = &answers[0];
    assert_eq!(first["image"], good.to_str().unwrap());
    assert_eq!(first["classes"].as_array().unwrap().len(), 6);
    let probs: Vec<f64> = first["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let logits: Vec<f64> = first["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let total: f64 = logits.iter().map(|l| l.exp()).sum();
    for (p, l) in probs.iter().zip(&logits) {
        assert!(
            (p - l.exp() / total).abs() < 1e-5,
            "probabilities are the softmax of the logits"
        );
    }
    assert_eq!(first["top"], 1, "0001.jpg is drawn as class 1");
    assert!(
        answers[1]["error"]
            .as_str()
            .unwrap()
            .contains("not a supported image")
    );

    // `predict`: the submission file, in the questions' order; an unreadable image stops it
    // unless asked otherwise; a task without a model is left out with a warning.
    fs::create_dir_all(data.join("Tests")).unwrap();
    let mut questions: Vec<String> = (0..6)
        .map(|i| format!("Images/{TASK}/{i:04x}.jpg,{TASK},?"))
        .collect();
    questions.insert(2, format!("Images/{TASK}/broken.jpg,{TASK},?"));
    questions.push("Images/coat_length_labels/c.jpg,coat_length_labels,?".into());
    fs::write(data.join("Tests/question.csv"), questions.join("\n")).unwrap();
    let submission = dir.join("submission.csv");
    let predict = |on_error: &str| {
        trainer(&[
            "predict",
            "--model",
            checkpoint.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
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
    assert!(String::from_utf8_lossy(&failed.stderr).contains("broken.jpg"));
    assert!(predict("uniform").status.success());
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
    for (row, question) in rows
        .iter()
        .zip(questions.iter().filter(|q| q.starts_with("Images/skirt")))
    {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields[..2], question.split(',').collect::<Vec<_>>()[..2]);
        let probs: Vec<f64> = fields[2].split(';').map(|p| p.parse().unwrap()).collect();
        assert_eq!(probs.len(), 6);
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{row}");
        assert!(
            fields[2]
                .split(';')
                .all(|p| p.split('.').nth(1).unwrap().len() >= 4)
        );
    }
    assert!(rows[2].ends_with("0.166667;0.166667;0.166667;0.166667;0.166667;0.166667"));
    // Ten-crop by default: the classes drawn in the images win.
    let top = |row: &str| {
        let probs: Vec<f64> = row
            .split(',')
            .nth(2)
            .unwrap()
            .split(';')
            .map(|p| p.parse().unwrap())
            .collect();
        (0..6)
            .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
            .unwrap()
    };
    let right = [0usize, 1, 3, 4, 5, 6]
        .iter()
        .enumerate()
        .filter(|(i, row)| top(&rows[**row]) == i % 3)
        .count();
    assert!(right >= 5, "{right} of 6 test images right");
    assert!(predict("skip").status.success());
    assert_eq!(fs::read_to_string(&submission).unwrap().lines().count(), 6);

    // `export`: f32 bundles give the checkpoint's predictions, f16 ones nearly; a damaged or
    // newer bundle is refused with a clear message.
    let photos: Vec<_> = (0..12)
        .map(|i| data.join(format!("Images/{TASK}/{i:04x}.jpg")))
        .collect();
    let all_probabilities = |model: &Path| {
        let (ok, answers) = classify_json(model, &photos);
        assert!(ok);
        answers
            .iter()
            .flat_map(|a| floats(a, "probabilities"))
            .collect::<Vec<f64>>()
    };
    let reference_probs = all_probabilities(&checkpoint);
    let largest_change = |bundle: &Path| {
        all_probabilities(bundle)
            .iter()
            .zip(&reference_probs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    for precision in ["f32", "f16"] {
        let bundle = dir.join(format!("bundle-{precision}"));
        let exported = trainer(&[
            "export",
            "--model",
            run_arg,
            "--out",
            bundle.to_str().unwrap(),
            "--precision",
            precision,
        ]);
        assert!(exported.status.success());
        let manifest = read_json(&bundle.join("manifest.json"));
        assert_eq!(manifest["precision"], precision);
        assert_eq!(manifest["classes"], info["classes"]);
        assert_eq!(manifest["metrics"]["epoch"], best);
        let change = largest_change(&bundle);
        eprintln!("{precision} bundle: largest probability change {change:e}");
        if precision == "f32" {
            assert!(change < 1e-6, "an f32 bundle is the checkpoint: {change}");
        } else {
            assert!(change < 1e-2, "f16 changes probabilities by {change}");
        }
        assert!(
            trainer(&[
                "eval",
                "--run",
                run_arg,
                "--device",
                "cpu",
                "--model",
                bundle.to_str().unwrap()
            ])
            .status
            .success()
        );
        let accuracy = read_json(&run.join("eval.json"))["accuracy"]
            .as_f64()
            .unwrap();
        let logged = logged["accuracy"].as_f64().unwrap();
        assert!(
            (accuracy - logged).abs() < 0.005,
            "{precision}: accuracy {accuracy}, checkpoint {logged}"
        );
    }
    let bundle = dir.join("bundle-f16");
    let weights = bundle.join("model.safetensors");
    let mut bytes = fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&weights, &bytes).unwrap();
    let damaged = trainer(&[
        "classify",
        "--model",
        bundle.to_str().unwrap(),
        "--device",
        "cpu",
        photos[0].to_str().unwrap(),
    ]);
    assert!(!damaged.status.success());
    assert!(
        String::from_utf8_lossy(&damaged.stderr).contains("model.safetensors: checksum mismatch")
    );
    let manifest = fs::read_to_string(bundle.join("manifest.json")).unwrap();
    fs::write(
        bundle.join("manifest.json"),
        manifest.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    let newer = trainer(&[
        "classify",
        "--model",
        bundle.to_str().unwrap(),
        "--device",
        "cpu",
        photos[0].to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&newer.stderr)
            .contains("bundle format version 99, this version reads 1")
    );

    // Starting over in a run folder with checkpoints is refused.
    let again = train(&run, &cpu_recipe());
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));

    // A crash: kill the training with SIGKILL once epoch 1 is recorded, then resume.
    let crashed = dir.join("crashed");
    fs::create_dir_all(&crashed).unwrap();
    for file in ["dataset.json", "train.csv", "val.csv"] {
        fs::copy(run.join(file), crashed.join(file)).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["train", "--run", crashed.to_str().unwrap()])
        .args(cpu_recipe())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let epoch_one_saved = || {
        ["model", "optim", "scheduler"]
            .iter()
            .all(|part| crashed.join(format!("checkpoint/{part}-1.bpk")).exists())
    };
    while !epoch_one_saved() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint after 2 minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "training ended before epoch 1 was seen complete: no crash to test"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let killed = child.wait().unwrap();
    assert!(
        !killed.success(),
        "training finished before it was killed: no crash to test"
    );
    let resumed = train(&crashed, &["--resume", "--device", "cpu"]);
    assert!(resumed.status.success());
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resuming after epoch"));

    // Same seed, same batches, same crops: the resumed run ends where the uninterrupted one
    // did, epoch by epoch.
    let after = epochs(&crashed);
    assert_eq!(after.len(), 3);
    for (ours, theirs) in after.iter().zip(&reference) {
        for split in ["train", "valid"] {
            for (key, value) in theirs[split].as_object().unwrap() {
                let (a, b) = (ours[split][key].as_f64().unwrap(), value.as_f64().unwrap());
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                    "epoch {} {split} {key}: {a} vs {b}",
                    ours["epoch"]
                );
            }
        }
    }
}

/// The same training through burn's wgpu backend: a real GPU where there is one, Mesa's
/// lavapipe (a Vulkan driver on the CPU) in CI. Both start from a torchvision-format weight
/// file (a reduced ResNet-18 written by PyTorch) with a new, seeded classifier, and their
/// first epochs agree. The GPU run leaves its compiled kernels and autotune results in
/// `TRAINER_CACHE_DIR` for the next run. Its second epoch then fails at its second step, as
/// when the GPU's memory runs out mid-run (an injected allocation over any device's limit):
/// the run stops with a message naming the device and the way on, and the first epoch's
/// checkpoint is intact.
#[cfg(feature = "wgpu")]
#[test]
fn trains_on_wgpu_like_on_the_cpu() {
    let dir = temp_dir("wgpu");
    let data = dir.join("data");
    let kernels = dir.join("kernels");
    fashionai_root(&data, 8, &[]);
    let mut firsts = Vec::new();
    for device in ["cpu", "gpu"] {
        let run = dir.join(device);
        let prepared = prepare(&data, &run, &[]);
        assert!(prepared.status.success());
        let steps = read_json(&run.join("dataset.json"))["counts"]["train"]
            .as_u64()
            .unwrap()
            / 8;
        let weights =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sgd/initial.safetensors");
        let epoch_count = if device == "gpu" { "2" } else { "1" };
        #[rustfmt::skip]
        let args = [
            "--pretrained", weights.to_str().unwrap(), "--epochs", epoch_count, "--device", device,
        ];
        // The second step of epoch 2: the first may still overlap the writing of epoch 1's
        // checkpoint, which a failure then takes with it (RELIABILITY.md).
        let fail_at = (steps + 2).to_string();
        let mut env = vec![("TRAINER_CACHE_DIR", kernels.to_str().unwrap())];
        if device == "gpu" {
            env.push(("TRAINER_FAIL_AT_STEP", &fail_at));
        }
        let run = run.to_str().unwrap();
        let trained = trainer_with_env(&env, &[&["train", "--run", run], TRAIN, &args].concat());
        assert!(String::from_utf8_lossy(&trained.stdout).contains("starting from"));
        if device == "gpu" {
            let stderr = String::from_utf8_lossy(&trained.stderr);
            assert!(!trained.status.success());
            assert!(
                stderr.contains("training stopped: a step failed on")
                    && stderr
                        .contains("the checkpoint of epoch 1 is complete: continue with --resume"),
                "{stderr}"
            );
            let names = check_finished_checkpoints(Path::new(run));
            assert!(names.contains(&"model-1.bpk".to_string()), "{names:?}");
            assert!(!names.iter().any(|name| name.contains("-2.")), "{names:?}");
        } else {
            assert!(trained.status.success(), "training on {device} failed");
        }
        firsts.push(epochs(Path::new(run))[0]["train"]["loss"].as_f64().unwrap());
        eprintln!(
            "{device}: first-epoch training loss {}",
            firsts.last().unwrap()
        );
    }
    let (cpu, gpu) = (firsts[0], firsts[1]);
    assert!(
        (cpu - gpu).abs() <= 1e-3 * cpu,
        "first-epoch loss: cpu {cpu}, wgpu {gpu}"
    );
    let cached: u64 = walk(&kernels)
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert!(cached > 0, "nothing cached in {}", kernels.display());
}

/// `--precision f16` (convolutions in f16 from f32 master weights, dynamic loss scaling) trains
/// like f32: from the same weights, seed and batches, every epoch's training and validation
/// loss agrees within 5% (measured: within 2.5%; two epochs of learning move the training loss
/// by 35%, so no learning, or a wrong gradient scale, is far outside), yet differs (the
/// arithmetic really is f16). Two settings keep the comparison meaningful on a tiny model: 64 px images,
/// since at 32 px BatchNorm's statistics in the last stage come from 8 values and amplify
/// f16's rounding into different runs; and a starting loss scale of 1024, since at PyTorch's
/// 65536 the tiny model's gradients overflow (three skipped steps of four), so none may be
/// skipped here.
#[test]
fn mixed_precision_trains_like_f32() {
    let dir = temp_dir("f16");
    let data = dir.join("data");
    fashionai_root(&data, 24, &[]);
    let weights =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sgd/initial.safetensors");
    let mut curves = Vec::new();
    for precision in ["f32", "f16"] {
        let run = dir.join(precision);
        assert!(prepare(&data, &run, &[]).status.success());
        #[rustfmt::skip]
        let args = [
            "--arch", "resnet18", "--base-width", "8", "--input-size", "64", "--batch-size", "8",
            "--lr", "0.002", "--lr-steps", "10", "--epochs", "2", "--device", "cpu",
            "--pretrained", weights.to_str().unwrap(),
            "--precision", precision, "--loss-scale", "1024",
        ];
        let trained = train(&run, &args);
        assert!(trained.status.success(), "training in {precision} failed");
        assert!(!String::from_utf8_lossy(&trained.stdout).contains("skipped"));
        assert_eq!(read_json(&run.join("train.json"))["precision"], precision);
        let losses: Vec<f64> = epochs(&run)
            .iter()
            .flat_map(|epoch| [&epoch["train"]["loss"], &epoch["valid"]["loss"]])
            .map(|loss| loss.as_f64().unwrap())
            .collect();
        eprintln!("{precision}: train/valid losses per epoch {losses:?}");
        curves.push(losses);
    }
    assert_ne!(curves[0], curves[1], "f16 gave f32's losses bit for bit");
    for (full, half) in curves[0].iter().zip(&curves[1]) {
        assert!(
            (full - half).abs() <= 0.05 * full,
            "losses: f32 {:?}, f16 {:?}",
            curves[0],
            curves[1]
        );
    }
}

/// Every file under `dir`.
#[cfg(feature = "wgpu")]
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// `trainer demo`, the main job on a machine without FashionAI data, in a small size.
#[test]
fn demo_runs_the_whole_workflow() {
    let dir = temp_dir("demo");
    let (out, bundle) = (dir.join("demo"), dir.join("model"));
    let demo = trainer(&[
        "demo",
        "--out",
        out.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--per-class",
        "10",
        "--epochs",
        "2",
        "--device",
        "cpu",
    ]);
    assert!(demo.status.success());
    assert!(String::from_utf8_lossy(&demo.stdout).contains("generated toy dataset"));
    for file in [
        "run/metrics.json",
        "run/eval.json",
        "run/confusion.png",
        "submission.csv",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    assert_eq!(
        fs::read_to_string(out.join("submission.csv"))
            .unwrap()
            .lines()
            .count(),
        12
    );
    assert_eq!(read_json(&bundle.join("manifest.json"))["precision"], "f16");
}

/// Ctrl-C (SIGINT) stops training cleanly after the current batch, with complete checkpoints
/// and a message saying how to continue.
#[test]
fn ctrl_c_stops_cleanly() {
    let dir = temp_dir("sigint");
    let (data, run) = (dir.join("data"), dir.join("run"));
    fashionai_root(&data, 8, &[]);
    assert!(prepare(&data, &run, &[]).status.success());
    let args = [
        TRAIN,
        &["--pretrained", "none", "--epochs", "500", "--device", "cpu"],
    ]
    .concat();
    let child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["train", "--run", run.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !run.join("checkpoint/scheduler-1.bpk").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("interrupted; run the same command with --resume"),
        "{stderr}"
    );
    let epochs = epochs(&run).len();
    assert!(epochs < 500, "stopped after {epochs} epochs");
    check_finished_checkpoints(&run);
}
