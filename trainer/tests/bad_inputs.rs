//! The committed bad-input corpus (`tests/bad_inputs/`, written by
//! `tools/make_bad_inputs.py`): for each file, exactly what the user is told (the file named,
//! the problem named) or how an awkward but valid file is read, and that the good files
//! handled alongside are unaffected.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use std::process::Output;

use crate::common::{TempDir, classify_json, floats, read_json, temp_dir, trainer};
use shared::preprocess::decode_rgb;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bad_inputs")
        .join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Photos that must be refused, with the message the user sees next to the file's name.
const REFUSED: [(&str, &str); 7] = [
    (
        "truncated.jpg",
        "truncated JPEG: the file ends before its image data does",
    ),
    (
        "bad-huffman.jpg",
        "cannot decode Jpeg image: Format error decoding Jpeg: \
         \"Encountered Huffman table with excessive length in DHT\"",
    ),
    (
        "bomb.png",
        "image is 100000x100000 pixels, over the limit of 100000000 pixels / 30000 per side",
    ),
    ("empty.jpg", "empty file"),
    (
        "notes.jpg",
        "not a supported image (expected JPEG, PNG or WebP)",
    ),
    (
        "animated.gif",
        "Gif images are not supported (expected JPEG, PNG or WebP)",
    ),
    // Not an image format at all, whatever the name says.
    (
        "tiny-resnet18.safetensors",
        "not a supported image (expected JPEG, PNG or WebP)",
    ),
];

/// Awkward photos that must be read, as PIL reads them.
const READ: [&str; 7] = [
    "good.jpg",
    "cmyk.jpg",
    "grey.jpg",
    "grey-16bit.png",
    "animated.webp",
    "exif-6.jpg",
    "exif-8.jpg",
];

/// `trainer classify --json` with the tiny corpus model: image -> error or probabilities.
fn classify(images: &[&str]) -> (bool, BTreeMap<String, Result<Vec<f64>, String>>) {
    let photos: Vec<_> = images.iter().map(|name| corpus(name)).collect();
    let (ok, answers) = classify_json(&corpus("tiny-resnet18.safetensors"), &photos);
    let answers = answers
        .iter()
        .map(|a| {
            let image = a["image"].as_str().unwrap();
            let name = Path::new(image).file_name().unwrap().to_str().unwrap();
            let answer = match a["error"].as_str() {
                Some(error) => Err(error.to_string()),
                None => Ok(floats(a, "probabilities")),
            };
            (name.to_string(), answer)
        })
        .collect();
    (ok, answers)
}

#[test]
fn every_photo_gets_an_answer_or_its_own_error() {
    let mut all: Vec<&str> = REFUSED.iter().map(|(name, _)| *name).collect();
    all.extend(READ);
    let (ok, answers) = classify(&all);
    assert!(!ok, "a batch with unreadable photos fails");
    assert_eq!(answers.len(), all.len());
    for (name, message) in REFUSED {
        assert_eq!(answers[name], Err(message.to_string()), "{name}");
    }
    // The good photos get the answers they get on their own: a bad neighbour changes nothing.
    let (ok, alone) = classify(&READ);
    assert!(ok);
    for name in READ {
        let (mixed, alone) = (answers[name].as_ref(), alone[name].as_ref());
        assert_eq!(mixed.unwrap(), alone.unwrap(), "{name}");
    }

    // Without --json, each refused photo is reported on a line starting with its path.
    let notes = corpus("notes.jpg");
    let plain = trainer(&[
        "classify",
        "--device",
        "cpu",
        "--model",
        corpus("tiny-resnet18.safetensors").to_str().unwrap(),
        corpus("good.jpg").to_str().unwrap(),
        notes.to_str().unwrap(),
    ]);
    assert!(text(&plain.stderr).contains(&format!(
        "{}: not a supported image (expected JPEG, PNG or WebP)",
        notes.display()
    )));
    assert!(text(&plain.stdout).contains("good.jpg"));
}

/// The colour of the pixel a quarter of the way in from each corner: top-left, top-right,
/// bottom-left, bottom-right.
fn corners(name: &str) -> ((u32, u32), [[u8; 3]; 4]) {
    let image = decode_rgb(&fs::read(corpus(name)).unwrap()).unwrap();
    let (w, h) = image.dimensions();
    let at = |x, y| image.get_pixel(x, y).0;
    (
        (w, h),
        [
            at(w / 4, h / 4),
            at(3 * w / 4, h / 4),
            at(w / 4, 3 * h / 4),
            at(3 * w / 4, 3 * h / 4),
        ],
    )
}

/// Which of red, green, blue or white a pixel is.
fn colour(rgb: [u8; 3]) -> char {
    match rgb {
        [r, g, b] if r > 180 && g > 180 && b > 180 => 'w',
        [r, g, b] if r > 150 && g < 90 && b < 90 => 'r',
        [r, g, b] if g > 150 && r < 90 && b < 90 => 'g',
        [r, g, b] if b > 150 && r < 90 && g < 90 => 'b',
        _ => '?',
    }
}

