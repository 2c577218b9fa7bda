//! `trainer eval`: a trained model on a run's validation split: accuracy, loss, the
//! tutorial's MRR-AP, the official FashionAI AP, per-class precision and recall and the
//! confusion matrix (printed, and drawn to `<run>/confusion.png`); all of it saved to
//! `<run>/eval.json`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use shared::preprocess::Tta;
use shared::tasks::Mark;

use crate::atomic::write_atomic;
use crate::data::Manifest;
use crate::device::{self, Compute, DeviceChoice};
use crate::infer::{self, Options};
use crate::run;
use crate::train::metric_names::RunMetric;
use crate::train::metrics::{fashionai_ap, mean_reciprocal_rank};
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

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    tta: Tta,
    images: usize,
    unreadable: usize,
    accuracy: f64,
    loss: f64,
    mrr_ap: f64,
    fashionai_ap: f64,
    basic_precision: f64,
    classes: Vec<ClassReport>,
    /// Rows: true class; columns: predicted class.
    confusion: Vec<Vec<usize>>,
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
/// saves it with the confusion matrix in the run folder.
pub fn evaluate(run: &Path, model_path: &Path, options: Options, compute: &Compute) -> Result<()> {
    let manifest = Manifest::read(run)?;
    let trained = load_model(model_path, None, &compute.device)?;
    if trained.classes != manifest.info.classes {
        bail!(
            "{} was trained on other classes than {} has",
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

    let (mut probabilities, mut marks, mut unreadable) = (Vec::new(), Vec::new(), 0);
    for (result, sample) in results.into_iter().zip(&manifest.val) {
        match result {
            Ok(scores) => {
                probabilities.push(scores.probabilities);
                marks.push(sample.label.marks.clone());
            }
            Err(err) => {
                eprintln!("warning: skipping {}: {err}", sample.image.display());
                unreadable += 1;
            }
        }
    }
    let report = report(
        &trained.classes,
        model_path.to_path_buf(),
        options.tta,
        &probabilities,
        &marks,
        unreadable,
    );
    print(&report, &trained.classes);
    write_atomic(&run::eval_json(run), &serde_json::to_vec_pretty(&report)?)?;
    write_atomic(
        &run::confusion_png(run),
        &crate::plots::confusion(&trained.classes, &report.confusion)?,
    )?;
    println!(
        "saved {} and {}",
        run::eval_json(run).display(),
        run::confusion_png(run).display()
    );
    Ok(())
}

fn report(
    classes: &[String],
    model: PathBuf,
    tta: Tta,
    probabilities: &[Vec<f32>],
    marks: &[Vec<Mark>],
    unreadable: usize,
) -> Report {
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
    Report {
        model,
        tta,
        images,
        unreadable,
        accuracy: ratio(correct, images).unwrap_or(0.0),
        loss: loss / images.max(1) as f64,
        mrr_ap: mean_reciprocal_rank(probabilities, marks),
        fashionai_ap,
        basic_precision,
        classes: per_class,
        confusion,
    }
}

fn print(report: &Report, classes: &[String]) {
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
    let values = [
        (RunMetric::Accuracy, report.accuracy),
        (RunMetric::Loss, report.loss),
        (RunMetric::MrrAp, report.mrr_ap),
        (RunMetric::FashionAiAp, report.fashionai_ap),
        (RunMetric::BasicPrecision, report.basic_precision),
    ];
    let values: Vec<String> = values
        .iter()
        .map(|(name, value)| format!("{} {value:.4}", name.display()))
        .collect();
    println!("  {}", values.join("  "));
    let show = |v: Option<f64>| v.map_or("   -  ".to_string(), |v| format!("{v:.4}"));
    println!(
        "\n  {:<30} {:>9} {:>9} {:>8}",
        "class", "precision", "recall", "images"
    );
    for (i, c) in report.classes.iter().enumerate() {
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
    for (i, row) in report.confusion.iter().enumerate() {
        let cells: String = row.iter().map(|v| format!("{v:>6}")).collect();
        println!("  {i:>4}{cells}");
    }
    println!();
}
