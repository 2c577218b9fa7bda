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
use std::io::Read;
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
/// damaged, so that cubecl starts that one afresh.
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
        let Err(reason) = whole(&path) else {
            continue;
        };
        // The database and the files beside it named after it: its log, and the shared
        // memory of the processes using it.
        let removed = ["", "-wal", "-tshm", "-shm"]
            .iter()
            .map(|suffix| beside(&path, suffix))
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

/// `path` with `suffix` appended to its name (`default.db` and `-wal`: `default.db-wal`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Whether a cache database (SQLite's file format) is whole: its header, the pages the header
/// counts, the header of its write-ahead log, and every row read. A file a kill or a full disk
/// cut short, or one overwritten, fails one of them. A file only in use by another process
/// (locked, busy) is whole.
fn whole(path: &Path) -> Result<(), String> {
    let mut header = Vec::with_capacity(100);
    let length = fs::File::open(path)
        .and_then(|file| {
            let length = file.metadata()?.len();
            file.take(100).read_to_end(&mut header)?;
            Ok(length)
        })
        .map_err(|err| err.to_string())?;
    // An empty file has not been written yet (its log may hold everything so far).
    if length > 0 {
        if !(header.len() == 100 && header.starts_with(b"SQLite format 3\0")) {
            return Err("not a database file".into());
        }
        let page_size = match u16::from_be_bytes([header[16], header[17]]) {
            1 => 65536,
            size => u64::from(size),
        };
        let pages = u64::from(u32::from_be_bytes([
            header[28], header[29], header[30], header[31],
        ]));
        if !page_size.is_power_of_two() || page_size < 512 {
            return Err(format!("page size {page_size}"));
        }
        if length % page_size != 0 || pages * page_size > length {
            return Err(format!(
                "{length} bytes, where its header counts {pages} pages of {page_size}"
            ));
        }
    }
    let log = beside(path, "-wal");
    let mut magic = Vec::with_capacity(4);
    if fs::File::open(&log).is_ok_and(|file| file.take(4).read_to_end(&mut magic).is_ok())
        && !magic.is_empty()
        && !matches!(magic[..], [0x37, 0x7f, 0x06, 0x82 | 0x83])
    {
        return Err(format!("{}: not a write-ahead log", log.display()));
    }
    readable(path)
}

/// Reads every row of every table through the database engine cubecl uses, opened as cubecl
/// opens it (shared with other processes), since the engine panics on some damaged pages (on
/// the device's thread, where that fails the first kernel). Only damage counts: an error of a
/// database that is busy or locked by another process does not.
fn readable(path: &Path) -> Result<(), String> {
    let location = path.to_str().ok_or("its path is not UTF-8")?;
    let read = async {
        let database = turso::Builder::new_local(location)
            .experimental_multiprocess_wal(true)
            .build()
            .await?;
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
        Some(Err(turso::Error::Corrupt(reason) | turso::Error::NotAdb(reason))) => Err(reason),
        Some(_) => Ok(()),
    }
}

/// cubecl's warnings about its cache's storage (a read or write that failed: a full disk, a
/// folder made read-only), said once; cubecl goes on without what it could not keep. (Its
/// other warnings, such as two processes measuring the same kernel at once, are no failure.)
/// It is this process's `log` logger: a program that embeds the trainer's library and sets its
/// own first keeps it, and loses only this note.
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

    /// cubecl's failures read "Unable to ..."; its other notes (an old cache's schema
    /// replaced) are not failures.
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) && record.args().to_string().starts_with("Unable to") {
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
