//! `trainer classify`: a quick look at what a model makes of some photos, for people (top
//! classes) or programs (`--json`: every class's probability and raw logit). A calibrated
//! bundle's probabilities are calibrated, and its answers say when they are not sure or the
//! photo looks unlike the training photos, as the page does. A model of several tasks says
//! which garment (task) it thinks a photo shows, then answers every task. Several `--model`
//! answer as an ensemble (`ensemble`): their probabilities averaged, each task by the models
//! that know it.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use serde::Serialize;
use shared::answers::{Answers, TaskAnswer, answers};
use shared::calibration::Calibration;
use shared::preprocess::Tta;
use shared::ranking::ranked;

use crate::device::{self, DeviceChoice};
use crate::ensemble::EnsembleArgs;
use crate::infer::Options;

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// A bundle folder (`trainer export`), a checkpoint (`<run>/checkpoint/model-<epoch>.bpk`),
    /// a run folder (its best epoch) or a torchvision weight file (`.pth` / `.safetensors`,
    /// e.g. the ImageNet weights, to check them before fine-tuning); repeat for an ensemble.
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub ensemble: EnsembleArgs,
    /// Photos to classify (JPEG, PNG or WebP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Classes shown per photo.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    /// Print a JSON array, one object per photo: image, task, classes, probabilities, logits,
    /// top, and for a calibrated bundle unsure and out_of_distribution (or error). For a model
    /// of several tasks: image, garment (tasks, probabilities, logits, top) and tasks (each
    /// task's answer as above).
    #[arg(long)]
    pub json: bool,
    /// Class names of a torchvision model, one per line (default: class indices).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Test-time augmentation (probabilities and logits are averaged over the views).
    #[arg(long, default_value = "none", value_name = "VIEWS")]
    pub tta: Tta,
    #[arg(long, default_value = "auto", help = device::HELP)]
    pub device: DeviceChoice,
}

/// What `classify` says of a photo (in JSON, the answers' fields beside the image's).
#[derive(Serialize)]
#[serde(untagged)]
enum Answer<'a> {
    Photo {
        image: &'a PathBuf,
        #[serde(flatten)]
        answers: Answers<'a>,
    },
    Error {
        image: &'a PathBuf,
        error: String,
    },
}

/// Classifies; fails (after answering for every photo) if any photo could not be read.
pub fn run(args: ClassifyArgs) -> Result<()> {
    let compute = device::pick(args.device)?;
    let model = args
        .ensemble
        .load(&args.models, args.labels.as_deref(), &compute.device)?;
    let options = Options {
        tta: args.tta,
        batch_size: 32,
    };
    let results = model.scores(
        &args.images,
        None,
        options,
        &compute,
        &ProgressBar::hidden(),
    )?;
    let failed = results.iter().filter(|r| r.is_err()).count();
    // The calibration was fitted on the bundle's own view of each photo (as the page
    // answers): averaged views, another view or an ensemble's averaged probabilities have
    // other logits, so their answers are plain probabilities, unflagged.
    let calibrated = model
        .members
        .iter()
        .any(|m| m.calibrations.iter().any(Option::is_some));
    let single = model.members.len() == 1 && args.tta.is_none() && args.ensemble.view.is_none();
    if calibrated && !single {
        eprintln!(
            "note: a bundle's calibration is for its own view of one photo by one model (--tta \
             none, one --model, no --view): these probabilities are uncalibrated and not flagged"
        );
    }
    let calibrations = model.calibrations();
    let calibrations: Vec<Option<&Calibration>> = calibrations
        .iter()
        .map(|c| c.as_ref().filter(|_| single))
        .collect();
    let heads = &model.heads;
    let said: Vec<Answer> = args
        .images
        .iter()
        .zip(results)
        .map(|(image, result)| {
            let scores = match result {
                Ok(scores) => scores,
                Err(error) => return Answer::Error { image, error },
            };
            Answer::Photo {
                image,
                answers: answers(heads, &calibrations, &scores.logits, &scores.probabilities),
            }
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&said)?);
    } else {
        for answer in &said {
            print(answer, args.top_k);
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} images could not be classified",
            args.images.len()
        );
    }
    Ok(())
}

/// A garment whose probability is at least this is shown with its task's answer, besides
/// the most probable one.
const SHOWN_GARMENT: f32 = 0.2;

fn print(answer: &Answer, top_k: usize) {
    match answer {
        Answer::Photo {
            image,
            answers: Answers::OneTask(answer),
        } => {
            println!("{}{}", image.display(), flags(answer));
            print_classes(answer, top_k);
        }
        Answer::Photo {
            image,
            answers: Answers::Tasks { garment, tasks },
        } => {
            println!("{}", image.display());
            for index in ranked(&garment.probabilities) {
                let probability = garment.probabilities[index];
                if index != garment.top && probability < SHOWN_GARMENT {
                    continue;
                }
                let task = &tasks[index];
                println!(
                    "  {:>7.2}%  {}{}",
                    100.0 * probability,
                    task.task,
                    flags(task)
                );
                print_classes(task, top_k);
            }
        }
        Answer::Error { image, error } => eprintln!("{}: {error}", image.display()),
    }
}

/// The calibration's flags on an answer, for people: empty, or ` (not sure; ...)`.
fn flags(answer: &TaskAnswer) -> String {
    let mut flags = Vec::new();
    if answer.unsure == Some(true) {
        flags.push("not sure");
    }
    if answer.out_of_distribution == Some(true) {
        flags.push("unlike the photos the model learned from");
    }
    match flags.is_empty() {
        true => String::new(),
        false => format!(" ({})", flags.join("; ")),
    }
}

fn print_classes(answer: &TaskAnswer, top_k: usize) {
    for class in ranked(&answer.probabilities).into_iter().take(top_k.max(1)) {
        println!(
            "  {:>7.2}%  {}",
            100.0 * answer.probabilities[class],
            answer.classes[class]
        );
    }
}
