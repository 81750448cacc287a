"""Interleaved measured runs against gateway processes that stay up, for bench/policies.py, bench/auth.py and
bench/limits.py: one wrk run (warm-up, CPU counters of the gateway and of the processes beside it, noise),
the rounds loop (rotated order, noise guard, time bound) and the machine description of a report.

Python 3.11 standard library only; the process, CPU and wrk helpers are bench.py's.
"""

from __future__ import annotations

import argparse
import http.client
import datetime as _dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import bench as B
from bench import log


def send(port: int, path: str, headers: dict, method: str = "GET", body: bytes | None = None) -> dict:
    """One request to the gateway for a pre-flight check: status, the body's start and length, and the
    headers by lower-case name; on failure status None and the error."""
    conn = http.client.HTTPConnection(B.HOST, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return {"status": resp.status, "body": data.decode(errors="replace")[:300], "bytes": len(data),
                "headers": {k.lower(): v for k, v in resp.getheaders()}}
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return {"status": None, "body": "", "error": f"{type(e).__name__}: {e}", "bytes": 0, "headers": {}}
    finally:
        conn.close()


def run_checks(port: int, checks: list[dict], headers: dict[str, str],
               more_problems: Callable[[dict], list[str]]) -> bool:
    """Sends each pre-flight check's request (its "send": the arguments of `send` after the port) and records
    its status, request id, response (start or error), the response headers `headers` names (check field ->
    header name) and its problems: a status other than its "expect", a body other than its "expect_body" if
    it has one, and what `more_problems(check)` finds. Waits for the access log to be written; whether every
    check passed."""
    ok_all = True
    for c in checks:
        info = send(port, *c.pop("send"))
        c["status"] = info.get("status")
        c["request_id"] = info["headers"].get("x-request-id")
        for name, header in headers.items():
            c[name] = info["headers"].get(header)
        c["response"] = info.get("body") or info.get("error")
        problems = []
        if c["status"] != c["expect"]:
            problems.append(f"status {c['status']}, expected {c['expect']}")
        if c.get("expect_body") is not None and info.get("body") != c["expect_body"]:
            problems.append("not the upstream's body")
        c["problems"] = problems + more_problems(c)
        ok_all &= not c["problems"]
    time.sleep(1.0)  # the access log is written asynchronously
    return ok_all


def wrk_base(args, duration: int, latency: bool, threads: int | None = None,
             connections: int | None = None) -> list[str]:
    """The start of every driver's wrk command: pinned to the client core, bounded by its duration."""
    return ["taskset", "-c", str(args.client_core), args.wrk, f"-t{threads or args.threads}",
            f"-c{connections or args.connections}", f"-d{duration}s", "--timeout", "5s"] + (
        ["--latency"] if latency else [])


def report_only(path: Path, summarize: Callable) -> int:
    """Measures nothing: rewrites the report of an earlier run from its latest.json with `summarize(args,
    runs, meta, preflight)`."""
    data = json.loads(path.read_text())
    a = data["args"]
    args = argparse.Namespace(**{k: a[k] for k in ("wrk", "nginx")})
    for k in ("rounds", "duration", "warmup", "threads", "connections", "proxy_core", "client_core",
              "upstream_core"):
        setattr(args, k, int(a[k]))
    args.noise_limit = float(a["noise_limit"])
    runs = [Run(**r) for r in data["runs"]]
    report = summarize(args, runs, data["meta"], data["preflight"])
    (path.parent / "latest.md").write_text(report)
    print(report)
    return 0


@dataclass
class Run:
    round: int
    scenario: str
    command: str
    rps: float = 0.0
    requests: int = 0
    warm_requests: int = 0
    cpu_s: float = 0.0
    req_per_cpu_s: float = float("nan")
    cpu_util: float = 0.0
    core1_util: float = 0.0
    other_cpu: float = 0.0
    steal: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    errors: int = 0
    non2xx: int = 0
    socket_errors: str = ""
    log_lines: int = -1
    threads_cpu_s: dict = field(default_factory=dict)
    attempts: int = 1
    noisy: bool = False
    wrk_output: str = ""
    failure: str = ""
    side_cpu_s: dict = field(default_factory=dict)  # CPU seconds of the processes beside the gateway, by name


def masked(text: str, secrets_: dict[str, str]) -> str:
    for name, value in secrets_.items():
        text = text.replace(value, f"<{name}>")
    return text


def measure(args, rnd: int, scenario: str, gw: B.Server, wrk_cmd: Callable[[int, bool], list[str]],
            side: dict[str, B.Server], secrets_: dict[str, str] | None = None) -> Run:
    """One measured wrk run of `scenario` against the running gateway `gw`: truncate its access log, warm up
    for args.warmup s, then CPU counters of the gateway (by thread too), of the `side` processes (upstream,
    Redis, …: charged to the load side, not to "other") and of the machine around args.duration s of wrk.
    `wrk_cmd(duration, latency)` builds the wrk command; `secrets_` (name -> value) are masked in what is kept."""
    secrets_ = secrets_ or {}
    cmd = wrk_cmd(args.duration, True)
    run = Run(rnd, scenario, masked(" ".join(f"'{c}'" if " " in c else c for c in cmd), secrets_))
    try:
        os.truncate(gw.access_log, 0)  # opened O_APPEND by Portcullis: the next line starts at 0
        if args.warmup > 0:
            wout, _, _ = B.run_wrk(wrk_cmd(args.warmup, False), args.warmup)
            try:
                run.warm_requests = B.parse_wrk(wout)["requests"]
            except ValueError:
                pass
        pid = gw.proc.pid
        th0 = B.thread_ticks(pid)
        t0, (b0, s0) = B.cpu_ticks([pid]), B.proc_stat()
        side0 = {name: B.cpu_ticks(srv.pids()) for name, srv in side.items()}
        out, rc, client_cpu = B.run_wrk(cmd, args.duration)
        time.sleep(args.settle)  # the access-log thread finishes its backlog
        t1, (b1, s1) = B.cpu_ticks([pid]), B.proc_stat()
        side1 = {name: B.cpu_ticks(srv.pids()) for name, srv in side.items()}
        th1 = B.thread_ticks(pid)
        run.threads_cpu_s = {k: (v - th0.get(k, 0)) / B.CLK_TCK for k, v in th1.items()}
        run.side_cpu_s = {name: (side1[name] - side0[name]) / B.CLK_TCK for name in side}
        run.wrk_output = masked(out, secrets_)
        w = B.parse_wrk(out)
        run.rps, run.requests, run.p50_ms, run.p99_ms = w["rps"], w["requests"], w["p50_ms"], w["p99_ms"]
        run.errors, run.non2xx = w["errors"], w["non2xx"]
        run.socket_errors = (f"connect {w['sock_connect']}, read {w['sock_read']}, "
                             f"write {w['sock_write']}, timeout {w['sock_timeout']}")
        run.cpu_s = (t1 - t0) / B.CLK_TCK
        side_s = sum(run.side_cpu_s.values())
        el = w["elapsed_s"]
        run.req_per_cpu_s = run.requests / run.cpu_s if run.cpu_s > 0 else float("nan")
        run.cpu_util = run.cpu_s / el if el > 0 else float("nan")
        run.core1_util = (client_cpu + side_s) / el if el > 0 else float("nan")
        window = el + args.settle
        run.other_cpu = max(0.0, (b1 - b0) / B.CLK_TCK - run.cpu_s - client_cpu - side_s) / window
        run.steal = (s1 - s0) / B.CLK_TCK / window
        run.log_lines = B.count_lines(gw.access_log)
        if rc != 0:
            run.failure = f"wrk exited {rc}"
    except Exception as e:  # noqa: BLE001 - recorded and reported
        run.failure = f"{type(e).__name__}: {e}"
    if gw.proc.poll() is not None:
        run.failure = (run.failure + "; " if run.failure else "") + f"portcullis exited with {gw.proc.returncode}"
    return run


def run_rounds(args, plan: list[str], t_begin: float, one: Callable[[int, str], Run],
               gone: Callable[[], str | None], runs: list[Run]) -> None:
    """args.rounds rounds of every scenario in `plan`, the order rotated every round and reversed every other
    one. Before each run it waits (from the noise budget) for a quiet second; a run with more than
    args.noise_limit cores of other CPU + steal is repeated up to args.retries times while the budget lasts.
    Appends to `runs` as it goes (so an interruption keeps what was measured); raises KeyboardInterrupt when
    args.max_seconds have passed since t_begin or when `gone()` names a process that exited."""
    total = len(plan) * args.rounds
    n = 0
    budget = float(args.noise_budget)
    for rnd in range(args.rounds):
        k = rnd % len(plan)
        order = plan[k:] + plan[:k]
        if rnd % 2:
            order.reverse()
        for sc in order:
            n += 1
            if time.monotonic() - t_begin > args.max_seconds:
                raise KeyboardInterrupt(f"--max-seconds {args.max_seconds:.0f} reached")
            attempts = 0
            while True:
                attempts += 1
                if budget > 0:
                    budget -= B.wait_quiet(args.noise_limit, min(20.0, budget))
                r = one(rnd, sc)
                noisy = r.other_cpu + r.steal > args.noise_limit
                if r.failure or not noisy or attempts > args.retries or budget <= 0:
                    break
                log(f"    r{rnd + 1} {sc}: other CPU {r.other_cpu:.2f} + steal {r.steal:.2f} cores; repeating")
                budget -= args.duration + args.warmup + 1
            r.attempts, r.noisy = attempts, r.other_cpu + r.steal > args.noise_limit
            runs.append(r)
            flag = (f"  FAILED: {r.failure}" if r.failure else "") + ("  NOISY" if r.noisy else "") + \
                   (f"  ERRORS {r.errors} (non2xx {r.non2xx}; {r.socket_errors})" if r.errors else "")
            side = "".join(f" {k} {v / r.requests * 1e6 if r.requests else 0:.1f}µs/req" for k, v in
                           r.side_cpu_s.items() if k != "upstream")
            log(f"[{n:3d}/{total}] r{rnd + 1} {sc:16s} {r.rps:9,.0f} req/s {r.req_per_cpu_s:9,.0f} req/CPU-s "
                f"cpu {r.cpu_util:4.2f} p50 {r.p50_ms:6.3f} p99 {r.p99_ms:6.3f} ms core1 {r.core1_util:4.2f} "
                f"other {r.other_cpu:4.2f} steal {r.steal:4.2f}{side}{flag}")
            why = gone()
            if why:
                raise KeyboardInterrupt(why)


def machine_meta(args, **extra) -> dict:
    """Date, machine, commit (or the label of a prebuilt binary), the binary's mtime and sha256 prefix,
    nginx's and wrk's versions, then `extra`."""
    meta = {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": os.cpu_count(),
        "cpu": next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name")), "unknown"),
        "kernel": os.uname().release,
        "commit": args.commit or ("unknown (prebuilt binary)" if args.prebuilt else subprocess.run(
            ["git", "-C", str(args.repo), "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True).stdout.strip()),
        "binary": args.portcullis,
        "binary_built": _dt.datetime.fromtimestamp(os.stat(args.portcullis).st_mtime).astimezone()
        .strftime("%Y-%m-%d %H:%M:%S %Z"),
        "binary_sha256": hashlib.sha256(Path(args.portcullis).read_bytes()).hexdigest()[:16],
        "nginx_version": B.cmd_version([args.nginx, "-v"]),
        "wrk_version": B.cmd_version([args.wrk, "-v"]),
    }
    meta.update(extra)
    return meta


def cost(x: float, base: float) -> float:
    return 1 - x / base if base == base and x == x and base > 0 else float("nan")


def pct(v: float, nd: int = 1) -> str:
    return "n/a" if v != v else f"{100 * v:+.{nd}f}%"


def driver_args(doc: str, scenarios: list[str], default: list[str], rounds: int, duration: int,
                max_seconds: float) -> argparse.ArgumentParser:
    """The options every driver started through bench/driver.sh takes (its own defaults for the rounds, the
    duration and the time bound); a driver adds its own before parse_args."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--portcullis", required=True)
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--commit", default="", help="label for the binary's source commit")
    ap.add_argument("--prebuilt", action="store_true")
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--duration", type=int, default=duration)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--proxy-core", type=int, default=0)
    ap.add_argument("--client-core", type=int, default=1)
    ap.add_argument("--upstream-core", type=int, default=1)
    ap.add_argument("--settle", type=float, default=0.5)
    ap.add_argument("--noise-limit", type=float, default=0.15)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--noise-budget", type=float, default=240)
    ap.add_argument("--max-seconds", type=float, default=max_seconds, help="stop starting runs after this long")
    ap.add_argument("--twin", type=int, default=0,
                    help="after the rounds, this many twin A/B rounds (bench/twin.py): two gateways on one core")
    ap.add_argument("--twin-bin", default="", help="twin B runs this binary (bench/twin.py)")
    ap.add_argument("--scenarios", default=",".join(default),
                    help=f"comma list of {', '.join(scenarios)} (default: {','.join(default)})")
    return ap


def chosen_scenarios(ap: argparse.ArgumentParser, args, known) -> list[str]:
    chosen = [s for s in args.scenarios.split(",") if s]
    for s in chosen:
        if s not in known:
            ap.error(f"unknown scenario {s} (known: {', '.join(known)})")
    return chosen


def prepare(args, ports: set[int]) -> bool:
    """A fresh OUT/run directory (args.run_dir) with the pid file the shell trap reads; False (said) when one
    of `ports` is taken. SIGTERM and SIGHUP become KeyboardInterrupt, so the drivers' finally blocks run."""
    args.run_dir = args.out / "run"
    if args.run_dir.exists():
        shutil.rmtree(args.run_dir)
    args.run_dir.mkdir(parents=True)
    B.PIDS_FILE = args.run_dir / "pids"
    busy = B.listening_ports() & ports
    if busy:
        log(f"ports already in use: {sorted(busy)} (set BENCH_PORT_BASE to move them)")
        return False

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    return True


def write_results(args, report: str, payload: dict) -> None:
    """OUT/latest.md (the report, also printed) and OUT/latest.json (`payload` with the arguments)."""
    (args.out / "latest.md").write_text(report)
    (args.out / "latest.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, **payload}, indent=1))
    print()
    print(report)
    print(f"written: {args.out / 'latest.md'} and {args.out / 'latest.json'}")


def medians_section(runs: list[Run], scenarios: list[str],
                    describe: tuple[str, dict[str, str]] | None = None) -> list[str]:
    """The report's table of per-scenario medians over the runs that did not fail; `describe` adds a
    column (its title and each scenario's text)."""
    f, med = B.fmt, B.med
    ok = [r for r in runs if not r.failure]
    extra = f" {describe[0]} |" if describe else ""
    L = ["## Medians per scenario\n",
         f"| scenario |{extra} req/s | req/CPU-s | gateway CPU (cores) | p50 ms | p99 ms | "
         "wrk+upstream CPU (cores) | other / steal | noisy | errors | log lines/req |",
         "|---|" + ("---|" if describe else "") + "---:|" * 10]
    for sc in scenarios:
        rs = [r for r in ok if r.scenario == sc]
        allr = [r for r in runs if r.scenario == sc]
        fails = len(allr) - len(rs)
        cov = med([r.log_lines / (r.requests + r.warm_requests) for r in rs if r.log_lines >= 0 and r.requests])
        L.append(f"| {sc} |" + (f" {describe[1][sc]} |" if describe else "") + f" {f(med([r.rps for r in rs]))} | "
                 f"{f(med([r.req_per_cpu_s for r in rs]))} | {f(med([r.cpu_util for r in rs]), 2)} | "
                 f"{f(med([r.p50_ms for r in rs]), 3)} | {f(med([r.p99_ms for r in rs]), 3)} | "
                 f"{f(med([r.core1_util for r in rs]), 2)} | {f(med([r.other_cpu for r in rs]), 2)} / "
                 f"{f(med([r.steal for r in rs]), 2)} | {sum(r.noisy for r in allr)}/{len(allr)} | "
                 f"{sum(r.errors for r in allr)}{f' ({fails} failed)' if fails else ''} | {f(cov, 3)} |")
    L.append("")
    return L


def failed_runs_section(runs: list[Run]) -> list[str]:
    """The report's "Runs with errors or failures" section (empty when there are none), with wrk's output."""
    bad = [r for r in runs if r.failure or r.errors]
    if not bad:
        return []
    L = ["## Runs with errors or failures\n"]
    for r in bad:
        L.append(f"- round {r.round + 1} {r.scenario}: {r.failure} errors={r.errors} non2xx={r.non2xx} "
                 f"sockets=({r.socket_errors})\n  `{r.command}`")
        L.append("  ```\n" + "\n".join("  " + x for x in r.wrk_output.strip().splitlines()) + "\n  ```")
    return L + [""]


# --------------------------------------------------------------------------- profile


def profile(args, gw: B.Server, scenarios: list[str], patterns: dict[str, list[tuple[str, tuple[str, ...]]]],
            wrk_cmd: Callable[[str, int], list[str]]) -> list[dict]:
    """perf record (--call-graph dwarf, args.perf_freq Hz) of the gateway for args.perf seconds while wrk
    (`wrk_cmd(scenario, seconds)`) drives each scenario; for each (label, substrings) of patterns[scenario]
    the inclusive share of the first symbol containing all the substrings, and the top functions by own
    samples."""
    out = []
    perf = shutil.which("perf")
    if not perf:
        log("perf not found: no profile")
        return out
    for sc in scenarios:
        data = args.run_dir / f"perf-{sc}.data"
        secs = int(args.perf)
        wrk = B.spawn(wrk_cmd(sc, secs + 3), subprocess.DEVNULL, subprocess.DEVNULL)
        entry: dict = {"scenario": sc, "seconds": secs}
        try:
            time.sleep(1.5)
            rec = subprocess.run([perf, "record", "-q", "-F", str(args.perf_freq), "--call-graph", "dwarf,16384",
                                  "-p", str(gw.proc.pid), "-o", str(data), "--", "sleep", str(secs)],
                                 capture_output=True, text=True, timeout=secs + 60)
            if rec.returncode != 0:
                entry["error"] = f"perf record exited {rec.returncode}: {rec.stderr.strip()[-300:]}"
        finally:
            try:
                wrk.wait(timeout=secs + 30)
            except subprocess.TimeoutExpired:
                pass
            B.stop(wrk)
        if "error" not in entry:
            rep_ = subprocess.run([perf, "report", "-i", str(data), "--children", "--sort", "symbol", "-g", "none",
                                   "--stdio", "--percent-limit", "0"], capture_output=True, text=True, timeout=900)
            rows = []
            for line in rep_.stdout.splitlines():
                parts = line.split(None, 3)
                if len(parts) == 4 and parts[0].endswith("%") and parts[1].endswith("%"):
                    try:
                        rows.append((float(parts[0][:-1]), float(parts[1][:-1]), parts[3].strip()))
                    except ValueError:
                        continue
            m = next((ln for ln in rep_.stdout.splitlines() if ln.startswith("# Samples")), "")
            entry["samples"] = m.strip("# ").strip()
            entry["shares"] = [
                {"label": label, "pattern": " … ".join(pats),
                 "children_pct": max([c for c, _, sym in rows if all(p_ in sym for p_ in pats)], default=0.0)}
                for label, pats in patterns.get(sc, [])]
            entry["top_self"] = [{"self_pct": s_, "symbol": sym[:160]} for _, s_, sym in
                                 sorted(rows, key=lambda r: -r[1])[:12]]
            log(f"profile {sc}: " + "; ".join(f"{x['label'].strip()} {x['children_pct']:.1f}%"
                                                for x in entry["shares"]) + f" ({entry['samples']})")
        else:
            log(f"profile {sc}: {entry['error']}")
        out.append(entry)
    return out


def profile_section(entries: list[dict] | None) -> list[str]:
    """The report's profile table (empty without a profile)."""
    if not entries:
        return []
    L = []
    L.append("## Profile (perf, inclusive share of the gateway's CPU samples)\n")
    L.append("`perf record -F <freq> --call-graph dwarf` of the gateway process while wrk drives the "
             "scenario; `perf report --children`: the share of samples with the function on the stack.\n")
    L.append("| scenario | function | inclusive share | samples |")
    L.append("|---|---|---:|---|")
    for e in entries:
        if e.get("error"):
            L.append(f"| {e['scenario']} | {e['error']} | | |")
        for x in e.get("shares", []):
            L.append(f"| {e['scenario']} | {x['label']} | {x['children_pct']:.1f}% | "
                     f"{e.get('samples', '')} |")
    L.append("")
    return L


# --------------------------------------------------------------------------- configs


def small_upstream_conf(prefix: Path, port: int) -> str:
    """nginx answering every request with bench.py's fixed 99-byte JSON, no access log."""
    small = B.SMALL_BODY.replace("'", "\\'").replace("\n", "\\n")
    return B.nginx_common(prefix, f"""    access_log off;
    server {{
        listen {B.HOST}:{port} reuseport backlog=4096;
        default_type application/json;
        location / {{ return 200 '{small}'; }}
    }}""")


def route(name: str, policies: str = "", methods: str = "GET") -> str:
    """A route `name` on prefix /name to the upstream `up`, with the policies' YAML (indented 6)."""
    text = f"  - name: {name}\n    prefix: /{name}\n    methods: [{methods}]\n    upstream: up\n"
    return text + (f"    policies:\n{policies}" if policies else "")


def gateway_conf(driver: str, prefix: Path, port: int, upstream_port: int, routes: str, admin_port: int | None,
                 extra: str = "") -> str:
    """A gateway with one plain listener, the upstream `up` and `routes`, its access log and data in `prefix`;
    the admin API on `admin_port` with cheap password hashing (setup speed only), or off when None; then
    `extra` (top-level YAML)."""
    admin = (f"admin:\n  listen: {B.HOST}:{admin_port}\n  password_hashing: {{ memory: 8MiB, iterations: 1, "
             f"parallelism: 1 }}\n") if admin_port else "admin:\n  enabled: false\n"
    return f"""# generated by bench/{driver}: defaults except the access-log path, the data directory, the admin API
# (cheap password hashing: setup speed only){' and what follows it' if extra else ''}
workers: 1
listeners:
  - name: public
    listen: {B.HOST}:{port}
upstream_allowlist: [127.0.0.1/32]
upstreams:
  - name: up
    targets: [http://{B.HOST}:{upstream_port}]
routes:
{routes}access_log:
  path: {prefix}/access.log
data_dir: {prefix}/data
{admin}{extra}"""
