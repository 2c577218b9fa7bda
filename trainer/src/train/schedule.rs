//! The optimiser and learning-rate schedule of the recipe: SGD with PyTorch's semantics
//! (momentum without dampening, L2 weight decay added to the gradient) and the learning rate
//! multiplied by a factor after given epochs.

use anyhow::{Result, anyhow};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::LrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, SgdConfig};

use super::TrainConfig;

/// `torch.optim.SGD(lr, momentum, weight_decay)`; burn's default dampening (0.1) differs
/// from PyTorch's (0), so it is set explicitly.
pub fn sgd(config: &TrainConfig) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new()
                .with_momentum(config.momentum)
                .with_dampening(0.0),
        ))
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)))
        .init()
}

/// burn-train steps the scheduler once per batch, so the epoch milestones become batch
/// counts: the rate is `lr * factor^k` after the k-th milestone.
pub fn lr_schedule(config: &TrainConfig, batches_per_epoch: usize) -> Result<ModuleLrScheduler> {
    let mut steps: Vec<usize> = config
        .lr_steps
        .iter()
        .filter(|&&epoch| epoch > 0 && epoch < config.epochs)
        .map(|&epoch| epoch * batches_per_epoch.max(1))
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let rates = (0..=steps.len())
        .map(|k| LrSchedulerConfig::Constant(config.lr * config.lr_factor.powi(k as i32)))
        .collect();
    SequentialLrSchedulerConfig::new(rates, steps)
        .init()
        .map_err(|err| anyhow!("learning-rate schedule: {err}"))
}
