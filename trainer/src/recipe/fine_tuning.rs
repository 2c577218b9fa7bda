//! Settings of how a pretrained network is fine-tuned: a frozen backbone at first, and
//! learning rates that grow with depth.

use anyhow::{Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Fine-tuning")]
pub struct FineTuning {
    /// Train only the classifier for the first N epochs (the layers after the last feature
    /// map: ResNet's fc, MobileNetV3's, EfficientNet's and ConvNeXt's classifier), then
    /// everything. The frozen backbone runs as in evaluation: its weights and BatchNorm
    /// statistics do not move.
    #[arg(long, default_value_t = 0, value_name = "N")]
    #[serde(default)]
    pub freeze_epochs: usize,
    /// timm's layer-wise learning-rate decay: the classifier at --lr, each earlier stage of
    /// the backbone at the next one's rate times F (stages: ResNet's stem and layer1-4,
    /// EfficientNet's and ConvNeXt's stages, MobileNetV3's resolutions).
    #[arg(long, value_name = "F")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_decay: Option<f64>,
    /// The classifier's learning rate times this (a new head often learns faster).
    #[arg(long, default_value_t = 1.0, value_name = "M")]
    #[serde(default = "one")]
    pub head_lr_mult: f64,
}

fn one() -> f64 {
    1.0
}

impl FineTuning {
    pub fn validate(&self, epochs: usize) -> Result<()> {
        if self.freeze_epochs >= epochs && self.freeze_epochs > 0 {
            bail!(
                "--freeze-epochs {} leaves no epoch of --epochs {epochs} to train the backbone",
                self.freeze_epochs
            );
        }
        if self
            .layer_decay
            .is_some_and(|decay| !(decay.is_finite() && decay > 0.0 && decay <= 1.0))
        {
            bail!("--layer-decay must be above 0, at most 1");
        }
        if !(self.head_lr_mult.is_finite() && self.head_lr_mult > 0.0) {
            bail!("--head-lr-mult must be a positive number");
        }
        Ok(())
    }

    /// The learning-rate multiplier of a parameter at `depth`, the classifier at `head`.
    pub fn lr_multiplier(&self, depth: usize, head: usize) -> f64 {
        let decay = self
            .layer_decay
            .map_or(1.0, |decay| decay.powi((head - depth.min(head)) as i32));
        match depth >= head {
            true => decay * self.head_lr_mult,
            false => decay,
        }
    }
}
