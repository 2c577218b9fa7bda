#!/usr/bin/env bash
# The project's tests: formatting, lints, the test suites (burn's CPU backend, and for the
# model also wgpu, over lavapipe where there is no GPU; the bad-input corpus; SIGKILL/resume
# and full-disk training), a short pass of every fuzz target, then the static site's release
# build and the browser tests in headless Chromium (WebGPU through SwiftShader, the CPU path).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Mesa's Vulkan driver complains on every start when this is unset (headless machines, CI).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

step "cargo clippy"
cargo clippy --locked --workspace --all-targets --all-features -- -D warnings

# Every feature but `vulkan` (cubecl's SPIR-V compiler, which lavapipe cannot run; clippy
# above still checks it builds).
step "cargo test (with the bad-input corpus and 5 SIGKILL/resume cycles of training)"
cargo test --locked --workspace --features shared/wgpu,shared/download,trainer/wgpu

step "fuzz smoke pass (10 s per target; fuzz/run.sh 600 for a real run)"
fuzz/run.sh "${FUZZ_SECONDS:-10}"

step "trunk build --release (the static site, dist/)"
TRUNK_SKIP_VERSION_CHECK=true trunk build --release

step "browser tests (headless Chromium)"
node web/tests/browser.mjs
