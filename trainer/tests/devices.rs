//! Choosing the device and fitting its limits: `--device auto` never computes on a software
//! GPU driver, inference splits its passes to what the GPU holds, and a training batch that
//! cannot fit is refused before the first step. On CI's machine the only GPU is Mesa's
//! lavapipe, a Vulkan driver on the CPU, with 128 MiB buffers.

use std::fs;
use std::path::Path;

use crate::common::{TASK, fashionai_root, prepare, temp_dir, toy_image, trainer};
use rand::SeedableRng;

/// `trainer devices` lists what wgpu sees; `auto` takes a hardware GPU where there is one,
/// and otherwise runs on the CPU backend and says why in one line.
#[test]
fn auto_never_picks_a_software_gpu() {
    let listing = trainer(&["devices"]);
    assert!(listing.status.success());
    let stdout = String::from_utf8_lossy(&listing.stdout);
    assert!(stdout.starts_with("device  name"), "{stdout}");
    let hardware = stdout
        .lines()
        .filter(|line| line.starts_with("gpu:"))
        .any(|line| !line.contains("  software  "));

    let dir = temp_dir("auto");
    let photo = dir.join("photo.png");
    toy_image(0, 1, &mut rand::rngs::StdRng::seed_from_u64(3))
        .save(&photo)
        .unwrap();
    let weights =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sgd/resnet18/initial.safetensors");
    let classified = trainer(&[
        "classify",
        "--device",
        "auto",
        "--model",
        weights.to_str().unwrap(),
        photo.to_str().unwrap(),
    ]);
    assert!(classified.status.success());
    let stderr = String::from_utf8_lossy(&classified.stderr);
    if hardware {
        assert!(stdout.contains("--device auto picks gpu:"), "{stdout}");
        assert!(!stderr.contains("running on the CPU"), "{stderr}");
    } else {
        assert!(stdout.contains("--device auto runs on the CPU"), "{stdout}");
        let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("note:")).collect();
        assert_eq!(notes.len(), 1, "{stderr}");
        assert!(notes[0].ends_with("; running on the CPU"), "{stderr}");
    }
}

/// A narrow ResNet-18 on 480 px inputs: each ten-crop view is a 2.6 MiB input tensor, so the
/// default 64 views per pass (169 MiB) exceed the 128 MiB buffers of a GPU like lavapipe.
/// `predict` splits the passes and writes the CPU's submission; `train` with 8 images per
/// step (8 x 32 MiB of the stem's gradient columns) is refused before its first step.
#[cfg(feature = "wgpu")]
#[test]
fn gpu_limits_split_inference_and_refuse_training() {
    let listing = trainer(&["devices"]);
    let stdout = String::from_utf8_lossy(&listing.stdout);
    let Some(small) = stdout
        .lines()
        .find(|line| line.starts_with("gpu:") && line.ends_with("  128 MiB"))
        .and_then(|line| line.split_whitespace().next())
    else {
        eprintln!("skipped: no GPU with 128 MiB buffers (Mesa's lavapipe) here");
        return;
    };
    let dir = temp_dir("limits");
    let data = dir.join("data");
    fashionai_root(&data, 3, &[]);
    #[rustfmt::skip]
    let recipe = [
        "--arch", "resnet18", "--base-width", "8", "--input-size", "480", "--epochs", "1",
        "--pretrained", "none",
    ];
    let run = dir.join("run");
    assert!(
        prepare(&data, &run, &["--val-fraction", "0.34"])
            .status
            .success()
    );
    let run_arg = run.to_str().unwrap();
    #[rustfmt::skip]
    let trained = trainer(&[
        &["train", "--run", run_arg, "--device", "cpu"], &recipe[..], &["--batch-size", "3"],
    ].concat());
    assert!(trained.status.success());

    let questions: Vec<String> = (0..6)
        .map(|i| format!("Images/{TASK}/{i:04x}.jpg,{TASK},?"))
        .collect();
    fs::create_dir_all(data.join("Tests")).unwrap();
    fs::write(data.join("Tests/question.csv"), questions.join("\n")).unwrap();
    let model = run.join("checkpoint/model-1.bpk");
    let submission = |device: &str| {
        let out = dir.join(format!("{}.csv", device.replace(':', "-")));
        #[rustfmt::skip]
        let predicted = trainer(&[
            "predict", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap(),
            "--out", out.to_str().unwrap(), "--device", device,
        ]);
        assert!(predicted.status.success(), "predict on {device}");
        let stderr = String::from_utf8_lossy(&predicted.stderr).into_owned();
        (fs::read_to_string(out).unwrap(), stderr)
    };
    let (cpu, _) = submission("cpu");
    let (gpu, notes) = submission(small);
    assert!(
        notes.contains("64 views per pass would need a 169 MiB tensor")
            && notes.contains("48 per pass instead"),
        "{notes}"
    );
    assert_eq!(cpu.lines().count(), 6);
    for (ours, theirs) in gpu.lines().zip(cpu.lines()) {
        let fields = |row: &str| -> (String, Vec<f64>) {
            let (question, probabilities) = row.rsplit_once(',').unwrap();
            let values = probabilities
                .split(';')
                .map(|p| p.parse().unwrap())
                .collect();
            (question.to_string(), values)
        };
        let ((question, ours), (expected, theirs)) = (fields(ours), fields(theirs));
        assert_eq!(question, expected);
        for (a, b) in ours.iter().zip(&theirs) {
            assert!(
                (a - b).abs() <= 1e-4,
                "{question}: gpu {ours:?}, cpu {theirs:?}"
            );
        }
    }

    let refused_run = dir.join("refused");
    assert!(prepare(&data, &refused_run, &[]).status.success());
    let refused_arg = refused_run.to_str().unwrap();
    #[rustfmt::skip]
    let refused = trainer(&[
        &["train", "--run", refused_arg, "--device", small], &recipe[..], &["--batch-size", "8"],
    ].concat());
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("a training step of 8 images needs a 258 MiB tensor")
            && stderr.contains(
                "holds at most 128 MiB in one buffer: keep --batch-size 8 with --accumulate 4 \
                 (2 images per pass), or lower --batch-size to 3 or less"
            ),
        "{stderr}"
    );
    assert!(!refused_run.join("checkpoint").exists());
    assert!(!refused_run.join("metrics.json").exists());
}
