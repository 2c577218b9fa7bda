//! The tutorial's folder layout, `<out>/{train,val}/<class>/<image>` (with a `<task>/` level
//! for a run over several tasks), for tools that want it; hard links where the file system
//! allows, copies otherwise.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Manifest;

/// Writes both splits under `out` and returns how many files were linked and copied.
pub fn materialize(manifest: &Manifest, out: &Path) -> Result<(usize, usize)> {
    let heads = manifest.info.heads()?;
    let (mut linked, mut copied) = (0, 0);
    for (split, samples) in [("train", &manifest.train), ("val", &manifest.val)] {
        for sample in samples {
            let task = &heads.tasks()[sample.task];
            let class = folder_name(sample.label.class, &task.classes[sample.label.class]);
            // A run over several tasks gets a folder per task.
            let dir = match heads.is_multi_task() {
                true => out.join(split).join(&task.name).join(class),
                false => out.join(split).join(class),
            };
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let target = dir.join(sample.image.file_name().unwrap_or_default());
            if place(&sample.image, &target)? {
                linked += 1;
            } else {
                copied += 1;
            }
        }
    }
    Ok((linked, copied))
}

/// `3_Midi_Length`: sorted like the class order and safe on every file system.
fn folder_name(index: usize, class: &str) -> String {
    let safe: String = class
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{index}_{safe}")
}

/// Hard-links `source` to `target` (true) or copies it (false); an existing target is kept.
fn place(source: &Path, target: &PathBuf) -> Result<bool> {
    if target.exists() {
        return Ok(true);
    }
    if fs::hard_link(source, target).is_ok() {
        return Ok(true);
    }
    fs::copy(source, target)
        .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
    Ok(false)
}
