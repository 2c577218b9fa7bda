//! Helpers for the trainer's tests: a generated FashionAI-format dataset and the binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use burn::prelude::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use shared::tasks::Task;
pub use trainer::demo::toy_image;
use trainer::demo::write_toy_fashionai;

pub const TASK: &str = "skirt_length_labels";
/// The generated classes: 0, 1 and 2 of the task's six.
pub const CLASSES: usize = 3;

/// The tasks of the generated data of several tasks: each looks different (`toy_image`),
/// three classes each.
pub const TASKS: [&str; 3] = [
    "skirt_length_labels",
    "sleeve_length_labels",
    "coat_length_labels",
];

/// A FashionAI root with `per_class` labelled images of each class of [`TASKS`], and
/// `test_per_class` more in its questions.
pub fn multi_task_root(root: &Path, per_class: usize, test_per_class: usize) {
    let tasks = TASKS.map(|name| (Task::by_name(name).unwrap(), CLASSES));
    write_toy_fashionai(root, &tasks, per_class, test_per_class).unwrap();
}

/// `<dir>/data`, a [`multi_task_root`], and `<dir>/run`, its split over all of [`TASKS`] with
/// `val` of the images for validation.
pub fn multi_task_run(
    dir: &Path,
    per_class: usize,
    test_per_class: usize,
    val: &str,
) -> (PathBuf, PathBuf) {
    let (data, run) = (dir.join("data"), dir.join("run"));
    multi_task_root(&data, per_class, test_per_class);
    let listed = TASKS.join(",");
    let prepared = prepare(&data, &run, &["--task", &listed, "--val-fraction", val]);
    assert!(prepared.status.success(), "prepare failed");
    (data, run)
}

/// A fresh folder, removed when dropped; it reads as its path.
pub struct TempDir(tempfile::TempDir);

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}

/// A fresh folder named for the test.
pub fn temp_dir(tag: &str) -> TempDir {
    let prefix = format!("trainer-test-{tag}-");
    TempDir(tempfile::Builder::new().prefix(&prefix).tempdir().unwrap())
}

/// Writes `<root>/Annotations/label.csv` and `<root>/Images/<task>/*.jpg` with `per_class`
/// images of each class, plus the rows given in `extra_rows` (for bad rows).
pub fn fashionai_root(root: &Path, per_class: usize, extra_rows: &[&str]) {
    let images = root.join("Images").join(TASK);
    fs::create_dir_all(&images).unwrap();
    fs::create_dir_all(root.join("Annotations")).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut rows = Vec::new();
    for i in 0..per_class * CLASSES {
        let class = i % CLASSES;
        let name = format!("Images/{TASK}/{i:04x}.jpg");
        toy_image(0, class, &mut rng)
            .save(root.join(&name))
            .unwrap();
        let label: String = (0..6).map(|c| if c == class { 'y' } else { 'n' }).collect();
        rows.push(format!("{name},{TASK},{label}"));
    }
    rows.extend(extra_rows.iter().map(|r| r.to_string()));
    fs::write(root.join("Annotations/label.csv"), rows.join("\n") + "\n").unwrap();
}

pub fn trainer(args: &[&str]) -> Output {
    trainer_with_env(&[], args)
}

/// `trainer` with extra environment variables. The GPU backend's compiled kernels and
/// autotune results go to [`kernel_cache`], unless `env` names another folder.
pub fn trainer_with_env(env: &[(&str, &str)], args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("TRAINER_CACHE_DIR", kernel_cache())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    eprintln!(
        "$ trainer {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The tests' kernel cache, in the target folder (`<target>/tmp/kernels`): kept between test
/// runs, so only a cold build folder's first run compiles and tunes the kernels, and apart from
/// the user's own cache (`~/.cache/fashionai-trainer`).
pub fn kernel_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("kernels")
}

/// A tiny, quick recipe: the same code as a real run, smaller model and images.
#[rustfmt::skip]
pub const TRAIN: &[&str] = &[
    "--arch", "resnet18", "--base-width", "8", "--input-size", "32",
    "--batch-size", "8", "--lr", "0.02", "--lr-steps", "2",
];

/// [`TRAIN`] for three epochs on the CPU backend, from random weights.
pub fn cpu_recipe() -> Vec<&'static str> {
    [
        TRAIN,
        &["--pretrained", "none", "--epochs", "3", "--device", "cpu"],
    ]
    .concat()
}

/// `trainer train --run <run> <extra...>`.
pub fn train(run: &Path, extra: &[&str]) -> Output {
    let run = run.to_str().unwrap();
    trainer(&[&["train", "--run", run], extra].concat())
}

/// The epochs recorded in `<run>/metrics.json`.
pub fn epochs(run: &Path) -> Vec<serde_json::Value> {
    read_json(&run.join("metrics.json"))["epochs"]
        .as_array()
        .unwrap()
        .clone()
}

