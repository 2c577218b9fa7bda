#!/usr/bin/env python3
"""Where a burn GPU run's time goes, per kernel: sums the per-launch timings cubecl writes with
`CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=<file>` (lines `| 1.23ms | KernelName_hash`) by
kernel, largest first.

    CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=target/profile.log \\
        target/release/trainer bench --device gpu --batch-sizes 64 --steps 2 --pipeline-images 0
    python3 tools/kernel_profile.py target/profile.log
"""

import collections
import re
import sys

UNITS = {"ns": 1e-6, "µs": 1e-3, "ms": 1.0, "s": 1e3}
LAUNCH = re.compile(r"^\| ([0-9.]+)(ns|µs|ms|s) +\| (\S+)")


def main():
    total = collections.Counter()
    launches = collections.Counter()
    with open(sys.argv[1], encoding="utf8", errors="replace") as log:
        for line in log:
            match = LAUNCH.match(line)
            if match:
                name = re.sub(r"_[0-9a-f]{8}$", "", match.group(3))
                total[name] += float(match.group(1)) * UNITS[match.group(2)]
                launches[name] += 1
    whole = sum(total.values())
    print(f"{whole:.0f} ms in {sum(launches.values())} kernel launches\n")
    print("| kernel | ms | share | launches |\n|---|---|---|---|")
    for name, ms in total.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 12):
        print(f"| {name} | {ms:.0f} | {100 * ms / whole:.1f}% | {launches[name]} |")


if __name__ == "__main__":
    main()
