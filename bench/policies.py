#!/usr/bin/env python3
"""What route policies cost: requests per CPU-second of one Portcullis process
through routes with and without body inspection or rate limits (driver;
started by bench/policies.sh, see bench/README.md "Policy benchmarks").

Python 3.11 standard library only; the process, CPU and wrk helpers come
from bench.py, the measured run and the rounds loop from rounds.py. Everything listens on 127.0.0.1; every load run is bounded by
wrk's -d and the whole run by --max-seconds; every process this script
starts is stopped in a finally block (and its pid is written to
OUT/run/pids so policies.sh's EXIT trap can stop it too).

One upstream nginx (core 1, fixed answers) and ONE Portcullis process
(workers: 1, core 0, access log to a file) with a route per scenario. wrk
(core 1) drives one scenario at a time; each round runs every scenario once
in a rotated order. A scenario's cost is 1 - (its req/CPU-s / its
baseline's req/CPU-s), paired within each round.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import twin as T  # noqa: E402  (twin A/B: two gateways on one core, driven at the same time)
import rounds as R  # noqa: E402  (one measured run, the rounds loop, the report's machine lines)
from bench import log  # noqa: E402
from rounds import Run, cost, pct  # noqa: E402
import bench as B  # noqa: E402  (process, CPU, wrk and statistics helpers)

HOST = B.HOST
PORT_UPSTREAM = B.BASE + 300
PORT_GATEWAY = B.BASE + 301
FIXTURES = Path(__file__).resolve().parent / "fixtures"
APP = "bench-app"  # the fixed X-App header: the key of the per-app limit

# name -> (method, path, body fixture, content type)
SCENARIOS: dict[str, tuple[str, str, str | None, str | None]] = {
    "post_none_json": ("POST", "/none/orders", "order.json", "application/json"),
    "post_none_xml": ("POST", "/none/orders", "order.xml", "application/xml"),
    "post_json_limits": ("POST", "/json/orders", "order.json", "application/json"),
    "post_json_openapi": ("POST", "/openapi/orders", "order.json", "application/json"),
    "post_xml_limits": ("POST", "/xml/orders", "order.xml", "application/xml"),
    "get_plain": ("GET", "/plain/small", None, None),
    "get_rate_limited": ("GET", "/limited/small", None, None),
    "get_plain_again": ("GET", "/plain/small", None, None),
}
# scenario -> [(label, substrings that must all be in the symbol)] for --perf (see rounds.profile)
_BODY = [("request body: `buffer_and_inspect`", ("buffer_and_inspect",))]
PROFILE: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "post_none_json": _BODY,
    "post_json_limits": _BODY + [("JSON checker: `json::scan`", ("json::scan",))],
    "post_json_openapi": _BODY + [("OpenAPI: `OpenApiPolicy`", ("OpenApiPolicy",))],
    "post_xml_limits": _BODY + [("XML scanner: `xml::scan`", ("xml", "scan"))],
    "get_rate_limited": [("rate_limit policy: `RateLimitPolicy`", ("RateLimitPolicy",))],
}

DESCRIBE = {
    "post_none_json": "(a) no policies, JSON body",
    "post_none_xml": "(a') no policies, XML body",
    "post_json_limits": "(b) content_type + json_threat",
    "post_json_openapi": "(c) content_type + json_threat + open_api",
    "post_xml_limits": "(d) content_type + xml_threat",
    "get_plain": "no policies",
    "get_rate_limited": "rate_limit: per-ip [client_ip] + per-app [header:x-app]",
    "get_plain_again": "no policies (the get_plain request again)",
}
# scenario -> (baseline, goal: the largest acceptable cost or None for a control, the control that
# shows the noise of comparisons like this one)
COSTS: dict[str, tuple[str, float | None, str]] = {
    "post_json_limits": ("post_none_json", 0.05, "post_none_xml"),
    "post_json_openapi": ("post_none_json", 0.15, "post_none_xml"),
    "post_xml_limits": ("post_none_xml", 0.05, "post_none_xml"),
    "post_none_xml": ("post_none_json", None, ""),  # control: same size, no inspection
    "get_rate_limited": ("get_plain", 0.03, "get_plain_again"),
    "get_plain_again": ("get_plain", None, ""),  # control: the same request, run separately
}


# --------------------------------------------------------------------------- configs


def upstream_conf(prefix: Path) -> str:
    small = B.SMALL_BODY.replace("'", "\\'").replace("\n", "\\n")
    reply = B.POST_REPLY.replace("\n", "\\n")
    return B.nginx_common(prefix, f"""    access_log off;
    server {{
        listen {HOST}:{PORT_UPSTREAM} reuseport backlog=4096;
        client_body_buffer_size 16k;
        default_type application/json;
        location /plain/ {{ return 200 '{small}'; }}
        location /limited/ {{ return 200 '{small}'; }}
        location / {{ return 200 '{reply}'; }}
    }}""")


def gateway_conf(prefix: Path) -> str:
    def route(name: str, methods: str, policies: str = "") -> str:
        text = f"  - name: {name}\n    prefix: /{name}\n    methods: [{methods}]\n    upstream: up\n"
        return text + (f"    policies:\n{policies}" if policies else "")

    json_limits = "      - type: content_type\n        request: [application/json]\n      - type: json_threat\n"
    return f"""# generated by bench/policies.py: defaults except the access-log path
