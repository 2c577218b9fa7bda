//! The training recipe: every setting of `trainer train`, grouped as practitioners think of
//! them (model, augmentation, optimiser, schedule, regularisation, fine-tuning). The run folder saves it as `train.json`,
//! one key per flag, so that `--resume` and a reproduction need nothing else; the training loop
//! reads it from there. The tutorial's values are the defaults, and keys that settings written
//! by earlier versions lack take the value those versions used.

pub mod augmentation;
pub mod fine_tuning;
pub mod optimizer;
pub mod presets;
pub mod regularisation;
pub mod schedule;

use anyhow::{Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use shared::bundle::{MAX_CROP, MIN_CROP};
use shared::model::{Arch, Family, NetConfig, RESNET_BASE_WIDTH};
use shared::precision::Precision;
use shared::preprocess::{InputSize, View};

use crate::train::teacher::Distillation;

pub use augmentation::Augmentation;
pub use fine_tuning::FineTuning;
pub use optimizer::{Opt, OptimizerOptions};
pub use presets::Recipe;
pub use regularisation::{ClassWeights, Regularisation};
pub use schedule::{LrScheduler, ScheduleOptions, WarmupMethod};

use crate::ranks;

/// More epochs than anyone trains, few enough that step counts cannot overflow.
const MAX_EPOCHS: usize = 100_000;

/// Mixed precision's starting loss scale: PyTorch's `GradScaler` default.
pub const INITIAL_LOSS_SCALE: f32 = 65536.0;

/// The recipe: the tutorial's values are the defaults.
#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Training")]
pub struct TrainConfig {
    /// A preset of the options below: `tutorial` (their defaults) or `modern` (README: "The
    /// recipe"); options given on the command line override it.
    #[arg(long, value_enum, default_value = "tutorial")]
    #[serde(default)]
    pub recipe: Recipe,
    /// Passes over the training images.
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    /// Images per optimiser step (an incomplete last batch is dropped, as in the tutorial).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Passes per optimiser step: each step averages the gradients of K micro-batches of
    /// batch-size/K images, for a batch that does not fit the device at once. The learning
    /// rate keeps its meaning; BatchNorm normalises over each micro-batch, as in PyTorch.
    #[arg(long, default_value_t = 1)]
    #[serde(default = "one")]
    pub accumulate: usize,
    /// Seed of the batch order, the crops and flips, and the new classifier's initialisation.
    #[arg(long, default_value_t = 1024)]
    pub seed: u64,
    /// Arithmetic of the convolutions: f32, or f16 from f32 master weights with dynamic loss
    /// scaling (mixed precision: faster on GPUs with f16 matrix units).
    #[arg(long, value_enum, default_value = "f32")]
    #[serde(default)]
    pub precision: Precision,
    /// Starting loss scale of `--precision f16` (PyTorch's GradScaler starts at 65536): it
    /// halves, skipping the step, whenever a gradient overflows, and doubles after 2000
    /// clean steps.
    #[arg(long, default_value_t = INITIAL_LOSS_SCALE)]
    #[serde(default = "initial_loss_scale")]
    pub loss_scale: f32,
    /// Stop when the validation FashionAI AP has not improved for N epochs (the best epoch's
    /// checkpoint is kept, as always).
    #[arg(long, value_name = "N")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stop_patience: Option<usize>,
    #[command(flatten)]
    #[serde(flatten)]
    pub model: ModelOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub augmentation: Augmentation,
    #[command(flatten)]
    #[serde(flatten)]
    pub optimizer: OptimizerOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub schedule: ScheduleOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub regularisation: Regularisation,
    #[command(flatten)]
    #[serde(flatten)]
    pub fine_tuning: FineTuning,
    /// `trainer distill`'s teacher and loss; `None` for `trainer train`.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distillation: Option<Distillation>,
}

/// The network and its input.
#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Model")]
pub struct ModelOptions {
    /// The architecture, by torchvision's name: resnet18, resnet34, resnet50, resnet101,
    /// resnet152, mobilenet_v3_large, mobilenet_v3_small, efficientnet_b0 to efficientnet_b3,
    /// convnext_tiny.
    #[arg(long, default_value = "resnet50")]
    pub arch: Arch,
    /// Starting weights: a torchvision `.pth`/`.safetensors` file, `imagenet` (torchvision's
    /// V1 weights, downloaded once into torch.hub's cache), `imagenet-v2`, or `none`.
    #[arg(long, default_value = "imagenet")]
    pub pretrained: String,
    /// Side of the square the network sees (default: the architecture's, as its ImageNet
    /// weights were evaluated: 224, efficientnet_b1 240, b2 288, b3 300); images are first
    /// resized by the architecture's ratio (ResNet: to 256/224 of it).
    #[arg(long)]
    pub input_size: Option<u32>,
    /// How a photo fills the square: `crop` (the shorter side resized, a random crop in
    /// training and the centre crop after) or `pad` (the whole photo, its longer side
    /// resized, placed at random in training and centred after, on the normalisation mean),
    /// which keeps a tall photo's hem in view. Evaluation, prediction and the exported bundle
    /// keep the training view.
    #[arg(long, value_enum, default_value = "crop")]
    #[serde(default)]
    pub view: View,
    /// torchvision's `width_mult`: every layer's channels times this (1 = torchvision's
    /// models). Smaller values make a narrow model for quick experiments; a pretrained weight
    /// file must have the same width.
    #[arg(long, default_value_t = 1.0)]
    #[serde(default = "full_width")]
    pub width_mult: f64,
    /// ResNet only: channels of the first stage (64 = torchvision), the same as
    /// --width-mult N/64.
    #[arg(long, conflicts_with = "width_mult")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_width: Option<usize>,
    /// Stochastic depth (torchvision's `stochastic_depth_prob`, timm's drop path): the last
    /// block skips its branch for an image with this probability in training, earlier ones
    /// in proportion. EfficientNet and ConvNeXt (torchvision trains them with 0.2 and 0.1);
    /// default 0.
    #[arg(long, value_name = "P")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_path: Option<f64>,
    /// The classifier's dropout: MobileNetV3 and EfficientNet (default: torchvision's, 0.2
    /// to 0.3).
    #[arg(long, value_name = "P")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
}

/// `accumulate` of run settings written before `--accumulate` existed.
fn one() -> usize {
    1
}

/// `width_mult` of run settings written before it existed (they say `base_width`).
fn full_width() -> f64 {
    1.0
}

/// `loss_scale` of run settings written before `--loss-scale` existed.
fn initial_loss_scale() -> f32 {
    INITIAL_LOSS_SCALE
}

impl Default for TrainConfig {
    /// The tutorial's recipe: the command line's defaults, written once (above).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: TrainConfig,
        }
        <Defaults as clap::Parser>::parse_from(["train"]).config
    }
}

