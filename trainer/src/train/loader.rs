//! The input pipeline: decodes and augments a batch on all CPU cores (rayon), a few batches
//! ahead of the model (a bounded channel fed by a producer thread), in an order that depends
//! only on the seed and the epoch, so runs are reproducible and a resumed run sees the same
//! batches as an uninterrupted one.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use shared::preprocess::{self, InputSize};
use shared::tasks::Mark;

use crate::augment;
use crate::augment::mix::Mix;
use crate::data::Sample;
use crate::ranks::{self, Ranks};
use crate::recipe::{Augmentation, TrainConfig};

/// Batches decoded ahead of the one the model is working on.
const PREFETCH: usize = 3;

/// A batch of images with their classes (within their task), their tasks and, for the
/// official metric, every label mark.
#[derive(Clone, Debug)]
pub struct Batch {
    pub images: Tensor<4>,
    pub targets: Tensor<1, Int>,
    pub marks: Arc<Vec<Vec<Mark>>>,
    pub tasks: Arc<Vec<usize>>,
    /// MixUp's or CutMix's second targets, where the batch is mixed.
    pub mixed: Option<Mixed>,
}

/// A batch mixed by MixUp or CutMix (`augment::mix`): each image's second target is the
/// previous image's.
#[derive(Clone, Debug)]
pub struct Mixed {
    /// The share of each image's own target.
    pub lambda: f32,
    pub targets: Tensor<1, Int>,
    pub tasks: Arc<Vec<usize>>,
}

/// Training (shuffled, random crop and flip, incomplete last batch dropped) or evaluation
/// (in order, centre crop, every image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train { seed: u64 },
    Eval,
}

/// Images that failed to decode: each is reported once, then skipped.
#[derive(Clone, Default)]
pub struct BadImages(Arc<Mutex<HashSet<PathBuf>>>);

impl BadImages {
    fn report(&self, path: &std::path::Path, error: &dyn std::fmt::Display) {
        let mut seen = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        if seen.insert(path.to_path_buf()) {
            eprintln!("warning: skipping {}: {error}", path.display());
        }
    }

    pub fn count(&self) -> usize {
        self.0.lock().map(|seen| seen.len()).unwrap_or(0)
    }
}

#[derive(Clone)]
pub struct ImageLoader {
    samples: Arc<Vec<Sample>>,
    batch_size: usize,
    size: InputSize,
    mode: Mode,
    /// Training's augmentation beyond the tutorial's crop and flip.
    augmentation: Augmentation,
    device: Device,
    /// The epoch the next `iter()` serves (1-based, like burn-train's epochs).
    next_epoch: Arc<AtomicUsize>,
    bad: BadImages,
    /// This process's place in a data-parallel run: each batch is the global batch's part
    /// for this rank.
    ranks: Ranks,
}

impl ImageLoader {
    pub fn new(
        samples: Vec<Sample>,
        batch_size: usize,
        size: InputSize,
        mode: Mode,
        bad: BadImages,
    ) -> Self {
        ImageLoader {
            samples: Arc::new(samples),
            batch_size,
            size,
            mode,
            augmentation: TrainConfig::default().augmentation,
            device: Device::default(),
            next_epoch: Arc::new(AtomicUsize::new(1)),
            bad,
            ranks: ranks::world(),
        }
    }

    /// Training images augmented with `augmentation` (`recipe::Augmentation`).
    pub fn with_augmentation(mut self, augmentation: Augmentation) -> Self {
        self.augmentation = augmentation;
        self
    }

    /// Makes the next `iter()` serve `epoch`'s order (used when resuming).
    pub fn start_at_epoch(self, epoch: usize) -> Self {
        self.next_epoch.store(epoch, Ordering::SeqCst);
        self
    }

    fn num_batches(&self) -> usize {
        match self.mode {
            Mode::Train { .. } => self.samples.len() / self.batch_size,
            Mode::Eval => self.samples.len().div_ceil(self.batch_size),
        }
    }

