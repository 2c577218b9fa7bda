//! Crash-safe file writes: a reader sees the old file or the new one, never half of one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`.
/// On any error the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_path(path);
    let result = write_synced(&temp, bytes).and_then(|()| {
        fs::rename(&temp, path).with_context(|| format!("renaming into {}", path.display()))
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    // Make the rename itself durable.
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|dir| dir.sync_all());
    }
    Ok(())
}

fn write_synced(temp: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(temp).with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temp.display()))
}

/// `<name>.tmp<pid>`: beside the final file, so the rename stays on one file system, and per
/// process, so two writers never share one.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{TEMPORARY}{}", std::process::id()));
    path.with_file_name(name)
}

const TEMPORARY: &str = ".tmp";

/// Whether `path` is a temporary file [`write_atomic`] leaves behind when its process is
/// killed, for a temporary file of a name ending in `final_suffix` (e.g. `.bpk`).
pub fn is_leftover(path: &Path, final_suffix: &str) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.rsplit_once(TEMPORARY))
        .is_some_and(|(name, pid)| {
            name.ends_with(final_suffix) && pid.chars().all(|c| c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Crash clean-up finds exactly the temporary files `write_atomic` names.
    #[test]
    fn leftovers_are_the_temporary_files_of_their_kind() {
        let temp = temp_path(Path::new("run/checkpoint/model-3.bpk"));
        assert!(is_leftover(&temp, ".bpk"));
        assert!(!is_leftover(&temp, ".json"));
        assert!(!is_leftover(
            Path::new("run/checkpoint/model-3.bpk"),
            ".bpk"
        ));
        assert!(!is_leftover(
            Path::new("run/checkpoint/model.tmpx.bpk"),
            ".bpk"
        ));
    }
}
