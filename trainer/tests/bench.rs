//! `trainer bench --bench`, timm's names for what to time: each part alone leaves the other's
//! figures out of the report.

use crate::common::{read_json, temp_dir, trainer};

#[test]
fn bench_times_the_parts_it_is_asked_for() {
    let dir = temp_dir("bench");
    for (part, train, inference) in [
        ("inference", false, true),
        ("train", true, false),
        ("both", true, true),
    ] {
        let json = dir.join(format!("{part}.json"));
        let output = trainer(&[
            "bench",
            "--device",
            "cpu",
            "--arch",
            "resnet18",
            "--input-size",
            "32",
            "--bench",
            part,
            "--batch-sizes",
            "2",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--pipeline-images",
            "0",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "--bench {part}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout.contains(" train "),
            train,
            "--bench {part}: {stdout}"
        );
        assert_eq!(
            stdout.contains(" inference "),
            inference,
            "--bench {part}: {stdout}"
        );
        let model = &read_json(&json)["models"][0];
        assert_eq!(model["batch_size"], 2);
        for (key, expected) in [
            ("train_images_per_s", train),
            ("first_step_s", train),
            ("infer_images_per_s", inference),
        ] {
            let value = &model[key];
            assert_eq!(
                value.as_f64().is_some_and(|v| v > 0.0),
                expected,
                "--bench {part}: {key} {value}"
            );
            assert_eq!(value.is_null(), !expected, "--bench {part}: {key} {value}");
        }
    }
}
