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
use shared::heads::Heads;
use shared::preprocess::Tta;
use shared::tasks::{Label, Mark};

use crate::atomic::write_atomic;
use crate::data::Manifest;
use crate::data::Sample;
use crate::device::{self, Compute, DeviceChoice};
use crate::ensemble::{Ensemble, EnsembleArgs, MemberScores};
use crate::infer::{Options, Scores};
use crate::run;
use crate::train::metric_names::RunMetric;
use crate::train::metrics::{accuracy, fashionai_ap, mean_reciprocal_rank};
use crate::trained::best_checkpoint;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The run folder (its validation split is evaluated).
    #[arg(long)]
    pub run: PathBuf,
    /// A checkpoint `<run>/checkpoint/model-<epoch>.bpk`, a run folder or a bundle folder
    /// from `trainer export` (default: the run's best epoch); repeat for an ensemble, which
    /// is reported with each of its models.
    #[arg(long = "model")]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub ensemble: EnsembleArgs,
    /// A teacher to compare with (its runs, bundles or checkpoints; several: an ensemble),
    /// evaluated on the same images, with the share of answers both give alike (default,
    /// without --model: a distilled run's teacher).
    #[arg(long = "teacher")]
    pub teachers: Vec<PathBuf>,
    /// Test-time augmentation: softmax averaged over the views (`none`, or a list such as
    /// `flip`, `ten-crop`, `flip,pad`).
    #[arg(long, default_value = "none", value_name = "VIEWS")]
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
    model: String,
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
    /// Of an ensemble's member or a teacher: the share of images whose answer (each image's
    /// task's most probable class) is the evaluated model's.
    #[serde(skip_serializing_if = "Option::is_none")]
    agreement: Option<f64>,
    /// An ensemble's models, each evaluated alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    members: Vec<Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    teacher: Option<Box<Report>>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let models = match args.models.is_empty() {
        true => vec![best_checkpoint(&args.run)?],
        false => args.models.clone(),
    };
    // A distilled run's own model is compared with its teacher (weights included) unless
    // told otherwise.
    let (teachers, teacher_weights) = match args.teachers.is_empty() && args.models.is_empty() {
        true => run::read_settings(&args.run)
            .ok()
            .and_then(|settings| settings.distillation)
            .map(|kd| (kd.teachers, kd.teacher_weights))
            .unwrap_or_default(),
        false => (args.teachers.clone(), None),
    };
    let options = Options {
        tta: args.tta,
        batch_size: args.batch_size,
    };
    let compute = device::pick(args.device)?;
    let mut ensemble = args.ensemble.load(&models, None, &compute.device)?;
    let mut teacher = (!teachers.is_empty())
        .then(|| {
            let weights = teacher_weights.as_deref();
            Ensemble::load(
                &teachers,
                weights,
                args.ensemble.view,
                None,
                &compute.device,
            )
        })
        .transpose()?;
    evaluate(
        &args.run,
        &mut ensemble,
        teacher.as_mut(),
        options,
        &compute,
    )
}

