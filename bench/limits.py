#!/usr/bin/env python3
"""What rate limits cost, in process and on Redis, and how exactly they admit (driver; started by
bench/limits.sh; results are recorded in bench/RESULTS.md).

Python 3.11 standard library only, plus redis-server and redis-cli. The process, CPU and wrk helpers come
from bench.py, the measured run and the rounds loop from rounds.py, the admin-API provisioning from
provision.py. Everything listens on 127.0.0.1; every load run is bounded by wrk's -d or by a request count
and a deadline, the whole run by --max-seconds; every process this script starts (nginx, redis-server,
gateways) is stopped in a finally block (its pid is also written to OUT/run/pids for limits.sh's trap).

Cost (interleaved rounds). `counters:` is one global section, so in-process and Redis counting need two
gateway processes. Both run the same binary with the same routes, differ only in `counters:`, and stay up
for the whole run on the same core (only the one being driven is busy):
  gateway L (no counters: in process)   /open (api_key)   /limited (api_key + rate_limit)
  gateway R (counters: redis)           /open (api_key)   /limited (api_key + rate_limit)
`rate_limit` holds two limits, `per-ip` [client_ip] and `per-app` [app], both 10000000/s (never reached;
the app comes from the API key, so the baseline /open has the same api_key policy). Scenarios: open (L
/open), local (L /limited), redis (R /limited), open_r (R /open: the same-process baseline of redis, and a
control for the two processes being alike), open_again (L /open, control), each with wrk -c32; and
open_c1, local_c1, redis_c1 with wrk -c1 (one request at a time: the latency a request sees without
queueing, where the Redis round trip is not hidden behind other connections). redis-server runs on the
client core (with wrk and the upstream), so the gateway's core measures the gateway only; its CPU is
reported per request. Each gateway has its own admin plane and store: the API keys (two apps) are made
through each one's admin API.

Pre-flight: every scenario's request gets 200 with the upstream's body; /limited carries RateLimit and
RateLimit-Policy, /open does not; without a key 401; /probe-app (per-app 3/m) refuses an app's fourth
request with 429 while the other app still gets 200, /probe-ip (per-ip 3/m) refuses the other app too
(same address); the admin API lists the limits as counting `local` on L and `redis` on R; Redis holds no
`portcullis:rl:*` key after L's probes and some after R's. After the rounds: Redis holds the /limited
keys, and its script calls during the redis runs are counted (INFO commandstats).

Accuracy: for 1 and 3 gateways counting in process, and 1 and 3 gateways sharing one Redis, fresh
gateways and an empty Redis per case; one key (key: [route]) on /rate (gcra 100/s, burst 100) and /quota
(quota 500 per day). Python threads send requests round-robin over the gateways (keep-alive, far above
the limit) for a fixed time (/rate) or a fixed count (/quota, 4x the quota), and count 200s: configured
allowed = burst + rate x elapsed, or the quota.
"""

from __future__ import annotations

import http.client
import socket
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (process, CPU, wrk and statistics helpers)
import provision as P  # noqa: E402  (admin bootstrap and API keys through the admin API)
import rounds as R  # noqa: E402  (one measured run, the rounds loop, the report's machine lines)
import twin as T  # noqa: E402  (twin A/B: two gateways on one core, driven at the same time)
from bench import log  # noqa: E402
from rounds import Run, cost, pct  # noqa: E402

HOST = B.HOST
PORT_UPSTREAM = B.BASE + 500
PORTS = {"L": (B.BASE + 501, B.BASE + 502), "R": (B.BASE + 503, B.BASE + 504)}  # gateway -> (public, admin)
PORT_REDIS = B.BASE + 505
PORT_ACCURACY = B.BASE + 510  # + 0, 1, 2
NEVER = "10000000/s"
APPS = ["wrk", "other"]
ACC_RATE, ACC_BURST, ACC_QUOTA = 100, 100, 500

# name -> (gateway, path, wrk connections or None for --connections)
SCENARIOS: dict[str, tuple[str, str, int | None]] = {
    "open": ("L", "/open/small", None),
    "local": ("L", "/limited/small", None),
    "local_quiet": ("L", "/quiet/small", None),
    "redis": ("R", "/limited/small", None),
    "open_r": ("R", "/open/small", None),
    "open_again": ("L", "/open/small", None),
    "open_c1": ("L", "/open/small", 1),
    "local_c1": ("L", "/limited/small", 1),
    "redis_c1": ("R", "/limited/small", 1),
}
DESCRIBE = {
    "open": "L `/open`: api_key",
    "local": "L `/limited`: api_key + two limits, in process",
    "local_quiet": "L `/quiet`: as `/limited`, without the RateLimit headers (`headers: none`; opt-in)",
    "redis": "R `/limited`: api_key + two limits, on Redis",
    "open_r": "R `/open`: api_key (R's baseline)",
    "open_again": "L `/open` again (control)",
    "open_c1": "L `/open`, one connection",
    "local_c1": "L `/limited`, one connection",
    "redis_c1": "R `/limited`, one connection",
}
# scenario -> its baseline for the req/CPU-s cost (paired within each round)
COSTS = {"open_again": "open", "open_r": "open", "local": "open", "redis": "open", "redis_vs_open_r": "open_r"}
# p50 differences (ms): (scenario, baseline)
P50_DELTAS = [("redis", "local"), ("redis", "open"), ("redis", "open_r"), ("local", "open"),
              ("redis_c1", "local_c1"), ("redis_c1", "open_c1"), ("local_c1", "open_c1")]


