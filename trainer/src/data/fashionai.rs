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

/// The rows of the tasks read from a FashionAI root.
#[derive(Debug, Default)]
pub struct LabelTable {
    pub samples: Vec<Sample>,
    pub bad_rows: Vec<BadRow>,
    /// Valid rows of the other tasks, ignored.
    pub other_tasks: usize,
}

/// The label files a FashionAI root may hold: the train set's `label.csv` and the warm-up
/// set's per-task files.
fn label_files(root: &Path, tasks: &[Task]) -> Vec<PathBuf> {
    let annotations = root.join("Annotations");
    let per_task = tasks
        .iter()
        .map(|task| annotations.join(format!("{}.csv", task.name)));
    std::iter::once(annotations.join("label.csv"))
        .chain(per_task)
        .filter(|path| path.is_file())
        .collect()
}

/// Reads the rows of `tasks` from the label CSVs under `root`, checking that every image
/// exists.
pub fn read_fashionai(root: &Path, tasks: &[Task]) -> Result<LabelTable> {
    let files = label_files(root, tasks);
    if files.is_empty() {
        let per_task = match tasks {
            [task] => format!("Annotations/{}.csv", task.name),
            _ => "Annotations/<task>.csv".to_string(),
        };
        bail!(
            "{}: no FashionAI labels (expected Annotations/label.csv or {per_task}) and no \
             class folders",
            root.display(),
        );
    }
    let mut table = LabelTable::default();
    for file in files {
        let text = fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        read_rows(
            root,
            &file,
            &String::from_utf8_lossy(&text),
            tasks,
            &mut table,
        );
    }
    Ok(table)
}

fn read_rows(root: &Path, file: &Path, text: &str, tasks: &[Task], table: &mut LabelTable) {
    for (line, row) in parse_rows(text, tasks) {
        let sample = row.and_then(|row| match row {
            Row::Labelled { image, task, label } => {
                let image = root.join(image);
                if image.is_file() {
                    Ok(Some(Sample { image, task, label }))
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