#[test]
fn awkward_photos_are_read_as_pil_reads_them() {
    let layout = |name| {
        let (size, corners) = corners(name);
        (size, corners.map(colour).iter().collect::<String>())
    };
    // Red, green / blue, white; 96 x 64.
    assert_eq!(layout("good.jpg"), ((96, 64), "rgbw".into()));
    // CMYK (Adobe's inverted convention, as Photoshop and PIL write it) comes back as RGB.
    assert_eq!(layout("cmyk.jpg"), ((96, 64), "rgbw".into()));
    // The first frame of an animation, as PIL's `Image.open` gives.
    assert_eq!(layout("animated.webp"), ((96, 64), "rgbw".into()));
    // EXIF orientation 6 (turn 90 degrees clockwise) and 8 (counter-clockwise).
    assert_eq!(layout("exif-6.jpg"), ((64, 96), "brwg".into()));
    assert_eq!(layout("exif-8.jpg"), ((64, 96), "gwrb".into()));
    // Greyscale: three equal channels.
    let (_, grey) = corners("grey.jpg");
    assert!(grey.iter().all(|[r, g, b]| r == g && g == b), "{grey:?}");
    // 16 bits per sample: scaled to 8 bits, the ramp from black to white kept.
    let ramp = decode_rgb(&fs::read(corpus("grey-16bit.png")).unwrap()).unwrap();
    let row: Vec<u8> = ramp.pixels().map(|p| p.0[0]).collect();
    assert_eq!((row[0], row[row.len() - 1]), (0, 255));
    assert!(row.windows(2).all(|w| w[0] <= w[1]));
}

/// `trainer prepare` on a FashionAI root whose `label.csv` is the corpus file, with images
/// a, b and c: the rows kept and `bad_rows.txt`.
fn prepare_csv(name: &str) -> (usize, String) {
    let dir = temp_dir(&format!("csv-{name}"));
    let (root, run) = (dir.join("data"), dir.join("run"));
    let images = root.join("Images/skirt_length_labels");
    fs::create_dir_all(&images).unwrap();
    fs::create_dir_all(root.join("Annotations")).unwrap();
    for image in ["a", "b", "c"] {
        fs::copy(corpus("good.jpg"), images.join(format!("{image}.jpg"))).unwrap();
    }
    fs::copy(corpus(name), root.join("Annotations/label.csv")).unwrap();
    let out = crate::common::prepare(&root, &run, &[]);
    assert!(out.status.success(), "{name}");
    let info = read_json(&run.join("dataset.json"));
    let kept = info["counts"]["train"].as_u64().unwrap() + info["counts"]["val"].as_u64().unwrap();
    let bad = fs::read_to_string(run.join("bad_rows.txt")).unwrap_or_default();
    let bad = bad.replace(&format!("{}/", root.display()), "<root>/");
    (kept as usize, bad)
}

#[test]
fn label_csvs_report_each_bad_row_and_keep_the_rest() {
    let label = "<root>/Annotations/label.csv";
    for (name, reason) in [
        (
            "wrong-label-length.csv",
            "label `nyn` has 3 characters, the task has 6 classes",
        ),
        (
            "two-y.csv",
            "label `yynnnn` has 2 `y` (positions [0, 1]), expected exactly one",
        ),
        ("no-y.csv", "label `nnnmnn` has no `y`"),
        (
            "unknown-task.csv",
            "unknown task `skirt_colour_labels` (expected one of skirt_length_labels, \
             coat_length_labels, collar_design_labels, lapel_design_labels, \
             neck_design_labels, neckline_design_labels, pant_length_labels, \
             sleeve_length_labels)",
        ),
        (
            "missing-image.csv",
            "image <root>/Images/skirt_length_labels/missing.jpg does not exist",
        ),
    ] {
        let (kept, bad) = prepare_csv(name);
        assert_eq!(bad.trim_end(), format!("{label}:2: {reason}"), "{name}");
        assert_eq!(kept, 2, "{name}: the two good rows are kept");
    }
    // A byte-order mark and Windows line endings are just a CSV.
    assert_eq!(prepare_csv("bom-crlf.csv"), (3, String::new()));
}

/// What the malicious pickles would create if they ran.
const PWNED: &str = "/tmp/fashionai-bad-input-was-executed";

