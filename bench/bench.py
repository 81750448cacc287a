#!/usr/bin/env python3
"""Portcullis vs nginx reverse-proxy benchmark (driver; started by bench/run.sh).

Python 3.11 standard library only. Everything listens on 127.0.0.1; every
load run is bounded by wrk's -d; every process this script starts is stopped
in a finally block (and its pid is written to OUT/run/pids so run.sh's EXIT
trap can stop it too if this driver is killed).

Layout of one run (one target x one scenario):
  start the proxy pinned to core 0 -> wait until its ports LISTEN (read from
  /proc/net/tcp, no connection made) -> read idle VmRSS -> wrk warm-up ->
  CPU snapshot -> measured wrk on core 1 -> settle -> CPU snapshot ->
  read VmHWM -> stop the proxy -> count access-log lines.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import json
import os
import re
import resource
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, asdict
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"

# Ports (all on 127.0.0.1). Override the base with BENCH_PORT_BASE.
BASE = int(os.environ.get("BENCH_PORT_BASE", "18100"))
PORT_UPSTREAM = BASE
PORT_NGINX = BASE + 100
PORT_NGINX_TLS = BASE + 101
PORT_PORTCULLIS = BASE + 200
PORT_PORTCULLIS_TLS = BASE + 201

SMALL_BODY = '{"service":"bench-upstream","status":"ok","note":"fixed small response for the proxy benchmark.."}\n'
POST_REPLY = '{"received":true}\n'
SIZE_16K = 16 * 1024
POST_SIZE = 8 * 1024

# scenario -> (path, method, tls)
SCENARIOS = {
    "get_small": ("/small", "GET", False),
    "get_16k": ("/16k", "GET", False),
    "post_8k": ("/post", "POST", False),
    "tls_get_small": ("/small", "GET", True),
}
TARGETS = ["direct", "nginx", "portcullis"]

PIDS_FILE: Path | None = None
STARTED: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- processes


def _record_pids() -> None:
    if PIDS_FILE is not None:
        PIDS_FILE.write_text("".join(f"{p.pid}\n" for p in STARTED if p.poll() is None))


def spawn(argv: list[str], stdout, stderr) -> subprocess.Popen:
    # Own session so that stop() can signal the whole group (nginx master + workers).
    p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True)
    STARTED.append(p)
    _record_pids()
    return p


def stop(p: subprocess.Popen, timeout: float = 8.0) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"  ! pid {p.pid} did not stop within {timeout}s of SIGTERM; sending SIGKILL")
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)
    # Anything left in the group (e.g. an nginx worker) goes too.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if p in STARTED:
        STARTED.remove(p)
    _record_pids()


def stop_all() -> None:
    for p in list(STARTED):
        try:
            stop(p, timeout=5)
        except Exception as e:  # noqa: BLE001 - best effort on the way out
            log(f"  ! cleanup of pid {p.pid}: {e}")


def listening_ports() -> set[int]:
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":  # TCP_LISTEN
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def wait_listening(ports: list[int], proc: subprocess.Popen, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        if set(ports) <= listening_ports():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {ports} within {timeout}s")


def children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state); utime is field 14, stime field 15.
        total += int(fields[11]) + int(fields[12])
    return total


def thread_ticks(pid: int) -> dict[str, int]:
    """utime+stime per thread name (threads of the same name summed)."""
    out: dict[str, int] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def proc_stat() -> tuple[int, int]:
    """(user+nice+system, steal) ticks summed over all CPUs, from /proc/stat."""
    f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    v = [int(x) for x in f]
    return v[0] + v[1] + v[2], v[7]


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return -1


# --------------------------------------------------------------------------- configs


def nginx_common(prefix: Path, extra_http: str) -> str:
    return f"""# generated by bench/bench.py
