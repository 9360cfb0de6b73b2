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

print(f"{'scenario':<30} {'crate':<20} {'ns/call':>9} {'vs best peer':>13}")
for group, results in rows.items():
    peers = {n: t for n, t in results.items() if n not in ("fusebox", "bare_future")}
    best = min(peers.values()) if peers else None
    for name, t in sorted(results.items(), key=lambda kv: kv[1]):
        ratio = f"{t / best:.2f}x" if best and group != "baseline" else ""
        print(f"{group:<30} {name:<20} {t:>9.2f} {ratio:>13}")
    print()
