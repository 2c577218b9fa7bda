//! `trainer classify` on a torchvision weight file, as a user checks downloaded weights.

use std::fs;
use std::path::Path;

use crate::common::{temp_dir, toy_image, trainer};
use rand::SeedableRng;

#[test]
fn torchvision_weights_with_a_labels_file() {
    let dir = temp_dir("classify");
    let photo = dir.join("photo.png");
    toy_image(0, 2, &mut rand::rngs::StdRng::seed_from_u64(1))
        .save(&photo)
        .unwrap();
    let weights =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sgd/resnet18/initial.safetensors");
    let (weights, photo) = (weights.to_str().unwrap(), photo.to_str().unwrap());

    let classify = |options: &[&str]| {
        let args = [
            &["classify", "--device", "cpu", "--model", weights],
            options,
            &[photo],
        ];
        trainer(&args.concat())
    };
    let labels = dir.join("labels.txt");
    let labels_arg = labels.to_str().unwrap();
    fs::write(&labels, "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\n").unwrap();
    let out = classify(&["--labels", labels_arg, "--top-k", "6"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"] {
        assert!(stdout.contains(name), "{stdout}");
    }

    // Without labels the classes are numbered; with the wrong number of names it is refused.
    let out = classify(&["--json"]);
    let answers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answers[0]["classes"][5], "5");
    fs::write(&labels, "alpha\nbeta\n").unwrap();
    let out = classify(&["--labels", labels_arg]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has 2 names, the model 6 classes"));
}
