"""Over the network: each stack on its own uvicorn (httptools, uvloop, one worker) under ``wrk``.

One run, one process tree: a local issuer in its own process (JWKS, and introspection
answering after 1 ms), then each measured server in a process of its own, driven by ``wrk``
with 32 connections posting a ``tools/call``, reported as req/s and as a share of the bare
app's, next to the targets. Then an unknown-``kid`` burst on a fresh server, and one million
distinct tokens through one process (`token_memory.py`) for its memory growth.

It installs what it needs: ``wrk`` (as root, with apt) and the previous AuthSec SDK in an
environment of its own under ``.venv-bench/`` (it has our import name).

    make bench
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
from http_servers import ANSWER, BODY, PATH, wait_for

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SERVERS = HERE / "http_servers.py"
PREVIOUS_VERSION = "4.7.3"
PREVIOUS_SDK = f"authsec-sdk=={PREVIOUS_VERSION}"
PREVIOUS_VENV = REPO / ".venv-bench" / "previous-sdk"
CONNECTIONS = 32
THREADS = 2
WARMUP_SECONDS = 2
MEASURE_SECONDS = 5
BURST_CONCURRENCY = 10


class BenchError(Exception):
    """A row could not be measured; the message says why."""


@dataclasses.dataclass(frozen=True)
class Row:
    label: str
    kind: str
    #: Key of the token list in the issuer's spec; "" sends no token.
    tokens: str
    #: The share of the bare app's req/s the row must reach, and what the target says.
    floor: float | None = None
    target: str = ""
    python: str = sys.executable


@dataclasses.dataclass
class Result:
    row: Row
    rps: float | None = None
    reason: str = ""


# ---------------------------------------------------------------------- what the bench needs
def ensure_wrk() -> str:
    """The path of ``wrk``, installed with apt when missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("bench_http needs the load generator wrk: install it (Debian: apt-get install wrk)")
    print("installing wrk ...", file=sys.stderr)
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is still missing after apt-get install wrk")
    return found


def previous_sdk_python() -> tuple[str, str]:
    """The previous SDK's interpreter (its own environment, made once), or "" and why not."""
    python = PREVIOUS_VENV / "bin" / "python"
    stamp = PREVIOUS_VENV / f".installed-{PREVIOUS_SDK}"
    if stamp.exists():
        return str(python), ""
    print(f"installing {PREVIOUS_SDK} in {PREVIOUS_VENV.relative_to(REPO)} ...", file=sys.stderr)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(PREVIOUS_VENV)],
        [str(python), "-m", "pip", "install", "-q", PREVIOUS_SDK, "uvloop", "httptools"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return "", f"could not install {PREVIOUS_SDK}: {last}"
    stamp.touch()
    return str(python), ""


# ---------------------------------------------------------------------- processes
@contextmanager
def child(args: Sequence[str], logs: Path) -> Iterator[subprocess.Popen[str]]:
    """A process of ours, stopped by its PID when the block ends (its stderr goes to ``logs``)."""
    with logs.open("w") as stderr:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=HERE)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def server(python: str, kind: str, spec: Path, work: Path) -> Iterator[str]:
    """A measured server of ``kind`` in its own process; yields its URL once it listens."""
    logs = work / f"{kind}.log"
    with child([python, str(SERVERS), "serve", kind, str(spec)], logs) as process:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            tail = "\n".join(logs.read_text().strip().splitlines()[-3:])
            raise BenchError(f"{kind} did not start: {tail or 'no output'}")
        yield f"http://127.0.0.1:{line.strip()}{PATH}"


