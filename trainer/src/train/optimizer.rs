//! The recipe's optimiser as burn's `ModuleOptimizer`, and torch's global gradient clipping.
//!
//! Weight decay follows torchvision's reference script (`set_weight_decay`): the biases take
//! `--bias-weight-decay`, the normalisation layers' other weights `--norm-weight-decay`, every
//! other tensor `--weight-decay`; each group is its own optimiser over the parameters' module
//! paths (`depth::named`).

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdamWState, AdaptiveMomentumState, GradientsParams, LearningRate, ModuleOptimizer, Optimizer,
    SgdConfig,
};
use burn::prelude::*;

use super::depth;
use crate::recipe::{Opt, OptimizerOptions};

/// torch.optim.AdamW's defaults.
const ADAM_BETAS: (f64, f64) = (0.9, 0.999);
const ADAM_EPSILON: f64 = 1e-8;

/// The optimiser of `options` for `module`'s parameters.
pub fn optimizer<M: Module>(options: &OptimizerOptions, module: &M) -> ModuleOptimizer {
    match options.opt {
        Opt::Sgd | Opt::SgdNesterov => grouped(options, module, |decay| {
            let momentum = (options.momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(options.momentum)
                    .with_dampening(0.0)
                    .with_nesterov(options.opt == Opt::SgdNesterov)
            });
            SgdConfig::new()
                .with_momentum(momentum)
                .with_weight_decay((decay > 0.0).then(|| WeightDecayConfig::new(decay as f32)))
                .build()
        }),
        Opt::Adamw => grouped(options, module, |weight_decay| AdamW { weight_decay }),
    }
}

/// torch.optim.AdamW, step for step: burn's own rounds its `1 - beta` factors to f32 (its
/// second moments drift 1.3e-5 from torch's) and defaults to another epsilon. Its state is
/// burn's AdamW's, so the records are the same.
#[derive(Clone)]
struct AdamW {
    weight_decay: f64,
}

impl Optimizer for AdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (beta_1, beta_2) = ADAM_BETAS;
        let moments = match state {
            Some(AdamWState { momentum: mut m }) => {
                m.moment_1 = m.moment_1.mul_scalar(beta_1) + grad.clone().mul_scalar(1.0 - beta_1);
                m.moment_2 = m.moment_2.mul_scalar(beta_2) + grad.square().mul_scalar(1.0 - beta_2);
                m.time += 1;
                m
            }
            None => AdaptiveMomentumState::new(
                1,
                grad.clone().mul_scalar(1.0 - beta_1),
                grad.square().mul_scalar(1.0 - beta_2),
            ),
        };
        let time = moments.time as i32;
        let step_size = lr / (1.0 - beta_1.powi(time));
        let denominator = moments
            .moment_2
            .clone()
            .sqrt()
            .div_scalar((1.0 - beta_2.powi(time)).sqrt())
            .add_scalar(ADAM_EPSILON);
        let decayed = match self.weight_decay {
            0.0 => tensor,
            decay => tensor.mul_scalar(1.0 - lr * decay),
        };
        let update = moments
            .moment_1
            .clone()
            .div(denominator)
            .mul_scalar(step_size);
        (decayed - update, Some(AdamWState::new(moments)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamWState::new(state.momentum.to_device(device))
    }
}

/// One optimiser made by `make(decay)` for each weight-decay group of `module`.
fn grouped<M: Module, O: Optimizer>(
    options: &OptimizerOptions,
    module: &M,
    make: impl Fn(f64) -> O,
) -> ModuleOptimizer {
    let kinds = Kinds::of(module);
    let mut optim = ModuleOptimizer::from(make(options.weight_decay));
    let groups = [
        (options.norm_weight_decay, kinds.norm_weights),
        (options.bias_weight_decay, kinds.biases),
    ];
    for (decay, paths) in groups {
        if let Some(decay) = decay.filter(|&decay| decay != options.weight_decay)
            && !paths.is_empty()
        {
            optim = optim.with_group(ParamGroup::from_paths(paths), make(decay), None);
        }
    }
    optim
}

