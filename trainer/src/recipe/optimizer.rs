//! The optimiser's settings, by the names of torchvision's reference script.

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// The optimiser (`--opt`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Opt {
    /// torch.optim.SGD: momentum without dampening, weight decay added to the gradient.
    #[default]
    Sgd,
    /// torch.optim.SGD with `nesterov=True`.
    SgdNesterov,
    /// torch.optim.AdamW: betas (0.9, 0.999), eps 1e-8, bias correction, weight decay
    /// decoupled from the gradient (the weights shrink by lr x decay each step).
    Adamw,
}

#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Optimiser")]
pub struct OptimizerOptions {
    /// The optimiser: sgd (the tutorial's), sgd-nesterov or adamw.
    #[arg(long, value_enum, default_value = "sgd")]
    #[serde(default)]
    pub opt: Opt,
    /// Learning rate (the peak of a schedule with warm-up).
    #[arg(long, default_value_t = 0.001)]
    pub lr: f64,
    /// SGD momentum (PyTorch's: no dampening); AdamW has its betas instead.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Weight decay: SGD adds decay x weight to the gradient (L2, as torch.optim.SGD);
    /// AdamW shrinks the weights by lr x decay (decoupled, as torch.optim.AdamW).
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Weight decay of the normalisation layers' weights (BatchNorm, LayerNorm); default: the
    /// same as --weight-decay. torchvision's recipes set 0 (as timm does for every 1-d tensor).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_weight_decay: Option<f64>,
    /// Weight decay of every bias (the normalisation layers' too); default: the same as
    /// --weight-decay.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_weight_decay: Option<f64>,
    /// Rescale the gradients when their global L2 norm is above this, as
    /// torch.nn.utils.clip_grad_norm_ (after mixed precision's unscaling).
    #[arg(long, value_name = "MAX_NORM")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
}

impl OptimizerOptions {
    pub fn validate(&self) -> Result<()> {
        let finite = |value: f64| value.is_finite() && value >= 0.0;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be a positive number");
        }
        if !(finite(self.momentum) && self.momentum < 1.0) {
            bail!("--momentum must be from 0 to below 1");
        }
        let decays = [
            Some(self.weight_decay),
            self.norm_weight_decay,
            self.bias_weight_decay,
        ];
        if !decays.into_iter().flatten().all(finite) {
            bail!("weight decays must be numbers of at least 0");
        }
        if self
            .clip_grad_norm
            .is_some_and(|max| !(max.is_finite() && max > 0.0))
        {
            bail!("--clip-grad-norm must be a positive number");
        }
        Ok(())
    }
}
