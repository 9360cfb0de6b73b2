#!/usr/bin/env python3
"""Instructions per turn of one hot_loops loop, counted by callgrind.

    python3 scripts/loop_instructions.py target/release/examples/hot_loops "^open reject direct"

Runs the binary under `valgrind --tool=callgrind --dump-instr=yes` with
100,000 iterations (each loop runs five times), keeps the instructions
executed at least once per 250 turns (the loop's own, not the start-up's),
and prints their total divided by the turns.
"""

import os
import re
import subprocess
import sys
import tempfile

ITERATIONS = 100_000
RUNS = 5  # hot_loops runs each loop five times


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, loop = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-instr=yes",
             f"--callgrind-out-file={out}", binary, str(ITERATIONS), loop],
            check=True, capture_output=True)
        costs = instruction_costs(out)
    turns = ITERATIONS * RUNS
    in_loop = sum(c for c in costs.values() if c * 250 >= turns)
    print(f"{loop}: {in_loop / turns:.1f} instructions per turn")


def instruction_costs(path: str) -> dict:
    """Instructions executed, by address, from a callgrind profile whose
    positions are `instr line` (addresses may be relative: +n, -n, *)."""
    costs, address, after_call = {}, 0, False
    cost_line = re.compile(r"^(0x[0-9a-f]+|[+-]\d+|\*)\s+([+-]?\d+|\*)\s+(\d+)$")
    with open(path) as profile:
        for line in profile:
            if line.startswith("calls="):
                after_call = True  # the next line is the call's inclusive cost
                continue
            match = cost_line.match(line.strip())
            if not match:
                continue
            where = match.group(1)
            if where.startswith("0x"):
                address = int(where, 16)
            elif where != "*":
                address += int(where)
            if after_call:
                after_call = False
                continue
            costs[address] = costs.get(address, 0) + int(match.group(3))
    return costs


if __name__ == "__main__":
    main()
