//! The run-folder fuzz targets' seeds and crash regressions (`fuzz/seeds/`,
//! `fuzz/regressions/`), replayed through their entry points (`trainer::fuzz`) on the stable
//! toolchain: no input may panic, and the files real runs wrote must still be read.

use std::path::Path;

use shared::fuzz::corpus::{assert_accepts, assert_refuses, inputs, replay};

use crate::common::temp_dir;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn settings_corpus() {
    let run = temp_dir("fuzz-settings");
    let inputs = inputs(repo(), "settings", Vec::new());
    let accepted = replay("settings", &inputs, |data| {
        trainer::fuzz::settings(data, &run)
    });
    // The first version's settings, the modern recipe with every option set, another family,
    // a run over several tasks; not an epoch count that overflows the step count.
    assert_accepts(
        &accepted,
        &[
            "legacy.json",
            "modern.json",
            "mobilenet_v3_small.json",
            "multi-task.json",
            "huge-epochs.json",
        ],
    );
    assert_refuses(&accepted, &["too-many-epochs.json"]);
}

#[test]
fn dataset_corpus() {
    let run = temp_dir("fuzz-dataset");
    let inputs = inputs(repo(), "dataset", Vec::new());
    let accepted = replay("dataset", &inputs, |data| {
        trainer::fuzz::dataset(data, &run)
    });
    assert_accepts(&accepted, &["legacy", "one-task", "multi-task"]);
}
