# Sourced by scripts/test.sh when FASHIONAI_BUILD_CACHE is set (.ci/run sets it): the tests
# build into target folders kept outside the clone, so a second clone on this machine reuses
# every dependency that Cargo.lock did not change.
#
#   FASHIONAI_BUILD_CACHE=1       the user's cache folder: ${XDG_CACHE_HOME:-~/.cache}/fashionai-build
#   FASHIONAI_BUILD_CACHE=<dir>   that folder
#   FASHIONAI_BUILD_CACHE_MAX_GIB when the folder is larger than this at the start (default 40),
#                                 it is cleared first, and this run builds cold
#
# Inside: native/ (the test build, with the tests' kernel cache in native/tmp/kernels: the GPU
# backend's compiled kernels and autotune results), site/ (the wasm site build; site/threads/
# its threaded module, scripts/build-threads.sh), last-clone
# (which clone built last), lock. Deleting the folder is always safe: the next run builds cold.
#
# Cargo's own fingerprints decide what is rebuilt. They name the workspace's crates by their
# path inside the workspace and judge them fresh by file times, so the same crates of another
# clone, checked out before this one was built, could pass for fresh. So a clone that did not
# make the cache's last build first has its own crates cleaned (`cargo clean -p`) from both
# target folders; only the dependencies carry over.

if [ "$FASHIONAI_BUILD_CACHE" = 1 ]; then
    build_cache="${XDG_CACHE_HOME:-$HOME/.cache}/fashionai-build"
else
    build_cache=$FASHIONAI_BUILD_CACHE
fi
mkdir -p "$build_cache"
build_cache=$(cd "$build_cache" && pwd)

# One test run at a time uses the cache: another one's build would replace the binaries this
# one's tests run. The lock is released when this shell exits.
exec {build_cache_lock}>"$build_cache/lock"
if ! flock --nonblock "$build_cache_lock"; then
    echo "build cache $build_cache: another test run holds it; waiting"
    flock "$build_cache_lock"
fi

max_gib=${FASHIONAI_BUILD_CACHE_MAX_GIB:-40}
used_kib=$(du -sk "$build_cache" | cut -f1)
if [ "$used_kib" -gt $((max_gib * 1024 * 1024)) ]; then
    echo "build cache $build_cache: $((used_kib / 1024 / 1024)) GiB, over ${max_gib} GiB; clearing it"
    rm -rf "$build_cache/native" "$build_cache/site" "$build_cache/last-clone"
fi

# This clone's identity: a random name kept in its own (ignored) target folder, so a fresh
# clone, even at the same path, is a new one.
mkdir -p target
[ -s target/build-cache-clone ] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > target/build-cache-clone
if [ "$(cat "$build_cache/last-clone" 2>/dev/null)" != "$(cat target/build-cache-clone)" ]; then
    echo "build cache $build_cache: built last by another clone; this clone's crates are built anew"
    own=(-p shared -p trainer -p web)
    [ -d "$build_cache/native" ] && cargo clean --quiet --target-dir "$build_cache/native" "${own[@]}"
    for site_dir in "$build_cache/site" "$build_cache/site/threads"; do
        [ -d "$site_dir" ] && cargo clean --quiet --target-dir "$site_dir" \
            --target wasm32-unknown-unknown --profile site-ci "${own[@]}"
    done
    cp target/build-cache-clone "$build_cache/last-clone"
fi

export CARGO_TARGET_DIR="$build_cache/native"
site_target_dir="$build_cache/site"
echo "build cache: $build_cache ($((used_kib / 1024 / 1024)) GiB before this run)"
