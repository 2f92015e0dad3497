"""Body inspection against plain ``json.loads``, for hostile 4 MiB body shapes.

The middleware reads every authenticated body to find the tools it calls, refusing duplicate
keys where its decision is read. That must cost about what parsing costs (at most ~3x
``json.loads``) whatever the shape, or a client could buy event-loop time cheaply. Each shape
is timed side by side in one run (best of several rounds) and reported as a ratio.

    .venv/bin/python benchmarks/bench_inspect.py
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from functools import partial

from authsec_sdk.runtime.asgi.jsonrpc import inspect_body

SIZE = 4 * 1024 * 1024
ROUNDS = 5


def shapes() -> dict[str, bytes]:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": {}}}
    return {
        "array of empty objects": b"[" + b",".join([b"{}"] * (SIZE // 3)) + b"]",
        "array of small messages": b"["
        + b",".join([b'{"jsonrpc":"2.0","id":1,"method":"ping"}'] * (SIZE // 42))
        + b"]",
        "array of integers": b"[" + b",".join([b"1"] * (SIZE // 2)) + b"]",
        "one long string": json.dumps(
            {**call, "params": {"name": "x", "arguments": {"s": "a" * SIZE}}}
        ).encode(),
        "one object, many keys": json.dumps(
            {**call, "params": {"name": "x", "arguments": {f"k{i}": i for i in range(SIZE // 14)}}}
        ).encode(),
        "deep nesting": b'{"a":' * 900 + b"1" + b"}" * 900,
    }


def best_of(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        with contextlib.suppress(ValueError):  # a refusal is an answer too: its cost counts
            fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    print(f"{'body shape (~4 MiB)':<26} {'json.loads ms':>14} {'inspect ms':>11} {'ratio':>6}")
    for name, body in shapes().items():
        base = best_of(partial(json.loads, body))
        ours = best_of(partial(inspect_body, body))
        print(f"{name:<26} {base * 1e3:>14.1f} {ours * 1e3:>11.1f} {ours / base:>6.2f}")


if __name__ == "__main__":
    main()