/// Evaluates `model` (and each of its members, and `teacher`) on `run`'s validation split;
/// prints the report and saves it with the confusion matrices in the run folder.
pub fn evaluate(
    run: &Path,
    model: &mut Ensemble,
    mut teacher: Option<&mut Ensemble>,
    options: Options,
    compute: &Compute,
) -> Result<()> {
    let manifest = Manifest::read(run)?;
    let heads = manifest.info.heads()?;
    let compared = std::iter::once((&mut *model, ""))
        .chain(teacher.as_deref_mut().map(|t| (t, "the teacher ")));
    for (ensemble, role) in compared {
        if !ensemble.order_as(&heads) {
            bail!(
                "{role}{} was trained on other tasks or classes than {} has",
                ensemble.name(),
                run.display()
            );
        }
    }
    let images: Vec<PathBuf> = manifest.val.iter().map(|s| s.image.clone()).collect();
    if images.is_empty() {
        bail!("{}: the validation split is empty", run.display());
    }
    let tasks: Vec<usize> = manifest.val.iter().map(|s| s.task).collect();
    // Each model's scores: the members' alone, then the ensemble's from them.
    let score = |ensemble: &Ensemble, what: &str| -> Result<(Vec<MemberScores>, Vec<Answer>)> {
        let bar = ProgressBar::new(images.len() as u64).with_style(
            ProgressStyle::with_template(&format!(
                "evaluating{what} [{{bar:30}}] {{pos}}/{{len}} images {{per_sec}} eta {{eta}}"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        );
        let scored = match ensemble.members.len() {
            1 => {
                let own = ensemble.scores(&images, Some(&tasks), options, compute, &bar)?;
                (Vec::new(), own.into_iter().map(Some).collect())
            }
            _ => {
                let each = ensemble.member_scores(&images, Some(&tasks), options, compute, &bar)?;
                let combined = ensemble.combined(&each).into_iter().map(Some).collect();
                (each, combined)
            }
        };
        bar.finish_and_clear();
        Ok(scored)
    };
    let (members, answers) = score(model, "")?;
    for (answer, sample) in answers.iter().zip(&manifest.val) {
        if let Some(Err(err)) = answer {
            eprintln!("warning: skipping {}: {err}", sample.image.display());
        }
    }
    let mut report = report_of(
        &model.name(),
        (&heads, model.knows_garments()),
        &heads,
        &manifest.val,
        &answers,
        options.tta,
    );
    report.members = model
        .members
        .iter()
        .zip(&members)
        .map(|(member, own)| {
            let name = member.source.display().to_string();
            let mut alone = report_of(
                &name,
                (&member.heads, member.heads.is_multi_task()),
                &heads,
                &manifest.val,
                own,
                options.tta,
            );
            alone.agreement = agreement(&heads, &answers, &member.heads, own, &manifest.val);
            alone
        })
        .collect();
    if let Some(teacher) = teacher {
        let (_, theirs) = score(teacher, " the teacher")?;
        let mut scored = report_of(
            &teacher.name(),
            (&heads, teacher.knows_garments()),
            &heads,
            &manifest.val,
            &theirs,
            options.tta,
        );
        scored.agreement = agreement(&heads, &answers, &heads, &theirs, &manifest.val);
        report.teacher = Some(Box::new(scored));
    }
    let pictures: Vec<(PathBuf, Vec<String>, Vec<Vec<usize>>)> = match heads.is_multi_task() {
        false => vec![(
            run::confusion_png(run),
            heads.tasks()[0].classes.clone(),
            report.confusion.clone(),
        )],
        true => heads
            .tasks()
            .iter()
            .zip(&report.tasks)
            .map(|(task, scored)| {
                (
                    run::task_confusion_png(run, &task.name),
                    task.classes.clone(),
                    scored.scores.confusion.clone(),
                )
            })
            .collect(),
    };
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

/// An image's scores: `None` where the model does not answer its task.
type Answer = Option<Result<Scores, String>>;

/// The report of a model of `heads` (some or all of the run's) on the images of its tasks;
/// with `garments` the garment head's too (an ensemble of single-task models has none).
fn report_of(
    name: &str,
    (heads, garments): (&Heads, bool),
    run_heads: &Heads,
    val: &[Sample],
    answers: &[Answer],
    tta: Tta,
) -> Report {
    let tasks = heads.tasks().len();
    // Per task: each image's probabilities over the task's classes, and its marks.
    let mut seen = vec![(Vec::new(), Vec::new()); tasks];
    let (mut garment, mut loss, mut unreadable, mut evaluated) = (Vec::new(), 0.0, 0, 0);
    for (answer, sample) in answers.iter().zip(val) {
        let Some(task) = own_task(heads, run_heads, sample) else {
            continue;
        };
        let scores = match answer {
            None => continue,
            Some(Ok(scores)) => &scores.probabilities,
            Some(Err(_)) => {
                unreadable += 1;
                continue;
            }
        };
        evaluated += 1;
        let (probabilities, marks) = &mut seen[task];
        let own = scores[heads.columns(task)].to_vec();
        loss -= f64::from(own[sample.label.class].max(1e-12)).ln();
        if let Some(columns) = heads.garment().filter(|_| garments) {
            let garments = &scores[columns];
            loss -= f64::from(garments[task].max(1e-12)).ln();
            garment.push((garments.to_vec(), Label::one_hot(task, tasks).marks));
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
    let mut report = Report {
        model: name.to_string(),
        tta,
        images: evaluated,
        unreadable,
        summary: mean_summary(&reports, loss / evaluated.max(1) as f64),
        garment_accuracy: None,
        classes: Vec::new(),
        confusion: Vec::new(),
        tasks: Vec::new(),
        agreement: None,
        members: Vec::new(),
        teacher: None,
    };
    match heads.is_multi_task() {
        false => {
            let only = reports.remove(0).scores;
            report.summary = only.summary;
            report.classes = only.classes;
            report.confusion = only.confusion;
        }
        true => {
            let (probabilities, marks): (Vec<_>, Vec<_>) = garment.into_iter().unzip();
            report.garment_accuracy = garments.then(|| accuracy(&probabilities, &marks));
            report.tasks = reports;
        }
    }
    report
}

/// The sample's task among `heads`' (`None`: not one of them).
fn own_task(heads: &Heads, run_heads: &Heads, sample: &Sample) -> Option<usize> {
    let name = &run_heads.tasks()[sample.task].name;
    heads.tasks().iter().position(|task| &task.name == name)
}

/// The share of the images both models answer (their task's most probable class) alike.
fn agreement(
    heads: &Heads,
    answers: &[Answer],
    other_heads: &Heads,
    others: &[Answer],
    val: &[Sample],
) -> Option<f64> {
    let (mut same, mut both) = (0usize, 0usize);
    for ((answer, other), sample) in answers.iter().zip(others).zip(val) {
        let (Some(Ok(ours)), Some(Ok(theirs))) = (answer, other) else {
            continue;
        };
        let (Some(task), Some(their_task)) = (
            own_task(heads, heads, sample),
            own_task(other_heads, heads, sample),
        ) else {
            continue;
        };
        let top = |scores: &Scores, heads: &Heads, task| {
            shared::ranking::argmax(&scores.probabilities[heads.columns(task)])
        };
        both += 1;
        same += usize::from(top(ours, heads, task) == top(theirs, other_heads, their_task));
    }
    (both > 0).then(|| same as f64 / both as f64)
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
        "{} on {} validation images (tta {}{}):",
        report.model,
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
    let compared = report
        .members
        .iter()
        .map(|m| ("member", m))
        .chain(report.teacher.as_deref().map(|t| ("teacher", t)));
    for (role, other) in compared {
        let agreement = other
            .agreement
            .map_or(String::new(), |a| format!(", agreement {a:.4}"));
        println!(
            "{role} {} on {} of these images{agreement}:",
            other.model, other.images
        );
        print_summary(&other.summary);
        for task in &other.tasks {
            print!("  {:<28}", task.task);
            print_summary(&task.scores.summary);
        }
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
