//! The replay of each target's committed inputs on the stable toolchain, for the tests of the
//! crates whose functions are fuzzed: `fuzz/seeds/<target>/` and the crash regressions in
//! `fuzz/regressions/<target>/`, with any further seeds a test names, each run through the
//! target's entry point.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The files of `folder` whose extension is one of `extensions` (any, when empty), sorted.
pub fn files(folder: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("listing a corpus folder").path())
        .filter(|path| path.is_file())
        .filter(|path| {
            let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            extensions.is_empty() || extensions.contains(&extension)
        })
        .collect();
    files.sort();
    files
}

/// `seeds`, then the committed seeds and crash regressions of `target` in the repository at
/// `repo`, as (file name, bytes).
pub fn inputs(repo: &Path, target: &str, seeds: Vec<PathBuf>) -> Vec<(String, Vec<u8>)> {
    let committed = ["seeds", "regressions"]
        .into_iter()
        .flat_map(|kind| files(&repo.join("fuzz").join(kind).join(target), &[]));
    seeds
        .into_iter()
        .chain(committed)
        .map(|path| {
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, bytes)
        })
        .collect()
}

/// Runs `entry` on every input; panics naming each input that panicked, and returns the
/// names of the accepted ones.
pub fn replay(
    target: &str,
    inputs: &[(String, Vec<u8>)],
    entry: impl Fn(&[u8]) -> bool,
) -> Vec<String> {
    assert!(!inputs.is_empty(), "no inputs for the {target} target");
    let mut accepted = Vec::new();
    let mut panicked = Vec::new();
    for (name, bytes) in inputs {
        match catch_unwind(AssertUnwindSafe(|| entry(bytes))) {
            Ok(true) => accepted.push(name.clone()),
            Ok(false) => {}
            Err(_) => panicked.push(name.clone()),
        }
    }
    assert!(panicked.is_empty(), "{target}: panicked on {panicked:?}");
    accepted
}

/// Panics unless every one of `names` was accepted.
pub fn assert_accepts(accepted: &[String], names: &[&str]) {
    for name in names {
        assert!(
            accepted.iter().any(|a| a == name),
            "{name} was refused; accepted: {accepted:?}"
        );
    }
}

/// Panics if any of `names` was accepted.
pub fn assert_refuses(accepted: &[String], names: &[&str]) {
    for name in names {
        assert!(!accepted.iter().any(|a| a == name), "{name} was accepted");
    }
}