impl Default for ModelOptions {
    fn default() -> Self {
        TrainConfig::default().model
    }
}

impl TrainConfig {
    /// The preprocessing: the architecture's, at `--input-size` when given.
    pub fn input(&self) -> InputSize {
        let size = self.model.arch.input_size();
        self.model
            .input_size
            .map_or(size, |crop| size.with_crop(crop))
            .with_view(self.model.view)
    }

    /// Settings that cannot train, refused before anything starts.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 || self.accumulate == 0 {
            bail!("--epochs, --batch-size and --accumulate must be at least 1");
        }
        if let Some(distillation) = &self.distillation {
            distillation.validate()?;
        }
        if self.epochs > MAX_EPOCHS {
            bail!("--epochs must be at most {MAX_EPOCHS}");
        }
        let ranks = ranks::world().size;
        if !self
            .batch_size
            .is_multiple_of(ranks.saturating_mul(self.accumulate))
        {
            let into = match ranks {
                1 => String::new(),
                _ => format!("{ranks} ranks x "),
            };
            bail!(
                "--batch-size {} cannot be split into {into}--accumulate {} equal micro-batches",
                self.batch_size,
                self.accumulate
            );
        }
        if !(MIN_CROP..=MAX_CROP).contains(&self.input().crop) {
            bail!(
                "--input-size must be from {MIN_CROP} to {MAX_CROP} (the networks downsample 32 \
                 times)"
            );
        }
        let model = &self.model;
        match (model.base_width, model.arch.family()) {
            (Some(0), _) => bail!("--base-width must be at least 1"),
            (Some(_), Family::ResNet(_)) | (None, _) => {}
            (Some(_), _) => bail!(
                "--base-width is ResNet's; {} takes --width-mult",
                model.arch
            ),
        }
        for (flag, rate, has) in [
            (
                "--drop-path",
                model.drop_path,
                model.arch.has_stochastic_depth(),
            ),
            ("--dropout", model.dropout, model.arch.has_dropout()),
        ] {
            match rate {
                Some(rate) if !(0.0..1.0).contains(&rate) => {
                    bail!("{flag} must be from 0 to below 1")
                }
                Some(_) if !has => bail!("{} has no {flag} (torchvision's has none)", model.arch),
                _ => {}
            }
        }
        let width = self.width();
        if !(width.is_finite() && width > 0.0 && width <= 16.0) {
            bail!("--width-mult must be a number above 0, at most 16");
        }
        if !(self.loss_scale.is_finite() && self.loss_scale > 0.0) {
            bail!("--loss-scale must be a positive number");
        }
        if self.early_stop_patience == Some(0) {
            bail!("--early-stop-patience must be at least 1 epoch");
        }
        self.augmentation.validate()?;
        self.optimizer.validate()?;
        self.schedule.validate(self.epochs)?;
        self.regularisation.validate()?;
        if self.augmentation.mixes() && self.regularisation.class_weights.is_some() {
            bail!(
                "--class-weights cannot be combined with --mixup-alpha or --cutmix-alpha: torch \
                 weighs mixed (soft) targets otherwise than hard ones"
            );
        }
        self.fine_tuning.validate(self.epochs)
    }

    /// Images per forward and backward pass (on each rank of a data-parallel run).
    pub fn micro_batch(&self) -> usize {
        self.batch_size / (ranks::world().size * self.accumulate)
    }

    /// torchvision's `width_mult` of the network (`--base-width N` is N/64).
    pub fn width(&self) -> f64 {
        self.model.base_width.map_or(self.model.width_mult, |base| {
            base as f64 / RESNET_BASE_WIDTH as f64
        })
    }

    /// The network this recipe trains, with `classes` outputs.
    pub fn net(&self, classes: usize) -> NetConfig {
        NetConfig::new()
            .with_arch(self.model.arch)
            .with_num_classes(classes)
            .with_width_mult(self.width())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulation_must_split_the_batch_evenly() {
        let config = |batch_size, accumulate| TrainConfig {
            batch_size,
            accumulate,
            ..TrainConfig::default()
        };
        assert!(config(64, 4).validate().is_ok());
        let uneven = config(64, 3).validate().unwrap_err().to_string();
        assert!(
            uneven.contains("--batch-size 64 cannot be split into --accumulate 3"),
            "{uneven}"
        );
        assert!(config(64, 0).validate().is_err());
        assert!(config(64, usize::MAX).validate().is_err());
        assert_eq!(config(64, 4).micro_batch(), 16);
    }

    /// A hand-edited `train.json` cannot ask for a schedule whose step count overflows.
    #[test]
    fn epochs_are_bounded() {
        let config = |epochs| TrainConfig {
            epochs,
            ..TrainConfig::default()
        };
        assert!(config(MAX_EPOCHS).validate().is_ok());
        let error = config(MAX_EPOCHS + 1).validate().unwrap_err().to_string();
        assert_eq!(error, "--epochs must be at most 100000");
    }

    /// The defaults are the tutorial's recipe, and they pass their own validation.
    #[test]
    fn the_default_recipe_is_the_tutorials() {
        let config = TrainConfig::default();
        assert_eq!(config.model.arch, Arch::Resnet50);
        assert_eq!(
            (config.epochs, config.batch_size, config.input()),
            (40, 64, InputSize::IMAGENET)
        );
        let optimizer = &config.optimizer;
        assert_eq!(optimizer.opt, Opt::Sgd);
        assert_eq!(
            (optimizer.lr, optimizer.momentum, optimizer.weight_decay),
            (0.001, 0.9, 1e-4)
        );
        let schedule = &config.schedule;
        assert_eq!(schedule.lr_scheduler, LrScheduler::Step);
        assert_eq!(
            (schedule.lr_steps.as_slice(), schedule.lr_factor),
            (&[10, 20, 30][..], 0.75)
        );
        assert_eq!(schedule.lr_warmup_epochs, 0);
        assert_eq!(config.regularisation, Regularisation::default());
        assert_eq!(config.model.pretrained, "imagenet");
        assert!(config.validate().is_ok());
        let zero = TrainConfig {
            batch_size: 0,
            ..TrainConfig::default()
        };
        assert!(zero.validate().is_err());
    }

    /// `train.json` keeps one key per flag, and settings written before the recipe grew read
    /// as the recipe they trained with.
    #[test]
    fn settings_are_flat_and_old_ones_read_as_the_tutorials() {
        let json = serde_json::to_value(TrainConfig::default()).unwrap();
        for key in [
            "arch",
            "lr",
            "opt",
            "lr_scheduler",
            "label_smoothing",
            "epochs",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        let old = r#"{"arch":"resnet18","pretrained":"none","epochs":2,"batch_size":8,
            "lr":0.01,"momentum":0.9,"weight_decay":0.0001,"lr_steps":[1],"lr_factor":0.5,
            "seed":3,"input_size":32,"base_width":8}"#;
        let config: TrainConfig = serde_json::from_str(old).unwrap();
        assert_eq!(config.optimizer.opt, Opt::Sgd);
        assert_eq!(config.schedule.lr_scheduler, LrScheduler::Step);
        assert_eq!(config.regularisation, Regularisation::default());
        assert_eq!(config.width(), 8.0 / 64.0);
        assert!(config.validate().is_ok());
    }

    /// `--drop-path` and `--dropout` exist where torchvision's model has them.
    #[test]
    fn drop_rates_need_an_architecture_that_has_them() {
        let config = |arch, drop_path, dropout| {
            let mut config = TrainConfig::default();
            config.model.arch = arch;
            config.model.drop_path = drop_path;
            config.model.dropout = dropout;
            config.validate().map_err(|err| err.to_string())
        };
        assert!(config(Arch::ConvnextTiny, Some(0.1), None).is_ok());
        assert!(config(Arch::EfficientnetB0, Some(0.2), Some(0.3)).is_ok());
        assert!(config(Arch::MobilenetV3Large, None, Some(0.1)).is_ok());
        let refused = config(Arch::Resnet50, Some(0.1), None).unwrap_err();
        assert!(refused.contains("resnet50 has no --drop-path"), "{refused}");
        assert!(config(Arch::ConvnextTiny, None, Some(0.1)).is_err());
        assert!(config(Arch::MobilenetV3Small, Some(0.1), None).is_err());
        assert!(config(Arch::EfficientnetB0, Some(1.0), None).is_err());
    }
}
