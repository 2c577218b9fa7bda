#!/usr/bin/env bash
# The project's tests: formatting, lints, the test suites (burn's CPU backend, and for the
# model also wgpu, over lavapipe where there is no GPU), and the wasm build of the crates the
# web page uses.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Mesa's Vulkan driver complains on every start when this is unset (headless machines, CI).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --locked --workspace --all-targets --all-features -- -D warnings

step "cargo test"
cargo test --locked --workspace --all-features

step "wasm32 build of shared and web"
cargo build --locked --target wasm32-unknown-unknown -p shared -p web
