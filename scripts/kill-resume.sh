#!/usr/bin/env bash
# Kills `trainer train` with SIGKILL at random moments KILLS times (default 20), resuming
# after each, and checks the checkpoints and metrics after every kill (the long mode of the
# test that CI runs with 5 kills). TRAINER_TEST_SEED=<n> replays a run's kill moments.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAINER_TEST_KILLS="${1:-20}" cargo test -p trainer --no-default-features --test crash_safety \
    survives_random_kills_and_resumes -- --nocapture 2>&1 | grep -E '^(kill|[0-9]+ (kills|epochs))|^test |panicked'
