//! The learning-rate schedule, by the names of torchvision's reference script, and its value
//! at each optimiser step (the schedules move every step, not every epoch).

use std::f64::consts::PI;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// The main schedule (`--lr-scheduler`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LrScheduler {
    /// The rate times --lr-factor after each of --lr-steps (torch's MultiStepLR).
    #[default]
    Step,
    /// Half a cosine from --lr down to --lr-min over the steps after the warm-up (torch's
    /// CosineAnnealingLR).
    Cosine,
    /// torch's OneCycleLR with its defaults: from lr/25 up to --lr over the first 30% of the
    /// steps (or --lr-warmup-epochs), then a cosine down to lr/25/10^4.
    Onecycle,
}

/// How the warm-up holds the rate down (`--lr-warmup-method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum WarmupMethod {
    /// lr x --lr-warmup-decay throughout (torch's ConstantLR).
    #[default]
    Constant,
    /// From lr x --lr-warmup-decay up to lr in equal steps (torch's LinearLR).
    Linear,
}

#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Learning-rate schedule")]
pub struct ScheduleOptions {
    /// The schedule after the warm-up: step (the tutorial's), cosine or onecycle.
    #[arg(long, value_enum, default_value = "step")]
    #[serde(default)]
    pub lr_scheduler: LrScheduler,
    /// `step`: epochs after which the learning rate is multiplied by --lr-factor (counted
    /// from the end of the warm-up, as torch's SequentialLR does).
    #[arg(long, value_delimiter = ',', default_value = "10,20,30")]
    pub lr_steps: Vec<usize>,
    /// `step`: the learning-rate multiplier applied at each of --lr-steps.
    #[arg(long, default_value_t = 0.75)]
    pub lr_factor: f64,
    /// Epochs of warm-up before the main schedule (torch's SequentialLR of the two); for
    /// onecycle, the epochs of its rise.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub lr_warmup_epochs: usize,
    /// The warm-up: constant or linear.
    #[arg(long, value_enum, default_value = "constant")]
    #[serde(default)]
    pub lr_warmup_method: WarmupMethod,
    /// The warm-up's starting factor of the learning rate.
    #[arg(long, default_value_t = 0.01)]
    #[serde(default = "warmup_decay")]
    pub lr_warmup_decay: f64,
    /// `cosine`: the rate it ends at.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub lr_min: f64,
}

fn warmup_decay() -> f64 {
    0.01
}

/// torch's OneCycleLR defaults.
const ONECYCLE_PCT_START: f64 = 0.3;
const ONECYCLE_DIV: f64 = 25.0;
const ONECYCLE_FINAL_DIV: f64 = 1e4;

impl ScheduleOptions {
    pub fn validate(&self, epochs: usize) -> Result<()> {
        if !(self.lr_factor.is_finite() && self.lr_factor > 0.0) {
            bail!("--lr-factor must be a positive number");
        }
        if !(self.lr_warmup_decay.is_finite()
            && self.lr_warmup_decay > 0.0
            && self.lr_warmup_decay <= 1.0)
        {
            bail!("--lr-warmup-decay must be above 0, at most 1");
        }
        if !(self.lr_min.is_finite() && self.lr_min >= 0.0) {
            bail!("--lr-min must be a number of at least 0");
        }
        if self.lr_warmup_epochs >= epochs && self.lr_warmup_epochs > 0 {
            bail!(
                "--lr-warmup-epochs {} leaves nothing of --epochs {epochs} to the schedule",
                self.lr_warmup_epochs
            );
        }
        if self.lr_scheduler == LrScheduler::Onecycle && self.lr_min != 0.0 {
            bail!("--lr-min is cosine's: onecycle ends at lr/25/10^4, as torch's OneCycleLR");
        }
        Ok(())
    }