daemon off;
master_process on;
worker_processes 1;
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {prefix}/client_body_temp;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
{extra_http}
}}
"""


def upstream_conf(prefix: Path) -> str:
    small = SMALL_BODY.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    reply = POST_REPLY.replace("\n", "\\n")
    return nginx_common(
        prefix,
        f"""    access_log off;
    sendfile on;
    server {{
        listen {HOST}:{PORT_UPSTREAM} reuseport backlog=4096;
        client_body_buffer_size 16k;
        location = /small {{ default_type application/json; return 200 '{small}'; }}
        location = /16k {{ root {prefix}/www; try_files /16k.bin =404; }}
        location = /post {{ default_type application/json; return 200 '{reply}'; }}
        location / {{ return 404; }}
    }}""",
    )


def nginx_proxy_conf(prefix: Path, cert: Path, key: Path) -> str:
    return nginx_common(
        prefix,
        f"""    access_log {prefix}/access.log combined;
    upstream up {{
        server {HOST}:{PORT_UPSTREAM};
        keepalive 64;
        keepalive_requests 100000000;
    }}
    server {{
        listen {HOST}:{PORT_NGINX} backlog=4096;
        listen {HOST}:{PORT_NGINX_TLS} ssl backlog=4096;
        ssl_protocols TLSv1.2 TLSv1.3;  # nginx 1.22's default lacks TLSv1.3; Portcullis offers both
        ssl_certificate {cert};
        ssl_certificate_key {key};
        client_body_buffer_size 16k;
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}""",
    )


def portcullis_conf(prefix: Path, cert: Path, key: Path) -> str:
    return f"""# generated by bench/bench.py -- defaults except the access-log path
workers: 1
listeners:
  - name: public
    listen: {HOST}:{PORT_PORTCULLIS}
  - name: public-tls
    listen: {HOST}:{PORT_PORTCULLIS_TLS}
    tls:
      certificates:
        - cert: {cert}
          key: {key}
upstream_allowlist: [127.0.0.1/32]
upstreams:
  - name: up
    targets: [http://{HOST}:{PORT_UPSTREAM}]
routes:
  - name: bench
    prefix: /
    methods: [GET, POST]
    upstream: up
access_log:
  path: {prefix}/access.log
"""


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    prefix: Path
    ports: list[int]
    access_log: Path | None

    def pids(self) -> list[int]:
        """Processes whose CPU is charged: nginx master + workers, or portcullis."""
        return [self.proc.pid] + children(self.proc.pid)

    def rss_pid(self) -> int:
        """Process whose RSS is reported: the nginx worker, or portcullis."""
        kids = children(self.proc.pid)
        return kids[0] if kids else self.proc.pid


def start_nginx(nginx: str, name: str, prefix: Path, conf: str, ports: list[int], core: int) -> Server:
    for d in ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp", "logs"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(conf)
    out = open(prefix / "stderr.log", "ab")
    p = spawn(["taskset", "-c", str(core), nginx, "-p", str(prefix), "-e", str(prefix / "error.log"),
               "-c", str(conf_path)], out, out)
    srv = Server(name, p, prefix, ports, prefix / "access.log")
    try:
        wait_listening(ports, p, name)
        deadline = time.monotonic() + 5
        while not children(p.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    except Exception:
        stop(p)
        raise RuntimeError(f"{name} failed to start; see {prefix}/stderr.log and error.log:\n"
                           + _tail(prefix / "stderr.log") + _tail(prefix / "error.log"))
    return srv


def start_portcullis(binary: str, prefix: Path, conf: str, core: int) -> Server:
    prefix.mkdir(parents=True, exist_ok=True)
    conf_path = prefix / "portcullis.yaml"
    conf_path.write_text(conf)
    out = open(prefix / "stderr.log", "ab")
    p = spawn(["taskset", "-c", str(core), binary, "serve", "--config", str(conf_path)], out, out)
    srv = Server("portcullis", p, prefix, [PORT_PORTCULLIS, PORT_PORTCULLIS_TLS], prefix / "access.log")
    try:
        wait_listening(srv.ports, p, "portcullis")
    except Exception:
        stop(p)
        raise RuntimeError("portcullis failed to start; stderr:\n" + _tail(prefix / "stderr.log"))
    return srv


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-n:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- wrk


def parse_time_ms(s: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", s)
    if not m:
        raise ValueError(f"bad wrk time {s!r}")
    v = float(m.group(1))
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}[m.group(2)]


def parse_wrk(text: str) -> dict:
    r: dict = {"non2xx": 0, "sock_connect": 0, "sock_read": 0, "sock_write": 0, "sock_timeout": 0}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+), ", text, re.M)
    if not m:
        raise ValueError("no request count in wrk output")
    r["requests"] = int(m.group(1))
    r["elapsed_s"] = parse_time_ms(m.group(2) + m.group(3)) / 1000
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    r["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        r[f"p{pct}_ms"] = parse_time_ms(m.group(1)) if m else float("nan")
    m = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if m:
        r["avg_ms"] = parse_time_ms(m.group(1))
        r["max_ms"] = parse_time_ms(m.group(3))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["sock_connect"], r["sock_read"], r["sock_write"], r["sock_timeout"] = map(int, m.groups())
    r["errors"] = r["non2xx"] + r["sock_connect"] + r["sock_read"] + r["sock_write"] + r["sock_timeout"]
    return r


def wrk_cmd(args, url: str, scenario: str, duration: int, latency: bool = True) -> list[str]:
    cmd = ["taskset", "-c", str(args.client_core), args.wrk, f"-t{args.threads}", f"-c{args.connections}",
           f"-d{duration}s", "--timeout", "5s"]
    if latency:
        cmd.append("--latency")
    if SCENARIOS[scenario][1] == "POST":
        cmd += ["-s", str(args.post_lua)]
    cmd.append(url)
    return cmd


def run_wrk(cmd: list[str], duration: int) -> tuple[str, int, float]:
    """Runs wrk; returns its output, exit status and CPU seconds (from the reaped child's rusage)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = spawn(cmd, subprocess.PIPE, subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        stop(p)
        raise RuntimeError(f"wrk did not finish: {' '.join(cmd)}")
    if p in STARTED:
        STARTED.remove(p)
        _record_pids()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return out.decode(errors="replace"), p.returncode, cpu


# --------------------------------------------------------------------------- checks


def probe(port: int, scenario: str) -> dict:
    """One request with http.client: status, body size, response headers."""
    path, method, tls = SCENARIOS[scenario]
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(HOST, port, timeout=10, context=ctx)
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
    body = b"a" * POST_SIZE if method == "POST" else None
    headers = {"Content-Type": "application/octet-stream"} if body else {}
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        info = {"status": resp.status, "bytes": len(data), "headers": resp.getheaders()}
        if tls and conn.sock is not None:
            info["tls"] = f"{conn.sock.version()} {conn.sock.cipher()[0]}"
        return info
    except Exception as e:  # noqa: BLE001 - report, do not hide
        return {"status": None, "error": f"{type(e).__name__}: {e}"}
    finally:
        conn.close()


def expected_bytes(scenario: str) -> int:
    return {"get_small": len(SMALL_BODY), "get_16k": SIZE_16K, "post_8k": len(POST_REPLY),
            "tls_get_small": len(SMALL_BODY)}[scenario]


# --------------------------------------------------------------------------- benchmark


@dataclass
class Run:
    round: int
    target: str
    scenario: str
    command: str
    rps: float = 0.0
    requests: int = 0
    warm_requests: int = 0
    cpu_s: float = 0.0
    req_per_cpu_s: float = 0.0
    cpu_util: float = 0.0
    upstream_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    core1_util: float = 0.0
    other_cpu: float = 0.0
    steal: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    avg_ms: float = float("nan")
    max_ms: float = float("nan")
    errors: int = 0
    non2xx: int = 0
    socket_errors: str = ""
    peak_rss_kib: int = -1
    idle_rss_kib: int = -1
    log_lines: int = -1
    threads_cpu_s: dict = field(default_factory=dict)
    attempts: int = 1
    noisy: bool = False
    wrk_rc: int = 0
    wrk_output: str = ""
    failure: str = ""


def url_for(target: str, scenario: str) -> str:
    path, _, tls = SCENARIOS[scenario]
    port = {
        ("direct", False): PORT_UPSTREAM,
        ("nginx", False): PORT_NGINX,
        ("nginx", True): PORT_NGINX_TLS,
        ("portcullis", False): PORT_PORTCULLIS,
        ("portcullis", True): PORT_PORTCULLIS_TLS,
    }[(target, tls)]
    return f"{'https' if tls else 'http'}://{HOST}:{port}{path}"


def count_lines(path: Path | None) -> int:
    if path is None or not path.exists():
        return -1
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def start_target(args, target: str) -> Server:
    run_dir = args.out / "run"
    for name in ("nginx-proxy", "portcullis"):
        (run_dir / name / "access.log").unlink(missing_ok=True)
    if target == "nginx":
        prefix = run_dir / "nginx-proxy"
        return start_nginx(args.nginx, "nginx-proxy", prefix, nginx_proxy_conf(prefix, args.cert, args.key),
                           [PORT_NGINX, PORT_NGINX_TLS], args.proxy_core)
    prefix = run_dir / "portcullis"
    return start_portcullis(args.portcullis, prefix, portcullis_conf(prefix, args.cert, args.key), args.proxy_core)


def one_run(args, rnd: int, target: str, scenario: str, upstream: Server) -> Run:
    url = url_for(target, scenario)
    cmd = wrk_cmd(args, url, scenario, args.duration)
    run = Run(rnd, target, scenario, " ".join(cmd))
    srv: Server | None = None
    try:
        if target == "direct":
            srv = upstream
        else:
            srv = start_target(args, target)
            time.sleep(args.idle_wait)
            run.idle_rss_kib = status_kib(srv.rss_pid(), "VmRSS")
        if args.warmup > 0:
            wout, _, _ = run_wrk(wrk_cmd(args, url, scenario, args.warmup, latency=False), args.warmup)
            try:
                run.warm_requests = parse_wrk(wout)["requests"]
            except ValueError:
                pass
        pids = srv.pids()
        up_pids = upstream.pids()
        th0 = thread_ticks(srv.proc.pid) if target == "portcullis" else {}
        t0, u0, (b0, s0) = cpu_ticks(pids), cpu_ticks(up_pids), proc_stat()
        out, rc, run.client_cpu_s = run_wrk(cmd, args.duration)
        time.sleep(args.settle)  # let an asynchronous access-log writer finish its work
        t1, u1, (b1, s1) = cpu_ticks(pids), cpu_ticks(up_pids), proc_stat()
        if target == "portcullis":
            th1 = thread_ticks(srv.proc.pid)
            run.threads_cpu_s = {k: (v - th0.get(k, 0)) / CLK_TCK for k, v in th1.items()}
        run.wrk_rc, run.wrk_output = rc, out
        w = parse_wrk(out)
        run.rps, run.requests = w["rps"], w["requests"]
        run.p50_ms, run.p99_ms = w["p50_ms"], w["p99_ms"]
        run.avg_ms, run.max_ms = w.get("avg_ms", float("nan")), w.get("max_ms", float("nan"))
        run.errors, run.non2xx = w["errors"], w["non2xx"]
        run.socket_errors = (f"connect {w['sock_connect']}, read {w['sock_read']}, "
                             f"write {w['sock_write']}, timeout {w['sock_timeout']}")
        run.cpu_s = (t1 - t0) / CLK_TCK
        run.upstream_cpu_s = (u1 - u0) / CLK_TCK
        run.req_per_cpu_s = run.requests / run.cpu_s if run.cpu_s > 0 else float("nan")
        run.cpu_util = run.cpu_s / w["elapsed_s"] if w["elapsed_s"] > 0 else float("nan")
        # Load on the client core: wrk plus the upstream (for "direct" the upstream is the target).
        up = run.upstream_cpu_s if target != "direct" else run.cpu_s
        run.core1_util = (run.client_cpu_s + up) / w["elapsed_s"] if w["elapsed_s"] > 0 else float("nan")
        # Noise: CPU used by anything else on the machine, and time stolen by the hypervisor.
        window = w["elapsed_s"] + args.settle
        ours = run.cpu_s + run.client_cpu_s + (run.upstream_cpu_s if target != "direct" else 0.0)
        run.other_cpu = max(0.0, (b1 - b0) / CLK_TCK - ours) / window
        run.steal = (s1 - s0) / CLK_TCK / window
        run.peak_rss_kib = status_kib(srv.rss_pid(), "VmHWM")
        if rc != 0:
            run.failure = f"wrk exited {rc}"
    except Exception as e:  # noqa: BLE001 - recorded and reported
        run.failure = f"{type(e).__name__}: {e}"
    finally:
        if srv is not None and target != "direct":
            stop(srv.proc)
            run.log_lines = count_lines(srv.access_log)
            if srv.access_log is not None and srv.access_log.exists():
                srv.access_log.unlink()
    return run


def wait_quiet(limit: float, max_wait: float) -> float:
    """Waits (at most max_wait s) until the machine is quiet: less than `limit` cores busy or
    stolen over one second while nothing of ours runs. Returns the seconds waited."""
    t = time.monotonic()
    while True:
        b0, s0 = proc_stat()
        time.sleep(1.0)
        b1, s1 = proc_stat()
        if ((b1 - b0) + (s1 - s0)) / CLK_TCK < limit or time.monotonic() - t >= max_wait:
            return time.monotonic() - t


def noisy(r: "Run", limit: float) -> bool:
    return r.other_cpu + r.steal > limit


def med(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]  # drop NaN
    return statistics.median(xs) if xs else float("nan")


def thread_cpu_section(runs: list, scenarios: list[str], min_share: float = 0.0) -> list[str]:
    """Report lines: per scenario, each Portcullis thread's median share of the process's CPU, over the
    runs that measured threads; threads that never ran, or whose median share over all runs is under
    `min_share`, are left out."""
    measured = [r for r in runs if r.threads_cpu_s and r.cpu_s > 0]
    if not measured:
        return []

    def share(rs: list, name: str) -> float:
        return med([r.threads_cpu_s.get(name, 0.0) / r.cpu_s for r in rs])

    names = sorted({n for r in measured for n, cpu_s in r.threads_cpu_s.items()
                    if cpu_s > 0 and share(measured, n) >= min_share})
    left_out = f"; threads under {100 * min_share:g}% left out" if min_share > 0 else ""
    lines = [f"## Portcullis CPU by thread (median share of the process's CPU{left_out})\n",
             "| scenario | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for sc in scenarios:
        rs = [r for r in measured if r.scenario == sc]
        if rs:
            lines.append(f"| {sc} | " + " | ".join(f"{100 * share(rs, n):.0f}%" for n in names) + " |")
    return lines + [""]


def fmt(v: float, nd: int = 0) -> str:
    if v != v:
        return "n/a"
    return f"{v:,.{nd}f}"


def summarize(args, runs: list[Run], meta: dict, preflight: dict) -> str:
    L: list[str] = []
    ran = [sc for sc in SCENARIOS if any(r.scenario == sc for r in runs)]
    L.append("# Portcullis proxy benchmark\n")
    L.append(f"- date: {meta['date']}")
    L.append(f"- machine: {meta['nproc']} CPUs, {meta['cpu']}, kernel {meta['kernel']}")
    L.append(f"- portcullis: commit {meta['commit']} ({meta['binary']})")
    L.append(f"- nginx: {meta['nginx_version']}; wrk: {meta['wrk_version']}")
    L.append(f"- rounds: {args.rounds}, duration {args.duration}s (+{args.warmup}s warm-up), "
             f"wrk -t{args.threads} -c{args.connections} on core {args.client_core}; "
             f"proxies on core {args.proxy_core}; upstream nginx on core {args.upstream_core}")
    L.append(f"- noise guard: a run with more than {args.noise_limit} cores of foreign CPU + steal is repeated "
             f"(at most {args.retries} times, {args.noise_budget:.0f} s budget); "
             f"{sum(r.attempts - 1 for r in runs)} repeats, {sum(r.noisy for r in runs)} noisy runs kept")
    L.append("")
    L.append("## Medians per target x scenario\n")
    L.append("| scenario | target | req/s | req/CPU-s | proxy CPU (cores) | p50 ms | p99 ms | "
             "wrk+upstream CPU (cores) | other CPU / steal (cores) | noisy runs | errors (sum) | peak RSS MiB | "
             "idle RSS MiB | log lines/req |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in ran:
        for tg in TARGETS:
            rs = [r for r in runs if r.target == tg and r.scenario == sc]
            if not rs:
                continue
            ok = [r for r in rs if not r.failure]
            errs = sum(r.errors for r in rs)
            fails = len(rs) - len(ok)
            err_txt = f"{errs}" + (f" ({fails} failed runs)" if fails else "")
            peak = med([r.peak_rss_kib / 1024 for r in ok if r.peak_rss_kib >= 0])
            idle = med([r.idle_rss_kib / 1024 for r in ok if r.idle_rss_kib >= 0])
            cov = med([r.log_lines / (r.requests + r.warm_requests) for r in ok
                       if r.log_lines >= 0 and r.requests + r.warm_requests > 0])
            L.append(
                f"| {sc} | {tg} | {fmt(med([r.rps for r in ok]))} | {fmt(med([r.req_per_cpu_s for r in ok]))} | "
                f"{fmt(med([r.cpu_util for r in ok]), 2)} | {fmt(med([r.p50_ms for r in ok]), 3)} | "
                f"{fmt(med([r.p99_ms for r in ok]), 3)} | {fmt(med([r.core1_util for r in ok]), 2)} | "
                f"{fmt(med([r.other_cpu for r in ok]), 2)} / {fmt(med([r.steal for r in ok]), 2)} | "
                f"{sum(r.noisy for r in rs)}/{len(rs)} | {err_txt} | {fmt(peak, 1)} | "
                f"{fmt(idle, 1)} | {fmt(cov, 3)} |"
            )
    L.append("")
    L.append("For `direct`, CPU and RSS are the upstream nginx's (which shares core "
             f"{args.upstream_core} with wrk).\n")

    # Per-round ratios.
    L.append("## Per-round Portcullis / nginx\n")
    L.append("req/CPU-s ratio (>= 1.0 means Portcullis does more requests per CPU-second) and "
             "p99 difference (Portcullis p99 - nginx p99, ms).\n")
    header = "| scenario | " + " | ".join(f"r{i + 1} ratio" for i in range(args.rounds)) + \
             " | median ratio | " + " | ".join(f"r{i + 1} Δp99" for i in range(args.rounds)) + " | median Δp99 |"
    L.append(header)
    L.append("|---|" + "---:|" * (2 * args.rounds + 2))
    goal_cpu: dict[str, float] = {}
    goal_p99: dict[str, float] = {}
    for sc in ran:
        ratios, diffs = [], []
        for rnd in range(args.rounds):
            pc = [r for r in runs if r.round == rnd and r.target == "portcullis" and r.scenario == sc and not r.failure]
            ng = [r for r in runs if r.round == rnd and r.target == "nginx" and r.scenario == sc and not r.failure]
            if pc and ng and ng[0].req_per_cpu_s > 0:
                ratios.append(pc[0].req_per_cpu_s / ng[0].req_per_cpu_s)
                diffs.append(pc[0].p99_ms - ng[0].p99_ms)
            else:
                ratios.append(float("nan"))
                diffs.append(float("nan"))
        goal_cpu[sc], goal_p99[sc] = med(ratios), med(diffs)
        L.append(f"| {sc} | " + " | ".join(fmt(x, 2) for x in ratios) + f" | **{fmt(goal_cpu[sc], 2)}** | "
                 + " | ".join(fmt(x, 3) for x in diffs) + f" | **{fmt(goal_p99[sc], 3)}** |")
    L.append("")

    L += thread_cpu_section([r for r in runs if r.target == "portcullis" and not r.failure], ran)

    # Goals.
    idle_all = [r.idle_rss_kib / 1024 for r in runs if r.target == "portcullis" and r.idle_rss_kib >= 0]
    pc_fail = [r for r in runs if r.target == "portcullis" and (r.failure or r.errors)]
    L.append("## Goals (Portcullis, defaults on)\n")
    L.append("| goal | measured | met? |")
    L.append("|---|---|---|")
    for sc in ran:
        v = goal_cpu[sc]
        L.append(f"| req/CPU-s >= 1.0x nginx, {sc} | {fmt(v, 2)}x (median of per-round ratios) | "
                 f"{'yes' if v == v and v >= 1.0 else 'NO'} |")
    for sc in ran:
        v = goal_p99[sc]
        L.append(f"| p99 <= nginx p99 + 1 ms, {sc} | {fmt(v, 3)} ms (median of per-round differences) | "
                 f"{'yes' if v == v and v <= 1.0 else 'NO'} |")
    if idle_all:
        L.append(f"| idle RSS < 30 MiB | max {max(idle_all):.1f} MiB, median {med(idle_all):.1f} MiB "
                 f"over {len(idle_all)} starts | {'yes' if max(idle_all) < 30 else 'NO'} |")
    L.append(f"| no errors / non-2xx | {sum(r.errors for r in runs if r.target == 'portcullis')} errors, "
             f"{len([r for r in pc_fail if r.failure])} failed runs | {'yes' if not pc_fail else 'NO'} |")
    L.append("")

    # Preflight.
    L.append("## Pre-flight (one request per target x scenario)\n")
    L.append("| target | scenario | status | body bytes | TLS |")
    L.append("|---|---|---|---:|---|")
    for key, info in preflight.items():
        tg, sc = key.split("/")
        st = info.get("status") if info.get("status") is not None else info.get("error")
        L.append(f"| {tg} | {sc} | {st} | {info.get('bytes', '')} | {info.get('tls', '')} |")
    L.append("")
    hdrs = preflight.get("portcullis/get_small", {}).get("headers")
    if hdrs:
        L.append("Portcullis response headers for GET /small:\n")
        L.append("```")
        L.extend(f"{k}: {v}" for k, v in hdrs)
        L.append("```")
        L.append("")
    failures = [r for r in runs if r.failure or r.errors]
    if failures:
        L.append("## Runs with errors or failures\n")
        for r in failures:
            L.append(f"- round {r.round + 1} {r.target} {r.scenario}: {r.failure or ''} errors={r.errors} "
                     f"non2xx={r.non2xx} sockets=({r.socket_errors})\n  `{r.command}`")
            L.append("  ```\n" + "\n".join("  " + x for x in r.wrk_output.strip().splitlines()) + "\n  ```")
        L.append("")
    return "\n".join(L) + "\n"


def cmd_version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except Exception:  # noqa: BLE001
        return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--portcullis", required=True)
    ap.add_argument("--cert", type=Path, required=True)
    ap.add_argument("--key", type=Path, required=True)
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--commit", default="", help="label for the binary's source commit")
    ap.add_argument("--prebuilt", action="store_true", help="the binary was not built from --repo by run.sh")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--proxy-core", type=int, default=0)
    ap.add_argument("--client-core", type=int, default=1)
    ap.add_argument("--upstream-core", type=int, default=1)
    ap.add_argument("--idle-wait", type=float, default=0.5)
    ap.add_argument("--settle", type=float, default=0.5)
    ap.add_argument("--noise-limit", type=float, default=0.15,
                    help="cores of foreign CPU + steal above which a run is noisy and repeated")
    ap.add_argument("--retries", type=int, default=2, help="repeats of a noisy run")
    ap.add_argument("--noise-budget", type=float, default=240,
                    help="seconds, in all, spent waiting for quiet and repeating noisy runs")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--twin", type=int, default=0,
                    help="after the rounds, this many twin rounds (bench/twin.py): nginx and Portcullis on the "
                         "proxy core, driven at the same time")
    args = ap.parse_args()
    args.twin_bin, args.max_seconds = "", float("inf")  # what bench/twin.py reads besides the above

    global PIDS_FILE
    run_dir = args.out / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    PIDS_FILE = run_dir / "pids"
    args.post_lua = run_dir / "post.lua"
    args.post_lua.write_text(
        f'wrk.method = "POST"\nwrk.body = string.rep("a", {POST_SIZE})\n'
        'wrk.headers["Content-Type"] = "application/octet-stream"\n'
    )
    scenarios = [s for s in args.scenarios.split(",") if s]
    targets = [t for t in args.targets.split(",") if t]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s}")
    for t in targets:
        if t not in TARGETS:
            ap.error(f"unknown target {t}")
    busy = listening_ports() & {PORT_UPSTREAM, PORT_NGINX, PORT_NGINX_TLS, PORT_PORTCULLIS, PORT_PORTCULLIS_TLS}
    if busy:
        log(f"ports already in use on this machine: {sorted(busy)} (set BENCH_PORT_BASE to move them)")
        return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    meta = {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": os.cpu_count(),
        "cpu": next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name")), "unknown"),
        "kernel": os.uname().release,
        "commit": subprocess.run(["git", "-C", str(args.repo), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip() or "unknown",
        "binary": args.portcullis,
        "nginx_version": cmd_version([args.nginx, "-v"]),
        "wrk_version": cmd_version([args.wrk, "-v"]),
    }
    dirty = subprocess.run(["git", "-C", str(args.repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    if args.commit:
        meta["commit"] = args.commit
    elif args.prebuilt:
        meta["commit"] = f"unknown (prebuilt binary; repository HEAD is {meta['commit']})"
    elif dirty:
        meta["commit"] += " (+ uncommitted changes)"

    runs: list[Run] = []
    twin_runs: list = []  # bench/twin.py's TwinRun
    preflight: dict = {}
    try:
        up_prefix = run_dir / "upstream"
        (up_prefix / "www").mkdir(parents=True)
        (up_prefix / "www" / "16k.bin").write_bytes((b"0123456789abcdef" * (SIZE_16K // 16)))
        upstream = start_nginx(args.nginx, "upstream", up_prefix, upstream_conf(up_prefix), [PORT_UPSTREAM],
                               args.upstream_core)
        log(f"upstream nginx pid {upstream.proc.pid} on {HOST}:{PORT_UPSTREAM} (core {args.upstream_core})")

        # Pre-flight: one request per target x scenario, checked for status and size.
        for tg in targets:
            srv = None if tg == "direct" else start_target(args, tg)
            try:
                for sc in scenarios:
                    if tg == "direct" and SCENARIOS[sc][2]:
                        continue
                    port = int(url_for(tg, sc).split(":")[2].split("/")[0])
                    info = probe(port, sc)
                    preflight[f"{tg}/{sc}"] = info
                    ok = info.get("status") == 200 and info.get("bytes") == expected_bytes(sc)
                    log(f"preflight {tg:10s} {sc:14s} -> {info.get('status') or info.get('error')} "
                        f"{info.get('bytes', '')} bytes {info.get('tls', '')}{'' if ok else '   <-- UNEXPECTED'}")
            finally:
                if srv is not None:
                    stop(srv.proc)

        plan = [(tg, sc) for sc in scenarios for tg in targets if not (tg == "direct" and SCENARIOS[sc][2])]
        total = len(plan) * args.rounds
        n = 0
        noise_budget = float(args.noise_budget)
        t_start = time.monotonic()
        for rnd in range(args.rounds):
            k = (rnd * 5) % len(plan)  # rotate the order every round
            order = plan[k:] + plan[:k]
            if rnd % 2 == 1:
                order.reverse()
            for tg, sc in order:
                n += 1
                attempts = 0
                while True:
                    attempts += 1
                    if noise_budget > 0:
                        noise_budget -= wait_quiet(args.noise_limit, min(20.0, noise_budget))
                    r = one_run(args, rnd, tg, sc, upstream)
                    if r.failure or not noisy(r, args.noise_limit) or attempts > args.retries:
                        break
                    log(f"    r{rnd + 1} {tg} {sc}: other CPU {r.other_cpu:.2f} + steal {r.steal:.2f} cores "
                        f"during the run; repeating it")
                    if noise_budget <= 0:
                        break
                    noise_budget -= args.duration + args.warmup + 1
                r.attempts = attempts
                r.noisy = noisy(r, args.noise_limit)
                runs.append(r)
                flag = f"  FAILED: {r.failure}" if r.failure else ""
                flag += f"  (attempt {r.attempts})" if r.attempts > 1 else ""
                flag += "  NOISY" if r.noisy else ""
                flag += f"  ERRORS: {r.errors} (non2xx {r.non2xx}; {r.socket_errors})" if r.errors else ""
                log(f"[{n:3d}/{total}] r{rnd + 1} {tg:10s} {sc:14s} {r.rps:10,.0f} req/s "
                    f"{r.req_per_cpu_s:10,.0f} req/CPU-s cpu {r.cpu_util:4.2f} p50 {r.p50_ms:7.3f} ms "
                    f"p99 {r.p99_ms:7.3f} ms hwm {r.peak_rss_kib / 1024:6.1f} MiB "
                    f"core1 {r.core1_util:4.2f} other {r.other_cpu:4.2f} steal {r.steal:4.2f}{flag}")
        log(f"measured {total} runs in {time.monotonic() - t_start:.0f}s")
        if args.twin > 0:
            import twin as T  # here: it imports this file as the module `bench`

            proxies = ("nginx", "portcullis")
            twins = (start_target(args, proxies[0]), start_target(args, proxies[1]))
            T.run_rounds(args, [(sc, sc) for sc in scenarios], twins, lambda sc, i, d: wrk_cmd(
                args, url_for(proxies[i], sc), sc, d, latency=False), t_start, twin_runs, swap=False)
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); writing what was measured")
    finally:
        stop_all()

    report = summarize(args, runs, meta, preflight)
    if twin_runs:
        import twin as T

        report += "\n".join(T.section(args, twin_runs, {}, {}, "Twin A is nginx, twin B Portcullis, both on the "
                                       "proxy core and driven at the same time with the same scenario. Cost = 1 - "
                                       "Portcullis's req/CPU-s ÷ nginx's in the same window; the ratio is 1 - cost "
                                       "(the goal: ≥ 1.0)."))
    (args.out / "latest.md").write_text(report)
    (args.out / "latest.json").write_text(json.dumps(
        {"meta": meta, "args": {k: str(v) for k, v in vars(args).items()},
         "preflight": preflight, "runs": [asdict(r) for r in runs],
         "twin_runs": [asdict(r) for r in twin_runs]}, indent=1))
    print()
    print(report)
    print(f"written: {args.out / 'latest.md'} and {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
