//! Datasets on disk: FashionAI label CSVs, plain image folders, and the split manifests
//! `prepare` writes into a run folder for `train` to read.

mod fashionai;
mod folder;
mod manifest;
mod materialize;

pub use fashionai::{BadRow, LabelTable, read_fashionai};
pub use folder::{is_image_folder, read_image_folder};
pub use manifest::{DatasetInfo, Manifest, SplitCounts};
pub use materialize::materialize;

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use shared::tasks::Label;

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub image: PathBuf,
    /// Its task's position in the run's task list (0 in a run over one task).
    pub task: usize,
    pub label: Label,
}

/// The tutorial's split: shuffle with the seed, the first part trains, the rest validates.
/// At least one validation image is kept whenever there are two images or more.
pub fn split(mut samples: Vec<Sample>, val_fraction: f64, seed: u64) -> (Vec<Sample>, Vec<Sample>) {
    samples.shuffle(&mut StdRng::seed_from_u64(seed));
    let n = samples.len();
    let mut val = (n as f64 * val_fraction).round() as usize;
    if val == 0 && val_fraction > 0.0 && n >= 2 {
        val = 1;
    }
    let val_samples = samples.split_off(n - val.min(n));
    (samples, val_samples)
}
