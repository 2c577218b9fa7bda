//! A training step over several ranks (`crate::ranks`). Each rank computes the gradients of
//! its part of the global batch; [`combine`] turns them into the whole batch's, the same on
//! every rank, with one all-reduce of one flat buffer per step (the gradients, the loss, the
//! image count and the BatchNorm statistics side by side). The optimisers then take identical
//! steps. A process that trains alone never comes here: its gradients are already the batch's.
//!
//! BatchNorm's running statistics follow PyTorch DDP's default: after each step every rank
//! takes rank 0's. Validation, which uses them, is then the same on every rank, and rank 0's
//! checkpoints hold what every rank computed with.

use std::collections::HashSet;

use burn::module::{ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use shared::model::BatchNorm;

use super::step::Classifier;
use crate::ranks;

/// One step's result over all ranks.
pub struct Combined {
    /// The gradient of the global batch's mean loss; empty if no rank had an image.
    pub grads: GradientsParams,
    /// The global batch's mean loss.
    pub loss: f32,
}

/// `grads`, the gradient of this rank's mean loss `loss` over its images, turned into the
/// global batch's (each rank's weighted by `weight`: its images, or their total class weight);
/// BatchNorm's running
/// statistics become rank 0's.
pub fn combine(
    model: &Classifier,
    grads: GradientsParams,
    loss: Option<Tensor<1>>,
    weight: f32,
    trained: Option<&HashSet<ParamId>>,
) -> Combined {
    let world = ranks::world();
    let device = model.net.device().without_autodiff();
    let mut flatten = Flatten {
        trained,
        grads: &grads,
        device: &device,
        parts: Vec::new(),
        len: 0,
    };
    model.visit(&mut flatten);
    let gradients = flatten.len;
    let norms = model.net.batch_norms();
    let mut parts = flatten.parts;
    parts.push(
        loss.unwrap_or_else(|| Tensor::zeros([1], &device))
            .reshape([1]),
    );
    parts.extend(norms.iter().flat_map(|norm| {
        [&norm.running_mean, &norm.running_var].map(|state| state.value_sync().without_autodiff())
    }));
    let mut values = match crate::device::read(Tensor::cat(parts, 0), "the step's gradients") {
        Ok(values) => values,
        // Every other rank waits for this one's gradients: end the run rather than leave them.
        Err(err) => ranks::abort(&format!("{err:#}")),
    };

    // [gradients x weight | loss x weight | weight | BatchNorm statistics (rank 0's)]
    values[..=gradients].iter_mut().for_each(|v| *v *= weight);
    values.insert(gradients + 1, weight);
    if !world.is_root() {
        values[gradients + 2..].fill(0.0);
    }
    ranks::sum(&mut values);
    let total = values[gradients + 1];
    let statistics = &values[gradients + 2..];
    set_statistics(&norms, statistics, &device);
    if total == 0.0 {
        return Combined {
            grads: GradientsParams::new(),
            loss: 0.0,
        };
    }
    values[..=gradients].iter_mut().for_each(|v| *v /= total);
    let flat = Tensor::<1>::from_data(
        TensorData::new(values[..gradients].to_vec(), [gradients]),
        &device,
    );
    let mut unflatten = Unflatten {
        trained,
        flat,
        start: 0,
        grads: GradientsParams::new(),
    };
    model.visit(&mut unflatten);
    Combined {
        grads: unflatten.grads,
        loss: values[gradients],
    }
}

/// Rank 0's running statistics, in the order `combine` packed them.
fn set_statistics(norms: &[&BatchNorm], mut values: &[f32], device: &Device) {
    for norm in norms {
        for state in [&norm.running_mean, &norm.running_var] {
            let len = state.value().dims()[0];
            let value =
                Tensor::<1>::from_data(TensorData::new(values[..len].to_vec(), [len]), device);
            state.update(value.to_device(&state.value().device()));
            values = &values[len..];
        }
    }
}

/// Whether `param` is trained: among `only` where given (the classifier while the backbone is
/// frozen), and not one of BatchNorm's running statistics (visited too, as frozen tensors).
fn trained<const D: usize>(param: &Param<Tensor<D>>, only: Option<&HashSet<ParamId>>) -> bool {
    only.is_none_or(|ids| ids.contains(&param.id)) && param.val().is_require_grad()
}

/// Every trained parameter's gradient as one vector, zeros where this rank has none (it had
/// no image), so that every rank packs the same layout.
struct Flatten<'a> {
    trained: Option<&'a HashSet<ParamId>>,
    grads: &'a GradientsParams,
    device: &'a Device,
    parts: Vec<Tensor<1>>,
    len: usize,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !trained(param, self.trained) {
            return;
        }
        let shape = param.val().shape();
        let len = shape.num_elements();
        let grad = self
            .grads
            .get::<D>(param.id)
            .unwrap_or_else(|| Tensor::zeros(shape, self.device));
        self.parts.push(grad.reshape([len]));
        self.len += len;
    }
}

/// The inverse of [`Flatten`]: each trained parameter's part of `flat`, as its gradient.
struct Unflatten<'a> {
    trained: Option<&'a HashSet<ParamId>>,
    flat: Tensor<1>,
    start: usize,
    grads: GradientsParams,
}

impl ModuleVisitor for Unflatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !trained(param, self.trained) {
            return;
        }
        let shape = param.val().shape();
        let len = shape.num_elements();
        let grad: Tensor<D> = self.flat.clone().narrow(0, self.start, len).reshape(shape);
        self.start += len;
        self.grads.register(param.id, grad);
    }
}
