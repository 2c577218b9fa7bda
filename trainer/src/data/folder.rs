//! Plain image-folder datasets: `root/<class>/*.jpg`, classes in sorted folder order.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use shared::tasks::Label;

use super::Sample;

/// What the decoder reads (`shared::preprocess::decode_rgb`); other files are not samples.
const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// A folder with class subfolders and no FashionAI `Annotations`.
pub fn is_image_folder(root: &Path) -> bool {
    !root.join("Annotations").exists()
        && fs::read_dir(root).is_ok_and(|entries| entries.flatten().any(|e| e.path().is_dir()))
}

/// The class names (sorted folder names) and every image below them.
pub fn read_image_folder(root: &Path) -> Result<(Vec<String>, Vec<Sample>)> {
    let mut classes: Vec<String> = fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    classes.sort();
    if classes.len() < 2 {
        bail!(
            "{}: an image-folder dataset needs at least two class folders, found {}",
            root.display(),
            classes.len()
        );
    }
    let mut samples = Vec::new();
    for (class, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        let mut images: Vec<_> = fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_file() && has_image_extension(path))
            .collect();
        images.sort();
        samples.extend(images.into_iter().map(|image| Sample {
            image,
            task: 0,
            label: Label::one_hot(class, classes.len()),
        }));
    }
    Ok((classes, samples))
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| IMAGE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}
