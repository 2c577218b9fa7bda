//! FashionAI label CSVs: `Images/<task>/<hash>.jpg,<task>,<label>`, no header.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use shared::labels::{Row, parse_rows};
use shared::tasks::Task;

use super::Sample;

/// A row that was skipped, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    pub file: PathBuf,
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

/// The rows of one task read from a FashionAI root.
#[derive(Debug, Default)]
pub struct LabelTable {
    pub samples: Vec<Sample>,
    pub bad_rows: Vec<BadRow>,
    /// Valid rows of the other tasks, ignored.
    pub other_tasks: usize,
}

/// The label files a FashionAI root may hold: the train set's `label.csv` and the warm-up
/// set's per-task file.
fn label_files(root: &Path, task: &Task) -> Vec<PathBuf> {
    let annotations = root.join("Annotations");
    [
        annotations.join("label.csv"),
        annotations.join(format!("{}.csv", task.name)),
    ]
    .into_iter()
    .filter(|path| path.is_file())
    .collect()
}

/// Reads `task`'s rows from the label CSVs under `root`, checking that every image exists.
pub fn read_fashionai(root: &Path, task: &Task) -> Result<LabelTable> {
    let files = label_files(root, task);
    if files.is_empty() {
        bail!(
            "{}: no FashionAI labels (expected Annotations/label.csv or Annotations/{}.csv) \
             and no class folders",
            root.display(),
            task.name
        );
    }
    let mut table = LabelTable::default();
    for file in files {
        let text = fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        read_rows(
            root,
            &file,
            &String::from_utf8_lossy(&text),
            task,
            &mut table,
        );
    }
    Ok(table)
}

fn read_rows(root: &Path, file: &Path, text: &str, task: &Task, table: &mut LabelTable) {
    for (line, row) in parse_rows(text, task) {
        let sample = row.and_then(|row| match row {
            Row::Labelled { image, label } => {
                let image = root.join(image);
                if image.is_file() {
                    Ok(Some(Sample { image, label }))
                } else {
                    Err(format!("image {} does not exist", image.display()))
                }
            }
            Row::OtherTask => Ok(None),
        });
        match sample {
            Ok(Some(sample)) => table.samples.push(sample),
            Ok(None) => table.other_tasks += 1,
            Err(reason) => table.bad_rows.push(BadRow {
                file: file.to_path_buf(),
                line,
                reason,
            }),
        }
    }
}
