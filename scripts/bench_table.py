"""Prints criterion results as a table: time per call and ratio to the best peer."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
rows = {}
for estimates in sorted(root.glob("*/*/new/estimates.json")):
    group, name = estimates.parts[-4], estimates.parts[-3]
    mean = json.loads(estimates.read_text())["mean"]["point_estimate"]
    rows.setdefault(group, {})[name] = mean

print(f"{'scenario':<30} {'crate':<24} {'ns/call':>9} {'vs best peer':>13}")
for group, results in rows.items():
    peers = {n: t for n, t in results.items() if n not in ("fusebox", "bare_future")}
    best = min(peers.values()) if peers else None
    for name, t in sorted(results.items(), key=lambda kv: kv[1]):
        ratio = f"{t / best:.2f}x" if best and not group.startswith("baseline") else ""
        print(f"{group:<30} {name:<24} {t:>9.2f} {ratio:>13}")
    print()

# Scaling: aggregate time per call on 2 threads over the time on 1, for
# fusebox on one shared breaker, for fusebox with a breaker per thread
# (nothing shared: the floor for fusebox's own instruction mix on this
# machine) and for a loop touching only its own thread's memory. 0.5 would
# be perfect; two vCPUs sharing a host core fall short of it.
one, two = rows.get("closed_success_1t", {}), rows.get("closed_success_2t", {})
floor = rows.get("baseline_scaling", {})
if "fusebox" in one and "fusebox" in two:
    line = f"2 threads / 1 thread, per call: fusebox {two['fusebox'] / one['fusebox']:.2f}"
    if "fusebox_own_breakers_2t" in floor:
        line += f"; each thread on its own breaker {floor['fusebox_own_breakers_2t'] / one['fusebox']:.2f} (nothing shared)"
    if "local_work_1t" in floor and "local_work_2t" in floor:
        line += f"; local work {floor['local_work_2t'] / floor['local_work_1t']:.2f}"
    print(line)
