//! Ensembles, views and distillation through the real binary, on the CPU backend: a teacher
//! trained to perfection on the demo's generated photos, a small student distilled from it
//! (at another input size), and both as an ensemble.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::{
    TASKS, TRAIN, assert_same_epochs, classify_json, copy_dir, epochs, export, floats,
    killed_after_epoch_one, multi_task_run, read_json, temp_dir, trainer,
};

/// The student: a narrower ResNet-18 at half the teacher's input side (the teacher sees the
/// student's batches resized), from random weights.
#[rustfmt::skip]
const STUDENT: &[&str] = &[
    "--arch", "resnet18", "--base-width", "8", "--input-size", "32", "--pretrained", "none",
    "--batch-size", "16", "--lr", "0.02", "--epochs", "8", "--device", "cpu",
];

/// How far below the teacher's validation accuracy the student may end.
const MARGIN: f64 = 0.1;

struct Fixture {
    /// `trainer demo`'s folder: `data/`, the teacher's `run/`, its `bundle/`.
    demo: PathBuf,
    /// The distilled student's run, on the teacher's split.
    student: PathBuf,
    distilled: std::process::Output,
}

impl Fixture {
    fn teacher(&self) -> PathBuf {
        self.demo.join("run")
    }

    fn photos(&self) -> Vec<PathBuf> {
        let dir = self.demo.join("data/Images/skirt_length_labels");
        let mut photos: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        photos.sort();
        photos.truncate(12);
        photos
    }
}

/// A run folder in `dir` with the teacher's split and nothing trained yet.
fn copy_split(teacher: &Path, dir: &Path) -> PathBuf {
    let copy = dir.join("run");
    fs::create_dir_all(&copy).unwrap();
    for file in ["dataset.json", "train.csv", "val.csv"] {
        fs::copy(teacher.join(file), copy.join(file)).unwrap();
    }
    copy
}

fn distill(run: &Path, teacher: &Path, extra: &[&str]) -> std::process::Output {
    let (run, teacher) = (run.to_str().unwrap(), teacher.to_str().unwrap());
    trainer(&[&["distill", "--run", run, "--teacher", teacher], extra].concat())
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ensembles");
        let _ = fs::remove_dir_all(&dir);
        let demo = dir.join("demo");
        #[rustfmt::skip]
        let made = trainer(&[
            "demo", "--out", demo.to_str().unwrap(), "--bundle", demo.join("bundle").to_str().unwrap(),
            "--epochs", "4", "--device", "cpu",
        ]);
        assert!(made.status.success(), "the demo failed");
        let student = copy_split(&demo.join("run"), &dir.join("student"));
        let distilled = distill(&student, &demo.join("run"), STUDENT);
        assert!(distilled.status.success(), "distillation failed");
        Fixture {
            demo,
            student,
            distilled,
        }
    })
}

fn best_accuracy(run: &Path) -> f64 {
    let metrics = read_json(&run.join("metrics.json"));
    let best = metrics["best_epoch"].as_u64().unwrap() as usize;
    metrics["epochs"][best - 1]["valid"]["accuracy"]
        .as_f64()
        .unwrap()
}

