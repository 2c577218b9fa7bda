//! `trainer eval`: a trained model on a run's validation split: accuracy, loss, the
//! tutorial's MRR-AP, the official FashionAI AP, per-class precision and recall and the
//! confusion matrix (printed, and drawn to `<run>/confusion.png`); all of it saved to
//! `<run>/eval.json`. A model of several tasks gets all of it per task (`confusion-<task>.png`),
//! the means over the tasks and the garment head's accuracy.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use shared::preprocess::Tta;
use shared::tasks::{Label, Mark};

use crate::atomic::write_atomic;
use crate::data::Manifest;
use crate::device::{self, Compute, DeviceChoice};
use crate::infer::{self, Options};
use crate::run;
use crate::train::metric_names::RunMetric;
use crate::train::metrics::{accuracy, fashionai_ap, mean_reciprocal_rank};
use crate::trained::{best_checkpoint, load_model};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The run folder (its validation split is evaluated).
    #[arg(long)]
    pub run: PathBuf,
    /// A checkpoint `<run>/checkpoint/model-<epoch>.bpk` or a bundle folder from `trainer
    /// export` (default: the run's best epoch).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Test-time augmentation: softmax averaged over the views.
    #[arg(long, value_enum, default_value = "none")]
    pub tta: Tta,
    /// Images (views with --tta) per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value = "auto", help = device::HELP)]
    pub device: DeviceChoice,
}

#[derive(Serialize)]
struct ClassReport {
    class: String,
    precision: Option<f64>,
    recall: Option<f64>,
    support: usize,
}

/// The validation numbers of a task, or over several tasks their means.
#[derive(Serialize)]
struct Summary {
    accuracy: f64,
    loss: f64,
    mrr_ap: f64,
    fashionai_ap: f64,
    basic_precision: f64,
}

/// One task's numbers, per class too.
#[derive(Serialize)]
struct TaskScores {
    #[serde(flatten)]
    summary: Summary,
    classes: Vec<ClassReport>,
    /// Rows: true class; columns: predicted class.
    confusion: Vec<Vec<usize>>,
}

/// One task of several.
#[derive(Serialize)]
struct TaskReport {
    task: String,
    images: usize,
    #[serde(flatten)]
    scores: TaskScores,
}

/// `eval.json`: for one task its numbers; for several, the means as training logs them (the
/// loss with the garment head's), the garment head's accuracy and each task's numbers.
#[derive(Serialize)]
struct Report {
    model: PathBuf,
    tta: Tta,
    images: usize,
    unreadable: usize,
    #[serde(flatten)]
    summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    garment_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    classes: Vec<ClassReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    confusion: Vec<Vec<usize>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tasks: Vec<TaskReport>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let model = match &args.model {
        Some(path) => path.clone(),
        None => best_checkpoint(&args.run)?,
    };
    let options = Options {
        tta: args.tta,
        batch_size: args.batch_size,
    };
    evaluate(&args.run, &model, options, &device::pick(args.device)?)
}