    /// Sample indices of each batch for `epoch`: this rank's part of the batch that a process
    /// training alone would draw, so the recipe means the same whatever the number of ranks.
    fn batches(&self, epoch: usize) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.samples.len()).collect();
        if let Mode::Train { seed } = self.mode {
            order.shuffle(&mut StdRng::seed_from_u64(mix(seed, epoch as u64)));
        }
        order
            .chunks(self.batch_size)
            .take(self.num_batches())
            .map(|batch| batch[self.ranks.part(batch.len())].to_vec())
            .collect()
    }

    /// Decodes one batch; images that fail are reported and left out. A batch left without
    /// images is skipped, but for one of several ranks, which must all take part in each step.
    fn load(&self, epoch: usize, number: usize, indices: &[usize]) -> Option<Batch> {
        let decoded: Vec<(Vec<f32>, &Sample)> = indices
            .par_iter()
            .filter_map(|&index| {
                let sample = &self.samples[index];
                let input = std::fs::read(&sample.image)
                    .map_err(|err| err.to_string())
                    .and_then(|bytes| self.input(&bytes, epoch, index).map_err(|e| e.to_string()));
                match input {
                    Ok(input) => Some((input, sample)),
                    Err(err) => {
                        self.bad.report(&sample.image, &err);
                        None
                    }
                }
            })
            .collect();
        if decoded.is_empty() && self.ranks.size == 1 {
            return None;
        }
        let (mut inputs, samples): (Vec<_>, Vec<_>) = decoded.into_iter().unzip();
        let targets: Vec<i64> = samples.iter().map(|s| s.label.class as i64).collect();
        let tasks: Vec<usize> = samples.iter().map(|s| s.task).collect();
        let marks = samples.iter().map(|s| s.label.marks.clone()).collect();
        let mixed = self.mix_batch(epoch, number, &mut inputs, &targets, &tasks);
        Some(Batch {
            images: preprocess::batch_tensor(&inputs, self.size.crop as usize, &self.device),
            targets: self.int_tensor(&targets),
            marks: Arc::new(marks),
            tasks: Arc::new(tasks),
            mixed,
        })
    }

    fn int_tensor(&self, values: &[i64]) -> Tensor<1, Int> {
        Tensor::from_data(TensorData::from(values), &self.device)
    }

    /// MixUp or CutMix of a training batch (`--mixup-alpha`, `--cutmix-alpha`), drawn from the
    /// batch's own generator (seed, epoch, batch number): `inputs` mixed in place, and each
    /// image's second target.
    fn mix_batch(
        &self,
        epoch: usize,
        number: usize,
        inputs: &mut [Vec<f32>],
        targets: &[i64],
        tasks: &[usize],
    ) -> Option<Mixed> {
        let Mode::Train { seed } = self.mode else {
            return None;
        };
        if inputs.is_empty() {
            return None;
        }
        // Apart from the images' generators, which take the image's index.
        let batch_seed = mix(mix(seed, epoch as u64), !(number as u64));
        let mut rng = StdRng::seed_from_u64(batch_seed);
        let side = self.size.crop as usize;
        let augmentation = &self.augmentation;
        let drawn = Mix::draw(
            augmentation.mixup_alpha,
            augmentation.cutmix_alpha,
            side,
            &mut rng,
        )?;
        drawn.apply(inputs, side);
        let roll = |i: usize| (i + inputs.len() - 1) % inputs.len();
        let rolled: Vec<i64> = (0..inputs.len()).map(|i| targets[roll(i)]).collect();
        Some(Mixed {
            lambda: drawn.lambda() as f32,
            targets: self.int_tensor(&rolled),
            tasks: Arc::new((0..inputs.len()).map(|i| tasks[roll(i)]).collect()),
        })
    }

    fn input(
        &self,
        bytes: &[u8],
        epoch: usize,
        index: usize,
    ) -> Result<Vec<f32>, preprocess::ImageError> {
        match self.mode {
            Mode::Train { seed } => {
                // Each image's augmentation depends on (seed, epoch, image) only, not on
                // which thread decodes it.
                let mut rng = StdRng::seed_from_u64(mix(mix(seed, epoch as u64), index as u64));
                augment::train_input(bytes, self.size, &self.augmentation, &mut rng)
            }
            Mode::Eval => preprocess::eval_input(bytes, self.size),
        }
    }
}

/// SplitMix64-style mixing of two numbers into a seed.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_add(0x9e37_79b9_7f4a_7c15)
        .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct BatchIter {
    receiver: Receiver<Result<Batch, DatasetError>>,
    done: usize,
    total: usize,
}

impl Iterator for BatchIter {
    type Item = Result<Batch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.receiver.recv().ok()?;
        self.done += 1;
        Some(item)
    }
}

impl DataLoaderIterator<Batch> for BatchIter {
    fn progress(&self) -> Progress {
        Progress::new(self.done, self.total, Some("batches".to_string()))
    }
}

impl DataLoader<Batch> for ImageLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<Batch> + 'a> {
        if let Mode::Train { .. } = self.mode {
            // An epoch starts from computed weights. burn runs GPU work lazily, and the last
            // epoch's checkpoint is written while this one runs: weights still pending would
            // share the fate of this epoch's first steps if the device failed there. (A
            // failure this wait reports is also reported by the step it belongs to.)
            let _ = self.device.sync();
        }
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        let batches = self.batches(epoch);
        let total = batches.len();
        let (sender, receiver) = sync_channel(PREFETCH);
        let loader = self.clone();
        std::thread::spawn(move || {
            let loaded = std::panic::catch_unwind(AssertUnwindSafe(|| {
                for (number, indices) in batches.into_iter().enumerate() {
                    if let Some(batch) = loader.load(epoch, number, &indices)
                        && sender.send(Ok(batch)).is_err()
                    {
                        return; // The consumer stopped early.
                    }
                }
            }));
            // A failure here must fail the epoch, not end it early as if it were complete.
            if let Err(panic) = loaded {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let error = std::io::Error::other(format!("the input pipeline failed: {why}"));
                let _ = sender.send(Err(DatasetError::new(error)));
            }
        });
        Box::new(BatchIter {
            receiver,
            done: 0,
            total,
        })
    }

    fn num_items(&self) -> usize {
        self.num_batches()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<Batch>> {
        let mut loader = self.clone();
        loader.device = device.clone();
        Arc::new(loader)
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<Batch>> {
        let mut loader = self.clone();
        let (start, end) = (
            start * self.batch_size,
            (end * self.batch_size).min(self.samples.len()),
        );
        loader.samples = Arc::new(self.samples[start..end].to_vec());
        Arc::new(loader)
    }
}
