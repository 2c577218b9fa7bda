#!/usr/bin/env bash
# The page's second WebAssembly module: the CPU path on a pool of Web Workers (the web crate's
# `threads` feature, without WebGPU). trunk runs this after its own build (Trunk.toml's
# post_build hook), so `trunk build --release` still makes the whole site; it writes mt/web.js
# and mt/web_bg.wasm beside the default module. The worker loads it when the page is
# cross-origin isolated (web/www/worker.js).
#
# WebAssembly threads need the standard library compiled with atomics (`-Zbuild-std`): stable
# Rust does that with RUSTC_BOOTSTRAP=1 and the rust-src component (scripts/setup.sh adds it).
#
#   SITE_CARGO_PROFILE   the cargo profile (default: release for `trunk build --release`,
#                        else dev); scripts/test.sh gives its site-ci
set -euo pipefail
cd "$(dirname "$0")/.."

: "${TRUNK_STAGING_DIR:?is set by trunk: this runs as the post_build hook of Trunk.toml}"
if [ "${TRUNK_PROFILE:-debug}" = release ]; then
    profile=${SITE_CARGO_PROFILE:-release}
else
    profile=${SITE_CARGO_PROFILE:-dev}
fi
# Its own target folder: other compiler flags than the default module's, and its own std.
target_dir="${CARGO_TARGET_DIR:-target}/threads"
[ "$profile" = dev ] && out_dir=debug || out_dir=$profile

# +atomics, and the same SIMD as the default module (.cargo/config.toml, which RUSTFLAGS
# replaces). The linker flags are wasm-bindgen's for threads: a shared memory that JavaScript
# creates and hands to every worker, and the thread-local storage each one sets up. Shared
# memory needs a maximum: 4 GiB, all that wasm32 addresses, as the default module may grow to
# (the page's limit on weights counts on it: web/www/model.js).
export RUSTC_BOOTSTRAP=1
link_args=(--shared-memory --import-memory --max-memory=4294967296
    --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base)
RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128"
for arg in "${link_args[@]}"; do RUSTFLAGS+=" -C link-arg=$arg"; done
export RUSTFLAGS
cargo build --locked --offline --target wasm32-unknown-unknown -Zbuild-std=panic_abort,std \
    --package web --no-default-features --features threads \
    --profile "$profile" --target-dir "$target_dir"

out="$TRUNK_STAGING_DIR/mt"
rm -rf "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name web \
    "$target_dir/wasm32-unknown-unknown/$out_dir/web.wasm"
# The pool's worker script (wasm-bindgen-rayon's snippet) under a fixed name, which the service
# worker's list of files can hold (web/www/sw.js), instead of its folder named by a hash.
snippet=$(cd "$out" && echo snippets/wasm-bindgen-rayon-*/src/workerHelpers.no-bundler.js)
[ -f "$out/$snippet" ] || { echo "error: wasm-bindgen wrote no $snippet" >&2; exit 1; }
mv "$out/$snippet" "$out/pool.js"
rm -r "$out/snippets"
sed -i "s#'./$snippet'#'./pool.js'#" "$out/web.js"
grep -q "from './pool.js'" "$out/web.js" || { echo "error: $out/web.js does not import $snippet" >&2; exit 1; }
# As trunk does for the default module (index.html's data-wasm-opt): size-optimised, release only.
if [ "${TRUNK_PROFILE:-debug}" = release ]; then
    wasm="$out/web_bg.wasm"
    wasm-opt -Os --enable-threads --enable-bulk-memory --enable-simd --enable-mutable-globals \
        --enable-sign-ext --enable-nontrapping-float-to-int --enable-reference-types \
        --enable-multivalue "$wasm" -o "$wasm"
fi