# scenario -> [(label, substrings that must all be in the symbol)] for --perf (see rounds.profile)
_RL = [("rate_limit policy: `RateLimitPolicy::on_request` (incl. its future)", ("RateLimitPolicy as ", "::on_request")),
       ("… in process: `Store::decide_all`", ("Store::decide_all",)),
       ("… in process: `KeySpec::hash`", ("KeySpec::hash",)),
       ("… Redis: `RateLimitPolicy::decide_shared`", ("RateLimitPolicy::decide_shared",)),
       ("… Redis: `SharedCounters::decide_all`", ("SharedCounters::decide_all",)),
       ("… Redis: `KeySpec::shared` (the key)", ("KeySpec::shared",)),
       ("… `RateLimitPolicy::settle` (headers)", ("RateLimitPolicy::settle",)),
       ("Redis client: multiplexed connection (its own task)", ("redis::aio::multiplexed_connection",)),
       ("Redis client: `redis::script`", ("redis::script::",)),
       ("Redis client: reading and parsing replies (`redis::parser`)", ("redis::parser",))]
PROFILE = {"open": _RL[:1], "local": _RL[:3] + _RL[6:7], "local_quiet": _RL[:3], "redis": _RL[:1] + _RL[3:]}


# --------------------------------------------------------------------------- configs


def limits(*specs: str, headers: str = "") -> str:
    style = f"        headers: {headers}\n" if headers else ""
    return ("      - type: rate_limit\n" + style + "        limits:\n"
            + "".join(f"          - {{ {s} }}\n" for s in specs))


def cost_routes() -> str:
    key = "      - type: api_key\n"
    ip = "name: per-ip, key: [client_ip], rate: {}"
    app = "name: per-app, key: [app], rate: {}"
    return (R.route("open", key) + R.route("limited", key + limits(ip.format(NEVER), app.format(NEVER)))
            + R.route("quiet", key + limits(ip.format(NEVER), app.format(NEVER), headers="none"))
            + R.route("probe-ip", key + limits(ip.format("3/m"), app.format(NEVER)))
            + R.route("probe-app", key + limits(ip.format(NEVER), app.format("3/m"))))


def accuracy_routes() -> str:
    rate = f"name: shared-rate, key: [route], rate: {ACC_RATE}/s, burst: {ACC_BURST}"
    quota = f"name: shared-quota, key: [route], algorithm: quota, quota: {ACC_QUOTA}, period: day"
    return R.route("rate", limits(rate)) + R.route("quota", limits(quota))


def redis_counters(gateways: int) -> str:
    return f"counters:\n  redis: redis://{HOST}:{PORT_REDIS}\n  gateways: {gateways}\n"


# --------------------------------------------------------------------------- processes


def start_gateway(args, name: str, prefix: Path, conf: str, ports: list[int]) -> tuple[B.Server, Path]:
    prefix.mkdir(parents=True)
    path = prefix / "portcullis.yaml"
    path.write_text(conf)
    chk = subprocess.run([args.portcullis, "check", "--config", str(path)], capture_output=True, text=True,
                         timeout=60)
    if chk.returncode != 0:
        raise RuntimeError(f"portcullis check refused {path}:\n{chk.stdout}{chk.stderr}")
    return B.Server(name, None, prefix, ports, prefix / "access.log"), path


def serve(args, srv: B.Server, conf: Path) -> B.Server:
    err = open(srv.prefix / "stderr.log", "ab")
    srv.proc = B.spawn(["taskset", "-c", str(args.proxy_core), args.portcullis, "serve", "--config", str(conf)],
                       err, err)
    try:
        B.wait_listening(srv.ports, srv.proc, srv.name, timeout=30)
    except RuntimeError:
        raise RuntimeError(f"{srv.name} did not start; stderr:\n" + B._tail(srv.prefix / "stderr.log"))
    return srv


def start_redis(args) -> B.Server:
    prefix = args.run_dir / "redis"
    prefix.mkdir()
    out = open(prefix / "stderr.log", "ab")
    p = B.spawn(["taskset", "-c", str(args.redis_core), args.redis_server, "--bind", HOST, "--port",
                 str(PORT_REDIS), "--save", "", "--appendonly", "no", "--dir", str(prefix), "--daemonize", "no",
                 "--logfile", str(prefix / "redis.log")], out, out)
    srv = B.Server("redis", p, prefix, [PORT_REDIS], None)
    B.wait_listening(srv.ports, p, "redis-server")
    return srv


def redis_cli(args, *argv: str) -> str:
    p = subprocess.run([args.redis_cli, "-h", HOST, "-p", str(PORT_REDIS), *argv], capture_output=True,
                       text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"redis-cli {' '.join(argv)}: {p.stderr.strip()}")
    return p.stdout


