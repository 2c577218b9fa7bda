//! `--recipe`: named sets of defaults. `tutorial` is the 2018 tutorial's recipe (the flags'
//! own defaults); `modern` is today's fine-tuning practice. Flags given on the command line
//! override a preset's values.

use std::collections::HashSet;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::augmentation::AutoAugment;
use super::{LrScheduler, Opt, TrainConfig, WarmupMethod};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// The tutorial's: SGD lr 0.001 momentum 0.9 weight decay 1e-4, lr x0.75 after epochs 10,
    /// 20 and 30, random crop and flip.
    #[default]
    Tutorial,
    /// Today's fine-tuning practice (README: where each value comes from): AdamW lr 1e-4,
    /// weight decay 0.05 off norms and biases, the classifier at 10x the rate, a 2-epoch linear
    /// warm-up then cosine to 0, label smoothing 0.1, RandomResizedCrop (scale 0.25 to 1),
    /// TrivialAugmentWide, random erasing 0.1, and an EMA of the weights (decay 0.9998 with
    /// timm's warm-up).
    Modern,
}

impl Recipe {
    /// Sets `config` to this recipe, but for the flags in `given` (by their long names without
    /// dashes, `lr_warmup_epochs`), which keep their values.
    pub fn apply(self, config: &mut TrainConfig, given: &HashSet<String>) {
        if self == Recipe::Tutorial {
            return;
        }
        let keep = |flag: &str| given.contains(flag);
        let mut set = |flag: &str, apply: &dyn Fn(&mut TrainConfig)| {
            if !keep(flag) {
                apply(config);
            }
        };
        set("opt", &|c| c.optimizer.opt = Opt::Adamw);
        set("lr", &|c| c.optimizer.lr = 1e-4);
        set("weight_decay", &|c| c.optimizer.weight_decay = 0.05);
        set("norm_weight_decay", &|c| {
            c.optimizer.norm_weight_decay = Some(0.0)
        });
        set("bias_weight_decay", &|c| {
            c.optimizer.bias_weight_decay = Some(0.0)
        });
        set("head_lr_mult", &|c| c.fine_tuning.head_lr_mult = 10.0);
        set("lr_scheduler", &|c| {
            c.schedule.lr_scheduler = LrScheduler::Cosine
        });
        set("lr_warmup_epochs", &|c| c.schedule.lr_warmup_epochs = 2);
        set("lr_warmup_method", &|c| {
            c.schedule.lr_warmup_method = WarmupMethod::Linear
        });
        set("lr_warmup_decay", &|c| c.schedule.lr_warmup_decay = 0.01);
        set("label_smoothing", &|c| {
            c.regularisation.label_smoothing = 0.1
        });
        set("random_resized_crop", &|c| {
            c.augmentation.random_resized_crop = true
        });
        set("rrc_scale", &|c| c.augmentation.rrc_scale = vec![0.25, 1.0]);
        set("auto_augment", &|c| {
            c.augmentation.auto_augment = Some(AutoAugment::TaWide)
        });
        set("random_erase", &|c| c.augmentation.random_erase = 0.1);
        set("model_ema", &|c| c.regularisation.model_ema = true);
        set("model_ema_warmup", &|c| {
            c.regularisation.model_ema_warmup = true
        });
        config.recipe = self;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_given_override_the_preset() {
        let mut config = TrainConfig::default();
        let given = ["lr".to_string(), "lr_warmup_epochs".to_string()];
        config.optimizer.lr = 0.01;
        Recipe::Modern.apply(&mut config, &given.into_iter().collect());
        assert_eq!(config.optimizer.opt, Opt::Adamw);
        assert_eq!(config.optimizer.lr, 0.01);
        assert_eq!(config.schedule.lr_warmup_epochs, 0);
        assert_eq!(config.schedule.lr_scheduler, LrScheduler::Cosine);
        assert_eq!(config.recipe, Recipe::Modern);
        assert!(config.validate().is_ok());
        let mut tutorial = TrainConfig::default();
        Recipe::Tutorial.apply(&mut tutorial, &HashSet::new());
        assert_eq!(tutorial, TrainConfig::default());
    }
}
