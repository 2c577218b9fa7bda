//! One model for several tasks, through the real binary on the CPU backend: `prepare` over
//! several tasks splits each as it would alone; training learns every task and the garment
//! head, recording each task's validation metrics and their mean; eval, predict, classify and
//! export answer every task from the one model; and the demo runs it all for eight tasks.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use shared::tasks::Task;
use trainer::data::Manifest;

use crate::common::{
    TASKS, assert_eval_matches, assert_same_epochs, classify_json, copy_dir, cpu_recipe, epochs,
    export, floats, multi_task_root, multi_task_run, prepare, read_json, temp_dir, train, trainer,
};

#[test]
fn each_task_is_split_as_it_would_be_alone() {
    let dir = temp_dir("multi-prepare");
    let data = dir.join("data");
    multi_task_root(&data, 6, 0);
    let run = dir.join("run");
    let listed = TASKS.join(",");
    assert!(prepare(&data, &run, &["--task", &listed]).status.success());
    let manifest = Manifest::read(&run).unwrap();
    let info = read_json(&run.join("dataset.json"));
    assert_eq!(info["format_version"], 2);
    let names: Vec<&str> = info["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, TASKS);
    let header = fs::read_to_string(run.join("train.csv")).unwrap();
    assert!(header.starts_with("image,task,label\n"), "{header}");

    for (index, task) in TASKS.iter().enumerate() {
        let alone = dir.join(task);
        assert!(prepare(&data, &alone, &["--task", task]).status.success());
        let alone = Manifest::read(&alone).unwrap();
        let of_task = |samples: &[trainer::data::Sample]| -> Vec<_> {
            samples
                .iter()
                .filter(|s| s.task == index)
                .map(|s| (s.image.clone(), s.label.clone()))
                .collect()
        };
        let images = |samples: &[trainer::data::Sample]| -> Vec<_> {
            samples
                .iter()
                .map(|s| (s.image.clone(), s.label.clone()))
                .collect()
        };
        assert_eq!(of_task(&manifest.train), images(&alone.train), "{task}");
        assert_eq!(of_task(&manifest.val), images(&alone.val), "{task}");
    }

    // `all` keeps the tasks that have rows, in the order of `trainer tasks`, and says which
    // it left out.
    let all = dir.join("all");
    let out = prepare(&data, &all, &["--task", "all"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no usable rows of collar_design_labels, lapel_design_labels"),
        "{stderr}"
    );
    let heads = Manifest::read(&all).unwrap().info.heads().unwrap();
    let kept: Vec<&str> = heads.tasks().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        kept,
        [
            "skirt_length_labels",
            "coat_length_labels",
            "sleeve_length_labels"
        ]
    );
}

/// A run over [`TASKS`] (16 images of each class, a quarter for validation, two test images
/// of each class), trained for twenty epochs; built once, by the first test
/// that asks. Tests that write into the run folder work on a copy.
struct Trained {
    data: PathBuf,
    run: PathBuf,
    trained: Output,
    best: u64,
}

impl Trained {
    fn best_checkpoint(&self) -> PathBuf {
        self.run.join(format!("checkpoint/model-{}.bpk", self.best))
    }
}

fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("multi-task");
        let _ = fs::remove_dir_all(&dir);
        let (data, run) = multi_task_run(&dir, 16, 2, "0.25");
        // `cpu_recipe` for twenty epochs instead of three: the tasks' heads learn the bands'
        // colours in a few, the garment head the backgrounds and directions in about fifteen.
        #[rustfmt::skip]
        let recipe = [
            "--arch", "resnet18", "--base-width", "8", "--input-size", "32", "--batch-size", "8",
            "--lr", "0.02", "--lr-steps", "14", "--epochs", "20", "--pretrained", "none",
            "--device", "cpu",
        ];
        let trained = train(&run, &recipe);
        assert!(trained.status.success(), "training failed");
        let best = read_json(&run.join("metrics.json"))["best_epoch"]
            .as_u64()
            .unwrap();
        Trained {
            data,
            run,
            trained,
            best,
        }
    })
}

/// A copy of `run` in `dir`, for commands that write into it.
fn copy_run(run: &Path, dir: &Path) -> PathBuf {
    let copy = dir.join("run");
    copy_dir(run, &copy);
    copy
}

