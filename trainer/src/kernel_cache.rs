//! Where burn's GPU backend keeps what it compiles and measures: SPIR-V kernels (on Vulkan)
//! and autotune results. With them on disk a second run on the same machine starts its first
//! step without recompiling and re-benchmarking every kernel. `TRAINER_CACHE_DIR` chooses the
//! folder; the default is the user's cache folder (`~/.cache/fashionai-trainer/kernels` on
//! Linux). Deleting it is always safe: it only costs the next run its warm-up again.
//!
//! The cache is a database file that cubecl (burn's GPU compiler) opens itself, goes without
//! when it cannot, and shares between processes. A damaged cache (a full disk, a kill while it
//! was written) never stops a run: a database file that is not whole is set aside before
//! cubecl opens it, and is rebuilt; a folder that cannot be written, or a write that fails
//! later, leaves the run without the cache. Either way the trainer says so once.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use burn::cubecl::config::cache::CacheConfig;
use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
use burn::cubecl::future::block_on;

pub fn dir() -> PathBuf {
    match std::env::var_os("TRAINER_CACHE_DIR") {
        Some(dir) => dir.into(),
        None => dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("fashionai-trainer")
            .join("kernels"),
    }
}

/// Points cubecl's caches at [`dir`] and turns the compiled-kernel cache on (cubecl leaves it
/// off, and would otherwise put autotune results under the current directory), after checking
/// the folder and its database. Other settings from a `cubecl.toml` or `CUBECL_*` variables
/// still apply. Call it before the first GPU tensor: cubecl reads its configuration once.
pub fn configure() {
    let dir = dir();
    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    config.environment.path = CacheConfig::Directory(dir.clone());
    config.compilation.cache = true;
    // `false` when cubecl already has its configuration (a GPU used earlier in this process).
    if CubeClRuntimeConfig::try_set(config) {
        check(&dir);
        // Failures after this point reach us only as cubecl's log messages.
        if log::set_boxed_logger(Box::new(CacheFailures { dir })).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    }
}

/// Says `note` on the first call in this process only: one note about the cache per run.
fn note_once(note: std::fmt::Arguments) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!("note: {note}");
    }
}

/// Makes `dir` and checks that it can be written, then sets aside every database in it that is
/// not whole, so that cubecl starts that one afresh.
fn check(dir: &Path) {
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    let writable = fs::create_dir_all(dir).and_then(|()| fs::write(&probe, b""));
    let _ = fs::remove_file(&probe);
    if let Err(err) = writable {
        return note_once(format_args!(
            "the kernel cache {} cannot be written ({err}): kernels it lacks are compiled and \
             tuned again on every run (TRAINER_CACHE_DIR chooses another folder)",
            dir.display()
        ));
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|entry| entry.path()) {
        if path.extension().is_none_or(|e| e != "db") {
            continue;
        }
        if let Err(reason) = whole(&path) {
            let removed = [".db", ".db-wal", ".db-tshm", ".db-shm"]
                .iter()
                .map(|suffix| path.with_extension("").with_extension(&suffix[1..]))
                .try_for_each(|file| match fs::remove_file(&file) {
                    Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
                    _ => Ok(()),
                });
            match removed {
                Ok(()) => note_once(format_args!(
                    "the kernel cache {} was damaged ({reason}): rebuilt, so this run compiles and \
                     tunes its kernels again",
                    path.display()
                )),
                Err(err) => note_once(format_args!(
                    "the kernel cache {} is damaged ({reason}) and could not be removed ({err}): \
                     running without it",
                    path.display()
                )),
            }
        }
    }
}

/// Whether a cache database (SQLite's file format) is whole: its header, the pages the header
/// counts, the header of its write-ahead log, and every row read. A file a kill or a full disk
/// cut short, or one overwritten, fails one of them.
fn whole(path: &Path) -> Result<(), String> {
    let bytes = fs::read(path).map_err(|err| err.to_string())?;
    if bytes.is_empty() {
        return Ok(()); // Created, not yet written: cubecl initialises it.
    }
    let header = bytes
        .get(..100)
        .filter(|header| header.starts_with(b"SQLite format 3\0"))
        .ok_or("not a database file")?;
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        size => usize::from(size),
    };
    let pages = u32::from_be_bytes([header[28], header[29], header[30], header[31]]) as usize;
    if !page_size.is_power_of_two() || page_size < 512 {
        return Err(format!("page size {page_size}"));
    }
    if bytes.len() % page_size != 0 || pages.saturating_mul(page_size) > bytes.len() {
        return Err(format!(
            "{} bytes, where its header counts {pages} pages of {page_size}",
            bytes.len()
        ));
    }
    let log = path.with_extension("db-wal");
    match fs::read(&log) {
        Ok(wal)
            if !wal.is_empty()
                && !matches!(wal.get(..4), Some([0x37, 0x7f, 0x06, 0x82 | 0x83])) =>
        {
            return Err(format!("{}: not a write-ahead log", log.display()));
        }
        _ => {}
    }
    readable(path)
}

/// Reads every row of every table through the database engine cubecl uses, which panics on
/// some damaged pages (on the device's thread, where it fails the first kernel).
fn readable(path: &Path) -> Result<(), String> {
    let location = path.to_str().ok_or("its path is not UTF-8")?;
    let read = async {
        let database = turso::Builder::new_local(location).build().await?;
        let connection = database.connect()?;
        let mut tables = Vec::new();
        let mut rows = connection
            .query("SELECT name FROM sqlite_schema WHERE type = 'table'", ())
            .await?;
        while let Some(row) = rows.next().await? {
            tables.push(row.get::<String>(0)?);
        }
        for table in tables {
            let mut rows = connection
                .query(format!("SELECT * FROM \"{table}\""), ())
                .await?;
            while let Some(row) = rows.next().await? {
                for column in 0..row.column_count() {
                    row.get_value(column)?;
                }
            }
        }
        Ok::<(), turso::Error>(())
    };
    match crate::device::catch_failure(|| block_on(read)) {
        None => Err("a page of it does not read".into()),
        Some(result) => result.map_err(|err| err.to_string()),
    }
}

/// cubecl's warnings about its cache's storage (a read or write that failed: a full disk, a
/// folder made read-only), said once; cubecl goes on without what it could not keep. (Its
/// other warnings, such as two processes measuring the same kernel at once, are no failure.)
struct CacheFailures {
    dir: PathBuf,
}

impl log::Log for CacheFailures {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
            && metadata
                .target()
                .starts_with("cubecl_environment::persistence")
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            note_once(format_args!(
                "the kernel cache {} could not be used fully ({}): running on without what it \
                 could not keep",
                self.dir.display(),
                record.args()
            ));
        }
    }

    fn flush(&self) {}
}