/// A teacher that is perfect on the validation photos, distilled into a student of a quarter
/// of its width at half its input side: the student ends within [`MARGIN`] of it, and `eval`
/// reports both on the same split with their agreement.
#[test]
fn a_distilled_student_reaches_its_teacher() {
    let fixture = fixture();
    let teacher = best_accuracy(&fixture.teacher());
    assert_eq!(teacher, 1.0, "the teacher is perfect on these photos");
    let student = best_accuracy(&fixture.student);
    assert!(
        student >= teacher - MARGIN,
        "student {student}, teacher {teacher}"
    );
    let settings = read_json(&fixture.student.join("train.json"));
    assert_eq!(settings["distillation"]["kd_temperature"], 4.0);
    assert!(
        Path::new(settings["distillation"]["teachers"][0].as_str().unwrap()).is_absolute(),
        "{settings}"
    );

    let dir = temp_dir("distilled-eval");
    let run = dir.join("run");
    copy_dir(&fixture.student, &run);
    let evaluated = trainer(&["eval", "--run", run.to_str().unwrap(), "--device", "cpu"]);
    assert!(evaluated.status.success());
    let report = read_json(&run.join("eval.json"));
    assert_eq!(report["accuracy"].as_f64().unwrap(), student);
    let theirs = &report["teacher"];
    assert_eq!(theirs["accuracy"].as_f64().unwrap(), teacher);
    assert_eq!(theirs["images"], report["images"]);
    let agreement = theirs["agreement"].as_f64().unwrap();
    // With a perfect teacher, agreeing is being right.
    assert!((agreement - student).abs() < 1e-9, "agreement {agreement}");
    let stdout = String::from_utf8_lossy(&evaluated.stdout);
    assert!(
        stdout.contains("teacher ") && stdout.contains("agreement"),
        "{stdout}"
    );
}

/// Distillation killed once epoch 1 is saved, then resumed with the teacher saved in the run,
/// ends where the uninterrupted distillation did, epoch by epoch.
#[test]
fn distillation_resumes_after_sigkill() {
    let fixture = fixture();
    let dir = temp_dir("distill-crash");
    let run = copy_split(&fixture.teacher(), &dir);
    let teacher = fixture.teacher();
    let args = [&["--teacher", teacher.to_str().unwrap()], STUDENT].concat();
    killed_after_epoch_one("distill", &run, &args);
    // No --teacher: the run's settings have it.
    let resumed = trainer(&[
        "distill",
        "--run",
        run.to_str().unwrap(),
        "--resume",
        "--device",
        "cpu",
    ]);
    assert!(resumed.status.success());
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resuming after epoch"));
    assert_same_epochs(
        &epochs(&run),
        &epochs(&fixture.student),
        &["train", "valid"],
        "resumed distillation",
    );
    assert!(String::from_utf8_lossy(&fixture.distilled.stdout).contains("training resnet18"));
}

