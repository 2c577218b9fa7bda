//! `trainer distill`: `trainer train` with a teacher. A student (any architecture, typically a
//! small one for the page) learns from the teacher's softened probabilities on its own
//! augmented batches as well as from the labels (`train::teacher`); its checkpoints, metrics,
//! `--resume` and export are `train`'s. The teacher (run folders, checkpoints or bundles;
//! several make an ensemble) is saved with the run's settings, by absolute path.

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::run;
use crate::train::teacher::Distillation;
use crate::train::{self, TrainArgs};

#[derive(Args, Debug)]
pub struct DistillArgs {
    #[command(flatten)]
    pub distillation: Distillation,
    #[command(flatten)]
    pub train: TrainArgs,
}

pub fn run(mut args: DistillArgs) -> Result<()> {
    let saved = run::settings_json(&args.train.run)
        .is_file()
        .then(|| run::read_settings(&args.train.run))
        .transpose()?;
    match (args.train.resume, saved) {
        (true, Some(saved)) if saved.distillation.is_none() => bail!(
            "{} is a training run, not a distillation: continue it with trainer train --resume",
            args.train.run.display()
        ),
        // The saved settings, teacher included, continue the run.
        (true, Some(_)) => {}
        (true, None) if args.distillation.teachers.is_empty() => bail!(
            "{} has no saved settings to resume: start the distillation with --teacher",
            args.train.run.display()
        ),
        // Nothing saved yet: the run starts, as `train --resume` starts one.
        _ => {
            let mut distillation = args.distillation;
            distillation.teachers = distillation
                .teachers
                .iter()
                .map(|path| {
                    std::fs::canonicalize(path)
                        .with_context(|| format!("the teacher {}", path.display()))
                })
                .collect::<Result<_>>()?;
            args.train.config.distillation = Some(distillation);
        }
    }
    train::run(args.train)
}
