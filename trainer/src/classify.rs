//! `trainer classify`: a quick look at what a model makes of some photos, for people (top
//! classes) or programs (`--json`: every class's probability and raw logit). A calibrated
//! bundle's probabilities are calibrated, and its answers say when they are not sure or the
//! photo looks unlike the training photos, as the page does.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use serde::Serialize;
use shared::preprocess::Tta;
use shared::ranking::{argmax, ranked};

use crate::device::{self, DeviceChoice};
use crate::infer::{self, Options};
use crate::trained::load_model;

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// A bundle folder (`trainer export`), a checkpoint (`<run>/checkpoint/model-<epoch>.bpk`)
    /// or a torchvision ResNet weight file
    /// (`.pth` / `.safetensors`, e.g. the ImageNet weights, to check them before fine-tuning).
    #[arg(long)]
    pub model: PathBuf,
    /// Photos to classify (JPEG, PNG or WebP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Classes shown per photo.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    /// Print a JSON array, one object per photo: image, classes, probabilities, logits, top,
    /// and for a calibrated bundle unsure and out_of_distribution (or error).
    #[arg(long)]
    pub json: bool,
    /// Class names of a torchvision model, one per line (default: class indices).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Test-time augmentation (probabilities and logits are averaged over the views).
    #[arg(long, value_enum, default_value = "none")]
    pub tta: Tta,
    #[arg(long, default_value = "auto", help = device::HELP)]
    pub device: DeviceChoice,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Answer<'a> {
    Scores {
        image: &'a PathBuf,
        classes: &'a [String],
        probabilities: Vec<f32>,
        logits: Vec<f32>,
        top: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        unsure: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        out_of_distribution: Option<bool>,
    },
    Error {
        image: &'a PathBuf,
        error: String,
    },
}

/// Classifies; fails (after answering for every photo) if any photo could not be read.
pub fn run(args: ClassifyArgs) -> Result<()> {
    let compute = device::pick(args.device)?;
    let model = load_model(&args.model, args.labels.as_deref(), &compute.device)?;
    let options = Options {
        tta: args.tta,
        batch_size: 32,
    };
    let results = infer::scores(
        &model,
        &args.images,
        options,
        &compute,
        &ProgressBar::hidden(),
    )?;
    let failed = results.iter().filter(|r| r.is_err()).count();
    // The calibration was fitted on single centre crops (as the page answers): averaged views
    // have other logits, so with --tta the answers are the views' plain average, unflagged.
    let calibration = match (&model.calibration, args.tta) {
        (Some(calibration), Tta::None) => Some(calibration),
        (Some(_), _) => {
            eprintln!(
                "note: the bundle's calibration is for single crops (--tta none): these \
                 probabilities are uncalibrated and not flagged"
            );
            None
        }
        (None, _) => None,
    };
    let answers: Vec<Answer> = args
        .images
        .iter()
        .zip(results)
        .map(|(image, result)| match result {
            Ok(scores) => {
                let shown = shared::calibration::answer(calibration, &scores.logits, || {
                    scores.probabilities
                });
                Answer::Scores {
                    image,
                    classes: &model.classes,
                    top: argmax(&shown.probabilities),
                    probabilities: shown.probabilities,
                    logits: scores.logits,
                    unsure: shown.unsure,
                    out_of_distribution: shown.out_of_distribution,
                }
            }
            Err(error) => Answer::Error { image, error },
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answers)?);
    } else {
        for answer in &answers {
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

fn print(answer: &Answer, top_k: usize) {
    match answer {
        Answer::Scores {
            image,
            classes,
            probabilities,
            unsure,
            out_of_distribution,
            ..
        } => {
            let mut flags = Vec::new();
            if *unsure == Some(true) {
                flags.push("not sure");
            }
            if *out_of_distribution == Some(true) {
                flags.push("unlike the photos the model learned from");
            }
            if flags.is_empty() {
                println!("{}", image.display());
            } else {
                println!("{} ({})", image.display(), flags.join("; "));
            }
            for class in ranked(probabilities).into_iter().take(top_k.max(1)) {
                println!(
                    "  {:>7.2}%  {}",
                    100.0 * probabilities[class],
                    classes[class]
                );
            }
        }
        Answer::Error { image, error } => eprintln!("{}: {error}", image.display()),
    }
}
