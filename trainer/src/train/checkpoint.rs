//! Checkpoints in `<run>/checkpoint/{model,optim,scheduler}-<epoch>.bpk` (burnpack), written
//! atomically so that a crash or a full disk never leaves a half-written file under a final
//! name, complete before the next epoch's first step, and the newest complete epoch to resume
//! from.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use burn::tensor::Bytes;
use burn::train::checkpoint::{
    Checkpoint, Checkpointer, CheckpointerError, CheckpointingAction, CheckpointingStrategy,
};
use burn::train::metric::store::EventStoreClient;

use shared::model::Net;

use crate::atomic::{is_leftover, write_atomic};
use crate::device::{Compute, fit};
use crate::ranks;
use crate::run;

/// The checkpoint parts being written. burn-train writes an epoch's checkpoint on its own
/// threads (one per part) while the next epoch starts; the writing reads the weights from the
/// device, so a device failure in the next epoch's first steps could take the checkpoint with
/// it. So the epoch's end announces its parts ([`Announcing`]), each part's writer says when
/// it is done (written and synced, or failed), and training steps [`wait`](Self::wait) for
/// them.
#[derive(Clone, Debug, Default)]
pub struct Writes(Arc<(Mutex<Pending>, Condvar)>);

#[derive(Debug, Default)]
struct Pending {
    /// The checkpointers writing each save (one per part).
    writers: usize,
    parts: usize,
}

impl Writes {
    fn add_writer(&self) {
        self.pending().writers += 1;
    }

    fn announce(&self, saves: usize) {
        let mut pending = self.pending();
        pending.parts += saves * pending.writers;
    }

    fn done(&self) {
        let mut pending = self.pending();
        pending.parts = pending.parts.saturating_sub(1);
        if pending.parts == 0 {
            self.0.1.notify_all();
        }
    }

    /// Returns once every announced part is written or has failed.
    pub fn wait(&self) {
        let mut pending = self.pending();
        while pending.parts > 0 {
            pending = self.0.1.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Marks a part done when dropped: whether its write returned or panicked.
struct Done<'a>(&'a Writes);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// A checkpointing strategy whose saves are announced to [`Writes`] before burn-train hands
/// them to the writers (it calls the strategy on the training thread at the epoch's end).
pub struct Announcing<S> {
    strategy: S,
    writes: Writes,
}

impl<S> Announcing<S> {
    pub fn new(strategy: S, writes: &Writes) -> Self {
        Announcing {
            strategy,
            writes: writes.clone(),
        }
    }
}

impl<S: CheckpointingStrategy> CheckpointingStrategy for Announcing<S> {
    fn checkpointing(
        &mut self,
        epoch: usize,
        store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        let actions = self.strategy.checkpointing(epoch, store);
        let saves = actions
            .iter()
            .filter(|action| matches!(action, CheckpointingAction::Save))
            .count();
        self.writes.announce(saves);
        actions
    }
}

/// burn-train's file checkpointer, made atomic, and saving nothing a failed device never
/// computed.
pub struct AtomicCheckpointer {
    run: PathBuf,
    part: &'static str,
    /// The device the run trains on, as messages name it.
    device: String,
    writes: Writes,
}

impl AtomicCheckpointer {
    pub fn new(run: &Path, part: &'static str, compute: &Compute, writes: &Writes) -> Self {
        writes.add_writer();
        AtomicCheckpointer {
            run: run.to_path_buf(),
            part,
            device: compute.name.clone(),
            writes: writes.clone(),
        }
    }

    /// Writes one part of an epoch's checkpoint.
    fn write<R: Checkpoint>(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        if !ranks::world().is_root() {
            return Ok(());
        }
        // Weights that a failed device never computed panic on the way to bytes (burn has no
        // fallible read there): the run stops with that failure instead.
        let bytes = crate::device::catch_failure(|| record.checkpoint_into_bytes())
            .ok_or_else(|| {
                CheckpointerError::Unknown(format!(
                    "the {} of epoch {epoch} is not saved: {} failed during the epoch {}",
                    self.part,
                    self.device,
                    fit::FAILURE_CAUSES
                ))
            })?
            .map_err(CheckpointerError::Record)?;
        let path = run::checkpoint(&self.run, self.part, epoch);
        fs::create_dir_all(run::checkpoint_dir(&self.run))
            .map_err(anyhow::Error::from)
            .and_then(|()| write_atomic(&path, &bytes))
            .map_err(|err| {
                CheckpointerError::Unknown(format!("saving {}: {err:#}", path.display()))
            })
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicCheckpointer {
    /// Only rank 0 of a data-parallel run writes: every rank holds the same model.
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        let _done = Done(&self.writes);
        self.write(epoch, record)
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        if !ranks::world().is_root() {
            return Ok(());
        }
        match fs::remove_file(run::checkpoint(&self.run, self.part, epoch)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(CheckpointerError::IOError(err))
            }
            _ => Ok(()),
        }
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        let path = run::checkpoint(&self.run, self.part, epoch);
        let unknown =
            |err: String| CheckpointerError::Unknown(format!("{}: {err}", path.display()));
        let bytes = fs::read(&path).map_err(|err| unknown(err.to_string()))?;
        let bytes = match self.part {
            "model" => upgrade_model(bytes).map_err(|err| unknown(err.to_string()))?,
            _ => bytes,
        };
        R::checkpoint_from_bytes(Bytes::from_bytes_vec(bytes)).map_err(CheckpointerError::Record)
    }
}

/// A model checkpoint's bytes, those written when the network was a bare ResNet
/// (`net.conv1.weight`) renamed to its place in `Net` (`net.ResNet.conv1.weight`); the
/// parameter ids, which the optimizer's state refers to, stay as they are.
pub fn upgrade_model(bytes: Vec<u8>) -> Result<Vec<u8>, burn_pack::Error> {
    let legacy = |name: &str| {
        name.strip_prefix("net.")
            .and_then(|rest| rest.split('.').next())
            .is_some_and(|first| !Net::VARIANTS.contains(&first))
    };
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.clone()))?;
    if !reader.tensor_names().into_iter().any(legacy) {
        return Ok(bytes);
    }
    let tensors = reader
        .into_tensors()?
        .into_iter()
        .map(|tensor| {
            let (name, dtype, shape, id, data) = tensor.into_parts()?;
            let name = match legacy(&name) {
                true => name.replacen("net.", "net.ResNet.", 1),
                false => name,
            };
            Ok(burn_pack::Tensor::new(name, dtype, shape, id, data))
        })
        .collect::<Result<Vec<_>, burn_pack::Error>>()?;
    Ok(burn_pack::Writer::new(tensors).into_bytes()?.to_vec())
}

