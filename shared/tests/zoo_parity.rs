//! Our MobileNetV3, EfficientNet and ConvNeXt on torchvision's own state dicts (its
//! constructors at a quarter of the width, saved by torch: `tools/make_golden.py`) give
//! torchvision's logits (its float64 ones), with torchvision's parameter counts, and their
//! class-activation maps give back the logits; so does one full-size model per family from a
//! photo; every architecture's f16 weights agree with its f32 ones.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{
    FormulaTensor, golden, read_json, read_safetensors, relative_error, temp_dir, write_safetensors,
};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::Deserialize;
use shared::model::{Arch, BatchNorm, Family, HeadPart, Net, NetConfig};
use shared::precision::Precision;
use shared::weights::{
    Head, WeightError, inspect, load_safetensors_bytes, load_torchvision, torchvision_safetensors,
};

/// The bound against torchvision's float64 logits: 1e-5, or four times torch's own worst
/// float32 error (of three orders of arithmetic) where that is larger (the deep EfficientNets),
/// so that float32 arithmetic in another order passes and a wrong layer (even a BatchNorm eps
/// of 1e-3 errs by about 1) does not.
fn tolerance(golden: &Golden, name: &str) -> f64 {
    let torch = golden.values[&format!("{name}_torch_f32_error")]
        .as_f64()
        .unwrap();
    (4.0 * torch).max(1e-5)
}

#[derive(Deserialize)]
struct Golden {
    input: FormulaTensor,
    #[serde(flatten)]
    values: BTreeMap<String, serde_json::Value>,
}

impl Golden {
    fn read() -> Self {
        read_json("zoo_logits.json")
    }

    fn logits(&self, name: &str) -> Vec<f32> {
        let rows: Vec<Vec<f32>> = serde_json::from_value(self.values[name].clone()).unwrap();
        rows.concat()
    }