/// The module paths of the biases and of the normalisation layers' weights.
#[derive(Default)]
struct Kinds {
    norm_weights: Vec<String>,
    biases: Vec<String>,
}

/// The types of normalisation layers, as burn's visitors name them.
const NORMS: [&str; 2] = ["Struct:BatchNorm", "Struct:LayerNorm"];

impl Kinds {
    fn of<M: Module>(module: &M) -> Kinds {
        let mut kinds = Kinds::default();
        for param in depth::named(module) {
            let Some(name) = param.path.last() else {
                continue;
            };
            // burn's norms call torch's `bias` `beta` and its `weight` `gamma` (their running
            // statistics are visited too, and never optimised).
            let norm = NORMS.contains(&param.owner.as_str());
            match name.as_str() {
                "bias" => kinds.biases.push(param.joined()),
                "beta" if norm => kinds.biases.push(param.joined()),
                "gamma" if norm => kinds.norm_weights.push(param.joined()),
                _ => {}
            }
        }
        kinds
    }
}

/// `grads` rescaled, as torch.nn.utils.clip_grad_norm_, so that their global L2 norm is at
/// most `max_norm`: each times min(1, max_norm / (norm + 1e-6)). The factor stays on the
/// device (no synchronisation).
pub fn clip_grad_norm<M: Module>(
    mut grads: GradientsParams,
    module: &M,
    max_norm: f64,
) -> GradientsParams {
    let mut squares = SquaredNorm {
        grads: &grads,
        sum: None,
    };
    module.visit(&mut squares);
    let Some(sum) = squares.sum else {
        return grads;
    };
    let factor = sum
        .sqrt()
        .add_scalar(1e-6)
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0);
    module.visit(&mut Rescale {
        grads: &mut grads,
        factor,
    });
    grads
}

/// The sum of the squares of every gradient.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let square = grad.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(sum) => sum + square,
                None => square,
            });
        }
    }
}

/// Multiplies every gradient by `factor` (one value).
struct Rescale<'a> {
    grads: &'a mut GradientsParams,
    factor: Tensor<1>,
}

