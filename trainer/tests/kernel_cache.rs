//! A damaged kernel cache never stops training: a garbage or cut-short database is rebuilt, a
//! folder that cannot be written or a disk that fills up while the cache is written leaves
//! the run without it, and two trainers may share one cache. Each case trains the same epoch
//! on wgpu (lavapipe in CI) with the same numbers as a healthy cache gives, and says so once.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{TRAIN, copy_dir, epochs, fashionai_root, prepare, temp_dir};

/// One epoch of training on the GPU path from a copy of `prepared`, with the kernel cache in
/// `cache`; inside a user and mount namespace after `setup` (a shell command) when given.
fn train_with_cache(prepared: &Path, run: &Path, cache: &Path, setup: Option<&str>) -> Output {
    copy_dir(prepared, run);
    #[rustfmt::skip]
    let args = [
        &["train", "--run", run.to_str().unwrap()], TRAIN,
        &["--epochs", "1", "--device", "gpu", "--pretrained", "none"],
    ].concat();
    let trainer = env!("CARGO_BIN_EXE_trainer");
    let mut command = match setup {
        None => Command::new(trainer),
        Some(setup) => {
            let mut command = Command::new("unshare");
            command.args(["--user", "--map-root-user", "--mount", "bash", "-c"]);
            command.arg(format!("{setup} || exit 99; exec \"$0\" \"$@\""));
            command.arg(trainer);
            command
        }
    };
    let output = command
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("TRAINER_CACHE_DIR", cache)
        // Tuning less makes each cold cache cost seconds instead of a minute on lavapipe.
        .env("CUBECL_AUTOTUNE_LEVEL", "minimal")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{}{stderr}", String::from_utf8_lossy(&output.stdout));
    assert_ne!(output.status.code(), Some(99), "setup failed: {stderr}");
    assert!(output.status.success(), "training failed: {stderr}");
    output
}

/// The epoch's training and validation losses.
fn losses(run: &Path) -> [f64; 2] {
    let epoch = &epochs(run)[0];
    ["train", "valid"].map(|split| epoch[split]["loss"].as_f64().unwrap())
}

/// Checks a case's losses against a healthy cache's: the same but for f32 rounding, since a
/// kernel tuned again may sum in another order.
fn assert_same_losses(case: &str, found: [f64; 2], expected: [f64; 2]) {
    for (found, expected) in found.iter().zip(expected) {
        assert!(
            (found - expected).abs() <= 1e-5 * expected.abs(),
            "{case}: losses {found}, with a healthy cache {expected}"
        );
    }
}

/// The notes about the kernel cache in a run's output.
fn cache_notes(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.starts_with("note: the kernel cache"))
        .map(str::to_string)
        .collect()
}

/// Every file of the cache folder.
fn files(cache: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Trains, in parallel, each case of `cases`: (its name, its cache folder, a setup command).
fn train_at_once(
    prepared: &Path,
    dir: &Path,
    cases: &[(&str, &Path, Option<&str>)],
) -> Vec<Output> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = cases
            .iter()
            .map(|&(case, cache, setup)| {
                let run = dir.join(case);
                scope.spawn(move || train_with_cache(prepared, &run, cache, setup))
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    })
}