def redis_keys(args, pattern: str = "portcullis:rl:*") -> list[str]:
    return [k for k in redis_cli(args, "--scan", "--pattern", pattern).splitlines() if k]


class KeyWatch(threading.Thread):
    """Counts the `portcullis:rl:*` keys in Redis twice a second (KEYS over one connection) while a run
    goes on: the keys of a 10000000/s gcra limit live about a millisecond after each request, so they can
    only be seen while requests come. `most` is the largest count seen."""

    def __init__(self):
        super().__init__(daemon=True)
        self.most, self.stop_, self.error = 0, threading.Event(), ""

    def run(self) -> None:
        try:
            with socket.create_connection((HOST, PORT_REDIS), timeout=5) as sock:
                f = sock.makefile("rb")
                while not self.stop_.wait(0.5):
                    sock.sendall(b"*2\r\n$4\r\nKEYS\r\n$15\r\nportcullis:rl:*\r\n")
                    n = int(f.readline()[1:])
                    for _ in range(2 * max(n, 0)):
                        f.readline()
                    self.most = max(self.most, n)
        except (OSError, ValueError) as e:
            self.error = f"{type(e).__name__}: {e}"


def script_calls(args) -> int:
    """Calls of EVAL/EVALSHA/FCALL since Redis started (INFO commandstats)."""
    total = 0
    for line in redis_cli(args, "info", "commandstats").splitlines():
        name, _, rest = line.partition(":")
        if name in ("cmdstat_eval", "cmdstat_evalsha", "cmdstat_fcall"):
            total += int(rest.split(",")[0].split("=")[1])
    return total


# --------------------------------------------------------------------------- requests


def wrk_cmd(args, scenario: str, duration: int, key: str, latency: bool = True, shift: int = 0) -> list[str]:
    """wrk for `scenario`; `shift` moves the port (to a twin of the scenario's gateway)."""
    gw, path, conns = SCENARIOS[scenario]
    conns = conns or args.connections
    return R.wrk_base(args, duration, latency, min(args.threads, conns), conns) + [
        "-H", f"X-API-Key: {key}", f"http://{HOST}:{PORTS[gw][0] + shift}{path}"]


def preflight(args, gws: dict[str, B.Server], keys: dict[str, dict[str, str]],
              admins: dict[str, P.Admin]) -> tuple[list[dict], bool]:
    """See the module docstring. Gateway L goes first, so that an empty Redis after its probes shows it never
    counted there."""
    checks: list[dict] = []

    def check(what: str, gw: str, path: str, app: str | None, expect: int, body: bool = False,
              ratelimit: bool | None = None, policy_has: str = "") -> None:
        hdrs = {"X-API-Key": keys[gw][app]} if app else {}
        info = R.send(PORTS[gw][0], path, hdrs)
        h = info["headers"]
        problems = []
        if info["status"] != expect:
            answer = info.get("error") or info["body"]
            problems.append(f"status {info['status']}, expected {expect}: {answer[:120]!r}")
        if body and info["body"] != B.SMALL_BODY:
            problems.append("not the upstream's body")
        if ratelimit is not None and ("ratelimit" in h) != ratelimit:
            problems.append("RateLimit header " + ("missing" if ratelimit else "present"))
        if policy_has and policy_has not in h.get("ratelimit-policy", "") + h.get("ratelimit", ""):
            problems.append(f"no {policy_has!r} in RateLimit / RateLimit-Policy")
        checks.append({"what": what, "gateway": gw, "path": path, "app": app or "-", "status": info["status"],
                       "expect": expect, "ratelimit": h.get("ratelimit"),
                       "ratelimit_policy": h.get("ratelimit-policy"), "problems": problems})
        log(f"preflight {gw} GET {path:18s} app={app or '-':5s} -> {info['status']} {what}"
            + (f"  RateLimit: {h['ratelimit']}; RateLimit-Policy: {h.get('ratelimit-policy')}"
               if "ratelimit" in h else "") + (f"   <-- {'; '.join(problems)}" if problems else ""))

    def fact(what: str, value, ok: bool) -> None:
        checks.append({"what": what, "gateway": "", "path": "", "app": "", "status": value, "expect": "",
                       "problems": [] if ok else ["failed"]})
        log(f"preflight {what}: {value}" + ("" if ok else "   <-- failed"))

    redis_cli(args, "flushall")
    for gw, counting in (("L", "local"), ("R", "redis")):
        for sc, (g, path, _) in SCENARIOS.items():
            if g == gw and not sc.endswith(("_again", "_c1")):
                check(f"{sc}: the benchmark request", gw, path, "wrk", 200, body=True,
                      ratelimit=path.startswith("/limited"))
        check("api_key engaged: no key", gw, "/limited/small", None, 401)
        for i in range(3):
            check(f"per-app 3/m: request {i + 1} of app wrk", gw, "/probe-app/x", "wrk", 200)
        check("per-app engaged: app wrk's 4th request", gw, "/probe-app/x", "wrk", 429, policy_has="per-app")
        check("per-app counts by app: app other", gw, "/probe-app/x", "other", 200)
        for i in range(3):
            check(f"per-ip 3/m: request {i + 1} (app wrk)", gw, "/probe-ip/x", "wrk", 200)
        check("per-ip engaged: the 4th from this address, app other", gw, "/probe-ip/x", "other", 429,
              policy_has="per-ip")
        listed = admins[gw].call("GET", "/ratelimits")
        modes = sorted({f"{i.get('route')}/{i.get('name')}: {i.get('counting')}" for i in listed.get("items", [])
                        if i.get("route") == "limited"})
        fact(f"{gw}: admin API, the limits of /limited", ", ".join(modes),
             len(modes) == 2 and all(m.endswith(counting) for m in modes))
        n = len(redis_keys(args))
        fact(f"{gw}: portcullis:rl:* keys in Redis after {gw}'s probes", n, n == 0 if gw == "L" else n >= 3)
    return checks, all(not c["problems"] for c in checks)


