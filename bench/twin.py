"""Twin A/B runs: a scenario's cost measured at the same moment as its baseline, for bench/auth.py,
bench/limits.py and bench/policies.py (`TWIN=N` in their shell scripts).

Why: on a shared virtual machine the gateway's requests per CPU-second drift by ±20% and more from one run
to the next (steal, caches shared with other tenants, frequency), so a cost of 3% measured by runs one after
the other needs many rounds and still cannot be told from the noise. Here two gateway processes with the
same configuration, binary and data run pinned to the SAME core, and two wrk processes drive them at the
same time: one the scenario, one its baseline. Whatever disturbs the machine disturbs both alike, and
the cost is read from one window: 1 - (scenario's req/CPU-s ÷ baseline's req/CPU-s). The roles swap every
round (twin A runs the scenario and B the baseline, then the reverse), so a difference between the two
processes cancels out; an A/A control (the baseline against itself) shows what is left of the noise.
With `--twin-bin` (TWIN_BIN=path) twin B runs another binary and both twins run the same scenario: the
cost is then what B's binary costs more (negative: saves) than A's on that route, e.g. a change before
and after.
CPU time is read from /proc/PID/task/*/schedstat (nanoseconds on a CPU, every thread of the process),
not from tick counters.

Python 3.11 standard library only; the process helpers are bench.py's.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import bench as B

# The twin's public and admin ports are the original's plus this.
PORT_SHIFT = 50
log = B.log


@dataclass
class TwinRun:
    round: int
    scenario: str
    baseline: str
    scenario_on: str  # "A" or "B": which twin ran the scenario
    requests: int = 0
    base_requests: int = 0
    cpu_s: float = 0.0
    base_cpu_s: float = 0.0
    req_per_cpu_s: float = float("nan")
    base_req_per_cpu_s: float = float("nan")
    cost: float = float("nan")
    errors: int = 0
    steal: float = 0.0
    failure: str = ""


def cpu_ns(server: B.Server) -> int:
    """Nanoseconds every thread of `server`'s processes (an nginx's master and workers) has run on a CPU."""
    total = 0
    for pid in server.pids():
        for tid in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((tid / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # a thread that just ended
    return total


def twin_conf(conf: str, ports: list[int], access_log: Path, twin_log: Path) -> str:
    """The twin's configuration: `conf` with each of `ports` moved by PORT_SHIFT, its own access log, and
    no admin plane unless `conf` places one."""
    for port in ports:
        needle = f"{B.HOST}:{port}\n"
        assert needle in conf, f"{needle!r} not in the gateway's configuration"
        conf = conf.replace(needle, f"{B.HOST}:{port + PORT_SHIFT}\n")
    needle = f"path: {access_log}\n"
    assert needle in conf, "the access log's path is not in the gateway's configuration"
    conf = conf.replace(needle, f"path: {twin_log}\n")
    # An admin plane left at its default address would collide with the original's.
    return conf if "\nadmin:" in conf else conf + "admin:\n  enabled: false\n"


def start_twin(args, original: B.Server, conf_path: Path, ports: list[int], name: str) -> B.Server:
    """Starts the twin of `original` (same binary, core, data directory) from `conf_path`'s configuration
    with `ports` moved by PORT_SHIFT; its files go to args.run_dir/name."""
    prefix = args.run_dir / name
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "portcullis.yaml"
    conf.write_text(twin_conf(conf_path.read_text(), ports, original.access_log, prefix / "access.log"))
    err = open(prefix / "stderr.log", "ab")
    binary = args.twin_bin or args.portcullis
    p = B.spawn(["taskset", "-c", str(args.proxy_core), binary, "serve", "--config", str(conf)], err, err)
    srv = B.Server(name, p, prefix, [port + PORT_SHIFT for port in ports], prefix / "access.log")
    try:
        B.wait_listening(srv.ports, p, name, timeout=30)
    except RuntimeError:
        log(f"{name} did not start; stderr:\n" + B._tail(prefix / "stderr.log"))
        raise
    log(f"twin {name} ({binary}) pid {p.pid} on ports {srv.ports} (core {args.proxy_core}); config {conf}")
    return srv


def measure(args, rnd: int, scenario: str, baseline: str, twins: tuple[B.Server, B.Server],
            wrk_cmd: Callable[[str, int, int], list[str]], swap: bool = True) -> TwinRun:
    """One window: twin A (or B on odd rounds) runs `scenario`, the other `baseline`, both driven at once
    for args.duration s after a shared warm-up. `wrk_cmd(scenario, twin_index, duration)` builds a wrk
    command for the twin at index 0 (A) or 1 (B). Without `swap` (and with --twin-bin) B always runs
    `scenario`."""
    on = rnd % 2 if swap and not args.twin_bin else 1
    run = TwinRun(rnd, scenario, baseline, "AB"[on])
    roles = [(scenario, on), (baseline, 1 - on)]
    try:
        if args.warmup > 0:
            both(roles, lambda sc, i: wrk_cmd(sc, i, args.warmup), args.warmup)
        servers = [twins[i] for _, i in roles]
        c0, (_, s0) = [cpu_ns(srv) for srv in servers], B.proc_stat()
        outs = both(roles, lambda sc, i: wrk_cmd(sc, i, args.duration), args.duration)
        time.sleep(args.settle)  # the access-log threads finish their backlog
        c1, (_, s1) = [cpu_ns(srv) for srv in servers], B.proc_stat()
        (x, b) = [B.parse_wrk(out) for out in outs]
        run.requests, run.base_requests = x["requests"], b["requests"]
        run.cpu_s, run.base_cpu_s = (c1[0] - c0[0]) / 1e9, (c1[1] - c0[1]) / 1e9
        run.req_per_cpu_s = run.requests / run.cpu_s
        run.base_req_per_cpu_s = run.base_requests / run.base_cpu_s
        run.cost = 1 - run.req_per_cpu_s / run.base_req_per_cpu_s
        run.errors = x["errors"] + b["errors"]
        run.steal = (s1 - s0) / B.CLK_TCK / (args.duration + args.settle)
    except Exception as e:  # noqa: BLE001 - recorded and reported
        run.failure = f"{type(e).__name__}: {e}"
    for twin in twins:
        if twin.proc.poll() is not None:
            run.failure = (run.failure + "; " if run.failure else "") + f"{twin.name} exited"
    return run


def both(roles: list[tuple[str, int]], cmd: Callable[[str, int], list[str]], duration: int) -> list[str]:
    """Runs the two wrk commands at once; their outputs, in the order of `roles`."""
    procs = [subprocess.Popen(cmd(sc, i), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for sc, i in roles]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=duration + 30)[0])
        except subprocess.TimeoutExpired:
            p.kill()
            outs.append(p.communicate()[0])
        if p.returncode != 0:
            raise RuntimeError(f"wrk exited {p.returncode}: {outs[-1][-300:]}")
    return outs


def pairs_for(args, scenarios: list[str], baselines: dict[str, str]) -> list[tuple[str, str]]:
    """What the twin rounds compare, of the chosen `scenarios`: each that has a baseline (`baselines`:
    scenario -> baseline) against it, after an A/A control of each baseline; or with --twin-bin each of
    these scenarios and baselines against itself on the other binary."""
    if args.twin_bin:
        return [(sc, sc) for sc in scenarios if sc in baselines or sc in baselines.values()]
    chosen = [sc for sc in scenarios if baselines.get(sc) in scenarios]
    bases = list(dict.fromkeys(baselines[sc] for sc in chosen))
    return [(b, b) for b in bases] + [(sc, baselines[sc]) for sc in chosen]


def run_rounds(args, pairs: list[tuple[str, str]], twins: tuple[B.Server, B.Server],
               wrk_cmd: Callable[[str, int, int], list[str]], t_begin: float, runs: list[TwinRun],
               swap: bool = True) -> None:
    """args.twin rounds of every (scenario, baseline) pair, the order rotated every round; appends to `runs`
    as it goes. Raises KeyboardInterrupt when args.max_seconds have passed or a twin exited."""
    if not pairs:
        raise SystemExit("twin: nothing to compare: SCENARIOS must name each scenario's baseline too")
    total, n = len(pairs) * args.twin, 0
    for rnd in range(args.twin):
        k = rnd % len(pairs)
        for sc, base in pairs[k:] + pairs[:k]:
            n += 1
            if time.monotonic() - t_begin > args.max_seconds:
                raise KeyboardInterrupt(f"--max-seconds {args.max_seconds:.0f} reached")
            r = measure(args, rnd, sc, base, twins, wrk_cmd, swap)
            runs.append(r)
            log(f"[{n:3d}/{total}] twin r{rnd + 1} {sc:>12s} on {r.scenario_on} vs {base}: "
                f"{r.req_per_cpu_s:9,.0f} vs {r.base_req_per_cpu_s:9,.0f} req/CPU-s "
                f"(cpu {r.cpu_s:.2f} / {r.base_cpu_s:.2f} s) cost {100 * r.cost:+.2f}% steal {r.steal:.2f}"
                + (f"  FAILED: {r.failure}" if r.failure else "") + (f"  ERRORS {r.errors}" if r.errors else ""))
            if r.failure and "exited" in r.failure:
                raise KeyboardInterrupt(r.failure)


def section(args, runs: list[TwinRun], goals: dict[str, float | None], describe: dict[str, str],
            method: str = "") -> list[str]:
    """The report's twin section: per pair, the cost in each round, the median, and the verdict against
    its goal; the A/A control's spread is the noise a verdict must clear. `method` replaces the sentence
    that says what the twins are."""
    if not runs:
        return []
    med = B.med
    L = ["## Twin A/B (two gateways on one core, driven at the same time)\n",
         f"{args.twin} rounds x {args.duration}s (+{args.warmup}s shared warm-up); the twins swap roles every "
         "round. Cost = 1 - scenario's req/CPU-s ÷ baseline's req/CPU-s in the same window; CPU from "
         "schedstat (ns, all threads). The A/A control runs the baseline on both twins.\n"]
    if method:
        L[1] = f"{args.twin} rounds x {args.duration}s (+{args.warmup}s shared warm-up). {method}\n"
    elif args.twin_bin:
        L[1] = (f"{args.twin} rounds x {args.duration}s (+{args.warmup}s shared warm-up). Twin B runs "
                f"`{args.twin_bin}`, twin A `{args.portcullis}`, both the same scenario at once. Cost = 1 - B's "
                "req/CPU-s ÷ A's in the same window (negative: B is cheaper); CPU from schedstat (ns, all "
                "threads).\n")
    hdr = " | ".join(f"r{i + 1}" for i in range(args.twin))
    L.append(f"| scenario | vs | {hdr} | **median** | min … max | goal | met? |")
    L.append("|---|---|" + "---:|" * args.twin + "---:|---:|---|---|")
    pairs = list(dict.fromkeys((r.scenario, r.baseline) for r in runs))
    noise = float("nan")
    for sc, base in pairs:
        rs = [r for r in runs if (r.scenario, r.baseline) == (sc, base) and not r.failure]
        costs = [r.cost for r in rs]
        if sc == base and costs and not args.twin_bin:
            noise = max(max(abs(c) for c in costs), noise if noise == noise else 0.0)
    for sc, base in pairs:
        rs = [r for r in runs if (r.scenario, r.baseline) == (sc, base)]
        ok = [r.cost for r in rs if not r.failure]
        cells = [next((f"{100 * r.cost:+.1f}%" if not r.failure else "failed" for r in rs if r.round == i), "n/a")
                 for i in range(args.twin)]
        m = med(ok)
        goal = goals.get(sc) if sc != base else None
        if method:
            verdict, goal_s = f"ratio {1 - m:.2f}", "–"
        elif args.twin_bin:
            verdict, goal_s = "(B's binary vs A's)", "–"
        elif sc == base:
            verdict, goal_s = "(A/A control: the noise)", "–"
        elif goal is None:
            verdict, goal_s = "–", "–"
        else:
            goal_s = f"< {100 * goal:.0f}%"
            verdict = "yes" if m < goal else "NO"
            if noise == noise and abs(m - goal) < noise:
                verdict = f"within noise (±{100 * noise:.1f}%): {verdict} by the median"
        L.append(f"| {describe.get(sc, sc)} | {base} | " + " | ".join(cells)
                 + f" | **{100 * m:+.1f}%** | {100 * min(ok, default=float('nan')):+.1f} … "
                 f"{100 * max(ok, default=float('nan')):+.1f} | {goal_s} | {verdict} |")
    errs = sum(r.errors for r in runs)
    L.append(f"\nErrors in the twin runs: {errs}. \"within noise\": the median is closer to the goal than the "
             "largest |cost| of the A/A control.\n")
    return L