impl ModuleVisitor for Rescale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let factor = self.factor.clone().reshape([1; D]);
            self.grads.register(param.id, grad * factor);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::{Linear, LinearConfig};
    use safetensors::SafeTensors;
    use shared::model::BatchNorm;

    use super::*;
    use crate::recipe::TrainConfig;
    use crate::train::step::tests::flat_gradients;

    /// The golden files' network: torch's Conv2d 3->4 3x3, BatchNorm2d 4, Linear 4->5.
    #[derive(Module, Debug)]
    struct Tiny {
        conv: Conv2d,
        bn: BatchNorm,
        fc: Linear,
    }

    fn golden(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/recipe")
            .join(name)
    }

    /// The golden tensors by name, as f32, each in burn's layout (torch's Linear weight is
    /// burn's transposed).
    fn read_golden() -> HashMap<String, (Vec<usize>, Vec<f32>)> {
        let bytes = std::fs::read(golden("optimizers.safetensors")).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        file.tensors()
            .into_iter()
            .map(|(name, view)| {
                let values: Vec<f32> = view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect();
                let shape = view.shape().to_vec();
                let (shape, values) = match (name.ends_with("fc.weight"), shape.as_slice()) {
                    (true, &[rows, cols]) => {
                        let transposed = (0..cols * rows)
                            .map(|i| values[(i % rows) * cols + i / rows])
                            .collect();
                        (vec![cols, rows], transposed)
                    }
                    _ => (shape, values),
                };
                (name, (shape, values))
            })
            .collect()
    }

    /// torch's parameter names and the module's parameters, in one order.
    const NAMES: [&str; 6] = [
        "conv.weight",
        "conv.bias",
        "bn.weight",
        "bn.bias",
        "fc.weight",
        "fc.bias",
    ];

    fn params(tiny: &Tiny) -> [(burn::module::ParamId, Vec<f32>); 6] {
        let values = |t: Tensor<1>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        [
            (
                tiny.conv.weight.id,
                values(tiny.conv.weight.val().flatten(0, 3)),
            ),
            (
                tiny.conv.bias.as_ref().unwrap().id,
                values(tiny.conv.bias.as_ref().unwrap().val()),
            ),
            (tiny.bn.gamma.id, values(tiny.bn.gamma.val())),
            (tiny.bn.beta.id, values(tiny.bn.beta.val())),
            (
                tiny.fc.weight.id,
                values(tiny.fc.weight.val().flatten(0, 1)),
            ),
            (
                tiny.fc.bias.as_ref().unwrap().id,
                values(tiny.fc.bias.as_ref().unwrap().val()),
            ),
        ]
    }

    fn tensor<const D: usize>(
        golden: &HashMap<String, (Vec<usize>, Vec<f32>)>,
        name: &str,
        device: &Device,
    ) -> Tensor<D> {
        let (shape, values) = &golden[name];
        Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
    }

    fn tiny(golden: &HashMap<String, (Vec<usize>, Vec<f32>)>, device: &Device) -> Tiny {
        let mut tiny = Tiny {
            conv: Conv2dConfig::new([3, 4], [3, 3]).init(device),
            bn: BatchNorm::new(4, device),
            fc: LinearConfig::new(4, 5).init(device),
        };
        let at = |name: &str| format!("initial.{name}");
        tiny.conv.weight = Param::from_tensor(tensor(golden, &at("conv.weight"), device));
        tiny.conv.bias = Some(Param::from_tensor(tensor(golden, &at("conv.bias"), device)));
        tiny.bn.gamma = Param::from_tensor(tensor(golden, &at("bn.weight"), device));
        tiny.bn.beta = Param::from_tensor(tensor(golden, &at("bn.bias"), device));
        tiny.fc.weight = Param::from_tensor(tensor(golden, &at("fc.weight"), device));
        tiny.fc.bias = Some(Param::from_tensor(tensor(golden, &at("fc.bias"), device)));
        tiny
    }

    /// The largest difference relative to the largest expected value.
    fn relative_error(actual: &[f32], expected: &[f32]) -> f32 {
        assert_eq!(actual.len(), expected.len());
        let scale = expected.iter().fold(0.0f32, |m, e| m.max(e.abs()));
        let worst = actual
            .iter()
            .zip(expected)
            .fold(0.0f32, |m, (a, e)| m.max((a - e).abs()));
        worst / scale
    }

    /// `grads` of a step, registered for the module's parameters.
    fn gradients(
        golden: &HashMap<String, (Vec<usize>, Vec<f32>)>,
        tiny: &Tiny,
        prefix: &str,
        device: &Device,
    ) -> GradientsParams {
        let mut grads = GradientsParams::new();
        let ids = params(tiny).map(|(id, _)| id);
        let name = |i: usize| format!("{prefix}.{}", NAMES[i]);
        grads.register::<4>(ids[0], tensor(golden, &name(0), device));
        grads.register::<1>(ids[1], tensor(golden, &name(1), device));
        grads.register::<1>(ids[2], tensor(golden, &name(2), device));
        grads.register::<1>(ids[3], tensor(golden, &name(3), device));
        grads.register::<2>(ids[4], tensor(golden, &name(4), device));
        grads.register::<1>(ids[5], tensor(golden, &name(5), device));
        grads
    }

    /// Three steps of SGD-nesterov and AdamW, each with every tensor decayed and with the
    /// norms and biases excluded, from the same weights and gradients, give torch.optim's
    /// parameters after every step and its state after the last.
    #[test]
    fn optimisers_match_torch() {
        let settings: serde_json::Value =
            serde_json::from_slice(&std::fs::read(golden("optimizers.json")).unwrap()).unwrap();
        let golden = read_golden();
        let lrs: Vec<f64> = serde_json::from_value(settings["lrs"].clone()).unwrap();
        let device = Device::flex().autodiff();
        for (variant, options) in settings["variants"].as_object().unwrap() {
            let mut flags = serde_json::to_value(TrainConfig::default().optimizer).unwrap();
            for (key, value) in options.as_object().unwrap() {
                flags[key] = value.clone();
            }
            let options: OptimizerOptions = serde_json::from_value(flags).unwrap();
            let mut model = tiny(&golden, &device);
            let mut optim = optimizer(&options, &model);
            for (step, &lr) in lrs.iter().enumerate() {
                let grads = gradients(&golden, &model, &format!("grad.{step}"), &device);
                model = optim.step(lr, model, grads);
                for (name, (_, actual)) in NAMES.iter().zip(params(&model)) {
                    let expected = &golden[&format!("{variant}.{step}.{name}")].1;
                    let error = relative_error(&actual, expected);
                    assert!(error < 1e-5, "{variant}, step {step}, {name}: {error:e}");
                }
            }
            // The state: AdamW's moments, SGD's momentum buffer, by torch's names.
            let record = optim.to_record().into_bytes().unwrap();
            let reader = burn_pack::Reader::from_bytes(record).unwrap();
            let states: &[(&str, &str)] = match options.opt {
                Opt::Adamw => &[("exp_avg", "moment_1"), ("exp_avg_sq", "moment_2")],
                _ => &[("momentum_buffer", "velocity")],
            };
            let names = reader.tensor_names();
            for (name, (id, _)) in NAMES.iter().zip(params(&model)) {
                for (torch, burn) in states {
                    let prefix = format!("{}.", id.val());
                    let key = names
                        .iter()
                        .find(|key| key.starts_with(&prefix) && key.ends_with(burn))
                        .unwrap_or_else(|| panic!("{variant}: no {burn} of {name} in {names:?}"));
                    let bytes = reader.tensor_data(key).unwrap();
                    let actual: Vec<f32> = bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                        .collect();
                    let expected = &golden[&format!("{variant}.state.{torch}.{name}")].1;
                    let error = relative_error(&actual, expected);
                    assert!(error < 1e-5, "{variant}, {torch} of {name}: {error:e}");
                }
            }
        }
    }

    /// The global norm clipping of torch.nn.utils.clip_grad_norm_; gradients within the bound
    /// are left as they are.
    #[test]
    fn clipping_matches_torch() {
        let golden = read_golden();
        let device = Device::flex();
        let model = tiny(&golden, &device);
        for step in 0..3 {
            let grads = gradients(&golden, &model, &format!("grad.{step}"), &device);
            let clipped = flat_gradients(&clip_grad_norm(grads, &model, 0.5), &model);
            let expected = gradients(&golden, &model, &format!("clipped.{step}"), &device);
            let error = relative_error(&clipped, &flat_gradients(&expected, &model));
            assert!(error < 1e-6, "step {step}: {error:e}");
            let grads = gradients(&golden, &model, &format!("grad.{step}"), &device);
            let original = flat_gradients(&grads, &model);
            assert_eq!(
                flat_gradients(&clip_grad_norm(grads, &model, 100.0), &model),
                original
            );
        }
    }

    /// torchvision's grouping: biases (the norms' too) and the norms' weights apart.
    #[test]
    fn weight_decay_groups_are_torchvisions() {
        let device = Device::flex();
        let tiny = Tiny {
            conv: Conv2dConfig::new([3, 4], [3, 3]).init(&device),
            bn: BatchNorm::new(4, &device),
            fc: LinearConfig::new(4, 5).init(&device),
        };
        let kinds = Kinds::of(&tiny);
        assert_eq!(kinds.biases, ["conv.bias", "bn.beta", "fc.bias"]);
        assert_eq!(kinds.norm_weights, ["bn.gamma"]);
    }
}
