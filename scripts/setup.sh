#!/usr/bin/env bash
# Set-up of a Debian/Ubuntu machine for the tests and the site build (idempotent, seconds when
# done; scripts/test.sh runs it first): the Vulkan loader and Mesa's CPU Vulkan driver
# (lavapipe, so burn's wgpu backend runs without a GPU), Open MPI (data-parallel training),
# Chromium for the browser tests, the Rust targets and components this workspace builds with
# (rust-src: the page's threaded module rebuilds the standard library),
# the crates it needs, the site's build tools (trunk, wasm-bindgen, binaryen's wasm-opt) and the browser-test driver.
#
#   scripts/setup.sh          all of it
#   scripts/setup.sh base     all but trunk and wasm-bindgen-cli
#   scripts/setup.sh site     only those two (after base: it links npm's wasm-opt)
# The two compile for about ten minutes on a new machine: scripts/test.sh runs `base`, then
# `site` beside the native build.
set -euo pipefail
cd "$(dirname "$0")/.."
part=${1:-all}

for tool in cargo npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "error: $tool not found; install Rust with rustup (https://rustup.rs) and Node.js 20+" >&2
        exit 1
    fi
done

site_tools() {
    # trunk 0.22 needs a newer rustc than this workspace's; wasm-bindgen's CLI must match the
    # wasm-bindgen crate in Cargo.lock exactly. Both build tools compile without link-time
    # optimisation (trunk's own release profile asks for fat LTO in one codegen unit, minutes
    # more on a small machine, for a program that runs for seconds).
    export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
    local bindgen_version
    bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
    if [ "$(trunk --version 2>/dev/null)" != "trunk 0.21.14" ]; then
        cargo install --locked trunk@0.21.14
    fi
    if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]; then
        cargo install wasm-bindgen-cli@"$bindgen_version"
    fi
    # trunk looks for wasm-opt on PATH, next to itself (npm's binaryen, below).
    ln -sf "$PWD/node_modules/.bin/wasm-opt" "$(dirname "$(command -v trunk)")/wasm-opt"
}
if [ "$part" = site ]; then
    site_tools
    exit
fi

# Open MPI and libclang build and run the trainer's `mpi` feature (data-parallel training).
packages=(libvulkan1 mesa-vulkan-drivers chromium libopenmpi-dev openmpi-bin libclang-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

rustup target add wasm32-unknown-unknown
rustup component add rustfmt clippy rust-src
cargo fetch --locked
# The standard library's own crates, which the page's threaded module compiles from rust-src
# (scripts/build-threads.sh).
RUSTC_BOOTSTRAP=1 cargo fetch --locked -Zbuild-std=panic_abort,std --target wasm32-unknown-unknown

# playwright-core drives the system's chromium; binaryen 132's wasm-opt (Debian's 108 makes
# wasm that Chromium rejects). `npm ci` starts from an empty node_modules each time, so it runs
# only when the lock file changed.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
    npm ci --no-audit --no-fund --prefer-offline
    echo "$lock_sum" > node_modules/.lock-sha256
fi
[ "$part" = base ] || site_tools
echo "set-up done"
