//! Reading datasets: FashionAI label CSVs with every kind of bad row, image folders, the
//! seeded split and the manifest round trip.

use std::fs;

use crate::common::{TASK, fashionai_root, prepare, temp_dir};
use shared::tasks::Task;
use trainer::data::{self, Manifest, read_fashionai, read_image_folder};

#[test]
fn label_csv_quirks_and_bad_rows_are_reported_by_line() {
    let root = temp_dir("csv");
    fashionai_root(&root, 1, &[]);
    let good = format!("Images/{TASK}/0000.jpg,{TASK},ynnnnn");
    let text = [
        format!("\u{feff}{good}\r"), // BOM and CRLF: fine
        String::new(),               // blank line: ignored
        format!("Images/{TASK}/0001.jpg,{TASK}"),
        format!("Images/{TASK}/0001.jpg,{TASK},nynnn"),
        format!("Images/{TASK}/0001.jpg,{TASK},nnnnnn"),
        format!("Images/{TASK}/0001.jpg,{TASK},nynnxn"),
        format!("Images/{TASK}/0001.jpg,hat_labels,nynnnn"),
        "Images/coat_length_labels/a.jpg,coat_length_labels,nnnnnnny".to_string(),
        format!("Images/{TASK}/0001.jpg,{TASK},nymnnn"), // `m` elsewhere is fine
    ]
    .join("\n");
    fs::write(root.join("Annotations/label.csv"), text).unwrap();
    let table = read_fashionai(&root, &[Task::by_name(TASK).unwrap()]).unwrap();
    assert_eq!(table.samples.len(), 2);
    assert_eq!(table.other_tasks, 1);
    let reasons: Vec<(u64, &str)> = table
        .bad_rows
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    let expect = [
        (3, "expected 3 fields"),
        (4, "has 5 characters, the task has 6 classes"),
        (5, "has no `y`"),
        (6, "invalid character `x` at position 4"),
        (7, "unknown task `hat_labels`"),
    ];
    assert_eq!(reasons.len(), expect.len(), "{reasons:?}");
    for ((line, reason), (want_line, want)) in reasons.iter().zip(expect) {
        assert_eq!(*line, want_line);
        assert!(reason.contains(want), "line {line}: {reason}");
    }
    assert!(table.bad_rows[0].to_string().starts_with(&format!(
        "{}:3:",
        root.join("Annotations/label.csv").display()
    )));
}

#[test]
fn warm_up_csv_merges_and_the_split_is_seeded() {
    let (train_root, warm_root) = (temp_dir("train-root"), temp_dir("warm-root"));
    fashionai_root(&train_root, 4, &[]);
    fashionai_root(&warm_root, 4, &[]);
    fs::rename(
        warm_root.join("Annotations/label.csv"),
        warm_root.join(format!("Annotations/{TASK}.csv")),
    )
    .unwrap();
    let run = temp_dir("merge-run");
    let out = prepare(
        &train_root,
        &run,
        &["--data", warm_root.to_str().unwrap(), "--seed", "3"],
    );
    assert!(out.status.success());
    let manifest = Manifest::read(&run).unwrap();
    assert_eq!(manifest.train.len() + manifest.val.len(), 24);
    assert_eq!(manifest.val.len(), 2); // round(24 * 0.1)
    assert_eq!(manifest.info.classes.len(), 6);

    // The same seed gives the same split, another seed another one.
    let samples: Vec<_> = manifest
        .train
        .iter()
        .chain(&manifest.val)
        .cloned()
        .collect();
    let (a, _) = data::split(samples.clone(), 0.1, 3);
    let (b, _) = data::split(samples.clone(), 0.1, 3);
    let (c, _) = data::split(samples, 0.1, 4);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn image_folders_and_materialized_layout() {
    let root = temp_dir("folder");
    fashionai_root(&root, 3, &[]);
    let run = temp_dir("folder-run");
    let out = prepare(&root, &run, &["--val-fraction", "0.34", "--materialize"]);
    assert!(out.status.success());
    // The tutorial's layout, which is itself an image-folder dataset.
    let classes = fs::read_dir(run.join("train")).unwrap().count();
    assert_eq!(classes, 3);
    assert!(run.join("train/0_Invisible").is_dir() || run.join("val/0_Invisible").is_dir());
    let (names, samples) = read_image_folder(&run.join("train")).unwrap();
    assert_eq!(names, ["0_Invisible", "1_Short_Length", "2_Knee_Length"]);
    let manifest = Manifest::read(&run).unwrap();
    assert_eq!(samples.len(), manifest.train.len());
    assert!(samples.iter().all(|s| {
        s.image
            .starts_with(run.join("train").join(&names[s.label.class]))
    }));

    // `prepare` on an image folder: classes from the folder names.
    let folder_run = temp_dir("folder-run-2");
    let out = prepare(&run.join("train"), &folder_run, &[]);
    assert!(out.status.success());
    let folder_manifest = Manifest::read(&folder_run).unwrap();
    assert_eq!(folder_manifest.info.classes, names);
    assert_eq!(folder_manifest.info.task, "train");
}

#[test]
fn a_root_without_labels_is_a_clear_error() {
    let root = temp_dir("empty-root");
    fs::create_dir_all(root.join("Annotations")).unwrap();
    let out = prepare(&root, &root.join("run"), &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no FashionAI labels (expected Annotations/label.csv"),
        "{stderr}"
    );
}