#[test]
fn one_model_learns_every_task_and_which_task_a_photo_shows() {
    let trained = trained();
    let run = &trained.run;
    let epochs = epochs(run);
    let last = &epochs[epochs.len() - 1]["valid"];
    let value = |key: &str| {
        last[key]
            .as_f64()
            .unwrap_or_else(|| panic!("validation {key} missing: {last}"))
    };
    for task in TASKS {
        let accuracy = value(&format!("{task}.accuracy"));
        assert!(
            accuracy > 0.5,
            "{task}: accuracy {accuracy} (chance is 1/3)"
        );
        for metric in ["mrr_ap", "fashionai_ap"] {
            value(&format!("{task}.{metric}"));
        }
    }
    // The plain names are the tasks' means; the best epoch is chosen by the mean AP.
    let mean: f64 = TASKS
        .iter()
        .map(|task| value(&format!("{task}.fashionai_ap")))
        .sum::<f64>()
        / TASKS.len() as f64;
    assert!((value("fashionai_ap") - mean).abs() < 1e-9);
    // The generated tasks differ visibly: the garment head tells them apart near-perfectly
    // (at most 3 of the 36 validation photos wrong; chance is 1/3).
    let garment = value("garment_accuracy");
    assert!(garment >= 0.9, "garment accuracy {garment}");
    let csv = fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(csv.contains("val_skirt_length_labels.fashionai_ap"));
    // Two rows of curves: the means, then each task's.
    let curves = image::open(run.join("curves.png")).unwrap();
    assert_eq!((curves.width(), curves.height()), (1200, 960));
    let stdout = String::from_utf8_lossy(&trained.trained.stdout);
    assert!(stdout.contains("on 3 tasks"), "{stdout}");
}