workers: 1
listeners:
  - name: public
    listen: {HOST}:{PORT_GATEWAY}
upstream_allowlist: [127.0.0.1/32]
upstreams:
  - name: up
    targets: [http://{HOST}:{PORT_UPSTREAM}]
routes:
{route("none", "POST")}{route("json", "POST", json_limits)}{route("openapi", "POST", json_limits + f'''      - type: open_api
        document: {FIXTURES / "orders.openapi.yaml"}
        base_path: /openapi
''')}{route("xml", "POST", '''      - type: content_type
        request: [application/xml]
      - type: xml_threat
''')}{route("plain", "GET")}{route("limited", "GET", '''      - type: rate_limit
        limits:
          - name: per-ip
            key: [client_ip]
            rate: 100000000/s
          - name: per-app
            key: ["header:x-app"]
            rate: 100000000/s
''')}access_log:
  path: {prefix}/access.log
"""


def lua_script(scenario: str) -> str:
    method, _, body, ctype = SCENARIOS[scenario]
    if method == "GET":
        return f'wrk.headers["X-App"] = "{APP}"\n'
    return (f'wrk.method = "POST"\nlocal f = assert(io.open("{FIXTURES / body}", "rb"))\n'
            f'wrk.body = f:read("*a")\nf:close()\nwrk.headers["Content-Type"] = "{ctype}"\n')


def url(scenario: str, port: int = PORT_GATEWAY) -> str:
    return f"http://{HOST}:{port}{SCENARIOS[scenario][1]}"


def wrk_cmd(args, scenario: str, duration: int, latency: bool = True, port: int = PORT_GATEWAY) -> list[str]:
    return R.wrk_base(args, duration, latency) + ["-s", str(args.run_dir / f"{scenario}.lua"), url(scenario, port)]


# --------------------------------------------------------------------------- pre-flight


def reasons(access_log: Path) -> dict[str, str | None]:
    """request_id -> reason, from the access log."""
    out = {}
    for line in access_log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        out[rec.get("request_id")] = rec.get("reason")
    return out


def rate_limit_header_problems(c: dict) -> list[str]:
    """A pre-flight check's RateLimit headers missing where its "rl_headers" wants them, or present where its
    "no_rl_headers" forbids them."""
    if c.get("rl_headers") and not (c["ratelimit"] and c["ratelimit_policy"]):
        return ["no RateLimit / RateLimit-Policy headers"]
    if c.get("no_rl_headers") and (c["ratelimit"] or c["ratelimit_policy"]):
        return ["RateLimit headers on a route without limits"]
    return []


def preflight(access_log: Path) -> tuple[list[dict], bool]:
    """Every scenario's own request must get 200 with the upstream's body (and
    the rate-limited one RateLimit headers); and each policy must be engaged:
    a request it should refuse is refused."""
    order = (FIXTURES / "order.json").read_bytes()
    xml = (FIXTURES / "order.xml").read_bytes()
    extra = order[:-1] + b',"is_admin":true}'  # mass assignment: valid JSON, not in the document
    dup = order[:-1] + b',"notes":"again"}'  # duplicate key
    doctype = xml.replace(b"<order ", b'<!DOCTYPE order [<!ENTITY x "y">]><order ', 1)
    checks: list[dict] = []
    for sc, (method, path, body, ctype) in SCENARIOS.items():
        hdrs = {"X-App": APP}
        if ctype:
            hdrs["Content-Type"] = ctype
        data = (FIXTURES / body).read_bytes() if body else None
        expect_body = B.SMALL_BODY if method == "GET" else B.POST_REPLY
        checks.append({"what": f"{sc}: the benchmark request", "method": method, "path": path, "ctype": ctype,
                       "body": f"{body} ({len(data)} bytes)" if data else "-", "expect": 200,
                       "expect_body": expect_body, "rl_headers": sc == "get_rate_limited",
                       "no_rl_headers": sc.startswith("get_plain"), "send": (path, hdrs, method, data)})
    negative = [
        ("json_threat engaged: duplicate key", "/json/orders", dup, "application/json", 400),
        ("open_api engaged: undeclared property", "/openapi/orders", extra, "application/json", 400),
        ("  ...the same body passes json_threat", "/json/orders", extra, "application/json", 200),
        ("xml_threat engaged: DTD", "/xml/orders", doctype, "application/xml", 400),
        ("content_type engaged: JSON to the XML route", "/xml/orders", order, "application/json", 415),
        ("content_type engaged: XML to the JSON route", "/json/orders", xml, "application/xml", 415),
    ]
    for what, path, data, ctype, status in negative:
        checks.append({"what": what, "method": "POST", "path": path, "ctype": ctype, "body": f"{len(data)} bytes",
                       "expect": status, "send": (path, {"Content-Type": ctype}, "POST", data)})
    ok_all = R.run_checks(PORT_GATEWAY, checks, {"ratelimit": "ratelimit", "ratelimit_policy": "ratelimit-policy"},
                          rate_limit_header_problems)
    rs = reasons(access_log) if access_log.exists() else {}
    for c in checks:
        c["reason"] = rs.get(c["request_id"], "(not in the access log)") or "–"
        log(f"preflight {c['method']:4s} {c['path']:16s} {str(c['ctype']):17s} -> {c['status']} "
            f"reason={c['reason']} {c['what']}"
            + (f"  RateLimit: {c['ratelimit']}; RateLimit-Policy: {c['ratelimit_policy']}" if c["ratelimit"] else "")
            + (f"   <-- {'; '.join(c['problems'])}: {c['response']!r}" if c["problems"] else ""))
    return checks, ok_all


# --------------------------------------------------------------------------- runs


def one_run(args, rnd: int, scenario: str, gw: B.Server, upstream: B.Server) -> Run:
    return R.measure(args, rnd, scenario, gw, lambda d, lat: wrk_cmd(args, scenario, d, latency=lat),
                     {"upstream": upstream})


# --------------------------------------------------------------------------- report


def leaves(v) -> int:
    if isinstance(v, dict):
        return sum(leaves(x) for x in v.values())
    if isinstance(v, list):
        return sum(leaves(x) for x in v)
    return 1


def summarize(args, runs: list[Run], meta: dict, checks: list[dict]) -> str:
    f, med = B.fmt, B.med
    ok = [r for r in runs if not r.failure]
    ran = [s for s in SCENARIOS if any(r.scenario == s for r in runs)]
    L = ["# Portcullis policy costs\n",
         f"- date: {meta['date']}",
         f"- machine: {meta['nproc']} CPUs, {meta['cpu']}, kernel {meta['kernel']}",
         f"- portcullis: commit {meta['commit']} ({meta['binary']}, modified {meta.get('binary_built', '?')}, "
         f"sha256 {meta.get('binary_sha256', '?')}…), one process, `workers: 1`, core "
         f"{args.proxy_core}, access log to a file",
         f"- upstream: {meta['nginx_version']} on core {args.upstream_core}; load: {meta['wrk_version']}, "
         f"`-t{args.threads} -c{args.connections}` on core {args.client_core}",
         f"- rounds: {args.rounds} x {args.duration}s (+{args.warmup}s warm-up) per scenario, order rotated "
         f"every round; {sum(r.attempts - 1 for r in runs)} noisy runs repeated, "
         f"{sum(r.noisy for r in runs)} noisy runs kept (noise limit {args.noise_limit} cores)",
         f"- bodies: order.json {meta['json_bytes']} bytes ({meta['json_leaves']} leaf values), "
         f"order.xml {meta['xml_bytes']} bytes", ""]
    L += R.medians_section(runs, ran, ("route policies", DESCRIBE))

    L.append("## Cost per scenario\n")
    L.append("cost = 1 - req/CPU-s ÷ the baseline's req/CPU-s, paired within each round (positive: the "
             "policies cost CPU). Δp99 = p99 - the baseline's p99, median of the per-round differences.\n")
    hdr = " | ".join(f"r{i + 1}" for i in range(args.rounds))
    L.append(f"| scenario | baseline | {hdr} | **median cost** | quiet rounds | min … max | cost of the medians | "
             "Δp50 ms | Δp99 ms | goal | met? |")
    L.append("|---|---|" + "---:|" * args.rounds + "---:|---:|---:|---:|---:|---:|---|---|")
    goals_by: dict[str, tuple] = {}
    rows: dict[str, str] = {}
    noise: dict[str, float] = {}  # control -> 2 x median |per-round cost| over quiet rounds
    # Controls first: the goals' verdicts use their noise. Rows are printed in COSTS order.
    for sc, (base, goal, control) in sorted(COSTS.items(), key=lambda kv: kv[1][1] is not None):
        if sc not in ran or base not in ran:
            continue
        per, quiet, dp50, dp99, cells = [], [], [], [], []
        for rnd in range(args.rounds):
            x = [r for r in ok if r.round == rnd and r.scenario == sc]
            b = [r for r in ok if r.round == rnd and r.scenario == base]
            if x and b:
                c = cost(x[0].req_per_cpu_s, b[0].req_per_cpu_s)
                per.append(c)
                noisy_pair = x[0].noisy or b[0].noisy
                if not noisy_pair:
                    quiet.append(c)
                cells.append(pct(c) + ("*" if noisy_pair else ""))
                dp50.append(x[0].p50_ms - b[0].p50_ms)
                dp99.append(x[0].p99_ms - b[0].p99_ms)
            else:
                cells.append("n/a")
        m, mq = med(per), med(quiet)
        good = [c for c in per if c == c]
        of_medians = cost(med([r.req_per_cpu_s for r in ok if r.scenario == sc]),
                          med([r.req_per_cpu_s for r in ok if r.scenario == base]))
        # The verdict uses the rounds where neither run was noisy, if there are at least 3 of them.
        v, basis = (mq, f"median of {len(quiet)} quiet rounds") if len(quiet) >= 3 else \
            (m, f"median of all {len(per)} rounds")
        if goal is None:
            noise[sc] = 2 * med([abs(c) for c in (quiet if len(quiet) >= 3 else good)])
            met = "–"
        elif v != v:
            met = "n/a"
        else:
            met = "yes" if v < goal else "NO"
            floor = noise.get(control, float("nan"))
            if floor == floor and abs(v - goal) < floor:
                met = f"within noise (±{100 * floor:.0f}%)"
        if goal is not None:
            goals_by[sc] = (sc, goal, v, basis, met)
        rows[sc] = (f"| {sc} | {base} | " + " | ".join(cells) + f" | **{pct(m)}** | {pct(mq)} ({len(quiet)}) | "
                 f"{pct(min(good)) if good else 'n/a'} … {pct(max(good)) if good else 'n/a'} | {pct(of_medians)} | "
                 f"{f(med(dp50), 3)} | {f(med(dp99), 3)} | {'(control)' if goal is None else f'< {100 * goal:.0f}%'} "
                 f"| {met} |")
    L.extend(rows[sc] for sc in COSTS if sc in rows)
    goals = [goals_by[sc] for sc in COSTS if sc in goals_by]
    L.append("")
    L.append("`*`: a noisy run in the pair (other CPU + steal over the noise limit). \"quiet rounds\": the median "
             "over the rounds where neither run was noisy (how many in brackets); the verdict uses it when there "
             "are at least 3 such rounds, else the median over all rounds. \"within noise (±x)\": the measured cost "
             "is closer to the goal than x, twice the median |cost| of the matching control (`post_none_xml` for "
             "the bodies, `get_plain_again` for the rate limits): this run cannot tell.\n")
    L.append("Controls: `post_none_xml` against `post_none_json` (two bodies of the same size through a route "
             "without policies) and `get_plain_again` against `get_plain` (the same request, measured in a "
             "separate run of the round). Their \"cost\" shows how far apart equal scenarios land on this "
             "machine: differences of that size are noise.\n")

    L += B.thread_cpu_section(ok, ran)

    L.append("## Goals\n")
    L.append("| goal | measured cost | basis | met? |")
    L.append("|---|---:|---|---|")
    for sc, goal, v, basis, met in goals:
        L.append(f"| {DESCRIBE[sc]}: cost < {100 * goal:.0f}% | {pct(v)} | {basis} | {met} |")
    errs = sum(r.errors for r in runs)
    fails = [r for r in runs if r.failure]
    L.append(f"| no errors / non-2xx, pre-flight passed | {errs} errors, {len(fails)} failed runs, pre-flight "
             f"{'passed' if all(not c['problems'] for c in checks) else 'FAILED'} | "
             f"{'yes' if not errs and not fails and all(not c['problems'] for c in checks) else 'NO'} |")
    L.append("")

    L += R.profile_section(meta.get("profile"))
    L.append("## Pre-flight\n")
    L.append("| check | request | status (expected) | reason in the access log | notes |")
    L.append("|---|---|---|---|---|")
    for c in checks:
        notes = "; ".join(c["problems"]) if c["problems"] else ""
        if c.get("ratelimit"):
            notes = (notes + " " if notes else "") + f"`RateLimit: {c['ratelimit']}`, " \
                                                     f"`RateLimit-Policy: {c['ratelimit_policy']}`"
        L.append(f"| {c['what'].strip()} | {c['method']} {c['path']}{' ' + c['ctype'] if c['ctype'] else ''}, body {c['body']} | "
                 f"{c['status']} ({c['expect']}) | {c['reason']} | {notes} |")
    L.append("")
    L += R.failed_runs_section(runs)
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = R.driver_args(__doc__, list(SCENARIOS), list(SCENARIOS), rounds=8, duration=5, max_seconds=1500)
    ap.add_argument("--perf", type=float, default=0, metavar="SECONDS",
                    help=f"after the rounds, profile the gateway with perf for this long per scenario of "
                         f"{', '.join(PROFILE)} (0: no)")
    ap.add_argument("--perf-freq", type=int, default=999)
    ap.add_argument("--report-only", type=Path, metavar="JSON",
                    help="measure nothing: rewrite the report of an earlier run from its latest.json")
    args = ap.parse_args()
    if args.report_only:
        return R.report_only(args.report_only, summarize)
    scenarios = R.chosen_scenarios(ap, args, SCENARIOS)

    t_begin = time.monotonic()
    if not R.prepare(args, {PORT_UPSTREAM, PORT_GATEWAY, PORT_GATEWAY + T.PORT_SHIFT}):
        return 2
    for sc in SCENARIOS:
        (args.run_dir / f"{sc}.lua").write_text(lua_script(sc))

    jbody = (FIXTURES / "order.json").read_bytes()
    meta = R.machine_meta(args, json_bytes=len(jbody), json_leaves=leaves(json.loads(jbody)),
                          xml_bytes=(FIXTURES / "order.xml").stat().st_size)

    runs: list[Run] = []
    twin_runs: list[T.TwinRun] = []
    checks: list[dict] = []
    try:
        up_prefix = args.run_dir / "upstream"
        up_prefix.mkdir()
        upstream = B.start_nginx(args.nginx, "upstream", up_prefix, upstream_conf(up_prefix), [PORT_UPSTREAM],
                                 args.upstream_core)
        log(f"upstream nginx pid {upstream.proc.pid} on {HOST}:{PORT_UPSTREAM} (core {args.upstream_core})")

        gw_prefix = args.run_dir / "portcullis"
        gw_prefix.mkdir()
        conf = gw_prefix / "portcullis.yaml"
        conf.write_text(gateway_conf(gw_prefix))
        chk = subprocess.run([args.portcullis, "check", "--config", str(conf)], capture_output=True, text=True,
                             timeout=30)
        if chk.returncode != 0:
            log(f"portcullis check refused {conf}:\n{chk.stdout}{chk.stderr}")
            return 1
        err = open(gw_prefix / "stderr.log", "ab")
        p = B.spawn(["taskset", "-c", str(args.proxy_core), args.portcullis, "serve", "--config", str(conf)], err,
                    err)
        gw = B.Server("portcullis", p, gw_prefix, [PORT_GATEWAY], gw_prefix / "access.log")
        B.wait_listening(gw.ports, p, "portcullis")
        time.sleep(0.5)
        meta["idle_rss_kib"] = B.status_kib(p.pid, "VmRSS")
        log(f"portcullis pid {p.pid} on {HOST}:{PORT_GATEWAY} (core {args.proxy_core}); config {conf}")

        checks, ok = preflight(gw.access_log)
        if not ok:
            log("pre-flight failed: not measuring (see above and " + str(gw_prefix / "stderr.log") + ")")
            return 1

        def gone() -> str | None:
            if gw.proc.poll() is None:
                return None
            log("portcullis is gone; stderr:\n" + B._tail(gw_prefix / "stderr.log"))
            return "portcullis exited"

        R.run_rounds(args, scenarios, t_begin, lambda rnd, sc: one_run(args, rnd, sc, gw, upstream), gone, runs)
        meta["peak_rss_kib"] = B.status_kib(p.pid, "VmHWM")
        log(f"measured {len(runs)} runs in {time.monotonic() - t_begin:.0f}s")
        if args.perf > 0:
            meta["profile"] = R.profile(args, gw, [s for s in scenarios if s in PROFILE], PROFILE,
                                        lambda sc, secs: wrk_cmd(args, sc, secs, latency=False))
        if args.twin > 0:
            twin = T.start_twin(args, gw, conf, [PORT_GATEWAY], "twin")
            baselines = {sc: base for sc, (base, goal, _) in COSTS.items() if goal is not None}
            T.run_rounds(args, T.pairs_for(args, scenarios, baselines), (gw, twin), lambda sc, i, d: wrk_cmd(
                args, sc, d, latency=False, port=PORT_GATEWAY + i * T.PORT_SHIFT), t_begin, twin_runs)
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); writing what was measured")
    finally:
        B.stop_all()

    report = summarize(args, runs, meta, checks) + "\n".join(
        T.section(args, twin_runs, {sc: goal for sc, (_, goal, _) in COSTS.items()}, DESCRIBE))
    R.write_results(args, report, {"meta": meta, "preflight": checks, "runs": [asdict(r) for r in runs],
                                   "twin_runs": [asdict(r) for r in twin_runs]})
    failed = any(r.failure or r.errors for r in runs + twin_runs) or any(c["problems"] for c in checks)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
