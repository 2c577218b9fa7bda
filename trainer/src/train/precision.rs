//! `--precision f16`: mixed-precision training. The convolutions compute in f16 (the matrix
//! units' format on GPUs) from f32 master weights (`shared::model::Net::forward_in`);
//! BatchNorm, the loss and the optimiser stay f32. Small gradients would underflow f16, so
//! the loss is scaled up before the backward pass and the gradients scaled back down, with
//! the scale adapted as PyTorch's `GradScaler` does: halved (and the step skipped) when a
//! gradient overflows, doubled after 2000 clean steps.

use std::sync::{Arc, Mutex};

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// PyTorch's `GradScaler` default (its starting scale is the recipe's `--loss-scale`).
const GROWTH_INTERVAL: usize = 2000;

/// The loss scale, shared by the clones of the model that burn-train's steps receive.
#[derive(Clone, Debug)]
pub struct LossScaler {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    scale: f32,
    clean_steps: usize,
    skipped: usize,
}

impl LossScaler {
    pub fn new(initial: f32) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                scale: initial,
                clean_steps: 0,
                skipped: 0,
            })),
        }
    }

    pub fn scale(&self) -> f32 {
        self.lock().scale
    }

    /// Steps skipped so far because a gradient overflowed.
    pub fn skipped(&self) -> usize {
        self.lock().skipped
    }

    /// `grads`, computed from a loss multiplied by [`scale`](Self::scale), scaled back down.
    /// On an overflow (inf or NaN anywhere) they are dropped, so the optimiser leaves the
    /// weights alone for this step, and the scale halves.
    pub fn unscale<M: Module>(&self, mut grads: GradientsParams, module: &M) -> GradientsParams {
        let scale = self.scale();
        let mut unscale = Unscale {
            grads: &mut grads,
            factor: 1.0 / scale,
            magnitude: None,
        };
        module.visit(&mut unscale);
        // One number read back per step, as GradScaler does: whether every gradient is finite.
        // A device that fails to compute it skips the step; the Learner then reports the
        // failure when it synchronises the step's outputs.
        let finite = unscale.magnitude.is_none_or(|sum| {
            crate::device::read(sum, "the gradients' magnitude")
                .is_ok_and(|sum| sum.iter().all(|v| v.is_finite()))
        });
        let mut state = self.lock();
        if finite {
            state.clean_steps += 1;
            if state.clean_steps == GROWTH_INTERVAL {
                state.scale *= 2.0;
                state.clean_steps = 0;
            }
            grads
        } else {
            state.scale /= 2.0;
            state.clean_steps = 0;
            state.skipped += 1;
            GradientsParams::new()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is three numbers, consistent after every update: a panic elsewhere while
        // the lock was held cannot have left it half-written.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Multiplies every gradient by `factor` and sums their absolute values (inf or NaN if any
/// gradient has one).
struct Unscale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
    magnitude: Option<Tensor<1>>,
}

impl ModuleVisitor for Unscale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let grad = grad.mul_scalar(self.factor);
            let sum = grad.clone().abs().sum();
            self.magnitude = Some(match self.magnitude.take() {
                Some(total) => total + sum,
                None => sum,
            });
            self.grads.register(param.id, grad);
        }
    }
}
