//! Settings of the loss that regularise: label smoothing and class weights.

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// Per-class weights of the loss (`--class-weights`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ClassWeights {
    /// Each class weighted by the inverse of its frequency in the training split, as
    /// scikit-learn's `class_weight="balanced"`: images / (classes x the class's images),
    /// per task.
    Balanced,
}

#[derive(Args, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Regularisation")]
pub struct Regularisation {
    /// Label smoothing of the cross-entropy, as torch's `CrossEntropyLoss(label_smoothing)`:
    /// the target puts this much of its weight evenly over the task's classes.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub label_smoothing: f64,
    /// Weigh each class in the loss (torch's `CrossEntropyLoss(weight)`: the batch's loss is
    /// the weighted mean): `balanced` for tasks whose classes are skewed.
    #[arg(long, value_enum)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_weights: Option<ClassWeights>,
}

impl Regularisation {
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.label_smoothing) {
            bail!("--label-smoothing must be from 0 to below 1");
        }
        Ok(())
    }
}