# --------------------------------------------------------------------------- accuracy


def drive(ports: list[int], path: str, threads: int, seconds: float, max_requests: int) -> dict:
    """Requests to `path` round-robin over `ports` from `threads` threads (keep-alive connections), until
    `seconds` have passed or `max_requests` were sent. Counts the answers by status."""
    lock = threading.Lock()
    state = {"next": 0, "counts": {}, "errors": 0, "first": None, "last": 0.0}
    deadline = time.monotonic() + seconds

    def worker() -> None:
        conns: dict[int, http.client.HTTPConnection] = {}
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = state["next"]
                    if i >= max_requests:
                        return
                    state["next"] += 1
                    if state["first"] is None:
                        state["first"] = time.monotonic()
                port = ports[i % len(ports)]
                try:
                    c = conns.get(port) or http.client.HTTPConnection(HOST, port, timeout=5)
                    conns[port] = c
                    c.request("GET", path)
                    r = c.getresponse()
                    r.read()
                    status = r.status
                except (OSError, http.client.HTTPException):
                    conns.pop(port, None)
                    status = None
                with lock:
                    state["last"] = max(state["last"], time.monotonic())
                    if status is None:
                        state["errors"] += 1
                    else:
                        state["counts"][status] = state["counts"].get(status, 0) + 1
        finally:
            for c in conns.values():
                c.close()

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=seconds + 30)
    return {"sent": state["next"], "counts": state["counts"], "errors": state["errors"],
            "elapsed_s": state["last"] - state["first"] if state["first"] else 0.0}


def accuracy(args) -> list[dict]:
    rows = []
    for nodes, shared in ((1, False), (1, True), (3, True), (3, False)):
        counting = "Redis" if shared else "in process"
        prefix = args.run_dir / f"accuracy-{nodes}-{'redis' if shared else 'local'}"
        gws = []
        try:
            redis_cli(args, "flushall")
            for i in range(nodes):
                port = PORT_ACCURACY + i
                conf = R.gateway_conf("limits.py", prefix / f"gw{i}", port, PORT_UPSTREAM, accuracy_routes(),
                                      None, redis_counters(nodes) if shared else "")
                gws.append(serve(args, *start_gateway(args, f"accuracy gateway {i}", prefix / f"gw{i}", conf,
                                                      [port])))
            ports = [PORT_ACCURACY + i for i in range(nodes)]
            for path, limit in (("/rate/x", "gcra"), ("/quota/x", "quota")):
                if limit == "gcra":
                    d = drive(ports, path, args.acc_threads, args.acc_seconds, 1_000_000)
                    configured = ACC_BURST + ACC_RATE * d["elapsed_s"]
                    desc = f"gcra {ACC_RATE}/s burst {ACC_BURST}, {d['elapsed_s']:.1f} s"
                else:
                    d = drive(ports, path, args.acc_threads, args.acc_seconds, 4 * ACC_QUOTA * nodes)
                    configured = ACC_QUOTA
                    desc = f"quota {ACC_QUOTA}/day"
                admitted = d["counts"].get(200, 0)
                other = {k: v for k, v in d["counts"].items() if k not in (200, 429)}
                row = {"nodes": nodes, "counting": counting, "limit": desc, "configured": configured,
                       "admitted": admitted, "ratio": admitted / configured if configured else float("nan"),
                       "sent": d["sent"], "refused": d["counts"].get(429, 0), "other": other,
                       "errors": d["errors"], "elapsed_s": d["elapsed_s"],
                       "rps": d["sent"] / d["elapsed_s"] if d["elapsed_s"] else 0.0}
                if shared:
                    row["redis_keys"] = len(redis_keys(args))
                rows.append(row)
                log(f"accuracy {nodes} x {counting:10s} {desc:32s} configured {configured:7.0f} admitted "
                    f"{admitted:6d} ratio {row['ratio']:.3f} (sent {d['sent']}, {row['rps']:.0f} req/s, 429 "
                    f"{row['refused']}, other {other}, errors {d['errors']})")
        finally:
            for g in gws:
                B.stop(g.proc)
    return rows