/// `classify` of an ensemble: each probability is the weighted mean of the members' own
/// (each computed alone, at its own input size).
#[test]
fn an_ensemble_is_the_weighted_mean_of_its_members() {
    let fixture = fixture();
    let photos = fixture.photos();
    let (teacher, student) = (fixture.teacher(), fixture.student.clone());
    let alone = |model: &Path| classify_json(model, &photos).1;
    let (ones, twos) = (alone(&teacher), alone(&student));
    let mut args = vec!["classify", "--json", "--device", "cpu"];
    args.extend([
        "--model",
        teacher.to_str().unwrap(),
        "--model",
        student.to_str().unwrap(),
    ]);
    for (weights, (a, b)) in [("1,1", (0.5, 0.5)), ("1,3", (0.25, 0.75))] {
        let mut args = args.clone();
        args.extend(["--weights", weights]);
        args.extend(photos.iter().map(|p| p.to_str().unwrap()));
        let out = trainer(&args);
        assert!(out.status.success());
        let together: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        for ((both, one), two) in together.iter().zip(&ones).zip(&twos) {
            let (both, one, two) = (
                floats(both, "probabilities"),
                floats(one, "probabilities"),
                floats(two, "probabilities"),
            );
            for ((p, x), y) in both.iter().zip(&one).zip(&two) {
                assert!(
                    (p - (a * x + b * y)).abs() <= 1e-6,
                    "{p} vs {a} * {x} + {b} * {y}"
                );
            }
        }
    }
    let bad = trainer(
        &[
            &args[..],
            &["--weights", "1"],
            &[photos[0].to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("expected one weight per model, in their order (2 models), got 1")
    );
}

/// `eval` of an ensemble reports it and each member alone; an ensemble of a model with itself
/// is that model; `predict` averages two models of one task instead of refusing them.
#[test]
fn eval_reports_the_ensemble_and_each_member() {
    let fixture = fixture();
    let dir = temp_dir("ensemble-eval");
    let run = dir.join("run");
    copy_dir(&fixture.student, &run);
    let (teacher, student) = (fixture.teacher(), fixture.student.clone());
    let eval = |models: &[&Path]| {
        let mut args = vec!["eval", "--run", run.to_str().unwrap(), "--device", "cpu"];
        for model in models {
            args.extend(["--model", model.to_str().unwrap()]);
        }
        assert!(trainer(&args).status.success());
        read_json(&run.join("eval.json"))
    };
    let alone = eval(&[&student]);
    let twice = eval(&[&student, &student]);
    for key in [
        "accuracy",
        "loss",
        "mrr_ap",
        "fashionai_ap",
        "basic_precision",
        "confusion",
    ] {
        assert_eq!(alone[key], twice[key], "{key}");
    }
    assert_eq!(twice["members"].as_array().unwrap().len(), 2);
    assert!(alone.get("members").is_none() && alone.get("teacher").is_none());

    let both = eval(&[&teacher, &student]);
    let members = both["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    for member in members {
        assert_eq!(member["images"], both["images"]);
        assert!(member["agreement"].as_f64().unwrap() > 0.5, "{member}");
    }
    assert_eq!(members[0]["accuracy"].as_f64().unwrap(), 1.0);

    let submission = dir.join("submission.csv");
    #[rustfmt::skip]
    let predicted = trainer(&[
        "predict", "--model", teacher.to_str().unwrap(), "--model", student.to_str().unwrap(),
        "--data", fixture.demo.join("data").to_str().unwrap(), "--out", submission.to_str().unwrap(),
        "--tta", "flip,pad", "--device", "cpu",
    ]);
    assert!(predicted.status.success());
    let rows = fs::read_to_string(&submission).unwrap();
    assert!(
        rows.lines().count() > 0 && rows.lines().all(|l| l.split(';').count() == 6),
        "{rows}"
    );
}

/// Members that name a task's classes differently, and a teacher of another task than the
/// student's data, are refused with messages that say so.
#[test]
fn mismatched_members_and_teachers_are_refused() {
    let fixture = fixture();
    let dir = temp_dir("ensemble-bad");
    let rename = |edit: &dyn Fn(&mut serde_json::Value), name: &str| {
        let bundle = dir.join(name);
        copy_dir(&fixture.demo.join("bundle"), &bundle);
        let path = bundle.join("manifest.json");
        let mut manifest = read_json(&path);
        edit(&mut manifest);
        fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
        bundle
    };
    let renamed = rename(&|m| m["classes"][0] = "Mini".into(), "renamed-class");
    let (teacher, photo) = (fixture.teacher(), &fixture.photos()[0]);
    #[rustfmt::skip]
    let out = trainer(&[
        "classify", "--device", "cpu", "--model", teacher.to_str().unwrap(),
        "--model", renamed.to_str().unwrap(), photo.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("disagree on the classes of skirt_length_labels")
            && stderr.contains("Mini"),
        "{stderr}"
    );

    let fresh = copy_split(&teacher, &dir.join("fresh"));
    let out = trainer(&["distill", "--run", fresh.to_str().unwrap(), "--resume"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no saved settings to resume"), "{stderr}");

    let coat = rename(&|m| m["task"] = "coat_length_labels".into(), "coat");
    let run = copy_split(&teacher, &dir.join("student"));
    let out = distill(&run, &coat, STUDENT);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("answers coat_length_labels")
            && stderr.contains("a teacher must be of the student's tasks and classes"),
        "{stderr}"
    );
}

/// `--view pad` from training to the bundle: saved in the run's settings and the manifest,
/// and `classify` of the bundle answers as the checkpoint does (the same padded inputs: the
/// same logits; the bundle's probabilities are calibrated).
#[test]
fn the_padded_view_goes_from_training_to_the_bundle() {
    let fixture = fixture();
    let dir = temp_dir("pad-view");
    let run = copy_split(&fixture.teacher(), &dir);
    #[rustfmt::skip]
    let trained = trainer(&[&[
        "train", "--run", run.to_str().unwrap(), "--view", "pad", "--random-resized-crop",
    ], &STUDENT[..STUDENT.len() - 4], &["--epochs", "1", "--device", "cpu"]].concat());
    assert!(trained.status.success());
    assert_eq!(read_json(&run.join("train.json"))["view"], "pad");
    let bundle = dir.join("bundle");
    assert!(export(&run, &bundle, "f32").status.success());
    assert_eq!(
        read_json(&bundle.join("manifest.json"))["preprocessing"]["view"],
        "pad"
    );
    let photos = fixture.photos();
    let (from_run, from_bundle) = (
        classify_json(&run, &photos).1,
        classify_json(&bundle, &photos).1,
    );
    for (a, b) in from_run.iter().zip(&from_bundle) {
        for (p, q) in floats(a, "logits").iter().zip(floats(b, "logits")) {
            assert!((p - q).abs() < 1e-4 * p.abs().max(1.0), "{p} vs {q}");
        }
    }
    // A crop bundle of the same run answers otherwise.
    let cropped = dir.join("cropped");
    #[rustfmt::skip]
    let out = trainer(&[
        "export", "--model", run.to_str().unwrap(), "--out", cropped.to_str().unwrap(),
        "--view", "crop", "--precision", "f32", "--device", "cpu",
    ]);
    assert!(out.status.success());
    assert!(
        read_json(&cropped.join("manifest.json"))["preprocessing"]
            .get("view")
            .is_none()
    );
    let differs = classify_json(&cropped, &photos)
        .1
        .iter()
        .zip(&from_bundle)
        .any(|(a, b)| floats(a, "logits") != floats(b, "logits"));
    assert!(differs, "the crop and pad views give the same answers");
}

/// A teacher of several tasks teaches a student of the same tasks, through every head, whatever
/// their order (the student's run lists them the other way round), with MixUp: the student's
/// run trains, and `eval` reports both per task, with the garment head.
#[test]
fn a_multi_task_teacher_teaches_a_multi_task_student() {
    let dir = temp_dir("distill-tasks");
    let (data, teacher) = multi_task_run(&dir, 8, 0, "0.25");
    let recipe = [
        TRAIN,
        &["--pretrained", "none", "--epochs", "2", "--device", "cpu"],
    ]
    .concat();
    let trained = trainer(&[&["train", "--run", teacher.to_str().unwrap()], &recipe[..]].concat());
    assert!(trained.status.success());
    let student = dir.join("student");
    let reversed: Vec<&str> = TASKS.iter().rev().copied().collect();
    #[rustfmt::skip]
    let prepared = trainer(&[
        "prepare", "--data", data.to_str().unwrap(), "--out", student.to_str().unwrap(),
        "--task", &reversed.join(","), "--val-fraction", "0.25",
    ]);
    assert!(prepared.status.success());
    // MixUp mixes photos of different tasks: the term covers both images' heads.
    let distilled = distill(
        &student,
        &teacher,
        &[&recipe[..], &["--mixup-alpha", "0.4"]].concat(),
    );
    assert!(distilled.status.success());
    let loss = epochs(&student)[1]["train"]["loss"].as_f64().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "training loss {loss}");
    let evaluated = trainer(&[
        "eval",
        "--run",
        student.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(evaluated.status.success());
    let report = read_json(&student.join("eval.json"));
    let theirs = &report["teacher"];
    let names: Vec<&str> = theirs["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert_eq!(
        names, reversed,
        "the teacher reported in the student's order"
    );
    assert!(theirs["garment_accuracy"].as_f64().is_some(), "{theirs}");
    assert!(theirs["agreement"].as_f64().is_some(), "{theirs}");
}