#[test]
fn weight_files_are_read_never_run() {
    let _ = fs::remove_file(PWNED);
    let refused = |path: &Path, call: &str| {
        format!(
            "error: {}: refused: its pickle calls Python's `{call}`, which a weight file has \
             no use for (loading it in Python would run it; nothing in it was run here)",
            path.display()
        )
    };
    // A bare call (zip and legacy format), and good weights carrying one more entry, pickled
    // by Python itself (which names `os.system` by its module on Linux, `posix`).
    for (name, call) in [
        ("os-system.pth", "os.system"),
        ("os-system-legacy.pth", "os.system"),
        ("os-system-entry.pth", "posix.system"),
    ] {
        let path = corpus(name);
        let out = trainer(&["weights", "check", path.to_str().unwrap()]);
        assert!(!out.status.success());
        assert_eq!(text(&out.stderr).trim_end(), refused(&path, call), "{name}");
        assert!(!Path::new(PWNED).exists(), "{name} was executed");
    }
    // Loading it as a model, not only inspecting it, is refused the same way.
    let entry = corpus("os-system-entry.pth");
    let out = trainer(&[
        "classify",
        "--device",
        "cpu",
        "--model",
        entry.to_str().unwrap(),
        corpus("good.jpg").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&refused(&entry, "posix.system")["error: ".len()..]),
        "{}",
        text(&out.stderr)
    );
    assert!(!Path::new(PWNED).exists());

    let wrong = corpus("wrong-shapes.safetensors");
    let out = trainer(&["weights", "check", wrong.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).ends_with(&format!(
        "error: {}: does not match resnet18:\n  1 tensors with the wrong shape or type:\n    \
         Shape mismatch for 'layer1.0.conv1.weight': expected Shape {{ dims: [2, 2, 3, 3] }}, \
         found Shape {{ dims: [2, 2, 1, 9] }}\n",
        wrong.display()
    )));
    // The same tensors with the right shapes load.
    let good = corpus("tiny-resnet18.safetensors");
    assert!(
        trainer(&["weights", "check", good.to_str().unwrap()])
            .status
            .success()
    );
}

/// A `.pth` saved in half precision loads (widened to f32) and gives the f32 file's logits, to
/// f16's precision. (The tiny model's logits differ by ~0.02-0.08 from class to class.)
#[test]
fn a_half_precision_pth_loads_like_the_f32_file() {
    let photos = [corpus("good.jpg"), corpus("exif-6.jpg")];
    let logits = |model: &str| {
        let (ok, answers) = classify_json(&corpus(model), &photos);
        assert!(ok, "{model}");
        answers
            .iter()
            .flat_map(|a| floats(a, "logits"))
            .collect::<Vec<_>>()
    };
    let (full, half) = (
        logits("tiny-resnet18.safetensors"),
        logits("tiny-resnet18-f16.pth"),
    );
    assert_eq!(full.len(), 6);
    assert_eq!(full.len(), half.len());
    let change = full
        .iter()
        .zip(&half)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(change < 1e-3, "largest logit change {change}");
}

#[test]
fn a_damaged_bundle_is_refused_by_its_checksum() {
    let bundle = corpus("bad-checksum");
    let out = trainer(&[
        "classify",
        "--device",
        "cpu",
        "--model",
        bundle.to_str().unwrap(),
        corpus("good.jpg").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).is_empty(), "nothing is classified");
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "error: {}: checksum mismatch (the file is damaged or not the one the manifest \
             describes): SHA-256 b695b13fd58dd04ec02d6c5240dc6065ad7f1b798072af74b551d6743638dc5c, \
             manifest says 054c66cff397cb0ddb9a18a4f321c69cab948000eae3f2bee20feeda7c9da053",
            bundle.join("model.safetensors").display()
        )
    );
}

/// The corpus bundle with its checksum fixed and `edit` applied to its manifest, in a folder
/// of its own; the folder and `trainer classify`'s output on it.
fn classify_edited_bundle(
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (TempDir, Output) {
    let dir = temp_dir(name);
    let weights = fs::read(corpus("bad-checksum").join("model.safetensors")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(corpus("bad-checksum").join("manifest.json")).unwrap())
            .unwrap();
    manifest["weights"]["sha256"] = shared::sha256::hex(&weights).into();
    edit(&mut manifest);
    fs::write(dir.join("model.safetensors"), &weights).unwrap();
    fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    #[rustfmt::skip]
    let out = trainer(&[
        "classify", "--device", "cpu", "--model", dir.to_str().unwrap(),
        corpus("good.jpg").to_str().unwrap(),
    ]);
    (dir, out)
}

/// The corpus bundle was written before architectures other than ResNet existed (its manifest
/// says `base_width`, not `width_mult`): it still classifies.
#[test]
fn a_bundle_from_before_the_model_zoo_still_classifies() {
    let (_dir, out) = classify_edited_bundle("legacy", |_| {});
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A manifest that describes other weights than its bundle's (edited by hand, or files mixed
/// from two exports) is refused, whatever its checksum says.
#[test]
fn a_bundle_whose_manifest_has_another_width_is_refused() {
    let (dir, out) = classify_edited_bundle("width", |manifest| {
        manifest["width_mult"] = 0.0625.into();
    });
    assert!(!out.status.success());
    let weights = dir.join("model.safetensors");
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "error: {}: the weights have width 0.03125, the manifest says 0.0625",
            weights.display()
        )
    );
}

/// A manifest naming an architecture this version does not know says so and lists the known.
#[test]
fn a_manifest_naming_an_unknown_architecture_is_refused() {
    let (_dir, out) = classify_edited_bundle("unknown-arch", |manifest| {
        manifest["arch"] = "convnext_huge".into();
    });
    assert!(!out.status.success());
    let message = text(&out.stderr);
    assert!(
        message.contains("manifest.json: not a bundle manifest: unknown variant `convnext_huge`")
            && message.contains("`mobilenet_v3_small`"),
        "{message}"
    );
}
