//! One trainer per run folder: `train` and `prepare` hold an exclusive OS lock on
//! `<run>/trainer.lock` while they write the run, so that two of them (two shells, a job
//! scheduler retrying a job) cannot write the same checkpoints and metrics. The operating
//! system releases the lock when the process ends, however it ends: a killed trainer leaves no
//! stale lock behind.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The lock, held until dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of `run` for `command`, or says at once which process holds it.
    pub fn acquire(run: &Path, command: &str) -> Result<RunLock> {
        std::fs::create_dir_all(run).with_context(|| format!("creating {}", run.display()))?;
        let path = super::lock_file(run);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    holder => holder.to_string(),
                };
                bail!(
                    "{} is in use by {holder}: one trainer at a time writes a run folder; wait \
                     for it to end, stop it, or use another folder",
                    run.display()
                );
            }
            // A file system without locks (some cluster file systems): train all the same.
            Err(TryLockError::Error(err)) => eprintln!(
                "note: {} cannot be locked ({err}): a second trainer on this run would not be \
                 stopped",
                path.display()
            ),
        }
        // Who holds it, for the message of the next one that tries.
        let holder = format!(
            "`trainer {command}` (pid {} on {})\n",
            std::process::id(),
            host_name()
        );
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(holder.as_bytes()));
        written.with_context(|| format!("writing {}", path.display()))?;
        Ok(RunLock { _file: file })
    }
}

/// This machine's name, as far as it can be found without a system call of its own.
fn host_name() -> String {
    let from_file = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    from_file
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "this machine".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second lock of the same run is refused while the first is held, naming its holder;
    /// once the first is dropped the run can be taken again.
    #[test]
    fn one_holder_at_a_time() {
        let run = std::env::temp_dir().join(format!("run-lock-{}", std::process::id()));
        let first = RunLock::acquire(&run, "train").unwrap();
        let err = RunLock::acquire(&run, "train").unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())) && err.contains("in use"),
            "{err}"
        );
        drop(first);
        RunLock::acquire(&run, "prepare").unwrap();
        std::fs::remove_dir_all(&run).unwrap();
    }
}
