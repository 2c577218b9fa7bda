//! Wrong weight files are refused with a message that names the file and what is wrong.

use crate::common::{golden, read_safetensors, temp_dir, write_safetensors};
use burn::prelude::*;
use shared::model::Arch;
use shared::weights::{Head, WeightError, load_torchvision};

fn load(path: &std::path::Path, arch: Option<Arch>) -> Result<(), WeightError> {
    load_torchvision(path, arch, Head::Pretrained, &Device::flex()).map(|_| ())
}

/// The narrow ResNet-18 state dict as (name, shape, values), to be edited.
fn resnet18_tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut tensors = read_safetensors(&golden("resnet18_w8.safetensors"));
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

#[test]
fn not_a_weight_file() {
    let dir = temp_dir("not-weights");
    let path = dir.join("model.pth");
    std::fs::write(&path, "these are not the weights you are looking for").unwrap();
    let err = load(&path, None).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: not a weight file (expected a PyTorch .pth/.pt saved by torch.save, or .safetensors)",
            path.display()
        )
    );
    let missing = dir.join("absent.pth");
    let err = load(&missing, None).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: No such file", missing.display())),
        "{err}"
    );
}

#[test]
fn truncated_pth_is_unreadable_not_a_crash() {
    let dir = temp_dir("truncated");
    let bytes = std::fs::read(golden("resnet50_w8.pth")).unwrap();
    let path = dir.join("resnet50.pth");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load(&path, None).unwrap_err();
    assert!(matches!(err, WeightError::Unreadable { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read PyTorch weights", path.display()))
    );
}

#[test]
fn another_depth_than_asked_for() {
    let path = golden("resnet18_w8.safetensors");
    let err = load(&path, Some(Arch::Resnet50)).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: holds resnet18 weights, but resnet50 was asked for",
            path.display()
        )
    );
}

#[test]
fn wrong_shapes_missing_and_extra_tensors_are_all_listed() {
    let mut tensors = resnet18_tensors();
    tensors.retain(|(name, _, _)| name != "layer3.1.bn1.running_var");
    let conv = tensors
        .iter_mut()
        .find(|(name, _, _)| name == "layer2.0.conv2.weight")
        .unwrap();
    conv.1 = vec![16, 16, 1, 9]; // same element count, wrong shape
    tensors.push(("layer5.0.conv1.weight".into(), vec![2], vec![0.0, 1.0]));

    let dir = temp_dir("mismatch");
    let path = dir.join("edited.safetensors");
    write_safetensors(&path, &tensors);
    let err = load(&path, Some(Arch::Resnet18)).unwrap_err().to_string();
    let head = format!("{}: does not match resnet18:", path.display());
    assert!(err.starts_with(&head), "{err}");
    for expected in [
        "1 tensors with the wrong shape or type",
        "layer2.0.conv2.weight",
        "1 parameters missing from the file",
        "layer3.1.bn1.running_var",
        "1 tensors in the file that the model does not have",
        "layer5.0.conv1.weight",
    ] {
        assert!(err.contains(expected), "`{expected}` not in:\n{err}");
    }
}

#[test]
fn a_state_dict_of_something_else() {
    let dir = temp_dir("not-resnet");
    let path = dir.join("mlp.safetensors");
    write_safetensors(
        &path,
        &[(
            "encoder.weight".into(),
            vec![2, 2],
            vec![1.0, 2.0, 3.0, 4.0],
        )],
    );
    let err = load(&path, None).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: not a torchvision state dict of a known architecture: none of ResNet's \
             `conv1.weight`, MobileNetV3's `classifier.3.weight`, EfficientNet's \
             `classifier.1.weight` or ConvNeXt's `classifier.2.weight` among its 1 tensors",
            path.display()
        )
    );
}

#[test]
fn a_pickle_that_calls_os_system_is_refused_not_run() {
    let dir = temp_dir("evil");
    let marker = dir.join("pwned");
    let command = format!("touch {}", marker.display());
    // A legacy pickle: GLOBAL posix.system, the command string, TUPLE1, REDUCE, STOP.
    let mut pickle = b"\x80\x02cposix\nsystem\nq\x00X".to_vec();
    pickle.extend_from_slice(&(command.len() as u32).to_le_bytes());
    pickle.extend_from_slice(command.as_bytes());
    pickle.extend_from_slice(b"q\x01\x85q\x02Rq\x03.");
    let path = dir.join("evil.pth");
    std::fs::write(&path, pickle).unwrap();

    let err = load(&path, None).unwrap_err();
    assert!(
        matches!(&err, WeightError::RunsCode { call, .. } if call == "posix.system"),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
    assert!(!marker.exists(), "the pickle's command ran");
}

/// Shapes decide the model that is built: a file cannot make it allocate more than its own
/// size justifies, nor ask for an absurd width.
#[test]
fn shapes_asking_for_a_huge_model_are_refused_before_it_is_built() {
    let dir = temp_dir("huge");
    for (width, expected) in [
        (
            1024,
            "its shapes make a resnet18 of 2856819717 values, more than its 1319124 bytes hold",
        ),
        (
            1025,
            "its channels make a model 16.016 times torchvision's width, more than the 16 accepted",
        ),
    ] {
        let mut tensors = resnet18_tensors();
        let conv1 = tensors.iter_mut().find(|t| t.0 == "conv1.weight").unwrap();
        conv1.1 = vec![width, 3, 7, 7];
        conv1.2 = vec![0.0; width * 3 * 7 * 7];
        let path = dir.join(format!("wide-{width}.safetensors"));
        write_safetensors(&path, &tensors);
        let err = load(&path, None).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: not a torchvision state dict of a known architecture: {expected}",
                path.display()
            )),
            "{err}"
        );
    }
}

/// Another family's file than asked for: the family the file holds, named.
#[test]
fn a_mobilenet_file_given_as_convnext() {
    let path = golden("mobilenet_v3_small_w25.pth");
    let err = load(&path, Some(Arch::ConvnextTiny))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: holds mobilenet_v3_small weights, but convnext_tiny was asked for",
            path.display()
        )
    );
}

/// A truncated EfficientNet file, in either format, is unreadable, and said so; the loader
/// does not panic on any cut.
#[test]
fn truncated_efficientnet_files_are_unreadable() {
    let dir = temp_dir("truncated-efficientnet");
    for (file, format) in [
        ("efficientnet_b1_w25.pth", "PyTorch"),
        ("efficientnet_b3_w25.safetensors", "safetensors"),
    ] {
        let bytes = std::fs::read(golden(file)).unwrap();
        let path = dir.join(file);
        for cut in [bytes.len() / 3, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = load(&path, Some(Arch::EfficientnetB1)).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, WeightError::Unreadable { .. }),
                "{file} cut at {cut}: {message}"
            );
            assert!(
                message.starts_with(&format!("{}: cannot read {format} weights", path.display())),
                "{message}"
            );
        }
    }
}