# --------------------------------------------------------------------------- report


def paired(ok: list[Run], rounds: int, sc: str, base: str, value) -> list[tuple[float, bool]]:
    """(value(run of sc, run of base), whether either run was noisy) for each round that has both."""
    out = []
    for rnd in range(rounds):
        x = [r for r in ok if r.round == rnd and r.scenario == sc]
        b = [r for r in ok if r.round == rnd and r.scenario == base]
        if x and b:
            out.append((value(x[0], b[0]), x[0].noisy or b[0].noisy))
    return out


def verdict_basis(pairs: list[tuple[float, bool]]) -> tuple[float, str]:
    quiet = [v for v, noisy in pairs if not noisy]
    if len(quiet) >= 3:
        return B.med(quiet), f"median of {len(quiet)} quiet rounds"
    return B.med([v for v, _ in pairs]), f"median of all {len(pairs)} rounds"


def summarize(args, runs: list[Run], meta: dict, checks: list[dict], acc: list[dict]) -> str:
    f, med = B.fmt, B.med
    ok = [r for r in runs if not r.failure]
    ran = [s for s in SCENARIOS if any(r.scenario == s for r in runs)]
    L = ["# Portcullis rate-limit cost (in process and on Redis) and accuracy\n",
         f"- date: {meta['date']}",
         f"- machine: {meta['nproc']} CPUs, {meta['cpu']}, kernel {meta['kernel']}",
         f"- portcullis: commit {meta['commit']} ({meta['binary']}, modified {meta.get('binary_built', '?')}, "
         f"sha256 {meta.get('binary_sha256', '?')}…), two processes (L: counting in process; R: `counters: "
         f"redis`), `workers: 1`, both on core {args.proxy_core}, access log to a file, admin plane on",
         f"- redis: {meta.get('redis_version', '?')} on core {args.redis_core}, `--save \"\" --appendonly no`; "
         f"upstream: {meta['nginx_version']} on core {args.upstream_core}; load: {meta['wrk_version']}, "
         f"`-t{args.threads} -c{args.connections}` (`-c1` for *_c1) on core {args.client_core}",
         f"- rounds: {args.rounds} x {args.duration}s (+{args.warmup}s warm-up) per scenario, order rotated "
         f"every round; {sum(r.attempts - 1 for r in runs)} noisy runs repeated, "
         f"{sum(r.noisy for r in runs)} noisy runs kept (noise limit {args.noise_limit} cores)",
         f"- setup: {meta.get('setup', '?')}", ""]

    if ran:
        L.append("## Medians per scenario\n")
        L.append("Redis µs/req: redis-server CPU per request of the run; req/CPU-s incl. Redis: requests ÷ "
                 "(gateway + redis-server CPU).\n")
        L.append("| scenario | what | req/s | req/CPU-s | incl. Redis | gateway CPU (cores) | p50 ms | p99 ms | "
                 "core-1 CPU (wrk, upstream, Redis) | Redis µs/req | other / steal | noisy | errors |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for sc in ran:
            rs = [r for r in ok if r.scenario == sc]
            allr = [r for r in runs if r.scenario == sc]
            red = [r.side_cpu_s.get("redis", 0.0) for r in rs]
            L.append(f"| {sc} | {DESCRIBE[sc]} | {f(med([r.rps for r in rs]))} | "
                     f"{f(med([r.req_per_cpu_s for r in rs]))} | "
                     f"{f(med([r.requests / (r.cpu_s + x) for r, x in zip(rs, red) if r.cpu_s + x > 0]))} | "
                     f"{f(med([r.cpu_util for r in rs]), 2)} | {f(med([r.p50_ms for r in rs]), 3)} | "
                     f"{f(med([r.p99_ms for r in rs]), 3)} | {f(med([r.core1_util for r in rs]), 2)} | "
                     f"{f(med([1e6 * x / r.requests for r, x in zip(rs, red) if r.requests]), 1)} | "
                     f"{f(med([r.other_cpu for r in rs]), 2)} / {f(med([r.steal for r in rs]), 2)} | "
                     f"{sum(r.noisy for r in allr)}/{len(allr)} | {sum(r.errors for r in allr)} |")
        L.append("")

    costs: dict[str, tuple[float, str, list]] = {}
    hdr = " | ".join(f"r{i + 1}" for i in range(args.rounds))
    L.append("## Cost per round (1 - req/CPU-s ÷ baseline's, same round)\n")
    L.append(f"| scenario | baseline | {hdr} | **verdict basis** | all rounds | min … max |")
    L.append("|---|---|" + "---:|" * args.rounds + "---:|---:|---:|")
    for name, base in COSTS.items():
        sc = "redis" if name == "redis_vs_open_r" else name
        if sc not in ran or base not in ran:
            continue
        pr = paired(ok, args.rounds, sc, base, lambda x, b: cost(x.req_per_cpu_s, b.req_per_cpu_s))
        v, basis = verdict_basis(pr)
        costs[name] = (v, basis, pr)
        vals = [c for c, _ in pr if c == c]
        L.append(f"| {sc} | {base} | " + " | ".join(pct(c) + ("*" if n else "") for c, n in pr)
                 + " | n/a" * (args.rounds - len(pr)) + f" | **{pct(v)}** ({basis}) | {pct(med(vals))} | "
                 f"{pct(min(vals)) if vals else 'n/a'} … {pct(max(vals)) if vals else 'n/a'} |")
    L.append("")
    L.append("`*`: a noisy run in the pair. The verdict basis is the median over the quiet rounds when there are "
             "at least 3. `open_again` and `open_r` measure equal work (`open_r` in the other process): their "
             "spread is the noise of this run; twice the median |cost| of `open_again` over the quiet rounds is "
             "the noise floor used by the verdict (\"within noise\": the cost is closer to the goal than that).\n")

    deltas: dict[tuple[str, str], tuple[float, str]] = {}
    L.append("## p50 differences (ms, paired within each round)\n")
    L.append(f"| scenario | baseline | {hdr} | **verdict basis** | p50 ms (scenario / baseline) |")
    L.append("|---|---|" + "---:|" * args.rounds + "---:|---:|")
    for sc, base in P50_DELTAS:
        if sc not in ran or base not in ran:
            continue
        pr = paired(ok, args.rounds, sc, base, lambda x, b: x.p50_ms - b.p50_ms)
        v, basis = verdict_basis(pr)
        deltas[(sc, base)] = (v, basis)
        L.append(f"| {sc} | {base} | " + " | ".join(f"{d:+.3f}" + ("*" if n else "") for d, n in pr)
                 + " | n/a" * (args.rounds - len(pr)) + f" | **{v:+.3f}** ({basis}) | "
                 f"{f(med([r.p50_ms for r in ok if r.scenario == sc]), 3)} / "
                 f"{f(med([r.p50_ms for r in ok if r.scenario == base]), 3)} |")
    L.append("")
    L.append("With `-c32` every connection queues behind the others and the gateway's core is the limit, so a "
             "p50 difference there mostly follows throughput (p50 ≈ 32 ÷ req/s). With `-c1` a request is alone: "
             "the difference is the time it spends in the limits, the Redis round trip included.\n")

    if meta.get("redis_after"):
        ra = meta["redis_after"]
        L.append(f"Redis during the rounds: `portcullis:rl:*` keys seen during each redis run over those before it "
                 f"(a 10000000/s gcra key lives ~1 ms after a request; polled twice a second): "
                 f"{', '.join(map(str, ra['keys']))}; Redis script calls (INFO commandstats) per request of "
                 f"each redis run, warm-up included: {', '.join(f'{x:.3f}' for x in ra['calls_per_request'])} "
                 f"(one per request, deciding both limits; a little over: wrk does not count the answers in flight "
                 f"when it stops).\n")

    if acc:
        L.append("## Accuracy: configured vs admitted\n")
        L.append(f"One key (`key: [route]`), requests round-robin over the gateways from {args.acc_threads} "
                 f"Python threads (keep-alive) on 127.0.0.1, far above the limit. gcra: for {args.acc_seconds:g} s; "
                 f"configured allowed = burst + rate × elapsed (first request sent to last answer). quota: "
                 f"{4} × quota × gateways requests; configured allowed = the quota. Fresh gateways and an empty "
                 "Redis for each case.\n")
        L.append("| gateways | counting | limit | configured allowed | admitted | ratio | sent (req/s) | 429 | "
                 "other / errors |")
        L.append("|---:|---|---|---:|---:|---:|---:|---:|---|")
        for a in acc:
            L.append(f"| {a['nodes']} | {a['counting']} | {a['limit']} | {a['configured']:,.0f} | "
                     f"{a['admitted']:,} | **{a['ratio']:.3f}** | {a['sent']:,} ({a['rps']:,.0f}) | "
                     f"{a['refused']:,} | {a['other'] or '–'} / {a['errors']} |")
        L.append("")

    L.append("## Goals\n")
    L.append("| goal | measured | basis | met? |")
    L.append("|---|---:|---|---|")
    floor = 2 * med([abs(c) for c, n in costs.get("open_again", (0, "", []))[2] if c == c and not n]
                    or [float("nan")])
    if "local" in costs:
        v, basis, _ = costs["local"]
        met = "n/a" if v != v else ("yes" if v < 0.03 else "NO")
        if floor == floor and v == v and abs(v - 0.03) < floor:
            met = f"within noise (±{100 * floor:.0f}%): {met} by the median"
        L.append(f"| in-process limits (two) cost < 3% req/CPU-s | {pct(v)} | {basis} | {met} |")
    for sc, base in (("redis_c1", "local_c1"), ("redis_c1", "open_c1"), ("redis", "local")):
        if (sc, base) in deltas:
            v, basis = deltas[(sc, base)]
            primary = sc.endswith("_c1")
            met = "n/a" if v != v else ("yes" if v < 0.3 else "NO")
            L.append(f"| Redis limits add < 0.3 ms to p50 ({sc} − {base}{'' if primary else ', -c32: reported'}) | "
                     f"{v:+.3f} ms | {basis} | {met if primary else f'({met})'} |")
    for a in acc:
        if a["counting"] == "Redis" or a["nodes"] == 1:
            good = abs(a["ratio"] - 1) <= 0.05
            L.append(f"| accuracy, {a['nodes']} gateway(s), {a['counting']}, {a['limit'].split(',')[0]}: admitted "
                     f"within ±5% of configured | {a['ratio']:.3f} | one run | {'yes' if good else 'NO'} |")
    errs = sum(r.errors for r in runs)
    fails = [r for r in runs if r.failure]
    pf = bool(checks) and all(not c["problems"] for c in checks)
    L.append(f"| no errors / non-2xx, pre-flight passed | {errs} errors, {len(fails)} failed runs | pre-flight "
             f"{'passed' if pf else 'FAILED'} | {'yes' if not errs and not fails and pf else 'NO'} |")
    L.append("")

    L += R.profile_section(meta.get("profile"))
    for e in meta.get("profile") or []:
        if e.get("top_self"):
            L.append(f"Top functions by own samples, `{e['scenario']}`: " + "; ".join(
                f"{x['self_pct']:.1f}% `{x['symbol'][:90]}`" for x in e["top_self"][:8]) + "\n")
    L.append("## Pre-flight\n")
    L.append("| gateway | check | request | status (expected) | RateLimit / RateLimit-Policy | problems |")
    L.append("|---|---|---|---|---|---|")
    for c in checks:
        rl = f"`{c.get('ratelimit')}` / `{c.get('ratelimit_policy')}`" if c.get("ratelimit") else "–"
        req = f"GET {c['path']} app {c['app']}" if c["path"] else ""
        st = f"{c['status']} ({c['expect']})" if c["expect"] != "" else str(c["status"])
        L.append(f"| {c['gateway']} | {c['what']} | {req} | {st} | {rl} | "
                 f"{'; '.join(c['problems'])} |")
    L.append("")
    L += R.failed_runs_section(runs)
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main


def main() -> int:
    default = [s for s in SCENARIOS if s != "local_quiet"]
    ap = R.driver_args(__doc__, list(SCENARIOS), default, rounds=5, duration=8, max_seconds=1200)
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--redis-cli", default=shutil.which("redis-cli") or "redis-cli")
    ap.add_argument("--redis-core", type=int, default=1)
    ap.add_argument("--accuracy-seconds", dest="acc_seconds", type=float, default=10,
                    help="how long the gcra accuracy load runs per case (0: no accuracy part)")
    ap.add_argument("--accuracy-threads", dest="acc_threads", type=int, default=6)
    ap.add_argument("--perf", type=float, default=0, metavar="SECONDS",
                    help="after the rounds, profile the driven gateway with perf for this long per scenario of "
                         f"{', '.join(PROFILE)} (0: no)")
    ap.add_argument("--perf-freq", type=int, default=999)
    args = ap.parse_args()
    scenarios = R.chosen_scenarios(ap, args, SCENARIOS)

    t_begin = time.monotonic()
    twin_ports = (p + T.PORT_SHIFT for p in PORTS["L"])
    if not R.prepare(args, {PORT_UPSTREAM, PORT_REDIS, *PORTS["L"], *PORTS["R"], *twin_ports,
                            *(PORT_ACCURACY + i for i in range(3))}):
        return 2

    meta = R.machine_meta(args, redis_version=B.cmd_version([args.redis_server, "--version"]))
    runs: list[Run] = []
    twin_runs: list[T.TwinRun] = []
    checks: list[dict] = []
    acc: list[dict] = []
    try:
        redis = start_redis(args)
        log(f"redis-server pid {redis.proc.pid} on {HOST}:{PORT_REDIS} (core {args.redis_core})")
        up_prefix = args.run_dir / "upstream"
        up_prefix.mkdir()
        upstream = B.start_nginx(args.nginx, "upstream", up_prefix, R.small_upstream_conf(up_prefix, PORT_UPSTREAM),
                                 [PORT_UPSTREAM], args.upstream_core)
        log(f"upstream nginx pid {upstream.proc.pid} on {HOST}:{PORT_UPSTREAM} (core {args.upstream_core})")

        if args.acc_seconds > 0:
            acc = accuracy(args)

        if (args.rounds > 0 or args.perf > 0 or args.twin > 0) and scenarios:
            gws: dict[str, B.Server] = {}
            keys: dict[str, dict[str, str]] = {}
            admins: dict[str, P.Admin] = {}
            setup = []
            for gw in ("L", "R"):
                prefix = args.run_dir / f"gateway-{gw}"
                conf = R.gateway_conf("limits.py", prefix, PORTS[gw][0], PORT_UPSTREAM, cost_routes(),
                                      PORTS[gw][1], redis_counters(1) if gw == "R" else "")
                srv, path = start_gateway(args, f"gateway {gw}", prefix, conf, list(PORTS[gw]))
                t = time.monotonic()
                otp = P.bootstrap(args.portcullis, path)
                gws[gw] = serve(args, srv, path)
                keys[gw], steps, admins[gw] = P.provision_api_keys(PORTS[gw][1], otp, APPS)
                setup.append(f"{gw}: bootstrap + admin flow (login, password, TOTP, consumer, 2 apps with a key "
                             f"each) {time.monotonic() - t:.1f}s")
                log(f"gateway {gw} pid {srv.proc.pid} on {HOST}:{PORTS[gw][0]}, admin {PORTS[gw][1]} (core "
                    f"{args.proxy_core}); {setup[-1]}; config {path}")
            meta["setup"] = "; ".join(setup)
            secrets_ = {f"api_key_{gw}_{app}": k for gw in keys for app, k in keys[gw].items()}
            deadline = time.monotonic() + 15
            while any(R.send(PORTS[gw][0], "/open/small", {"X-API-Key": keys[gw][a]})["status"] != 200
                      for gw in keys for a in APPS) and time.monotonic() < deadline:
                time.sleep(0.05)  # the key index follows the store within milliseconds
            checks, ok = preflight(args, gws, keys, admins)
            if not ok:
                log("pre-flight failed: not measuring (see above and the gateways' stderr.log)")
                return 1

            keys_seen: list[int] = []  # the most portcullis:rl:* keys seen during each redis run, over before

            def one(rnd: int, sc: str) -> Run:
                gw = SCENARIOS[sc][0]
                if not (gw == "R" and "/limited" in SCENARIOS[sc][1]):
                    return R.measure(args, rnd, sc, gws[gw],
                                     lambda d, lat: wrk_cmd(args, sc, d, keys[gw]["wrk"], latency=lat),
                                     {"upstream": upstream, "redis": redis}, secrets_)
                watch, before, calls0 = KeyWatch(), len(redis_keys(args)), script_calls(args)
                watch.start()
                try:
                    r = R.measure(args, rnd, sc, gws[gw],
                                  lambda d, lat: wrk_cmd(args, sc, d, keys[gw]["wrk"], latency=lat),
                                  {"upstream": upstream, "redis": redis}, secrets_)
                finally:
                    watch.stop_.set()
                    watch.join(timeout=5)
                keys_seen.append(watch.most - before if not watch.error else -1)
                # wrk does not count the answers still in flight when it stops: a little over 2.00
                per_request.append((script_calls(args) - calls0) / max(1, r.requests + r.warm_requests))
                return r

            def gone() -> str | None:
                dead = [g for g in gws.values() if g.proc.poll() is not None]
                for g in dead:
                    log(f"{g.name} is gone; stderr:\n" + B._tail(g.prefix / "stderr.log"))
                return f"{dead[0].name} exited" if dead else None

            per_request: list[float] = []  # Redis script calls per request of each redis run (repeats too)
            R.run_rounds(args, scenarios, t_begin, one, gone, runs)
            meta["redis_after"] = {"keys": keys_seen, "calls_per_request": per_request}
            log(f"redis during the runs: {meta['redis_after']}")
            # One script call decides both limits of a request (one Redis server; a cluster would make one per limit).
            if keys_seen and (min(keys_seen) < 2 or min(per_request) < 1):
                checks.append({"what": "during each redis run: >= 2 more keys in Redis; 1 script call per request",
                               "gateway": "R", "path": "", "app": "", "status": f"{keys_seen}, {per_request}",
                               "expect": ">= 2, >= 1", "problems": ["not counted in Redis"]})
            meta["peak_rss_kib"] = {gw: B.status_kib(g.proc.pid, "VmHWM") for gw, g in gws.items()}
            if args.twin > 0:
                # Gateway L's twin: the in-process scenarios (many connections) against L's /open.
                twin = T.start_twin(args, gws["L"], args.run_dir / "gateway-L" / "portcullis.yaml",
                                    list(PORTS["L"]), "twin-L")
                ours = [s for s in scenarios if SCENARIOS[s][0] == "L" and SCENARIOS[s][2] is None]
                T.run_rounds(args, T.pairs_for(args, ours, {"local": "open", "local_quiet": "open"}), (gws["L"], twin),
                             lambda sc, i, d: wrk_cmd(args, sc, d, keys["L"]["wrk"], False, i * T.PORT_SHIFT),
                             t_begin, twin_runs)
            if args.perf > 0:
                meta["profile"] = []
                for sc in [s for s in scenarios if s in PROFILE]:
                    gw = SCENARIOS[sc][0]
                    meta["profile"] += R.profile(args, gws[gw], [sc], PROFILE,
                                                 lambda sc_, secs: wrk_cmd(args, sc_, secs, keys[gw]["wrk"], False))
        log(f"done in {time.monotonic() - t_begin:.0f}s")
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); writing what was measured")
    finally:
        B.stop_all()

    report = summarize(args, runs, meta, checks, acc) + "\n".join(
        T.section(args, twin_runs, {"local": 0.03}, DESCRIBE))
    R.write_results(args, report, {"meta": meta, "preflight": checks, "accuracy": acc,
                                   "runs": [asdict(r) for r in runs], "twin_runs": [asdict(r) for r in twin_runs]})
    failed = any(r.failure or r.errors for r in runs + twin_runs) or any(c["problems"] for c in checks)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