/// Evaluates the model at `model_path` on `run`'s validation split; prints the report and
/// saves it with the confusion matrices in the run folder.
pub fn evaluate(run: &Path, model_path: &Path, options: Options, compute: &Compute) -> Result<()> {
    let manifest = Manifest::read(run)?;
    let trained = load_model(model_path, None, &compute.device)?;
    let heads = &trained.heads;
    if *heads != manifest.info.heads()? {
        bail!(
            "{} was trained on other tasks or classes than {} has",
            model_path.display(),
            run.display()
        );
    }
    let images: Vec<PathBuf> = manifest.val.iter().map(|s| s.image.clone()).collect();
    if images.is_empty() {
        bail!("{}: the validation split is empty", run.display());
    }
    let bar = ProgressBar::new(images.len() as u64).with_style(
        ProgressStyle::with_template(
            "evaluating [{bar:30}] {pos}/{len} images {per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let results = infer::scores(&trained, &images, options, compute, &bar)?;
    bar.finish_and_clear();

    // Per task: each image's probabilities over the task's classes, and its marks.
    let tasks = heads.tasks().len();
    let mut seen = vec![(Vec::new(), Vec::new()); tasks];
    let (mut garment, mut loss, mut unreadable) = (Vec::new(), 0.0, 0);
    for (result, sample) in results.into_iter().zip(&manifest.val) {
        let scores = match result {
            Ok(scores) => scores.probabilities,
            Err(err) => {
                eprintln!("warning: skipping {}: {err}", sample.image.display());
                unreadable += 1;
                continue;
            }
        };
        let (probabilities, marks) = &mut seen[sample.task];
        let own = scores[heads.columns(sample.task)].to_vec();
        loss -= f64::from(own[sample.label.class].max(1e-12)).ln();
        if let Some(columns) = heads.garment() {
            let garments = &scores[columns];
            loss -= f64::from(garments[sample.task].max(1e-12)).ln();
            garment.push((garments.to_vec(), Label::one_hot(sample.task, tasks).marks));
        }
        probabilities.push(own);
        marks.push(sample.label.marks.clone());
    }
    let mut reports: Vec<TaskReport> = heads
        .tasks()
        .iter()
        .zip(&seen)
        .map(|(task, (probabilities, marks))| TaskReport {
            task: task.name.clone(),
            images: probabilities.len(),
            scores: task_scores(&task.classes, probabilities, marks),
        })
        .collect();
    let evaluated = images.len() - unreadable;
    let mut report = Report {
        model: model_path.to_path_buf(),
        tta: options.tta,
        images: evaluated,
        unreadable,
        summary: mean_summary(&reports, loss / evaluated.max(1) as f64),
        garment_accuracy: None,
        classes: Vec::new(),
        confusion: Vec::new(),
        tasks: Vec::new(),
    };
    let mut pictures = Vec::new();
    match heads.is_multi_task() {
        false => {
            let only = reports.remove(0).scores;
            pictures.push((
                run::confusion_png(run),
                heads.tasks()[0].classes.clone(),
                only.confusion.clone(),
            ));
            report.summary = only.summary;
            report.classes = only.classes;
            report.confusion = only.confusion;
        }
        true => {
            let (probabilities, marks): (Vec<_>, Vec<_>) = garment.into_iter().unzip();
            report.garment_accuracy = Some(accuracy(&probabilities, &marks));
            for (task, scored) in heads.tasks().iter().zip(&reports) {
                pictures.push((
                    run::task_confusion_png(run, &task.name),
                    task.classes.clone(),
                    scored.scores.confusion.clone(),
                ));
            }
            report.tasks = reports;
        }
    }
    print(&report);
    write_atomic(&run::eval_json(run), &serde_json::to_vec_pretty(&report)?)?;
    for (path, classes, confusion) in &pictures {
        write_atomic(path, &crate::plots::confusion(classes, confusion)?)?;
    }
    let written: Vec<String> = std::iter::once(run::eval_json(run))
        .chain(pictures.into_iter().map(|(path, _, _)| path))
        .map(|path| path.display().to_string())
        .collect();
    println!("saved {}", written.join(", "));
    Ok(())
}

/// Over several tasks: the mean of the tasks' numbers (of those with images), and the loss
/// over all images as training logs it.
fn mean_summary(tasks: &[TaskReport], loss: f64) -> Summary {
    let with_images: Vec<&Summary> = tasks
        .iter()
        .filter(|t| t.images > 0)
        .map(|t| &t.scores.summary)
        .collect();
    let mean = |value: fn(&Summary) -> f64| {
        with_images.iter().map(|s| value(s)).sum::<f64>() / with_images.len().max(1) as f64
    };
    Summary {
        accuracy: mean(|s| s.accuracy),
        loss,
        mrr_ap: mean(|s| s.mrr_ap),
        fashionai_ap: mean(|s| s.fashionai_ap),
        basic_precision: mean(|s| s.basic_precision),
    }
}

/// One task's numbers from its images' probabilities over its classes and their marks.
fn task_scores(classes: &[String], probabilities: &[Vec<f32>], marks: &[Vec<Mark>]) -> TaskScores {
    let n = classes.len();
    let mut confusion = vec![vec![0usize; n]; n];
    let mut loss = 0.0;
    for (probs, marks) in probabilities.iter().zip(marks) {
        let truth = marks.iter().position(|m| *m == Mark::Yes).unwrap_or(0);
        confusion[truth][shared::ranking::argmax(probs)] += 1;
        loss -= f64::from(probs[truth].max(1e-12)).ln();
    }
    let images = probabilities.len();
    let correct: usize = (0..n).map(|i| confusion[i][i]).sum();
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    let per_class = (0..n)
        .map(|c| {
            let predicted: usize = confusion.iter().map(|row| row[c]).sum();
            let support: usize = confusion[c].iter().sum();
            ClassReport {
                class: classes[c].clone(),
                precision: ratio(confusion[c][c], predicted),
                recall: ratio(confusion[c][c], support),
                support,
            }
        })
        .collect();
    let (fashionai_ap, basic_precision) = fashionai_ap(probabilities, marks);
    TaskScores {
        summary: Summary {
            accuracy: ratio(correct, images).unwrap_or(0.0),
            loss: loss / images.max(1) as f64,
            mrr_ap: mean_reciprocal_rank(probabilities, marks),
            fashionai_ap,
            basic_precision,
        },
        classes: per_class,
        confusion,
    }
}

fn print(report: &Report) {
    println!(
        "{} on {} validation images (tta {:?}{}):",
        report.model.display(),
        report.images,
        report.tta,
        if report.unreadable > 0 {
            format!(", {} unreadable skipped", report.unreadable)
        } else {
            String::new()
        }
    );
    print_summary(&report.summary);
    if let Some(garment) = report.garment_accuracy {
        println!(
            "  (means over {} tasks)  {} {garment:.4}",
            report.tasks.len(),
            RunMetric::GarmentAccuracy.display()
        );
    }
    if !report.classes.is_empty() {
        print_classes(&report.classes, &report.confusion);
    }
    for task in &report.tasks {
        println!("\n{} ({} images)", task.task, task.images);
        print_summary(&task.scores.summary);
        print_classes(&task.scores.classes, &task.scores.confusion);
    }
}

fn print_summary(summary: &Summary) {
    let values = [
        (RunMetric::Accuracy, summary.accuracy),
        (RunMetric::Loss, summary.loss),
        (RunMetric::MrrAp, summary.mrr_ap),
        (RunMetric::FashionAiAp, summary.fashionai_ap),
        (RunMetric::BasicPrecision, summary.basic_precision),
    ];
    let values: Vec<String> = values
        .iter()
        .map(|(name, value)| format!("{} {value:.4}", name.display()))
        .collect();
    println!("  {}", values.join("  "));
}

fn print_classes(classes: &[ClassReport], confusion: &[Vec<usize>]) {
    let show = |v: Option<f64>| v.map_or("   -  ".to_string(), |v| format!("{v:.4}"));
    println!(
        "\n  {:<30} {:>9} {:>9} {:>8}",
        "class", "precision", "recall", "images"
    );
    for (i, c) in classes.iter().enumerate() {
        let name = format!("{i} {}", c.class);
        println!(
            "  {name:<30} {:>9} {:>9} {:>8}",
            show(c.precision),
            show(c.recall),
            c.support
        );
    }
    println!("\n  confusion (rows: true class, columns: predicted)");
    let header: String = (0..classes.len()).map(|j| format!("{j:>6}")).collect();
    println!("  {:>4}{header}", "");
    for (i, row) in confusion.iter().enumerate() {
        let cells: String = row.iter().map(|v| format!("{v:>6}")).collect();
        println!("  {i:>4}{cells}");
    }
    println!();
}
