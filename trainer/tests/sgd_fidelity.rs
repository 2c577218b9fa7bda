//! Training fidelity against PyTorch: from the same weights and the same fixed batches, a few
//! steps of the trainer's own Learner step and optimiser (SGD with momentum and weight decay,
//! BatchNorm in train mode) give PyTorch's losses, parameters and running statistics, for a
//! ResNet, a MobileNetV3 (BatchNorm with torchvision's momentum 0.01, depthwise convolutions,
//! SE, Hardswish) and a ConvNeXt (LayerNorm, GELU, layer scale; no BatchNorm).
//! Golden values: `tools/make_train_golden.py`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::nn::DropoutConfig;
use burn::prelude::*;
use burn::store::ModuleSnapshot;
use burn::train::Learner;
use safetensors::SafeTensors;
use shared::heads::Heads;
use shared::model::{Arch, HeadPart, Net};
use shared::tasks::Mark;
use shared::weights::{Head, load_torchvision};
use trainer::recipe::TrainConfig;
use trainer::train::loader::Batch;
use trainer::train::step::Classifier;
use trainer::train::{optimizer, schedule};

/// The golden models: the folder `tools/make_train_golden.py` wrote, and the architecture.
const MODELS: [(&str, Arch); 3] = [
    ("resnet18", Arch::Resnet18),
    ("mobilenet_v3_small", Arch::MobilenetV3Small),
    ("convnext_tiny", Arch::ConvnextTiny),
];

fn golden(model: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/sgd")
        .join(model)
        .join(name)
}

/// The optimiser's settings (the architecture comes from the weight file).
fn config(settings: &serde_json::Value) -> TrainConfig {
    let mut config = TrainConfig {
        epochs: 1,
        batch_size: 4,
        seed: 0,
        ..TrainConfig::default()
    };
    config.model.pretrained = "none".into();
    config.optimizer.lr = settings["lr"].as_f64().unwrap();
    config.optimizer.momentum = settings["momentum"].as_f64().unwrap();
    config.optimizer.weight_decay = settings["weight_decay"].as_f64().unwrap();
    config.schedule.lr_steps = vec![];
    config
}

/// The network's tensors by name, as f32.
fn tensors(net: &Net) -> HashMap<String, Vec<f32>> {
    net.collect(None, None, true)
        .into_iter()
        .map(|t| {
            let bytes = t.to_bytes().unwrap();
            let values = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (t.name.clone(), values)
        })
        .collect()
}

/// The golden MobileNetV3 was trained without its classifier's dropout (random masks cannot
/// be compared); the others have none.
fn without_dropout(net: Net) -> Net {
    match net {
        Net::MobileNetV3(mut net) => {
            for part in &mut net.classifier {
                if let HeadPart::Dropout(dropout) = part {
                    *dropout = DropoutConfig::new(0.0).init();
                }
            }
            Net::MobileNetV3(net)
        }
        net => net,
    }
}

#[test]
fn sgd_steps_match_pytorch() {
    for (model, arch) in MODELS {
        sgd_steps_match(model, arch);
    }
}

fn sgd_steps_match(model: &str, arch: Arch) {
    let golden = |name: &str| golden(model, name);
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden("sgd.json")).unwrap()).unwrap();
    let device = Device::flex();
    let train_device = device.clone().autodiff();
    let net = load_torchvision(
        &golden("initial.safetensors"),
        Some(arch),
        Head::Pretrained,
        &train_device,
    )
    .unwrap();
    let net = without_dropout(net);
    let config = config(&settings);
    let classes = (0..net.num_classes()).map(|c| c.to_string()).collect();
    let heads = Heads::single("golden", classes).unwrap();
    let classifier = Classifier::new(net, heads, &config);
    let optim = optimizer::optimizer(&config.optimizer, &classifier);
    let mut learner = Learner::new(classifier, optim, schedule::Schedule::new(&config, 1));

    let batches_file = std::fs::read(golden("batches.safetensors")).unwrap();
    let batches = SafeTensors::deserialize(&batches_file).unwrap();
    let inputs = batches.tensor("inputs").unwrap();
    let targets = batches.tensor("targets").unwrap();
    let [steps, batch, channels, size, _] = inputs.shape()[..] else {
        panic!("inputs shape")
    };
    let inputs: Vec<f32> = inputs
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let targets: Vec<i64> = targets
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let per_step = batch * channels * size * size;

    let expected_losses = settings["losses"].as_array().unwrap();
    for step in 0..steps {
        let images = TensorData::new(
            inputs[step * per_step..(step + 1) * per_step].to_vec(),
            [batch, channels, size, size],
        );
        let step_targets = &targets[step * batch..(step + 1) * batch];
        let batch = Batch {
            images: Tensor::from_data(images, &train_device),
            targets: Tensor::from_data(TensorData::from(step_targets), &train_device),
            marks: Arc::new(vec![vec![Mark::No; 6]; batch]),
            tasks: Arc::new(vec![0; batch]),
            mixed: None,
        };
        // What burn-train's epoch loop does for each batch.
        let output = learner.train_step(batch);
        learner.lr_step();
        learner.optimizer_step(output.grads);
        let loss = output.item.loss.into_scalar::<f32>() as f64;
        let expected = expected_losses[step].as_f64().unwrap();
        assert!(
            (loss - expected).abs() <= 1e-4 * expected.abs(),
            "{model}, step {step}: loss {loss}, PyTorch {expected}"
        );
    }

    // Compare what the steps changed: a tolerance on the parameters alone would hide a wrong
    // weight decay or momentum behind the size of the weights.
    let load = |name: &str| {
        let net = load_torchvision(&golden(name), Some(arch), Head::Pretrained, &device).unwrap();
        tensors(&net)
    };
    let (initial, theirs) = (load("initial.safetensors"), load("final.safetensors"));
    let torch_float32 = load("final_float32.safetensors");
    // `valid()`, as burn-train's validation does before each checkpoint, also folds the last
    // step's pending BatchNorm statistics into the model.
    let ours = tensors(&learner.model().valid().net);
    assert_eq!(ours.len(), theirs.len());
    // Each tensor's largest difference from the float64 run, relative to what the steps
    // changed in it, against a bound: 2e-3 (float32 rounding gives ~1e-4 here; dropping weight
    // decay gives 0.5, dampening 0.1 gives 0.3), or four times PyTorch's own float32 run's
    // where that is larger (MobileNetV3's running means move by 0.01 of a batch's mean a step,
    // a change near float32's resolution of the value).
    let mut worst = (0.0f32, String::new(), 0.0f32);
    for (name, expected) in &theirs {
        let start = &initial[name];
        let change = expected
            .iter()
            .zip(start)
            .fold(0.0f32, |m, (e, s)| m.max((e - s).abs()))
            .max(1e-6);
        let error = |actual: &[f32]| {
            actual
                .iter()
                .zip(expected)
                .fold(0.0f32, |m, (a, e)| m.max((a - e).abs()))
                / change
        };
        let (relative, bound) = (
            error(&ours[name]),
            (4.0 * error(&torch_float32[name])).max(2e-3),
        );
        if relative / bound > worst.0 / worst.2.max(f32::MIN_POSITIVE) {
            worst = (relative, name.clone(), bound);
        }
    }
    let (relative, name, bound) = worst;
    println!(
        "{model}: largest difference from PyTorch, relative to the update: {relative:.2e} in \
         {name} (bound {bound:.1e})"
    );
    assert!(
        relative < bound,
        "{model}: {name} differs from PyTorch by {relative:.2e} of its update (bound {bound:.1e})"
    );
}