/// `eval` reports each task and the means, which are the numbers training logged.
#[test]
fn eval_reports_every_task_and_the_logged_means() {
    let trained = trained();
    let dir = temp_dir("multi-eval");
    let run = copy_run(&trained.run, &dir);
    let evaluated = trainer(&["eval", "--run", run.to_str().unwrap(), "--device", "cpu"]);
    assert!(evaluated.status.success());
    let report = read_json(&run.join("eval.json"));
    let logged = &epochs(&run)[trained.best as usize - 1]["valid"];
    assert_eval_matches(&report, logged, "training");
    let tasks = report["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), TASKS.len());
    for (task, name) in tasks.iter().zip(TASKS) {
        assert_eq!(task["task"], name);
        assert!(image::open(run.join(format!("confusion-{name}.png"))).is_ok());
    }
}

/// `predict` with the one model answers every question of every task, in order.
#[test]
fn one_model_predicts_every_task() {
    let trained = trained();
    let dir = temp_dir("multi-predict");
    let submission = dir.join("submission.csv");
    let predicted = trainer(&[
        "predict",
        "--model",
        trained.best_checkpoint().to_str().unwrap(),
        "--data",
        trained.data.to_str().unwrap(),
        "--out",
        submission.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(predicted.status.success());
    let questions = fs::read_to_string(trained.data.join("Tests/question.csv")).unwrap();
    let rows = fs::read_to_string(&submission).unwrap();
    assert_eq!(rows.lines().count(), 3 * 3 * 2);
    assert_eq!(questions.lines().count(), rows.lines().count());
    for (row, question) in rows.lines().zip(questions.lines()) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields[..2], question.split(',').collect::<Vec<_>>()[..2]);
        let task = Task::by_name(fields[1]).unwrap();
        let probabilities: Vec<f32> = fields[2].split(';').map(|p| p.parse().unwrap()).collect();
        assert_eq!(probabilities.len(), task.num_classes(), "{row}");
        assert!(
            (probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4,
            "{row}"
        );
    }
}

/// `classify --json` says which garment a photo shows and answers every task; an exported
/// bundle (format version 2, the tasks listed with their classes) answers as the checkpoint.
#[test]
fn classify_and_export_answer_every_task() {
    let trained = trained();
    let photos: Vec<PathBuf> = TASKS
        .iter()
        .map(|task| trained.data.join(format!("Images/{task}/0001.jpg")))
        .collect();
    let (ok, answers) = classify_json(&trained.best_checkpoint(), &photos);
    assert!(ok);
    let (mut right, mut garments) = (0, 0);
    for (index, answer) in answers.iter().enumerate() {
        assert_eq!(answer["garment"]["tasks"].as_array().unwrap().len(), 3);
        garments += usize::from(answer["garment"]["top"] == index);
        let tasks = answer["tasks"].as_array().unwrap();
        for (task, name) in tasks.iter().zip(TASKS) {
            assert_eq!(task["task"], name);
            let classes = Task::by_name(name).unwrap().num_classes();
            assert_eq!(floats(task, "probabilities").len(), classes);
        }
        // 0001.jpg is drawn as class 1 of its task.
        right += usize::from(tasks[index]["top"] == 1);
    }
    assert!(right >= 2, "{right} of 3 photos' classes right");
    assert!(garments >= 2, "{garments} of 3 photos' tasks right");

    let dir = temp_dir("multi-export");
    let run = copy_run(&trained.run, &dir);
    let bundle = dir.join("bundle");
    let exported = export(&run, &bundle, "f32");
    assert!(exported.status.success());
    let manifest = read_json(&bundle.join("manifest.json"));
    assert_eq!(manifest["format_version"], 2);
    let listed = manifest["tasks"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|task| task["calibration"].is_object()));
    let (ok, from_bundle) = classify_json(&bundle, &photos);
    assert!(ok);
    for (a, b) in answers.iter().zip(&from_bundle) {
        assert_eq!(a["garment"]["top"], b["garment"]["top"]);
        for (x, y) in a["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["tasks"].as_array().unwrap())
        {
            for (l, m) in floats(x, "logits").iter().zip(floats(y, "logits")) {
                assert!((l - m).abs() < 1e-3, "{l} vs {m}");
            }
        }
    }
}

/// A model of several tasks trains in f16 and resumes as one of one task does: a run that died
/// while writing its last epoch's checkpoint, resumed, ends where the uninterrupted run did.
#[test]
fn several_tasks_train_in_f16_and_resume() {
    let dir = temp_dir("multi-f16-resume");
    let (_, run) = multi_task_run(&dir, 4, 0, "0.1");
    // At the default loss scale the tiny model's f16 gradients overflow (`end_to_end.rs`).
    let f16 = ["--precision", "f16", "--loss-scale", "1024"];
    let trained = train(&run, &[&cpu_recipe()[..], &f16].concat());
    assert!(trained.status.success(), "training in f16 failed");
    assert!(!String::from_utf8_lossy(&trained.stdout).contains("skipped"));
    assert_eq!(read_json(&run.join("train.json"))["precision"], "f16");
    let recorded = epochs(&run);
    let loss = &recorded[2]["train"]["loss"];
    assert!(
        loss.as_f64().is_some_and(f64::is_finite),
        "training loss {loss}"
    );

    let crashed = dir.join("crashed");
    copy_dir(&run, &crashed);
    for part in ["model", "optim", "scheduler"] {
        fs::remove_file(crashed.join(format!("checkpoint/{part}-3.bpk"))).unwrap();
    }
    let resumed = train(&crashed, &["--resume", "--device", "cpu"]);
    assert!(resumed.status.success());
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resuming after epoch 2"));
    assert_same_epochs(&epochs(&crashed), &recorded, &["train", "valid"], "resumed");
}

/// `trainer demo --tasks all`: the whole path for one model of all eight tasks, without data.
#[test]
fn demo_of_all_tasks_runs_the_whole_workflow() {
    let dir = temp_dir("demo-all");
    let (out, bundle) = (dir.join("demo"), dir.join("model"));
    let demo = trainer(&[
        "demo",
        "--tasks",
        "all",
        "--out",
        out.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--per-class",
        "5",
        "--epochs",
        "1",
        "--device",
        "cpu",
    ]);
    assert!(demo.status.success());
    let report = read_json(&out.join("run/eval.json"));
    assert_eq!(report["tasks"].as_array().unwrap().len(), 8);
    let submission = fs::read_to_string(out.join("submission.csv")).unwrap();
    assert_eq!(submission.lines().count(), 8 * 3);
    let manifest = read_json(&bundle.join("manifest.json"));
    assert_eq!(manifest["tasks"].as_array().unwrap().len(), 8);
}