/// A cold cache costs a run a minute on lavapipe, so the cases that start without one run
/// at once.
#[test]
fn a_damaged_kernel_cache_never_stops_training() {
    let dir = temp_dir("kernel-cache");
    let (data, prepared) = (dir.join("data"), dir.join("prepared"));
    fashionai_root(&data, 4, &[]);
    assert!(prepare(&data, &prepared, &[]).status.success());

    // Two trainers filling one empty cache at once, then a run on the cache they left: it is
    // whole, and gives the numbers every case must give. Then two at once on that warm cache.
    let healthy = dir.join("healthy");
    let both = train_at_once(
        &prepared,
        &dir,
        &[("first", &healthy, None), ("second", &healthy, None)],
    );
    let warm = train_with_cache(&prepared, &dir.join("warm"), &healthy, None);
    assert_eq!(cache_notes(&warm), Vec::<String>::new());
    let expected = losses(&dir.join("warm"));
    for (case, output) in ["first", "second"].iter().zip(&both) {
        assert_eq!(cache_notes(output), Vec::<String>::new(), "{case}");
        assert_same_losses(case, losses(&dir.join(case)), expected);
    }
    assert!(files(&healthy).iter().any(|f| f.ends_with("default.db")));
    // Two trainers starting at once on it: each checks the cache while the other has it open.
    let again = train_at_once(
        &prepared,
        &dir,
        &[("third", &healthy, None), ("fourth", &healthy, None)],
    );
    for (case, output) in ["third", "fourth"].iter().zip(&again) {
        assert_eq!(cache_notes(output), Vec::<String>::new(), "{case}");
        assert_same_losses(case, losses(&dir.join(case)), expected);
    }

    let check = |case: &str, output: &Output, note: &str| {
        let notes = cache_notes(output);
        assert!(
            notes.len() == 1 && notes[0].contains(note),
            "{case}: notes {notes:?}"
        );
        assert_same_losses(case, losses(&dir.join(case)), expected);
    };
    let damaged = |case: &str, damage: &dyn Fn(&Path, Vec<u8>) -> Vec<u8>| {
        let cache = dir.join(format!("{case}-cache"));
        copy_dir(&healthy, &cache);
        for file in files(&cache) {
            let bytes = fs::read(&file).unwrap();
            fs::write(&file, damage(&file, bytes)).unwrap();
        }
        cache
    };
    // Every file of the cache overwritten by garbage.
    let garbage = damaged("garbage", &|_, bytes| {
        (0..bytes.len()).map(|i| (i * 7919 % 251) as u8).collect()
    });
    // The database cut short (a kill or a full disk while it was written).
    let truncated = damaged("truncated", &|file, mut bytes| {
        if file.extension().is_some_and(|e| e == "db") {
            bytes.truncate(bytes.len() / 2 / 4096 * 4096);
        }
        bytes
    });
    // Bytes changed inside the database's pages, its header whole: the database engine
    // panics reading some of them.
    let pages = damaged("pages", &|file, mut bytes| {
        if file.extension().is_some_and(|e| e == "db") {
            for byte in bytes.iter_mut().skip(4096).step_by(97) {
                *byte = byte.wrapping_mul(31).wrapping_add(7);
            }
        }
        bytes
    });
    // A cache folder that cannot be written: a read-only mount of a healthy one.
    let read_only = damaged("read-only", &|_, bytes| bytes);
    let read_only_setup = format!(
        "mount --bind {0} {0} && mount -o remount,bind,ro {0}",
        read_only.display()
    );
    // A disk that fills up while the cache is written: a 256 KiB file system, empty.
    let full = dir.join("full-cache");
    fs::create_dir_all(&full).unwrap();
    let full_setup = format!("mount -t tmpfs -o size=256k tmpfs {}", full.display());

    let outputs = train_at_once(
        &prepared,
        &dir,
        &[
            ("garbage", &garbage, None),
            ("truncated", &truncated, None),
            ("pages", &pages, None),
            ("read-only", &read_only, Some(&read_only_setup)),
            ("full", &full, Some(&full_setup)),
        ],
    );
    check(
        "garbage",
        &outputs[0],
        "was damaged (not a database file): rebuilt",
    );
    check("truncated", &outputs[1], "was damaged (");
    check("pages", &outputs[2], "was damaged (");
    check("read-only", &outputs[3], "cannot be written (");
    check("full", &outputs[4], "could not be used fully (");
    // The rebuilt caches are whole: the next run uses them without a note.
    for (case, cache) in [
        ("garbage", &garbage),
        ("truncated", &truncated),
        ("pages", &pages),
    ] {
        let next = train_with_cache(&prepared, &dir.join(format!("{case}-next")), cache, None);
        assert_eq!(cache_notes(&next), Vec::<String>::new(), "{case}");
    }
}