/// The newest epoch with all its parts on disk.
pub fn latest_complete(run: &Path) -> Option<usize> {
    let entries = fs::read_dir(run::checkpoint_dir(run)).ok()?;
    entries
        .flatten()
        .filter_map(|entry| run::checkpoint_epoch(&entry.path(), "model"))
        .filter(|&epoch| {
            run::CHECKPOINT_PARTS
                .iter()
                .all(|part| run::checkpoint(run, part, epoch).is_file())
        })
        .max()
}

/// Removes temporary files a killed process left behind while writing a checkpoint.
pub fn remove_partial_writes(run: &Path) {
    let Ok(entries) = fs::read_dir(run::checkpoint_dir(run)) else {
        return;
    };
    for entry in entries.flatten() {
        if is_leftover(&entry.path(), ".bpk") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use burn::store::ModuleRecord;
    use shared::model::{Arch, Net, NetConfig, ResNet, ResNetConfig};

    use super::*;

    /// A model record as checkpoints held it when the network was a bare ResNet.
    #[derive(Module, Debug)]
    struct Legacy {
        net: ResNet,
    }

    #[derive(Module, Debug)]
    struct Current {
        net: Net,
    }

    fn values(net: &Net) -> Vec<f32> {
        net.final_linear()
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    /// An old record loads into today's model after the rename, every tensor used and the
    /// parameter ids kept (the optimizer's state is keyed by them); a new record is left alone.
    #[test]
    fn legacy_model_records_are_renamed() {
        let device = Device::flex();
        let legacy = Legacy {
            net: ResNetConfig::new()
                .with_base_width(4)
                .with_num_classes(3)
                .init(&device),
        };
        let id = legacy.net.fc.weight.id;
        let fc: Vec<f32> = legacy
            .net
            .fc
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let bytes = legacy.into_record().into_bytes().unwrap().to_vec();

        let fresh = || Current {
            net: NetConfig::new()
                .with_arch(Arch::Resnet50)
                .with_width_mult(4.0 / 64.0)
                .with_num_classes(3)
                .init(&device),
        };
        let old = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.clone())).unwrap();
        assert!(
            fresh().try_load_record(old).is_err(),
            "the old names fit as they are"
        );

        let upgraded = upgrade_model(bytes).unwrap();
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(upgraded.clone())).unwrap();
        let loaded = fresh().try_load_record(record).unwrap();
        assert_eq!(values(&loaded.net), fc);
        assert_eq!(loaded.net.final_linear().weight.id, id);
        assert_eq!(upgrade_model(upgraded.clone()).unwrap(), upgraded);
    }

    /// Today's records of every architecture are left alone: each family's variant is among
    /// `Net::VARIANTS` (one missing there would be renamed as if legacy, and fail to load).
    #[test]
    fn records_of_every_architecture_are_current() {
        let device = Device::flex();
        for arch in Arch::ALL {
            let net = NetConfig::new()
                .with_arch(arch)
                .with_width_mult(0.25)
                .with_num_classes(3)
                .init(&device);
            let bytes = Current { net }.into_record().into_bytes().unwrap().to_vec();
            assert_eq!(upgrade_model(bytes.clone()).unwrap(), bytes, "{arch}");
        }
    }
}
