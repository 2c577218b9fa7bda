//! The training images' augmentation, by the names of torchvision's reference script (beside
//! the tutorial's random crop and flip, which are always on).

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Augmentation")]
pub struct Augmentation {
    /// torchvision's RandomResizedCrop instead of the tutorial's resize and random crop: a
    /// region of --rrc-scale of the image's area and --rrc-ratio aspect, resized to the input
    /// size with the architecture's filter (with `--view pad`: resized to fit and padded;
    /// `--random-resized-crop false` turns a preset's off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(default)]
    pub random_resized_crop: bool,
    /// RandomResizedCrop's range of the region's share of the image's area.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.08,1.0",
        value_name = "MIN,MAX"
    )]
    #[serde(default = "rrc_scale")]
    pub rrc_scale: Vec<f64>,
    /// RandomResizedCrop's range of the region's aspect ratio (width / height).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.75,1.3333333333333333",
        value_name = "MIN,MAX"
    )]
    #[serde(default = "rrc_ratio")]
    pub rrc_ratio: Vec<f64>,
    /// torchvision's ColorJitter(brightness, contrast, saturation, hue), in a random order per
    /// image: factors drawn from [1 - B, 1 + B] (and C, S), a hue shift from [-H, H].
    #[arg(long, value_delimiter = ',', value_name = "B,C,S,H")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_jitter: Option<Vec<f64>>,
    /// An automatic augmentation policy after the crop and flip, as torchvision's
    /// `TrivialAugmentWide` (`ta_wide`: one op of 14 at a random strength) or `RandAugment`
    /// (`ra`: two ops at --ra-magnitude), bilinear.
    #[arg(long, value_enum, value_name = "POLICY")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_augment: Option<AutoAugment>,
    /// RandAugment's strength, a bin of 31 from 0 to 30 (torchvision's reference default).
    #[arg(long, default_value_t = RA_MAGNITUDE, value_name = "M")]
    #[serde(default = "ra_magnitude")]
    pub ra_magnitude: usize,
    /// torchvision's RandomErasing(P) after normalisation: with probability P a rectangle of
    /// 2% to 33% of the input, aspect 0.3 to 3.3, set to 0 (the mean colour).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    #[serde(default)]
    pub random_erase: f64,
    /// MixUp on each batch: each image and its target mixed with the previous image's, by a
    /// share drawn from Beta(A, A) (torchvision's reference: 0.2); 0 is off.
    #[arg(long, default_value_t = 0.0, value_name = "A")]
    #[serde(default)]
    pub mixup_alpha: f64,
    /// CutMix on each batch: a box of the previous image pasted in, targets mixed by area,
    /// the share drawn from Beta(A, A) (torchvision's reference: 1.0); with --mixup-alpha too,
    /// each batch takes one of the two.
    #[arg(long, default_value_t = 0.0, value_name = "A")]
    #[serde(default)]
    pub cutmix_alpha: f64,
}

fn rrc_scale() -> Vec<f64> {
    vec![0.08, 1.0]
}

/// `--auto-augment`'s policies, by the names of torchvision's reference script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
pub enum AutoAugment {
    /// TrivialAugmentWide.
    #[value(name = "ta_wide")]
    #[serde(rename = "ta_wide")]
    TaWide,
    /// RandAugment.
    #[value(name = "ra")]
    #[serde(rename = "ra")]
    Ra,
}

/// torchvision's reference `--ra-magnitude`.
const RA_MAGNITUDE: usize = 9;

fn ra_magnitude() -> usize {
    RA_MAGNITUDE
}

fn rrc_ratio() -> Vec<f64> {
    vec![3.0 / 4.0, 4.0 / 3.0]
}

impl Augmentation {
    /// Whether batches are mixed (MixUp or CutMix).
    pub fn mixes(&self) -> bool {
        self.mixup_alpha > 0.0 || self.cutmix_alpha > 0.0
    }

    pub fn validate(&self) -> Result<()> {
        let range = |values: &[f64]| match values {
            &[low, high] => (low.is_finite() && high.is_finite() && low > 0.0 && low <= high)
                .then_some((low, high)),
            _ => None,
        };
        match range(&self.rrc_scale) {
            Some((_, high)) if high <= 1.0 => {}
            _ => bail!("--rrc-scale must be two numbers MIN,MAX with 0 < MIN <= MAX <= 1"),
        }
        if range(&self.rrc_ratio).is_none() {
            bail!("--rrc-ratio must be two numbers MIN,MAX with 0 < MIN <= MAX");
        }
        if self.ra_magnitude > 30 {
            bail!("--ra-magnitude must be from 0 to 30");
        }
        if !(0.0..=1.0).contains(&self.random_erase) {
            bail!("--random-erase must be a probability from 0 to 1");
        }
        if ![self.mixup_alpha, self.cutmix_alpha]
            .iter()
            .all(|alpha| alpha.is_finite() && *alpha >= 0.0)
        {
            bail!("--mixup-alpha and --cutmix-alpha must be numbers of at least 0");
        }
        if let Some(jitter) = &self.color_jitter {
            let valid = match jitter.as_slice() {
                &[b, c, s, h] => {
                    [b, c, s].iter().all(|v| v.is_finite() && *v >= 0.0) && (0.0..=0.5).contains(&h)
                }
                _ => false,
            };
            if !valid {
                bail!(
                    "--color-jitter must be four numbers B,C,S,H: B, C and S at least 0, H from \
                     0 to 0.5"
                );
            }
        }
        Ok(())
    }
}
