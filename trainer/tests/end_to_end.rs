//! Training as a whole, through the real binary: on wgpu like on the CPU, in mixed precision
//! like in f32, the demo, Ctrl-C.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    TRAIN, check_finished_checkpoints, epochs, fashionai_root, kernel_cache, prepare, read_json,
    temp_dir, train, trainer, trainer_with_env,
};

/// The same training through burn's wgpu backend: a real GPU where there is one, Mesa's
/// lavapipe (a Vulkan driver on the CPU) in CI. Both start from a torchvision-format weight
/// file (a reduced ResNet-18 written by PyTorch) with a new, seeded classifier, and their
/// first epochs agree. The GPU run keeps its compiled kernels and autotune results in
/// `TRAINER_CACHE_DIR` (the tests' [`kernel_cache`], which a cold target folder starts empty),
/// so the next run does not tune again. Its second epoch then fails at its second step, as
/// when the GPU's memory runs out mid-run (an injected allocation over any device's limit):
/// the run stops with a message naming the device and the way on, and the first epoch's
/// checkpoint is intact.
#[cfg(feature = "wgpu")]
#[test]
fn trains_on_wgpu_like_on_the_cpu() {
    let dir = temp_dir("wgpu");
    let data = dir.join("data");
    let kernels = kernel_cache();
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
        let weights = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/sgd/resnet18/initial.safetensors");
        let epoch_count = if device == "gpu" { "2" } else { "1" };
        #[rustfmt::skip]
        let args = [
            "--pretrained", weights.to_str().unwrap(), "--epochs", epoch_count, "--device", device,
        ];
        // The second step of epoch 2: the first may still overlap the writing of epoch 1's
        // checkpoint, which a failure then takes with it (RELIABILITY.md).
        let fail_at = (steps + 2).to_string();
        let fail = [("TRAINER_FAIL_AT_STEP", fail_at.as_str())];
        let env = if device == "gpu" { &fail[..] } else { &[] };
        let run = run.to_str().unwrap();
        let trained = trainer_with_env(env, &[&["train", "--run", run], TRAIN, &args].concat());
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
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sgd/resnet18/initial.safetensors");
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

/// `trainer demo`, the main job on a machine without FashionAI data, in a small size, with a
/// mobile architecture (the ResNet path is every other test's).
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
        "--arch",
        "mobilenet_v3_small",
        "--device",
        "cpu",
    ]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
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
    let manifest = read_json(&bundle.join("manifest.json"));
    assert_eq!(manifest["precision"], "f16");
    assert_eq!(manifest["arch"], "mobilenet_v3_small");
    assert_eq!(manifest["width_mult"], 0.25);
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
