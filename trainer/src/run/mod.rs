//! The run folder, with one owner: every file a run holds is named here, and everything that
//! reads or writes one asks here for its path.
//!
//! ```text
//! <run>/dataset.json, train.csv, val.csv   the split (`prepare`, `data::manifest`)
//!       bad_rows.txt                       the rows `prepare` left out
//!       train.json                         the training settings (`--resume` reads them)
//!       metrics.json, metrics.csv          one record per epoch (`metrics`)
//!       curves.png                         the learning curves
//!       checkpoint/{model,optim,scheduler}-<epoch>.bpk
//!       eval.json, confusion.png           what `eval` found
//!       trainer.lock                       held by the trainer writing the run (`lock`)
//! ```

pub mod lock;
pub mod metrics;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::recipe::TrainConfig;

pub fn dataset_json(run: &Path) -> PathBuf {
    run.join("dataset.json")
}

pub fn train_split(run: &Path) -> PathBuf {
    run.join("train.csv")
}

pub fn val_split(run: &Path) -> PathBuf {
    run.join("val.csv")
}

pub fn bad_rows(run: &Path) -> PathBuf {
    run.join("bad_rows.txt")
}

pub fn lock_file(run: &Path) -> PathBuf {
    run.join("trainer.lock")
}

pub fn settings_json(run: &Path) -> PathBuf {
    run.join("train.json")
}

pub fn metrics_json(run: &Path) -> PathBuf {
    run.join("metrics.json")
}

pub fn metrics_csv(run: &Path) -> PathBuf {
    run.join("metrics.csv")
}

pub fn curves_png(run: &Path) -> PathBuf {
    run.join("curves.png")
}

pub fn eval_json(run: &Path) -> PathBuf {
    run.join("eval.json")
}

pub fn confusion_png(run: &Path) -> PathBuf {
    run.join("confusion.png")
}

/// One task's confusion matrix, in a run over several.
pub fn task_confusion_png(run: &Path, task: &str) -> PathBuf {
    run.join(format!("confusion-{task}.png"))
}

pub fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

/// The parts of an epoch's checkpoint, each a burnpack file.
pub const CHECKPOINT_PARTS: [&str; 3] = ["model", "optim", "scheduler"];

/// `<run>/checkpoint/<part>-<epoch>.bpk`.
pub fn checkpoint(run: &Path, part: &str, epoch: usize) -> PathBuf {
    checkpoint_dir(run).join(format!("{part}-{epoch}.bpk"))
}

/// The epoch of a checkpoint file of `part`, from its name.
pub fn checkpoint_epoch(path: &Path, part: &str) -> Option<usize> {
    path.file_name()?
        .to_str()?
        .strip_prefix(part)?
        .strip_prefix('-')?
        .strip_suffix(".bpk")?
        .parse()
        .ok()
}

/// The run folder a checkpoint file belongs to: `<run>` of `<run>/checkpoint/<file>`, if it
/// holds the run's settings.
pub fn of_checkpoint(path: &Path) -> Option<&Path> {
    path.parent()
        .filter(|dir| dir.file_name().is_some_and(|name| name == "checkpoint"))
        .and_then(Path::parent)
        .filter(|run| settings_json(run).is_file())
}

/// The run's training settings, `train.json`, refused where they could not train (users edit
/// and copy this file).
pub fn read_settings(run: &Path) -> Result<TrainConfig> {
    let path = settings_json(run);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let config: TrainConfig = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a training configuration", path.display()))?;
    config
        .validate()
        .with_context(|| format!("{}: bad settings", path.display()))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names_are_written_and_read_in_one_place() {
        let run = Path::new("runs/skirt");
        let path = checkpoint(run, "model", 12);
        assert_eq!(path, Path::new("runs/skirt/checkpoint/model-12.bpk"));
        assert_eq!(checkpoint_epoch(&path, "model"), Some(12));
        assert_eq!(checkpoint_epoch(&path, "optim"), None);
        assert_eq!(checkpoint_epoch(Path::new("model-x.bpk"), "model"), None);
        assert_eq!(
            checkpoint_epoch(Path::new("model-3.bpk.tmp77"), "model"),
            None
        );
        // Only a checkpoint inside a run folder with its settings belongs to a run.
        assert_eq!(of_checkpoint(&path), None);
    }
}