    /// The learning rate at `step` (from 0) of a run of `epochs` epochs of `steps_per_epoch`
    /// optimiser steps, for a peak rate `lr`.
    pub fn lr_at(&self, lr: f64, step: usize, epochs: usize, steps_per_epoch: usize) -> f64 {
        let per_epoch = steps_per_epoch.max(1);
        let total = epochs * per_epoch;
        let warmup = self.lr_warmup_epochs * per_epoch;
        if self.lr_scheduler == LrScheduler::Onecycle {
            let rise = match warmup {
                0 => ONECYCLE_PCT_START * total as f64,
                _ => warmup as f64,
            };
            return one_cycle(lr, step, rise, total);
        }
        if step < warmup {
            let factor = match self.lr_warmup_method {
                WarmupMethod::Constant => self.lr_warmup_decay,
                WarmupMethod::Linear => {
                    let start = self.lr_warmup_decay;
                    start + (1.0 - start) * step as f64 / warmup as f64
                }
            };
            return lr * factor;
        }
        // The main schedule counts its steps from the end of the warm-up.
        let step = step - warmup;
        match self.lr_scheduler {
            LrScheduler::Step => {
                let passed = self
                    .lr_steps
                    .iter()
                    .filter(|&&epoch| epoch > 0 && epoch.saturating_mul(per_epoch) <= step)
                    .count();
                lr * self.lr_factor.powi(passed as i32)
            }
            LrScheduler::Cosine => {
                let length = (total - warmup).max(1) as f64;
                let progress = (step as f64).min(length) / length;
                self.lr_min + (lr - self.lr_min) * (1.0 + (PI * progress).cos()) / 2.0
            }
            LrScheduler::Onecycle => unreachable!("returned above"),
        }
    }
}

/// torch's OneCycleLR (two phases, cosine annealing) at `step` of `total`, rising until step
/// `rise`: from lr/25 up to lr, then down to lr/25/10^4 at the last step.
fn one_cycle(lr: f64, step: usize, rise: f64, total: usize) -> f64 {
    let initial = lr / ONECYCLE_DIV;
    let last = initial / ONECYCLE_FINAL_DIV;
    let step = step as f64;
    // torch's phase ends: the peak is at step rise - 1, the end at total - 1.
    let peak = rise - 1.0;
    let end = total as f64 - 1.0;
    let anneal =
        |start: f64, stop: f64, pct: f64| stop + (start - stop) / 2.0 * ((PI * pct).cos() + 1.0);
    if step <= peak {
        anneal(initial, lr, if peak > 0.0 { step / peak } else { 1.0 })
    } else {
        anneal(lr, last, ((step - peak) / (end - peak)).min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::TrainConfig;

    /// Every step's rate equals torch's schedulers' (tools/make_recipe_golden.py): cosine after
    /// a linear or constant warm-up (SequentialLR), cosine alone, the step schedule after a
    /// warm-up, and OneCycleLR with its own rise and with --lr-warmup-epochs.
    #[test]
    fn schedules_match_torch() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/recipe/schedules.json"
        );
        let golden: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let number = |key: &str| golden[key].as_f64().unwrap();
        let (lr, epochs, per_epoch) = (
            number("lr"),
            number("epochs") as usize,
            number("steps_per_epoch") as usize,
        );
        for case in golden["cases"].as_array().unwrap() {
            let mut flags = serde_json::to_value(TrainConfig::default().schedule).unwrap();
            for (key, value) in case.as_object().unwrap() {
                if key != "lrs" {
                    flags[key] = value.clone();
                }
            }
            let schedule: ScheduleOptions = serde_json::from_value(flags).unwrap();
            schedule.validate(epochs).unwrap();
            let expected: Vec<f64> = serde_json::from_value(case["lrs"].clone()).unwrap();
            assert_eq!(expected.len(), epochs * per_epoch);
            for (step, expected) in expected.into_iter().enumerate() {
                let actual = schedule.lr_at(lr, step, epochs, per_epoch);
                assert!(
                    (actual - expected).abs() < 1e-9,
                    "{schedule:?}, step {step}: {actual} vs torch {expected}"
                );
            }
        }
    }

    #[test]
    fn impossible_schedules_are_refused() {
        let schedule = |change: fn(&mut ScheduleOptions)| {
            let mut schedule = TrainConfig::default().schedule;
            change(&mut schedule);
            schedule.validate(10).map_err(|err| err.to_string())
        };
        assert!(schedule(|s| s.lr_warmup_epochs = 10).is_err());
        assert!(schedule(|s| s.lr_warmup_decay = 0.0).is_err());
        assert!(
            schedule(|s| {
                s.lr_scheduler = LrScheduler::Onecycle;
                s.lr_min = 1e-5;
            })
            .unwrap_err()
            .contains("--lr-min")
        );
        assert!(schedule(|s| s.lr_warmup_epochs = 9).is_ok());
    }
}