    fn parameters(&self, name: &str) -> usize {
        self.values[&format!("{name}_parameters")].as_u64().unwrap() as usize
    }
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

/// A golden file through the real loader, which reads the architecture off the file.
fn load(file: &str, arch: Arch, head: Head) -> Result<Net, WeightError> {
    load_torchvision(&golden(file), Some(arch), head, &Device::flex())
}

fn check_logits(name: &str, actual: Vec<f32>, golden: &Golden) {
    let error = relative_error(&actual, &golden.logits(name));
    let tolerance = tolerance(golden, name);
    eprintln!("{name}: relative error {error:e} (bound {tolerance:e})");
    assert!(
        error < tolerance,
        "{name}: relative error {error:e} vs torchvision, over {tolerance:e}"
    );
}

/// torchvision counts parameters without BatchNorm's running statistics (buffers there; burn
/// counts them).
fn check_parameters(name: &str, total: usize, norms: Vec<&BatchNorm>, golden: &Golden) {
    let statistics: usize = norms.iter().map(|n| 2 * n.gamma.dims()[0]).sum();
    assert_eq!(total - statistics, golden.parameters(name), "{name}");
}

#[test]
fn mobilenet_v3_matches_torchvision() {
    let golden = Golden::read();
    let input = golden.input.tensor(&Device::flex());
    for (name, file, arch) in [
        (
            "mobilenet_v3_small_w25",
            "mobilenet_v3_small_w25.pth",
            Arch::MobilenetV3Small,
        ),
        (
            "mobilenet_v3_large_w25",
            "mobilenet_v3_large_w25.safetensors",
            Arch::MobilenetV3Large,
        ),
    ] {
        let net = load(file, arch, Head::Pretrained).unwrap();
        check_logits(name, values(net.forward(input.clone())), &golden);
        check_parameters(name, net.num_params(), net.batch_norms(), &golden);
    }
}

#[test]
fn efficientnet_matches_torchvision() {
    let golden = Golden::read();
    let input = golden.input.tensor(&Device::flex());
    for (name, file, arch) in [
        (
            "efficientnet_b1_w25",
            "efficientnet_b1_w25.pth",
            Arch::EfficientnetB1,
        ),
        (
            "efficientnet_b3_w25",
            "efficientnet_b3_w25.safetensors",
            Arch::EfficientnetB3,
        ),
    ] {
        let net = load(file, arch, Head::Pretrained).unwrap();
        check_logits(name, values(net.forward(input.clone())), &golden);
        check_parameters(name, net.num_params(), net.batch_norms(), &golden);
    }
}

#[test]
fn convnext_matches_torchvision() {
    let golden = Golden::read();
    let input = golden.input.tensor(&Device::flex());
    let name = "convnext_tiny_w25";
    let net = load(
        "convnext_tiny_w25.pth",
        Arch::ConvnextTiny,
        Head::Pretrained,
    )
    .unwrap();
    check_logits(name, values(net.forward(input)), &golden);
    assert!(net.batch_norms().is_empty());
    check_parameters(name, net.num_params(), Vec::new(), &golden);
}

/// Every family's new head: the features are the file's, the final Linear has the new classes.
#[test]
fn new_head_keeps_the_features() {
    let input = Tensor::<4>::ones([1, 3, 64, 64], &Device::flex());
    let features = |net: &Net| values(net.features(input.clone()));
    for (file, arch) in [
        ("mobilenet_v3_large_w25.safetensors", Arch::MobilenetV3Large),
        ("efficientnet_b3_w25.safetensors", Arch::EfficientnetB3),
        ("convnext_tiny_w25.pth", Arch::ConvnextTiny),
    ] {
        let pretrained = load(file, arch, Head::Pretrained).unwrap();
        let transfer = load(file, arch, Head::New { num_classes: 3 }).unwrap();
        assert_eq!(transfer.num_classes(), 3, "{file}");
        assert_eq!(features(&pretrained), features(&transfer), "{file}");
    }
}

#[test]
fn new_head_keeps_the_features_and_replaces_classifier_3() {
    let file = "mobilenet_v3_small_w25.pth";
    let small = Arch::MobilenetV3Small;
    let pretrained = load(file, small, Head::Pretrained).unwrap();
    let transfer = load(file, small, Head::New { num_classes: 3 }).unwrap();
    assert_eq!(transfer.num_classes(), 3);
    let input = Tensor::<4>::ones([1, 3, 64, 64], &Device::flex());
    let features = |net: &Net| values(net.features(input.clone()));
    assert_eq!(features(&pretrained), features(&transfer));
    // The hidden Linear (`classifier.0`) comes from the file too: only `classifier.3` is new.
    let hidden = |net: &Net| match net {
        Net::MobileNetV3(net) => match &net.classifier[0] {
            HeadPart::Linear(linear) => values(linear.weight.val()),
            _ => panic!("classifier.0 is a Linear"),
        },
        _ => panic!("a MobileNetV3"),
    };
    assert_eq!(hidden(&pretrained), hidden(&transfer));
}

/// Each file says what it holds: the architecture, torchvision's width and the classes.
#[test]
fn files_are_recognised() {
    for (file, arch, classes) in [
        ("mobilenet_v3_small_w25.pth", Arch::MobilenetV3Small, 6),
        (
            "mobilenet_v3_large_w25.safetensors",
            Arch::MobilenetV3Large,
            5,
        ),
        ("efficientnet_b1_w25.pth", Arch::EfficientnetB1, 4),
        ("efficientnet_b3_w25.safetensors", Arch::EfficientnetB3, 3),
        ("convnext_tiny_w25.pth", Arch::ConvnextTiny, 4),
    ] {
        let info = inspect(&golden(file)).unwrap();
        assert_eq!((info.arch, info.num_classes), (arch, classes), "{file}");
        let width = info.width_mult * arch_width(arch);
        assert!((width - 0.25).abs() < 1e-12, "{file}: {}", info.width_mult);
    }
}

/// The width multiplier torchvision's constructor uses at width 1 (EfficientNet-B3: 1.2).
fn arch_width(arch: Arch) -> f64 {
    match arch.family() {
        Family::EfficientNet(scale) => scale.width(),
        _ => 1.0,
    }
}

#[test]
fn the_other_variants_file_is_refused() {
    let file = "mobilenet_v3_small_w25.pth";
    let err = load(file, Arch::MobilenetV3Large, Head::Pretrained).unwrap_err();
    assert!(matches!(err, WeightError::WrongArch { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.ends_with(
            "mobilenet_v3_small_w25.pth: holds mobilenet_v3_small weights, but \
             mobilenet_v3_large was asked for"
        ),
        "{message}"
    );
}

/// The maps' mean over positions plus the final bias is the logit, for every head:
/// MobileNetV3's two Linears with a Hardswish between, EfficientNet's one Linear, ConvNeXt's
/// LayerNorm and Linear (on the golden networks, whose outputs depend on the image).
#[test]
fn cam_means_plus_bias_are_the_logits() {
    let device = Device::flex();
    let images = Tensor::<4>::random([2, 3, 96, 96], Distribution::Normal(0.0, 1.0), &device);
    let check = |name: &str, maps: Tensor<4>, bias: Tensor<1>, logits: Tensor<2>| {
        let [batch, classes, height, width] = maps.dims();
        assert_eq!([batch, height, width], [2, 3, 3], "{name}");
        let pooled = maps.mean_dim(3).mean_dim(2).reshape([batch, classes]);
        let from_maps = values(pooled + bias.unsqueeze());
        let logits = values(logits);
        let error = relative_error(&from_maps, &logits);
        assert!(error < 1e-5, "{name}: {from_maps:?} vs {logits:?}");
        assert_ne!(&from_maps[..classes], &from_maps[classes..], "{name}");
    };
    for (file, arch) in [
        ("mobilenet_v3_small_w25.pth", Arch::MobilenetV3Small),
        ("mobilenet_v3_large_w25.safetensors", Arch::MobilenetV3Large),
        ("efficientnet_b1_w25.pth", Arch::EfficientnetB1),
        ("convnext_tiny_w25.pth", Arch::ConvnextTiny),
    ] {
        let net = load(file, arch, Head::Pretrained).unwrap();
        let maps = net.class_activation_maps(net.features(images.clone()));
        let bias = net.final_linear().bias.as_ref().unwrap().val();
        check(file, maps, bias, net.forward(images.clone()));
    }
}

/// Every architecture stored as `trainer export` writes it: in f32 the weights give the
/// model's logits exactly, in f16 within f16's rounding (a relative error of about 1e-3).
#[test]
fn f16_weights_agree_with_f32_for_every_architecture() {
    let device = Device::flex();
    let images = Tensor::<4>::random([2, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);
    for arch in Arch::ALL {
        let net = NetConfig::new()
            .with_arch(arch)
            .with_width_mult(0.25)
            .with_num_classes(5)
            .init(&device);
        let reference = values(net.forward(images.clone()));
        for (precision, bound) in [(Precision::F32, 0.0), (Precision::F16, 1e-2)] {
            let bytes = torchvision_safetensors(&net, precision).unwrap();
            let (loaded, info) =
                load_safetensors_bytes(Path::new("model.safetensors"), bytes, Some(arch), &device)
                    .unwrap();
            assert_eq!((info.arch, info.num_classes), (arch, 5));
            let error = relative_error(&values(loaded.forward(images.clone())), &reference);
            eprintln!("{arch} in {precision}: relative error {error:e}");
            assert!(
                error <= bound,
                "{arch} in {precision}: relative error {error:e}"
            );
        }
    }
}

/// A family's full-size model with formula parameters (`tools/make_golden.py`), and its
/// torchvision logits for a PNG photo through the architecture's transforms.
#[derive(Deserialize)]
struct FullSize {
    photo: String,
    params: Vec<FormulaTensor>,
    logits: Vec<Vec<f32>>,
    torch_f32_error: f64,
}

/// One full-size model per family, torchvision's structure at width 1 with 1000 classes, from
/// a user's photo to the logits: the weights written as a user's file and read by the real
/// loader (BatchNorm's running statistics from a small committed file), the photo through
/// the architecture's own resize, crop and filter.
#[test]
fn full_size_models_match_torchvision_on_a_photo() {
    let device = Device::flex();
    let dir = temp_dir("full-size");
    for arch in [
        Arch::MobilenetV3Large,
        Arch::EfficientnetB0,
        Arch::ConvnextTiny,
    ] {
        let expected: FullSize = read_json(&format!("{arch}_formula.json"));
        let mut tensors: Vec<_> = expected
            .params
            .iter()
            .map(|p| (p.name.clone(), p.shape.clone(), p.values()))
            .collect();
        let stats = golden(&format!("{arch}_formula_stats.safetensors"));
        if stats.exists() {
            tensors.extend(read_safetensors(&stats));
        }
        let path = dir.join(format!("{arch}.safetensors"));
        write_safetensors(&path, &tensors);
        let net = load_torchvision(&path, Some(arch), Head::Pretrained, &device).unwrap();

        let size = arch.input_size();
        let photo = std::fs::read(golden(&expected.photo)).unwrap();
        let input = shared::preprocess::eval_input(&photo, size).unwrap();
        let side = size.crop as usize;
        let images = Tensor::from_data(TensorData::new(input, [1, 3, side, side]), &device);
        let error = relative_error(&values(net.forward(images)), &expected.logits.concat());
        let bound = (4.0 * expected.torch_f32_error).max(1e-5);
        eprintln!("{arch} at full size: relative error {error:e} (bound {bound:e})");
        assert!(
            error < bound,
            "{arch}: relative error {error:e} vs torchvision"
        );
    }
}
