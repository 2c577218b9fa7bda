//! Checkpoints in `<run>/checkpoint/{model,optim,scheduler}-<epoch>.bpk` (burnpack), written
//! atomically so that a crash or a full disk never leaves a half-written file under a final
//! name, and the newest complete epoch to resume from.

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};

use crate::atomic::write_atomic;

pub const PARTS: [&str; 3] = ["model", "optim", "scheduler"];

pub fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

/// The model checkpoint of `epoch`.
pub fn model_path(run: &Path, epoch: usize) -> PathBuf {
    part_path(&checkpoint_dir(run), "model", epoch)
}

fn part_path(dir: &Path, part: &str, epoch: usize) -> PathBuf {
    dir.join(format!("{part}-{epoch}.bpk"))
}

/// burn-train's file checkpointer, made atomic, and saving nothing a failed device never
/// computed.
pub struct AtomicCheckpointer {
    dir: PathBuf,
    part: &'static str,
    device: Device,
}

impl AtomicCheckpointer {
    pub fn new(run: &Path, part: &'static str, device: &Device) -> Self {
        AtomicCheckpointer {
            dir: checkpoint_dir(run),
            part,
            device: device.clone(),
        }
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        // Weights that a failed device never computed panic on the way to bytes (burn has no
        // fallible read there): the run stops with that failure instead.
        let bytes = crate::device::catch_failure(|| record.checkpoint_into_bytes())
            .ok_or_else(|| {
                CheckpointerError::Unknown(format!(
                    "the {} of epoch {epoch} is not saved: {} failed during the epoch (is its \
                     memory full? a GPU shared with other programs, or a batch near its limit)",
                    self.part,
                    crate::device::name(&self.device)
                ))
            })?
            .map_err(CheckpointerError::Record)?;
        let path = part_path(&self.dir, self.part, epoch);
        fs::create_dir_all(&self.dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| write_atomic(&path, &bytes))
            .map_err(|err| {
                CheckpointerError::Unknown(format!("saving {}: {err:#}", path.display()))
            })
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        match fs::remove_file(part_path(&self.dir, self.part, epoch)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(CheckpointerError::IOError(err))
            }
            _ => Ok(()),
        }
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        let path = part_path(&self.dir, self.part, epoch);
        let bytes = fs::read(&path).map_err(|err| {
            CheckpointerError::Unknown(format!("reading {}: {err}", path.display()))
        })?;
        R::checkpoint_from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(CheckpointerError::Record)
    }
}

/// The newest epoch with all three parts on disk.
pub fn latest_complete(run: &Path) -> Option<usize> {
    let dir = checkpoint_dir(run);
    let entries = fs::read_dir(&dir).ok()?;
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse::<usize>()
                .ok()
        })
        .filter(|&epoch| {
            PARTS
                .iter()
                .all(|part| part_path(&dir, part, epoch).is_file())
        })
        .max()
}

/// Removes temporary files a killed process left behind while writing a checkpoint.
pub fn remove_partial_writes(run: &Path) {
    let Ok(entries) = fs::read_dir(checkpoint_dir(run)) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().contains(".bpk.tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}