# ---------------------------------------------------------------------- load
LUA = """\
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
local tokens = {{}}
for line in io.lines({tokens}) do tokens[#tokens + 1] = line end

if #tokens == 1 then
  wrk.headers["Authorization"] = "Bearer " .. tokens[1]
elseif #tokens > 1 then
  -- Thread n sends tokens n, n + threads, ...: no token goes through two threads, so each
  -- comes back only after all the others, and a cache smaller than the pool never hits.
  local threads = 0
  function setup(thread)
    thread:set("first", threads)
    threads = threads + 1
  end
  local index, step
  function init(args)
    index, step = first, tonumber(args[1])
  end
  function request()
    wrk.headers["Authorization"] = "Bearer " .. tokens[index % #tokens + 1]
    index = index + step
    return wrk.format()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_script(work: Path, name: str, tokens: list[str]) -> Path:
    token_file = work / f"{name}.tokens"
    token_file.write_text("".join(f"{t}\n" for t in tokens))
    script = work / f"{name}.lua"
    script.write_text(LUA.format(body=json.dumps(BODY.decode()), tokens=json.dumps(str(token_file))))
    return script


def load(wrk: str, url: str, script: Path, seconds: int) -> float:
    """Requests per second ``wrk`` got from ``url``; any failed request makes the run invalid."""
    args = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s"]
    done = subprocess.run([*args, "-s", str(script), url, "--", str(THREADS)], capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    requests, micros, *errors = map(int, line.split()[1:])
    if any(errors):
        kinds = ("connect", "read", "write", "status >= 400", "timeout")
        failed = (f"{n} {kind}" for kind, n in zip(kinds, errors, strict=True) if n)
        raise BenchError("failed requests: " + ", ".join(failed))
    return requests / (micros / 1e6)


def post_each(url: str, tokens: list[str], concurrency: int) -> list[httpx.Response]:
    """One ``tools/call`` per token (none: one without a token), ``concurrency`` at a time."""
    responses: list[httpx.Response] = []

    async def post_all() -> None:
        limiter = anyio.CapacityLimiter(concurrency)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency), timeout=30) as client:

            async def post(token: str) -> None:
                headers = {
                    "content-type": "application/json",
                    "accept": "application/json, text/event-stream",
                }
                if token:
                    headers["authorization"] = f"Bearer {token}"
                async with limiter:
                    responses.append(await client.post(url, content=BODY, headers=headers))

            async with anyio.create_task_group() as group:
                for token in tokens or [""]:
                    group.start_soon(post, token)

    anyio.run(post_all)
    return responses


def check_answers(url: str, tokens: list[str]) -> None:
    """Every token must get the tool's answer (the previous SDK refuses with a 200 too). This
    also fills the caches before the warm-up, however slow the first answers are."""
    for response in post_each(url, tokens, CONNECTIONS):
        if response.status_code != 200 or response.content != ANSWER:
            raise BenchError(f"answered {response.status_code} {response.content[:120]!r}")


def measure(wrk: str, row: Row, spec_path: Path, work: Path) -> Result:
    print(f"measuring {row.label} ...", file=sys.stderr)
    try:
        spec = wait_for(spec_path)
        tokens: list[str] = [] if not row.tokens else spec[row.tokens]
        tokens = tokens if isinstance(tokens, list) else [tokens]
        script = lua_script(work, row.kind, tokens)
        with server(row.python, row.kind, spec_path, work) as url:
            check_answers(url, tokens)
            load(wrk, url, script, WARMUP_SECONDS)
            return Result(row, rps=load(wrk, url, script, MEASURE_SECONDS))
    except BenchError as exc:
        return Result(row, reason=str(exc))


def unknown_kid_burst(spec_path: Path, work: Path) -> Counter[int]:
    """Statuses of unknown-``kid`` tokens sent to a fresh server, ``BURST_CONCURRENCY`` at a time."""
    tokens: list[str] = wait_for(spec_path)["unknown_kid_jwts"]
    print("unknown-kid burst on a fresh server ...", file=sys.stderr)
    with server(sys.executable, "ours", spec_path, work) as url:
        return Counter(response.status_code for response in post_each(url, tokens, BURST_CONCURRENCY))


def memory_growth(work: Path) -> dict[str, float]:
    print("one million distinct tokens through one process ...", file=sys.stderr)
    logs = work / "token_memory.log"
    with child([sys.executable, str(HERE / "token_memory.py")], logs) as process:
        out, _ = process.communicate()
    if process.returncode != 0:
        raise BenchError((logs.read_text().strip().splitlines() or ["no output"])[-1])
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------- the run
def main() -> None:
    started = time.monotonic()
    wrk = ensure_wrk()
    previous, why_not = previous_sdk_python()
    bare = Row("bare ASGI app", "bare", "")
    rows = [
        Row("ours, repeat RS256 token", "ours", "repeat_jwt", 0.60, ">= 0.60x"),
        Row("ours, new RS256 token every request", "ours-cold", "jwt_pool", 0.30, ">= 0.30x"),
        Row("mcp SDK bearer stack (PyJWT RS256), repeat token", "mcp-bearer", "repeat_jwt"),
        Row(
            f"previous AuthSec SDK {PREVIOUS_VERSION}, introspection, no cache",
            "previous-sdk",
            "opaque_pool",
            python=previous,
        ),
        Row("ours, introspection, cache off", "ours-introspection", "opaque_pool", 0.25, ">= 0.25x, >= prev"),
        Row("ours, introspection, cache on", "ours-introspection-cached", "opaque_pool", 0.55, ">= 0.55x"),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        work = Path(tmp)
        spec = work / "spec.json"
        with child([sys.executable, str(SERVERS), "issuer", str(spec)], work / "issuer.log"):
            # The bare app first and last: the mean is what every row is a share of.
            bare_runs = [measure(wrk, bare, spec, work)]
            results = [
                measure(wrk, row, spec, work) if row.python else Result(row, reason=why_not) for row in rows
            ]
            bare_runs.append(measure(wrk, bare, spec, work))
            burst = unknown_kid_burst(spec, work)
        try:
            memory: dict[str, float] | str = memory_growth(work)
        except BenchError as exc:
            memory = str(exc)
    report(bare_runs, results, burst, memory, time.monotonic() - started)


def report(
    bare_runs: list[Result],
    results: list[Result],
    burst: Counter[int],
    memory: dict[str, float] | str,
    elapsed: float,
) -> None:
    failed = [r for r in bare_runs if r.rps is None]
    if failed:
        sys.exit(f"the bare app could not be measured: {failed[0].reason}")
    bare = sum(r.rps or 0 for r in bare_runs) / len(bare_runs)
    previous = next((r.rps for r in results if r.row.kind == "previous-sdk"), None)
    print(f"\nwrk: {CONNECTIONS} connections, {MEASURE_SECONDS} s after {WARMUP_SECONDS} s of warm-up")
    print(f"{'row':<52} {'req/s':>8} {'x bare':>7}  {'target':<20} met")
    runs = " / ".join(f"{r.rps:,.0f}" for r in bare_runs)
    print(f"{'bare ASGI app (mean of a first and a last run)':<52} {bare:>8,.0f} {1:>6.2f}x  runs: {runs}")
    for result in results:
        row = result.row
        if result.rps is None:
            print(f"{row.label:<52} {'n/a':>8} {'':>7}  {row.target:<20} {result.reason}")
            continue
        ratio = result.rps / bare
        met = "" if row.floor is None else "yes" if ratio >= row.floor else "no"
        if row.kind == "ours-introspection" and met == "yes":
            met = (
                "yes"
                if previous is not None and result.rps >= previous
                else "no"
                if previous
                else "? (no prev.)"
            )
        print(f"{row.label:<52} {result.rps:>8,.0f} {ratio:>6.2f}x  {row.target:<20} {met}")
    print()
    total = sum(burst.values())
    print(
        f"{'unknown-kid burst, fresh server (200, 10 at a time)':<52} "
        f"401: {burst[401]}, 503: {burst[503]}, other: {total - burst[401] - burst[503]}"
        f"   target: all 401   met: {'yes' if burst[401] == total else 'no'}"
    )
    if isinstance(memory, str):
        print(f"{'memory, one million distinct tokens':<52} n/a: {memory}")
    else:
        growth = memory["growth_mb"]
        print(
            f"{'memory, one million distinct ES256 tokens':<52} "
            f"RSS {growth:+.1f} MB over the steady state ({memory['steady_mb']:.0f} -> "
            f"{memory['final_mb']:.0f} MB; {memory['seconds']:.0f} s)   target: <= 50 MB   "
            f"met: {'yes' if growth <= 50 else 'no'}"
        )
    print(f"\ntook {elapsed:.0f} s")


if __name__ == "__main__":
    main()