/// Copies the folder `from`, with everything in it, to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// `trainer export --model <run> --out <bundle> --precision <precision>` on the CPU (the run's
/// best epoch).
pub fn export(run: &Path, bundle: &Path, precision: &str) -> Output {
    trainer(&[
        "export",
        "--model",
        run.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
        "--precision",
        precision,
        "--device",
        "cpu",
    ])
}

/// `trainer train --run <run> <args...>`, killed with SIGKILL as soon as epoch 1's checkpoint
/// is complete (and before the run ends, or the test has no crash to test).
pub fn train_killed_after_epoch_one(run: &Path, args: &[&str]) {
    killed_after_epoch_one("train", run, args);
}

/// `trainer <command> --run <run> <args...>` (`train` or `distill`), killed as
/// [`train_killed_after_epoch_one`] says.
pub fn killed_after_epoch_one(command: &str, run: &Path, args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args([command, "--run", run.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let epoch_one_saved = || {
        ["model", "optim", "scheduler"]
            .iter()
            .all(|part| run.join(format!("checkpoint/{part}-1.bpk")).exists())
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
}

/// `trainer prepare --data <data> --out <run> <extra...>`.
pub fn prepare(data: &Path, run: &Path, extra: &[&str]) -> Output {
    let (data, run) = (data.to_str().unwrap(), run.to_str().unwrap());
    trainer(&[&["prepare", "--data", data, "--out", run], extra].concat())
}

/// `trainer classify --json` on the CPU: whether every photo was classified, and the answer
/// for each (`image` and `probabilities`, or `error`), in order.
pub fn classify_json(model: &Path, photos: &[PathBuf]) -> (bool, Vec<serde_json::Value>) {
    let mut args = vec![
        "classify",
        "--json",
        "--device",
        "cpu",
        "--model",
        model.to_str().unwrap(),
    ];
    args.extend(photos.iter().map(|p| p.to_str().unwrap()));
    let out = trainer(&args);
    let answers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.success(), answers.as_array().unwrap().clone())
}

/// An answer's `probabilities` or `logits`.
pub fn floats(answer: &serde_json::Value, key: &str) -> Vec<f64> {
    answer[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect()
}

/// Every checkpoint file under its final name is complete (the model ones load); returns
/// the names of all files in the checkpoint folder.
pub fn check_checkpoints(run: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(run.join("checkpoint")) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("model-") && name.ends_with(".bpk") {
            trainer::trained::load_checkpoint(&entry.path(), &Device::flex())
                .unwrap_or_else(|err| panic!("{name} is damaged: {err:#}"));
        }
        names.push(name);
    }
    names
}

/// `check_checkpoints` for a run that is over: no temporary file left either (a killed run's
/// are removed when `train` starts again, a failed write removes its own).
pub fn check_finished_checkpoints(run: &Path) -> Vec<String> {
    let names = check_checkpoints(run);
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    names
}

/// `eval`'s `report` has the validation numbers `logged` by training for the same checkpoint
/// (by `who`, for the message); for a model of several tasks, also the garment head's
/// accuracy and each task's numbers.
pub fn assert_eval_matches(report: &serde_json::Value, logged: &serde_json::Value, who: &str) {
    let same = |a: &serde_json::Value, key: &str, logged_key: &str| {
        let (a, b) = (
            a[key].as_f64().unwrap(),
            logged[logged_key].as_f64().unwrap(),
        );
        assert!(close(a, b), "eval {logged_key} {a}, {who} logged {b}");
    };
    for key in [
        "accuracy",
        "mrr_ap",
        "fashionai_ap",
        "basic_precision",
        "loss",
    ] {
        same(report, key, key);
    }
    let Some(tasks) = report["tasks"].as_array() else {
        return;
    };
    same(report, "garment_accuracy", "garment_accuracy");
    for task in tasks {
        let name = task["task"].as_str().unwrap();
        for key in ["accuracy", "mrr_ap", "fashionai_ap"] {
            same(task, key, &format!("{name}.{key}"));
        }
    }
}

/// A recorded number `a` is `b` but for another order of rounding: within 1e-4, relative to
/// `b` where it is above 1.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * b.abs().max(1.0)
}

/// The epochs of `metrics.json` (`epochs`) have every number `expected` has in `splits`
/// (`train`, `valid`), the same but for rounding (`what` says whose they are).
pub fn assert_same_epochs(
    epochs: &[serde_json::Value],
    expected: &[serde_json::Value],
    splits: &[&str],
    what: &str,
) {
    assert_eq!(epochs.len(), expected.len(), "{what}: epochs");
    for (epoch, (now, before)) in epochs.iter().zip(expected).enumerate() {
        for &split in splits {
            let (now, before) = (
                now[split].as_object().unwrap(),
                before[split].as_object().unwrap(),
            );
            assert_eq!(
                now.len(),
                before.len(),
                "{what}: epoch {} {split} metrics",
                epoch + 1
            );
            for (key, value) in before {
                let (a, b) = (now[key].as_f64().unwrap(), value.as_f64().unwrap());
                assert!(
                    close(a, b),
                    "{what}: epoch {} {split} {key}: {a}, expected {b}",
                    epoch + 1
                );
            }
        }
    }
}
