#!/usr/bin/env bash
# One-time set-up of a fresh Linux machine (idempotent): the Rust targets and components
# this workspace builds with, and the crates it needs, fetched once.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "error: cargo not found; install Rust with rustup first (https://rustup.rs)" >&2
    exit 1
fi
rustup target add wasm32-unknown-unknown
rustup component add rustfmt clippy
cargo fetch --locked
echo "set-up done"
