//! The model bundle `trainer export` writes and the web page loads: `manifest.json` (what the
//! model is, how to feed it, a checksum of the weights) and `model.safetensors` (a torchvision-
//! named state dict in f16 or f32, which PyTorch can load too). A model of one task writes
//! format version 1 (its task and classes); a model of several, version 2 (a list of tasks,
//! each with its classes and calibration, and the garment head after them: `heads`).

use std::path::Path;

use burn::prelude::Device;

use serde::{Deserialize, Serialize};

use crate::calibration::Calibration;
use crate::heads::{Heads, TaskClasses};
use crate::model::{Arch, Net, RESNET_BASE_WIDTH};
use crate::precision::Precision;
use crate::preprocess::{InputSize, Interpolation, MEAN, STD, View};
use crate::weights::{WeightError, load_safetensors_bytes};

/// The manifest format of a model of one task.
pub const SINGLE_TASK_VERSION: u32 = 1;
/// The newest manifest format this code reads and writes: a model of several tasks.
pub const BUNDLE_VERSION: u32 = 2;
pub const MANIFEST_FILE: &str = "manifest.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The smallest and largest crop a manifest may ask for (every network downsamples 32 times; the
/// bound keeps a hostile manifest from asking the page for a gigapixel resize).
pub const MIN_CROP: u32 = 32;
pub const MAX_CROP: u32 = 2048;

/// How images are prepared for the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Shorter side after the resize.
    pub resize: u32,
    /// Side of the centre crop the network sees.
    pub crop: u32,
    /// The resize's filter (bundles written before it was named: bicubic).
    #[serde(default)]
    pub interpolation: Interpolation,
    /// How the photo fills the square (bundles written before views: the centre crop).
    #[serde(default, skip_serializing_if = "is_crop")]
    pub view: View,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Preprocessing {
    pub fn new(size: InputSize) -> Self {
        Preprocessing {
            resize: size.resize,
            crop: size.crop,
            interpolation: size.interpolation,
            view: size.view,
            mean: MEAN,
            std: STD,
        }
    }

    pub fn input_size(&self) -> InputSize {
        InputSize {
            resize: self.resize,
            crop: self.crop,
            interpolation: self.interpolation,
            view: self.view,
        }
    }
}

fn is_crop(view: &View) -> bool {
    *view == View::Crop
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsEntry {
    pub file: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub arch: Arch,
    /// torchvision's `width_mult` (1: torchvision's widths). Bundles from before other
    /// architectures than ResNet said `base_width` (ResNet's first stage, 64 at width 1).
    #[serde(default = "full_width")]
    pub width_mult: f64,
    /// The FashionAI task (or image-folder name) the model answers; for several tasks, their
    /// names joined by commas.
    pub task: String,
    /// The one task's classes (empty for several tasks).
    pub classes: Vec<String>,
    /// Several tasks: each one's classes and calibration (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskHead>,
    pub preprocessing: Preprocessing,
    pub precision: Precision,
    pub weights: WeightsEntry,
    /// The training run's numbers for the exported epoch (free-form, for display).
    pub metrics: serde_json::Value,
    /// Fitted on the run's validation split by `trainer export`; bundles from before it
    /// existed have none, and their answers carry no "not sure" flags. (A model of several
    /// tasks has one per task, in `tasks`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// The class-activation value the page's heatmap draws at full colour, from the
    /// validation photos (older bundles: none, and each photo is scaled to its own strongest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heatmap_scale: Option<f32>,
}

fn full_width() -> f64 {
    1.0
}

/// One task of a model of several.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskHead {
    pub name: String,
    pub classes: Vec<String>,
    /// Fitted on the task's validation photos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// Why a bundle cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{file}: not a bundle manifest: {reason}")]
    Manifest { file: String, reason: String },
    #[error(
        "{file}: bundle format version {found}, this version reads {SINGLE_TASK_VERSION} to \
         {BUNDLE_VERSION} (export the model again)"
    )]
    Version { file: String, found: u32 },
    #[error(
        "{file}: checksum mismatch (the file is damaged or not the one the manifest describes): \
         SHA-256 {found}, manifest says {expected}"
    )]
    Checksum {
        file: String,
        expected: String,
        found: String,
    },
    #[error("{file}: the manifest lists {classes} classes but names none, or names them twice")]
    Classes { file: String, classes: usize },
    #[error("{file}: {reason}")]
    Tasks { file: String, reason: String },
    #[error(transparent)]
    Weights(#[from] WeightError),
    #[error("{file}: the weights have width {weights}, the manifest says {manifest}")]
    Width {
        file: String,
        weights: f64,
        manifest: f64,
    },
    #[error("{file}: the weights have {weights} classes, the manifest names {manifest}")]
    ClassCount {
        file: String,
        weights: usize,
        manifest: usize,
    },
}

/// A loaded bundle: what the model is, and the network with its weights.
#[derive(Debug)]
pub struct Bundle {
    pub manifest: Manifest,
    pub net: Net,
}

