//! What the fuzz targets of the run folder's own files do with their bytes, in one place for
//! both callers: the libFuzzer targets `fuzz/fuzz_targets/{settings,dataset}.rs` and the
//! stable replay of their seeds and crash regressions (`tests/fuzz_corpus.rs`). Users edit and
//! copy these files, so they are read as untrusted input. None may panic, whatever the bytes;
//! each returns whether the input was accepted.

use std::path::Path;

use burn::module::Module;
use burn::prelude::Device;

use crate::data::Manifest;
use crate::run;

/// Optimiser steps per epoch the schedule is evaluated with (any positive count would do).
const STEPS_PER_EPOCH: usize = 100;

/// A run's `train.json`, as `--resume`, `eval` and `export` read it, then what training
/// computes from it before its first step: the input size, the micro-batch, the learning rate
/// of every epoch's first step and of the last step, and the network (built lazily: its
/// parameter count, without allocating it).
pub fn settings(data: &[u8], run: &Path) -> bool {
    std::fs::write(run::settings_json(run), data).expect("writing the scratch settings");
    let Ok(config) = run::read_settings(run) else {
        return false;
    };
    let _ = config.input();
    assert!(
        config.micro_batch() >= 1,
        "validated settings split the batch"
    );
    let schedule = &config.schedule;
    let steps = config.epochs * STEPS_PER_EPOCH;
    for step in (0..config.epochs.min(1000))
        .map(|epoch| epoch * STEPS_PER_EPOCH)
        .chain([steps - 1])
    {
        let lr = schedule.lr_at(config.optimizer.lr, step, config.epochs, STEPS_PER_EPOCH);
        assert!(lr.is_finite(), "learning rate {lr} at step {step}");
    }
    let net = config.net(2).init(&Device::flex());
    assert!(net.num_params() > 0);
    true
}

/// A run's split as `prepare` writes it: the input is `dataset.json`, `train.csv` and
/// `val.csv`, each of the first two after its 2-byte little-endian length. Read as
/// `train`, `eval` and `export` read a run folder.
pub fn dataset(data: &[u8], run: &Path) -> bool {
    let (info, rest) = take(data);
    let (train, val) = take(rest);
    for (path, bytes) in [
        (run::dataset_json(run), info),
        (run::train_split(run), train),
        (run::val_split(run), val),
    ] {
        std::fs::write(path, bytes).expect("writing the scratch run folder");
    }
    let Ok(manifest) = Manifest::read(run) else {
        return false;
    };
    let heads = manifest.info.heads().expect("a read dataset has heads");
    for sample in manifest.train.iter().chain(&manifest.val) {
        let task = &heads.tasks()[sample.task];
        let _ = sample.label.to_string();
        assert!(!task.classes.is_empty(), "a task has classes");
    }
    true
}

/// The bytes after a 2-byte little-endian length, split at that length (or at the end).
fn take(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((length, rest)) = data.split_first_chunk::<2>() else {
        return (data, &[]);
    };
    rest.split_at(usize::from(u16::from_le_bytes(*length)).min(rest.len()))
}
