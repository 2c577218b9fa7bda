//! `trainer predict`: the competition's submission file for a test set. The models answer the
//! questions of their tasks (several models of one task each, or one of several tasks, one
//! file; one forward pass per photo, view and model); several models of a task answer it
//! together, as an ensemble (`ensemble`); rows keep the questions' order:
//! `Images/<task>/<hash>.jpg,<task>,p0;p1;...`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use shared::preprocess::Tta;

use crate::atomic::write_atomic;

use crate::device::{self, Compute, DeviceChoice};
use crate::ensemble::{Ensemble, EnsembleArgs};
use crate::infer::Options;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A checkpoint (`<run>/checkpoint/model-<epoch>.bpk`), a run folder (its best epoch) or
    /// a bundle folder; repeat for several tasks (or give one model of several tasks), or for
    /// an ensemble: models of the same task are averaged in probability.
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub ensemble: EnsembleArgs,
    /// The test set root (with `Images/`).
    #[arg(long)]
    pub data: PathBuf,
    /// The questions file (default: `<data>/Tests/question.csv`).
    #[arg(long)]
    pub questions: Option<PathBuf>,
    /// The submission file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Test-time augmentation, softmax averaged over the views.
    #[arg(long, default_value = "ten-crop", value_name = "VIEWS")]
    pub tta: Tta,
    /// What an unreadable image gets: stop with an error (nothing written), no row, or a
    /// row of equal probabilities. Each one is reported in every case.
    #[arg(long, value_enum, default_value = "fail")]
    pub on_error: OnError,
    /// Views per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value = "auto", help = device::HELP)]
    pub device: DeviceChoice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    Fail,
    Skip,
    Uniform,
}

/// One line of the questions file.
struct Question {
    image: String,
    task: String,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let test = match args.questions {
        Some(questions) => TestSet {
            data: args.data,
            questions,
        },
        None => TestSet::fashionai(args.data),
    };
    let options = Options {
        tta: args.tta,
        batch_size: args.batch_size,
    };
    let compute = device::pick(args.device)?;
    let ensemble = args.ensemble.load(&args.models, None, &compute.device)?;
    predict(
        &ensemble,
        &test,
        options,
        args.on_error,
        &compute,
        &args.out,
    )
}

/// A test set: its images, and the questions file naming those to answer.
pub struct TestSet {
    /// The root the questions' image paths are relative to.
    pub data: PathBuf,
    pub questions: PathBuf,
}

impl TestSet {
    /// A FashionAI test root, with its questions in `Tests/question.csv`.
    pub fn fashionai(data: PathBuf) -> Self {
        let questions = data.join("Tests").join("question.csv");
        Self { data, questions }
    }
}

/// Answers `test`'s questions with `ensemble` (each task answered by the models that know
/// it) and writes the submission `out`.
pub fn predict(
    ensemble: &Ensemble,
    test: &TestSet,
    options: Options,
    on_error: OnError,
    compute: &Compute,
    out: &Path,
) -> Result<()> {
    let questions = read_questions(&test.questions)?;
    let heads = &ensemble.heads;
    let task_of = |name: &str| heads.tasks().iter().position(|t| t.name == name);
    // The questions of the ensemble's tasks, and their task.
    let (asked, tasks): (Vec<usize>, Vec<usize>) = (0..questions.len())
        .filter_map(|i| Some((i, task_of(&questions[i].task)?)))
        .unzip();
    let images: Vec<PathBuf> = asked
        .iter()
        .map(|&i| test.data.join(&questions[i].image))
        .collect();
    let bar = ProgressBar::new(images.len() as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let names: Vec<&str> = heads.tasks().iter().map(|t| t.name.as_str()).collect();
    bar.set_message(names.join(", "));
    let scores = ensemble.scores(&images, Some(&tasks), options, compute, &bar)?;
    bar.finish_and_clear();
    let mut answers: Vec<Option<Result<Vec<f32>, String>>> = vec![None; questions.len()];
    for ((&i, &task), result) in asked.iter().zip(&tasks).zip(scores) {
        let columns = heads.columns(task);
        answers[i] = Some(result.map(|s| s.probabilities[columns].to_vec()));
    }

    // The competition's format: no header, `image,task,p0;p1;...`.
    let mut submission = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let (mut written, mut unreadable, mut unanswered) = (0, 0, HashMap::<&str, usize>::new());
    for (question, answer) in questions.iter().zip(&answers) {
        let probabilities = match answer {
            None => {
                *unanswered.entry(question.task.as_str()).or_default() += 1;
                continue;
            }
            Some(Ok(probabilities)) => probabilities.clone(),
            Some(Err(err)) => {
                unreadable += 1;
                eprintln!(
                    "unreadable: {}: {err}",
                    test.data.join(&question.image).display()
                );
                match on_error {
                    OnError::Fail | OnError::Skip => continue,
                    OnError::Uniform => {
                        let task = task_of(&question.task).expect("an answered task");
                        let classes = heads.columns(task).len();
                        vec![1.0 / classes as f32; classes]
                    }
                }
            }
        };
        let joined: Vec<String> = probabilities.iter().map(|p| format!("{p:.6}")).collect();
        submission.write_record([&question.image, &question.task, &joined.join(";")])?;
        written += 1;
    }
    for (task, count) in &unanswered {
        eprintln!("warning: no model for {task}: its {count} questions are left out");
    }
    if unreadable > 0 && on_error == OnError::Fail {
        bail!(
            "{unreadable} test images could not be read (nothing written; --on-error skip or uniform to go on)"
        );
    }
    write_atomic(out, &submission.into_inner()?)?;
    println!(
        "{}: {written} rows ({} questions, {unreadable} unreadable)",
        out.display(),
        questions.len()
    );
    Ok(())
}

/// `Images/<task>/<hash>.jpg,<task>,?` rows; a malformed row is an error naming its line.
fn read_questions(path: &Path) -> Result<Vec<Question>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut questions = Vec::new();
    for (number, fields) in shared::labels::csv_lines(&text) {
        let [image, task, _] = fields[..] else {
            bail!(
                "{}:{number}: expected image,task,? but found {} fields",
                path.display(),
                fields.len()
            );
        };
        questions.push(Question {
            image: image.to_string(),
            task: task.to_string(),
        });
    }
    Ok(questions)
}
