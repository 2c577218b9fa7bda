//! `trainer classify`: a quick look at what a model makes of some photos, for people (top
//! classes) or programs (`--json`: every class's probability and raw logit).

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
    /// Print a JSON array, one object per photo: image, classes, probabilities, logits, top
    /// (or error).
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
    let answers: Vec<Answer> = args
        .images
        .iter()
        .zip(results)
        .map(|(image, result)| match result {
            Ok(scores) => Answer::Scores {
                image,
                classes: &model.classes,
                top: argmax(&scores.probabilities),
                probabilities: scores.probabilities,
                logits: scores.logits,
            },
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
            ..
        } => {
            println!("{}", image.display());
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
