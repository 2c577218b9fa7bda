//! Where burn's GPU backend keeps what it compiles and measures: SPIR-V kernels (on Vulkan)
//! and autotune results. With them on disk a second run on the same machine starts its first
//! step without recompiling and re-benchmarking every kernel. `TRAINER_CACHE_DIR` chooses the
//! folder; the default is the user's cache folder (`~/.cache/fashionai-trainer/kernels` on
//! Linux). Deleting it is always safe: it only costs the next run its warm-up again.

use std::path::PathBuf;

use burn::cubecl::config::cache::CacheConfig;
use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};

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
/// off, and would otherwise put autotune results under the current directory). Other settings
/// from a `cubecl.toml` or `CUBECL_*` variables still apply. Call it before the first GPU
/// tensor: cubecl reads its configuration once.
pub fn configure() {
    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    config.environment.path = CacheConfig::Directory(dir());
    config.compilation.cache = true;
    // `false` when cubecl already has its configuration (a GPU used earlier in this process).
    CubeClRuntimeConfig::try_set(config);
}