impl Bundle {
    /// Loads a bundle from the bytes of its two files, named `manifest_file` and
    /// `weights_file` in messages: checks the manifest's version, the weights' checksum,
    /// every tensor's shape, the architecture, the width and the class count. The same code runs natively and in the page.
    pub fn from_bytes(
        manifest_file: &str,
        manifest: &[u8],
        weights_file: &str,
        weights: Vec<u8>,
        device: &Device,
    ) -> Result<Bundle, BundleError> {
        let manifest = Manifest::parse(manifest_file, manifest)?;
        manifest.verify(weights_file, &weights)?;
        let (net, info) = load_safetensors_bytes(
            Path::new(weights_file),
            weights,
            Some(manifest.arch),
            device,
        )?;
        if (info.width_mult - manifest.width_mult).abs() > 1e-9 {
            return Err(BundleError::Width {
                file: weights_file.to_string(),
                weights: info.width_mult,
                manifest: manifest.width_mult,
            });
        }
        let outputs = manifest.heads().width();
        if net.num_classes() != outputs {
            return Err(BundleError::ClassCount {
                file: manifest_file.to_string(),
                weights: net.num_classes(),
                manifest: outputs,
            });
        }
        Ok(Bundle { manifest, net })
    }
}

impl Manifest {
    /// Parses `manifest.json` (named `file` in messages) and checks its version.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Manifest, BundleError> {
        // The version first, so that a future format says so instead of failing on a field.
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
            #[serde(default)]
            width_mult: Option<f64>,
            #[serde(default)]
            base_width: Option<usize>,
        }
        let reason = |e: serde_json::Error| BundleError::Manifest {
            file: file.to_string(),
            reason: e.to_string(),
        };
        let version: Version = serde_json::from_slice(bytes).map_err(reason)?;
        if !(SINGLE_TASK_VERSION..=BUNDLE_VERSION).contains(&version.format_version) {
            return Err(BundleError::Version {
                file: file.to_string(),
                found: version.format_version,
            });
        }
        let mut manifest: Manifest = serde_json::from_slice(bytes).map_err(reason)?;
        if let (None, Some(base_width)) = (version.width_mult, version.base_width) {
            manifest.width_mult = base_width as f64 / RESNET_BASE_WIDTH as f64;
        }
        if !(manifest.width_mult.is_finite() && manifest.width_mult > 0.0) {
            return Err(BundleError::Manifest {
                file: file.to_string(),
                reason: format!("width {} is not a positive number", manifest.width_mult),
            });
        }
        let weights = &manifest.weights.file;
        if weights.is_empty() || weights.contains(['/', '\\']) || weights.starts_with('.') {
            return Err(BundleError::Manifest {
                file: file.to_string(),
                reason: format!("weights file {weights:?} is not a plain file name"),
            });
        }
        let size = &manifest.preprocessing;
        if !(MIN_CROP..=MAX_CROP).contains(&size.crop)
            || !(size.crop..=2 * size.crop).contains(&size.resize)
        {
            return Err(BundleError::Manifest {
                file: file.to_string(),
                reason: format!(
                    "preprocessing resize {} / crop {}: the crop must be {MIN_CROP} to {MAX_CROP} \
                     pixels and the resize from the crop to twice it",
                    size.resize, size.crop
                ),
            });
        }
        let bad_scale = manifest
            .heatmap_scale
            .filter(|scale| !(scale.is_finite() && *scale > 0.0))
            .map(|scale| format!("heatmap scale {scale} is not a positive number"));
        let calibration = std::iter::once(&manifest.calibration)
            .chain(manifest.tasks.iter().map(|task| &task.calibration))
            .find_map(|calibration| calibration.as_ref().and_then(Calibration::problem));
        if let Some(reason) = calibration.or(bad_scale) {
            return Err(BundleError::Manifest {
                file: file.to_string(),
                reason,
            });
        }
        let tasks = |reason: &str| BundleError::Tasks {
            file: file.to_string(),
            reason: reason.to_string(),
        };
        let several = version.format_version > SINGLE_TASK_VERSION;
        if several && manifest.tasks.len() < 2 {
            return Err(tasks(
                "format version 2 lists the tasks of a model of several",
            ));
        }
        if !several && !manifest.tasks.is_empty() {
            return Err(tasks(
                "format version 1 is for a model of one task, not a list",
            ));
        }
        if several && manifest.calibration.is_some() {
            return Err(tasks("a model of several tasks is calibrated per task"));
        }
        let lists = match several {
            true => manifest.tasks.iter().map(|task| &task.classes).collect(),
            false => vec![&manifest.classes],
        };
        for classes in lists {
            let mut names = classes.clone();
            names.sort();
            names.dedup();
            if classes.is_empty() || names.len() != classes.len() {
                return Err(BundleError::Classes {
                    file: file.to_string(),
                    classes: classes.len(),
                });
            }
        }
        let mut names: Vec<&str> = manifest.tasks.iter().map(|t| t.name.as_str()).collect();
        names.sort();
        names.dedup();
        if names.len() != manifest.tasks.len() {
            return Err(tasks("a task is listed twice"));
        }
        Ok(manifest)
    }

    /// The tasks and classes of the model's outputs.
    pub fn heads(&self) -> Heads {
        let heads = match self.tasks.is_empty() {
            true => Heads::single(&self.task, self.classes.clone()),
            false => Heads::new(
                self.tasks
                    .iter()
                    .map(|task| TaskClasses {
                        name: task.name.clone(),
                        classes: task.classes.clone(),
                    })
                    .collect(),
            ),
        };
        // `parse` has checked what `Heads` requires.
        heads.expect("a parsed manifest's tasks make heads")
    }

    /// Each task's calibration, in the order of `heads`.
    pub fn calibrations(&self) -> Vec<Option<Calibration>> {
        match self.tasks.is_empty() {
            true => vec![self.calibration.clone()],
            false => self.tasks.iter().map(|t| t.calibration.clone()).collect(),
        }
    }

    /// Checks the weights (named `file` in messages) against the manifest's checksum.
    pub fn verify(&self, file: &str, weights: &[u8]) -> Result<(), BundleError> {
        let found = crate::sha256::hex(weights);
        if found != self.weights.sha256 {
            return Err(BundleError::Checksum {
                file: file.to_string(),
                expected: self.weights.sha256.clone(),
                found,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_with_weights(file: &str) -> Vec<u8> {
        serde_json::to_vec(&Manifest {
            format_version: SINGLE_TASK_VERSION,
            arch: Arch::Resnet18,
            width_mult: 0.125,
            task: "skirt_length_labels".into(),
            classes: vec!["a".into(), "b".into()],
            tasks: vec![],
            preprocessing: Preprocessing::new(InputSize::IMAGENET),
            precision: Precision::F16,
            weights: WeightsEntry {
                file: file.into(),
                bytes: 0,
                sha256: crate::sha256::hex(b""),
            },
            metrics: serde_json::Value::Null,
            calibration: None,
            heatmap_scale: None,
        })
        .unwrap()
    }

    #[test]
    fn manifests_without_calibration_still_load_and_broken_ones_are_refused() {
        let old = manifest_with_weights(WEIGHTS_FILE);
        assert!(!String::from_utf8_lossy(&old).contains("calibration"));
        assert_eq!(Manifest::parse("m.json", &old).unwrap().calibration, None);
        let mut json: serde_json::Value = serde_json::from_slice(&old).unwrap();
        let mut calibration = Calibration::fit(&[vec![1.0, 0.0]], &[0]).unwrap();
        json["calibration"] = serde_json::to_value(&calibration).unwrap();
        let parsed = Manifest::parse("m.json", &serde_json::to_vec(&json).unwrap()).unwrap();
        assert_eq!(
            parsed.calibration.map(|c| c.temperature),
            Some(calibration.temperature)
        );
        calibration.temperature = -1.0;
        json["calibration"] = serde_json::to_value(&calibration).unwrap();
        let err = Manifest::parse("m.json", &serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.json: not a bundle manifest: calibration temperature -1 is not a positive number"
        );
        json["calibration"] = serde_json::Value::Null;
        json["heatmap_scale"] = 0.into();
        let err = Manifest::parse("m.json", &serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("heatmap scale 0 is not a positive number")
        );
    }

    #[test]
    fn the_input_size_is_bounded() {
        let with_size = |resize: u32, crop: u32| {
            let mut json: serde_json::Value =
                serde_json::from_slice(&manifest_with_weights(WEIGHTS_FILE)).unwrap();
            json["preprocessing"]["resize"] = resize.into();
            json["preprocessing"]["crop"] = crop.into();
            Manifest::parse("m.json", &serde_json::to_vec(&json).unwrap())
        };
        assert!(with_size(256, 224).is_ok());
        for (resize, crop) in [
            (4_000_000_000u32, 4_000_000_000u32),
            (37, 16),
            (100, 32),
            (300, 3000),
        ] {
            let err = with_size(resize, crop).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "m.json: not a bundle manifest: preprocessing resize {resize} / crop {crop}: \
                     the crop must be 32 to 2048 pixels and the resize from the crop to twice it"
                )
            );
        }
    }

    #[test]
    fn weights_must_sit_in_the_bundle_folder() {
        assert!(Manifest::parse("m.json", &manifest_with_weights(WEIGHTS_FILE)).is_ok());
        for file in ["../model.safetensors", "/etc/passwd", "a\\b", ".hidden", ""] {
            let err = Manifest::parse("m.json", &manifest_with_weights(file)).unwrap_err();
            assert!(
                err.to_string().contains("is not a plain file name"),
                "{file}: {err}"
            );
        }
    }
}
