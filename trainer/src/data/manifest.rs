//! The split `prepare` writes into a run folder: `dataset.json` (task, classes, counts,
//! where the data came from) and `train.csv` / `val.csv` (image path, label string, and for a
//! run over several tasks the row's task), so that nothing is copied.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use shared::heads::{Heads, TaskClasses};
use shared::tasks::Label;

use super::Sample;
use crate::atomic::write_atomic;
use crate::run;

/// Runs over one task: one classes list, two-column split files.
const FORMAT_VERSION: u32 = 1;
/// Runs over several tasks: a classes list per task, split files with a task column.
const MULTI_TASK_VERSION: u32 = 2;

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
    /// The FashionAI task or the image folder's name; for several tasks, their names joined
    /// by commas.
    pub task: String,
    /// The one task's classes (empty for several tasks).
    pub classes: Vec<String>,
    /// Each task's classes, for several tasks (format version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskClasses>,
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

/// A row of a run over several tasks.
#[derive(Serialize, Deserialize)]
struct TaskRow {
    image: PathBuf,
    task: String,
    label: String,
}

impl Manifest {
    pub fn new(
        heads: &Heads,
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
        let (format_version, task, classes, tasks) = match heads.tasks() {
            [one] => (
                FORMAT_VERSION,
                one.name.clone(),
                one.classes.clone(),
                vec![],
            ),
            several => {
                let names: Vec<&str> = several.iter().map(|t| t.name.as_str()).collect();
                (
                    MULTI_TASK_VERSION,
                    names.join(","),
                    vec![],
                    several.to_vec(),
                )
            }
        };
        let info = DatasetInfo {
            format_version,
            task,
            classes,
            tasks,
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
        let heads = self.info.heads()?;
        write_split(&run::train_split(dir), &self.train, &heads)?;
        write_split(&run::val_split(dir), &self.val, &heads)?;
        let json = serde_json::to_vec_pretty(&self.info)?;
        write_atomic(&run::dataset_json(dir), &json)
    }

    /// Reads a run folder written by `prepare`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let info = DatasetInfo::read(dir)?;
        let heads = info.heads()?;
        let train = read_split(&run::train_split(dir), &heads)?;
        let val = read_split(&run::val_split(dir), &heads)?;
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
        let expected = match info.tasks.is_empty() {
            true => FORMAT_VERSION,
            false => MULTI_TASK_VERSION,
        };
        if info.format_version != expected {
            bail!(
                "{}: format version {} (this trainer reads versions {FORMAT_VERSION} and \
                 {MULTI_TASK_VERSION}, with `tasks` from version {MULTI_TASK_VERSION})",
                path.display(),
                info.format_version
            );
        }
        info.heads()
            .with_context(|| format!("{}", path.display()))?;
        Ok(info)
    }

    /// The tasks and classes the run's model answers.
    pub fn heads(&self) -> Result<Heads> {
        let heads = match self.tasks.is_empty() {
            true => Heads::single(&self.task, self.classes.clone()),
            false if self.tasks.len() < 2 => bail!("`tasks` lists fewer than two tasks"),
            false => Heads::new(self.tasks.clone()),
        };
        Ok(heads?)
    }
}

fn write_split(path: &Path, samples: &[Sample], heads: &Heads) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for sample in samples {
        let (image, label) = (sample.image.clone(), sample.label.to_string());
        match heads.is_multi_task() {
            false => writer.serialize(Row { image, label })?,
            true => writer.serialize(TaskRow {
                image,
                task: heads.tasks()[sample.task].name.clone(),
                label,
            })?,
        }
    }
    write_atomic(path, &writer.into_inner()?)
}

fn read_split(path: &Path, heads: &Heads) -> Result<Vec<Sample>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let rows: Vec<csv::Result<TaskRow>> = match heads.is_multi_task() {
        true => reader.deserialize().collect(),
        false => reader
            .deserialize::<Row>()
            .map(|row| {
                row.map(|Row { image, label }| TaskRow {
                    image,
                    task: heads.tasks()[0].name.clone(),
                    label,
                })
            })
            .collect(),
    };
    rows.into_iter()
        .enumerate()
        .map(|(index, row)| {
            let line = index + 2;
            let row = row.with_context(|| format!("{}:{line}: bad row", path.display()))?;
            let Some(task) = heads.tasks().iter().position(|t| t.name == row.task) else {
                bail!(
                    "{}:{line}: task `{}` is not one of the run's",
                    path.display(),
                    row.task
                );
            };
            let label = Label::parse(&row.label, heads.tasks()[task].classes.len())
                .with_context(|| format!("{}:{line}", path.display()))?;
            Ok(Sample {
                image: row.image,
                task,
                label,
            })
        })
        .collect()
}
