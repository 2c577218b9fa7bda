#!/usr/bin/env bash
# One-time set-up of a fresh Linux machine (idempotent): the Vulkan loader and Mesa's CPU
# Vulkan driver (lavapipe, so burn's wgpu backend runs without a GPU), the Rust targets and
# components this workspace builds with, and the crates it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "error: cargo not found; install Rust with rustup first (https://rustup.rs)" >&2
    exit 1
fi
packages=(libvulkan1 mesa-vulkan-drivers)
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
rustup component add rustfmt clippy
cargo fetch --locked
echo "set-up done"
