//! The split `prepare` writes into a run folder: `dataset.json` (task, classes, counts,
//! where the data came from) and `train.csv` / `val.csv` (image path, label string), so that
//! nothing is copied.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use shared::tasks::Label;

use super::Sample;
use crate::atomic::write_atomic;
use crate::run;

const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SplitCounts {
    pub train: usize,
    pub val: usize,
    /// Rows reported as bad and left out.
    pub skipped_rows: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatasetInfo {
    pub format_version: u32,
    /// The FashionAI task, or the image folder's name.
    pub task: String,
    pub classes: Vec<String>,
    pub sources: Vec<PathBuf>,
    pub seed: u64,
    pub val_fraction: f64,
    pub counts: SplitCounts,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub info: DatasetInfo,
    pub train: Vec<Sample>,
    pub val: Vec<Sample>,
}

#[derive(Serialize, Deserialize)]
struct Row {
    image: PathBuf,
    label: String,
}

impl Manifest {
    pub fn new(
        task: String,
        classes: Vec<String>,
        sources: Vec<PathBuf>,
        (seed, val_fraction): (u64, f64),
        (train, val): (Vec<Sample>, Vec<Sample>),
        skipped_rows: usize,
    ) -> Self {
        let counts = SplitCounts {
            train: train.len(),
            val: val.len(),
            skipped_rows,
        };
        let info = DatasetInfo {
            format_version: FORMAT_VERSION,
            task,
            classes,
            sources,
            seed,
            val_fraction,
            counts,
        };
        Manifest { info, train, val }
    }

    /// Writes the three files, each atomically; `dataset.json` last, so a run folder with a
    /// `dataset.json` always has its split files.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_split(&run::train_split(dir), &self.train)?;
        write_split(&run::val_split(dir), &self.val)?;
        let json = serde_json::to_vec_pretty(&self.info)?;
        write_atomic(&run::dataset_json(dir), &json)
    }

    /// Reads a run folder written by `prepare`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let info = DatasetInfo::read(dir)?;
        let classes = info.classes.len();
        let train = read_split(&run::train_split(dir), classes)?;
        let val = read_split(&run::val_split(dir), classes)?;
        Ok(Manifest { info, train, val })
    }
}

impl DatasetInfo {
    /// Reads only a run folder's `dataset.json` (task and classes), not its split files.
    pub fn read(dir: &Path) -> Result<DatasetInfo> {
        let path = run::dataset_json(dir);
        let text = std::fs::read(&path).with_context(|| {
            format!(
                "reading {} (run `trainer prepare --out {}` first)",
                path.display(),
                dir.display()
            )
        })?;
        let info: DatasetInfo = serde_json::from_slice(&text)
            .with_context(|| format!("{}: not a dataset description", path.display()))?;
        if info.format_version != FORMAT_VERSION {
            bail!(
                "{}: format version {} (this trainer reads version {FORMAT_VERSION})",
                path.display(),
                info.format_version
            );
        }
        Ok(info)
    }
}

fn write_split(path: &Path, samples: &[Sample]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for sample in samples {
        writer.serialize(Row {
            image: sample.image.clone(),
            label: sample.label.to_string(),
        })?;
    }
    write_atomic(path, &writer.into_inner()?)
}

fn read_split(path: &Path, classes: usize) -> Result<Vec<Sample>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    reader
        .deserialize::<Row>()
        .enumerate()
        .map(|(index, row)| {
            let line = index + 2;
            let row = row.with_context(|| format!("{}:{line}: bad row", path.display()))?;
            let label = Label::parse(&row.label, classes)
                .with_context(|| format!("{}:{line}", path.display()))?;
            Ok(Sample {
                image: row.image,
                label,
            })
        })
        .collect()
}
