#!/usr/bin/env bash
# The project's tests, from a fresh clone: set-up (scripts/setup.sh, seconds when already
# done; the site's tools are installed beside the native build), formatting, clippy and the test suites in one compilation (burn's CPU backend, and
# for the model also wgpu, over lavapipe where there is no GPU; the bad-input corpus; the fuzz
# targets' seeds and crash regressions; SIGKILL/resume and full-disk training), then the
# static site's build and the browser tests in headless Chromium (WebGPU through SwiftShader,
# the CPU path). Prints each stage's seconds at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

# Mesa's Vulkan driver complains on every start when this is unset (headless machines, CI).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

names=()
seconds=()
report() {
    printf '\n%-40s %8s\n' "stage" "seconds"
    for i in "${!names[@]}"; do
        printf '%-40s %8s\n' "${names[$i]}" "${seconds[$i]}"
    done
}
trap report EXIT
stage() {
    local name=$1 start=$SECONDS
    shift
    printf '\n==> %s\n' "$name"
    "$@"
    names+=("$name")
    seconds+=($((SECONDS - start)))
}

stage "set-up (scripts/setup.sh base)" bash scripts/setup.sh base

# Build into target folders kept outside the clone when asked (.ci/run asks): see the script.
site_target_dir=target/site
[ -z "${FASHIONAI_BUILD_CACHE:-}" ] || source scripts/build-cache.sh

stage "cargo fmt --check" bash -c \
    'cargo fmt --all -- --check && cargo fmt --manifest-path fuzz/Cargo.toml -- --check'

# The features the tests run with: every one but `vulkan`, which changes no code of ours, only
# the compiler burn uses on Vulkan (cubecl's SPIR-V one, which lavapipe cannot run), and
# `avx512`, the CPU kernels' instruction set (on by default): the golden training numbers
# (trainer/tests/golden/) were recorded with the AVX2 kernels, which every x86-64 test machine
# runs, and the AVX-512 ones round differently. `web/threads` only builds for wasm with atomics
# (scripts/build-threads.sh, from the site build).
features=(--no-default-features --features shared/wgpu,shared/download,trainer/wgpu,trainer/mpi,web/webgpu)

# clippy lints the workspace's crates while they are compiled for the tests
# (RUSTC_WORKSPACE_WRAPPER, as `cargo clippy` does), so the dependencies are compiled once
# instead of once for `cargo clippy` (check) and again for `cargo test` (build). Both stages
# run with the same settings, so the second compiles nothing.
lint_and_test() {
    RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver)" \
        CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
        cargo test --locked --workspace "${features[@]}" "$@"
}
# The site with the `site-ci` profile (Cargo.toml): the code users get from
# `trunk build --release`, compiled with fewer optimisation passes and without wasm-opt. It
# needs nothing from the native build, so it runs alongside it, in its own target folder (cargo
# locks one folder per build), on what the native build leaves of the cores; so does the
# installation of its tools (trunk, wasm-bindgen-cli) where they are missing (`cargo install`
# builds in a folder of its own, not in the tests' CARGO_TARGET_DIR).
# In its own session, so that a failure elsewhere stops all of it (the trap below).
mkdir -p target
rm -f target/site-tools.seconds target/site-build.seconds
SITE_TARGET_DIR=$site_target_dir setsid bash -c 'start=$SECONDS
    {
        env -u CARGO_TARGET_DIR bash scripts/setup.sh site &&
            echo $((SECONDS - start)) > target/site-tools.seconds &&
            TRUNK_SKIP_VERSION_CHECK=true CARGO_TARGET_DIR=$SITE_TARGET_DIR SITE_CARGO_PROFILE=site-ci \
                trunk build --cargo-profile site-ci
    } > target/site-build.log 2>&1
    status=$?
    echo $((SECONDS - start)) > target/site-build.seconds
    exit $status' &
site_pid=$!
trap 'kill -- -$site_pid 2>/dev/null || true; report' EXIT

# --timings: where the build's time goes, in target/cargo-timing.html of this clone.
stage "clippy -D warnings + test build" lint_and_test --no-run --timings
cp "${CARGO_TARGET_DIR:-target}/cargo-timings/cargo-timing.html" target/ 2>/dev/null || true
stage "cargo test" lint_and_test

site_status=0
wait $site_pid || site_status=$?
cat target/site-build.log
tools_seconds=$(cat target/site-tools.seconds 2>/dev/null || echo 0)
names+=("site tools (setup.sh site, alongside)" "site build (trunk, alongside)")
seconds+=("$tools_seconds" "$(($(cat target/site-build.seconds) - tools_seconds))")
if [ "$site_status" -ne 0 ]; then
    echo "the site build failed" >&2
    exit "$site_status"
fi

stage "browser tests (headless Chromium)" node web/tests/browser.mjs
