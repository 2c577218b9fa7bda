//! Our ResNet on torchvision's weights gives torchvision's logits (golden values from
//! `tools/make_golden.py`).

use crate::common::{
    FormulaTensor, golden, read_json, relative_error, temp_dir, write_safetensors,
};
use burn::prelude::*;
use serde::Deserialize;
use shared::model::Arch;
use shared::weights::{Head, WeightFormat, inspect, load_torchvision};

/// f32 on the CPU: the acceptance bound of the product's parity promise.
const TOLERANCE: f64 = 1e-4;

#[derive(Deserialize)]
struct FormulaGolden {
    input: FormulaTensor,
    params: Vec<FormulaTensor>,
    logits: Vec<Vec<f32>>,
}

#[derive(Deserialize)]
struct NarrowGolden {
    input: FormulaTensor,
    resnet50_w8: Vec<Vec<f32>>,
    resnet18_w8: Vec<Vec<f32>>,
}

fn logits(model: &shared::model::Net, input: Tensor<4>) -> Vec<f32> {
    model
        .forward(input)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn resnet50_matches_torchvision_logits() {
    let device = Device::flex();
    let golden: FormulaGolden = read_json("resnet50_formula.json");
    // The full-size ResNet-50 weights are recomputed from the formula and written the way a
    // user's file would be, then go through the real loader.
    let dir = temp_dir("formula");
    let path = dir.join("resnet50-formula.safetensors");
    let tensors: Vec<_> = golden
        .params
        .iter()
        .map(|p| (p.name.clone(), p.shape.clone(), p.values()))
        .collect();
    write_safetensors(&path, &tensors);

    let model = load_torchvision(&path, Some(Arch::Resnet50), Head::Pretrained, &device).unwrap();
    let actual = logits(&model, golden.input.tensor(&device));
    let expected = golden.logits.concat();
    let error = relative_error(&actual, &expected);
    eprintln!("relative error {error:e}");
    assert!(error < TOLERANCE, "relative error {error:e} vs torchvision");
}

/// A state dict written by PyTorch itself loads, is recognised, and gives torchvision's logits
/// on `device`.
fn check_torch_file(
    device: Device,
    file: &str,
    format: WeightFormat,
    arch: Arch,
    classes: usize,
    logits_of: fn(&NarrowGolden) -> &Vec<Vec<f32>>,
) {
    let path = golden(file);
    let expected: NarrowGolden = read_json("narrow_logits.json");
    let info = inspect(&path).unwrap();
    assert_eq!(info.format, format);
    assert_eq!(
        (info.arch, info.width_mult, info.num_classes),
        (arch, 0.125, classes)
    );

    let model = load_torchvision(&path, Some(arch), Head::Pretrained, &device).unwrap();
    let error = relative_error(
        &logits(&model, expected.input.tensor(&device)),
        &logits_of(&expected).concat(),
    );
    eprintln!("{file}: relative error {error:e}");
    assert!(
        error < TOLERANCE,
        "{file}: relative error {error:e} vs torchvision"
    );
}

#[test]
fn torch_saved_pth_loads_and_matches() {
    check_torch_file(
        Device::flex(),
        "resnet50_w8.pth",
        WeightFormat::Pytorch,
        Arch::Resnet50,
        6,
        |g| &g.resnet50_w8,
    );
}

#[test]
fn torch_saved_safetensors_loads_and_matches() {
    check_torch_file(
        Device::flex(),
        "resnet18_w8.safetensors",
        WeightFormat::Safetensors,
        Arch::Resnet18,
        5,
        |g| &g.resnet18_w8,
    );
}

#[test]
fn new_head_keeps_the_backbone_and_replaces_the_classifier() {
    let device = Device::flex();
    let path = golden("resnet50_w8.pth");
    let pretrained = load_torchvision(&path, None, Head::Pretrained, &device).unwrap();
    let transfer = load_torchvision(&path, None, Head::New { num_classes: 3 }, &device).unwrap();
    assert_eq!(transfer.num_classes(), 3);

    let input = Tensor::<4>::ones([1, 3, 64, 64], &device);
    let features = |m: &shared::model::Net| {
        m.features(input.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(features(&pretrained), features(&transfer));
}

/// The same model code on burn's wgpu backend: a real GPU, or lavapipe on machines without one.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_backend_matches_torchvision() {
    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    // Compiled kernels and autotune results in the target folder, where the trainer's tests
    // keep theirs (scripts/test.sh), rather than cubecl's default: `target/` of the clone.
    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    config.environment.path =
        CacheConfig::Directory(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kernels"));
    CubeClRuntimeConfig::try_set(config);
    check_torch_file(
        Device::wgpu(Default::default()),
        "resnet50_w8.pth",
        WeightFormat::Pytorch,
        Arch::Resnet50,
        6,
        |g| &g.resnet50_w8,
    );
}
