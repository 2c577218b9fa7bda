//! Settings that regularise: the loss's label smoothing and class weights, and the averaged
//! weights of `--model-ema`.

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

#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    /// Keep an exponential moving average of the weights and BatchNorm statistics (timm's
    /// `--model-ema`, ModelEmaV3), updated after every step: each epoch validates it beside
    /// the trained weights, the checkpoints hold both, and the best epoch and `trainer export`
    /// take whichever scored the higher FashionAI AP (`--model-ema false` turns a preset's off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(default)]
    pub model_ema: bool,
    /// The average's decay per step (timm's default); the first step copies the weights.
    #[arg(long, default_value_t = MODEL_EMA_DECAY, value_name = "D")]
    #[serde(default = "model_ema_decay")]
    pub model_ema_decay: f64,
    /// Warm the decay up as timm's `--model-ema-warmup`: at step n, 1 - n^(-2/3) until that
    /// reaches --model-ema-decay, so that a short fine-tuning's average forgets its start.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(default)]
    pub model_ema_warmup: bool,
}

/// timm's `--model-ema-decay`.
const MODEL_EMA_DECAY: f64 = 0.9998;

fn model_ema_decay() -> f64 {
    MODEL_EMA_DECAY
}

impl Default for Regularisation {
    fn default() -> Self {
        super::TrainConfig::default().regularisation
    }
}

impl Regularisation {
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.label_smoothing) {
            bail!("--label-smoothing must be from 0 to below 1");
        }
        if !(0.0..1.0).contains(&self.model_ema_decay) {
            bail!("--model-ema-decay must be from 0 to below 1");
        }
        Ok(())
    }
}
