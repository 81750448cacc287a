#!/usr/bin/env python3
"""Replay the OWASP CRS regression corpus against Portcullis's built-in protections.

Portcullis has no CRS rule engine; this measures what its protocol checks
(strict HTTP/1.1 parsing, smuggling refusal, path normalization, Host checks,
method refusal, head limits) and its body policies (content_type, body_size,
json_threat, xml_threat) do with the CRS request test cases: which `block`
cases they stop, and which `allow` cases they refuse (false positives).

Every case is sent exactly as on the wire over a raw socket, one connection
per case, sequentially, to a gateway on 127.0.0.1 in front of the built-in
demo upstream. The verdict comes from the answer ("blocked": the gateway
answered 4xx/5xx itself or closed the connection; "passed": the demo upstream
answered 2xx); the reason code comes from the gateway's access log, matched
by the X-Request-Id the gateway puts on every answer it gives (nothing is
added to the requests), and by order for the rare line whose answer never
reached the client.

Outputs: docs/corpus-report.md and bench/out/corpus.json. Python 3.11, stdlib
only. See bench/README.md ("CRS corpus report").
"""

from __future__ import annotations

import argparse
import atexit
import base64
import collections
import datetime
import hashlib
import json
import os
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "crs-regression.jsonl"

# The families the built-in protections are about (method, scanner, protocol,
# protocol attack, multipart, LFI, RFI, generic). The injection families are
# replayed too (the body policies and path checks apply to every request, so
# their `allow` cases can show false positives), but reported separately.
PRIMARY = ["911", "913", "920", "921", "922", "930", "931", "934"]
FAMILY_NAMES = {
    "911": "method enforcement",
    "913": "scanner detection",
    "920": "protocol enforcement",
    "921": "protocol attack",
    "922": "multipart attack",
    "930": "LFI",
    "931": "RFI",
    "932": "RCE",
    "933": "PHP",
    "934": "generic",
    "941": "XSS",
    "942": "SQLi",
    "943": "session fixation",
    "944": "Java",
    "949": "inbound blocking",
}

REQUEST_TYPES = [
    "application/json",
    "application/xml",
    "text/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
]
BODY_MAX = "64KiB"

# --------------------------------------------------------------------------
# judging a false positive
#
# Each blocked `allow` case gets a category and a sentence. The rules below
# were written after reading every false positive of the first runs; they
# look at the case itself (method, body, headers) and the reason code, so
# a rerun against a changed gateway judges its own results. A combination
# not foreseen here is marked "unexplained" to be looked at by hand.

BUG = "bug"
STRICTER = "stricter default"
DELIBERATE = "deliberate"
CORRECT = "correct"
CONFIG = "config"
UNEXPLAINED = "unexplained"


def case_headers(case: dict) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in (case.get("headers") or {}).items()] + [
        (k.lower(), v) for k, v in case.get("extra_headers") or []
    ]


def case_body(case: dict) -> bytes:
    if case.get("body_b64"):
        return base64.b64decode(case["body_b64"])
    return (case.get("body") or "").encode("utf-8", "surrogateescape")


def declared_body_length(case: dict) -> int | None:
    """The body length the gateway sees under RFC 9112 §6.3 (None: chunked)."""
    hs = case_headers(case)
    if any(k == "transfer-encoding" for k, _ in hs):
        return None
    cls = [v for k, v in hs if k == "content-length"]
    if cls and cls[0].strip().isdigit():
        return int(cls[0].strip())
    return 0


def judge(case: dict, rec: dict) -> tuple[str, str]:
    reason = rec.get("reason_label", "")
    method = (case.get("method") or "GET").strip().upper()
    uri = case.get("uri") or "/"
    version = case.get("version") or "HTTP/1.1"
    hs = case_headers(case)
    ctype = next((v for k, v in hs if k == "content-type"), None)
    has_cl = any(k == "content-length" for k, _ in hs)
    has_te = any(k == "transfer-encoding" for k, _ in hs)
    seen_len = declared_body_length(case)
    if reason == "request.method.forbidden":
        return DELIBERATE, f"{method} is never served (README: methods)"
    if reason == "request.path.not_absolute" and uri == "*":
        return STRICTER, ("asterisk-form `OPTIONS *` (RFC 9112 §3.2.4) is a valid request; the gateway refuses it as "
                          "a path evasion. Harmless for an API gateway, but not documented as such")
    if reason.startswith("request.path."):
        return DELIBERATE, "path evasion refused (README: paths)"
    if reason == "request.host.invalid":
        return DELIBERATE, "the Host value is not a valid host (README: host)"
    if reason in ("inspect.json.syntax", "inspect.xml.syntax"):
        kind = "JSON" if "json" in reason else "XML"
        if seen_len == 0:
            what = "no body at all" if not has_cl else "`Content-Length: 0`"
            return BUG, (f"{method} with {what} and `Content-Type: {ctype}` is refused as malformed {kind}: the syntax "
                         f"check runs on an empty body; the policy's own media-type check skips bodiless requests")
        return CORRECT, f"the body is not well-formed {kind}, as declared"
    if reason == "inspect.content_type.unsupported":
        if method in ("POST", "PUT", "PATCH") and not has_cl and not has_te:
            trailing = len(case_body(case))
            extra = (f" (the {trailing} bytes the case sends after the head are, by that rule, not its body but the "
                     "start of a next request)") if trailing else ""
            return BUG, (f"an HTTP/1.1 {method} without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3)"
                         f"{extra}, yet the policy demands a Content-Type (415); the same request with "
                         "`Content-Length: 0` passes")
        if ctype is None or not ctype.strip():
            return DELIBERATE, "a body without a (non-empty) Content-Type is refused by the content_type policy"
        return CONFIG, f"`{ctype}` is not in the route's `content_type.request` list"
    if reason == "(parser)":
        if not re.fullmatch(r"HTTP/1\.[01]", version):
            return CORRECT, f"`{version}` is not an HTTP/1.x request line (HTTP/2 is binary)"
        raw = case_bytes(case).split(b"\r\n", 1)[0]
        odd = sorted({chr(b) for b in raw if chr(b) in '"<>`'})
        if odd:
            return STRICTER, ("the HTTP/1.1 parser refuses raw " + ", ".join(f"`{c}`" for c in odd) +
                              " in the request target (bare 400, no access-log line); RFC 3986 does not allow "
                              "these characters unencoded, but browsers and common servers are lenient")
        return UNEXPLAINED, "bare 400 from the HTTP/1.1 parser"
    return UNEXPLAINED, ""


# --------------------------------------------------------------------------
# process handling


class Gateway:
    """A `portcullis serve` child with its stderr collected."""

    def __init__(self, binary: Path, config: Path, upstream: str, workdir: Path):
        self.binary, self.config, self.upstream, self.workdir = binary, config, upstream, workdir
        self.proc: subprocess.Popen | None = None
        self.addr: tuple[str, int] | None = None
        self.stderr_lines: list[str] = []
        self.starts = 0
        self.crashes: list[dict] = []

    def start(self, timeout: float = 20.0) -> None:
        env = dict(os.environ, PORTCULLIS_LOG="info")
        self.starts += 1
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--config", str(self.config), "--demo-upstream", self.upstream],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=self.workdir,
            start_new_session=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        stderr_file = self.workdir / f"gateway-{self.starts}.stderr"

        def pump(proc: subprocess.Popen) -> None:
            with open(stderr_file, "w", encoding="utf-8") as sink:
                for raw in proc.stderr:  # type: ignore[union-attr]
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    self.stderr_lines.append(line)
                    sink.write(line + "\n")
                    sink.flush()
                    lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        listening = None
        started = False
        while not (listening and started):
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                tail = "\n".join(self.stderr_lines[-20:])
                raise SystemExit(f"corpus: the gateway did not start; stderr:\n{tail}")
            if "Listening." in line and "metrics" not in line:
                m = re.search(r"addr=\"?\[?([0-9.:a-f]+?)\]?:(\d+)", line)
                if m:
                    listening = (m.group(1), int(m.group(2)))
            if "Portcullis started." in line:
                started = True
        self.addr = listening

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return proc.returncode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(binary_env: str | None) -> Path:
    if binary_env:
        path = Path(binary_env)
        if not path.is_file():
            raise SystemExit(f"corpus: PORTCULLIS_BIN={binary_env} is not a file")
        return path
    print("corpus: cargo build --release -p portcullis", file=sys.stderr, flush=True)
    subprocess.run(["cargo", "build", "--release", "-p", "portcullis"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    return target / "release" / "portcullis"


def write_config(path: Path, upstream_port: int, access_log: Path) -> str:
    types = ", ".join(REQUEST_TYPES)
    text = f"""# Written by bench/corpus.py for the CRS corpus replay.
listeners:
  - name: corpus
    listen: 127.0.0.1:0

upstream_allowlist: [127.0.0.1/32]

upstreams:
  - name: demo
    targets: [http://127.0.0.1:{upstream_port}]

routes:
  - name: catch-all
    prefix: /
    upstream: demo
    policies:
      - type: content_type
        request: [{types}]
      - type: body_size
        max: {BODY_MAX}
      - type: json_threat
      - type: xml_threat

access_log:
  path: {access_log}
"""
    path.write_text(text, encoding="utf-8")
    return text


# --------------------------------------------------------------------------
# the wire


def case_bytes(case: dict) -> bytes:
    """The exact bytes of one case."""
    if case.get("raw_request_b64"):
        return base64.b64decode(case["raw_request_b64"])
    method = case.get("method") if case.get("method") is not None else "GET"
    uri = case.get("uri") if case.get("uri") is not None else "/"
    version = case.get("version") if case.get("version") is not None else "HTTP/1.1"
    out = bytearray(f"{method} {uri} {version}\r\n".encode("utf-8", "surrogateescape"))
    headers = list((case.get("headers") or {}).items()) + [tuple(h) for h in case.get("extra_headers") or []]
    for name, value in headers:
        out += f"{name}: {value}\r\n".encode("utf-8", "surrogateescape")
    out += b"\r\n"
    if case.get("body_b64"):
        out += base64.b64decode(case["body_b64"])
    elif case.get("body"):
        out += case["body"].encode("utf-8", "surrogateescape")
    return bytes(out)


def _parse_head(buf: bytes) -> tuple[int, dict[str, str], int] | None:
    """(status, headers, head length) of the first response head in buf, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\d(?:\.\d)?\s+(\d{3})", lines[0])
    status = int(m.group(1)) if m else -1
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), value.strip())
    return status, headers, end + 4


def _chunked_complete(body: bytes) -> bool:
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return False
        try:
            size = int(body[pos:eol].split(b";")[0].strip() or b"x", 16)
        except ValueError:
            return True  # malformed; stop waiting
        pos = eol + 2
        if size == 0:
            return body.find(b"\r\n\r\n", pos - 2) >= 0 or body[pos:pos + 2] == b"\r\n"
        pos += size + 2
        if pos > len(body):
            return False


def _response_state(buf: bytes, head_request: bool):
    """Skip 1xx heads; return (status, headers, body, complete) or None without a final head."""
    while True:
        parsed = _parse_head(buf)
        if parsed is None:
            return None
        status, headers, hlen = parsed
        if 100 <= status < 200 and status != 101:
            buf = buf[hlen:]
            continue
        body = buf[hlen:]
        if head_request or status in (204, 304) or 100 <= status < 200:
            return status, headers, b"", True
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return status, headers, body, _chunked_complete(body)
        if "content-length" in headers:
            try:
                need = int(headers["content-length"])
            except ValueError:
                need = 0
            return status, headers, body, len(body) >= need
        return status, headers, body, False  # read until close


def exchange(addr: tuple[str, int], payload: bytes, timeout: float, head_request: bool) -> dict:
    """Sends payload on a fresh connection and reads one response (or the close)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    result: dict = {"outcome": None, "status": None, "request_id": None, "send_error": None}
    try:
        sock = socket.create_connection(addr, timeout=timeout)
    except OSError as e:
        result.update(outcome="connect_error", error=str(e))
        return result
    sock.setblocking(False)
    buf = b""
    sent = 0
    state = None
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                result["outcome"] = "timeout"
                break
            want_write = [sock] if sent < len(payload) and result["send_error"] is None else []
            readable, writable, _ = select.select([sock], want_write, [], deadline - now)
            if writable:
                try:
                    sent += sock.send(payload[sent:sent + 65536])
                except (BrokenPipeError, ConnectionResetError) as e:
                    result["send_error"] = type(e).__name__
                except BlockingIOError:
                    pass
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    result["outcome"] = "reset"
                    break
                except BlockingIOError:
                    continue
                if not data:
                    result["outcome"] = "closed"
                    break
                buf += data
                state = _response_state(buf, head_request)
                if state and state[3]:
                    result["outcome"] = "response"
                    break
    finally:
        sock.close()
    state = state or _response_state(buf, head_request)
    if state:
        status, headers, body, complete = state
        result.update(status=status, request_id=headers.get("x-request-id"), body=body[:300].decode("utf-8", "replace"))
        result["response_complete"] = complete
        if result["outcome"] != "response":
            result["after"] = result["outcome"]  # e.g. a body read until close
            result["outcome"] = "response"
    elif buf:
        result["raw_response"] = buf[:200].decode("latin-1")
    result["bytes_sent"] = sent
    result["bytes_total"] = len(payload)
    result["elapsed_ms"] = round((time.monotonic() - t0) * 1000, 1)
    return result


# --------------------------------------------------------------------------
# the access log


class AccessLog:
    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.lines: list[dict] = []
        self.by_id: dict[str, int] = {}
        self.claimed: set[int] = set()

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        for raw in complete:
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                rec = {"unparsable": raw[:200].decode("utf-8", "replace")}
            self.by_id.setdefault(rec.get("request_id"), len(self.lines))
            self.lines.append(rec)

    def wait_for(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if all(i in self.by_id for i in ids) or time.monotonic() >= deadline:
                return
            time.sleep(0.005)

    def wait_new(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if len(self.lines) > count:
                return
            time.sleep(0.01)


# --------------------------------------------------------------------------
# run


def load_cases(path: Path, families: set[str] | None) -> list[dict]:
    cases = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            case = json.loads(line)
            if case.get("direction") != "request":
                continue
            if families is not None and case.get("family") not in families:
                continue
            cases.append(case)
    return cases


def classify(res: dict) -> str:
    outcome = res["outcome"]
    if outcome == "response":
        status = res["status"] or 0
        if 200 <= status < 300:
            return "passed"
        if status >= 400:
            return "blocked"
        return "other"
    if outcome in ("closed", "reset"):
        return "blocked"
    if outcome == "timeout":
        return "timeout"
    return "error"


def run_cases(cases: list[dict], gw: Gateway, log: AccessLog, timeout: float, budget: float) -> list[dict]:
    results = []
    started = time.monotonic()
    pending_ids: list[str] = []
    for n, case in enumerate(cases):
        rec = {"id": case["id"], "family": case["family"], "rule": case["rule"], "expect": case["expect"]}
        if time.monotonic() - started > budget:
            rec.update(verdict="not_run", outcome="budget")
            results.append(rec)
            continue
        if not gw.alive():
            code = gw.stop()
            rec_prev = results[-1]["id"] if results else None
            print(f"corpus: the gateway exited (code {code}) after {rec_prev}; restarting", file=sys.stderr)
            gw.crashes.append({"after_case": rec_prev, "exit_code": code, "stderr_tail": gw.stderr_lines[-20:]})
            gw.start()
        method = (case.get("method") or "GET").strip().upper()
        payload = case_bytes(case)
        res = exchange(gw.addr, payload, timeout, head_request=method == "HEAD")
        rec.update(res)
        rec["verdict"] = classify(res)
        rec["sent_sha256"] = hashlib.sha256(payload).hexdigest()[:16]
        if res.get("request_id"):
            pending_ids.append(res["request_id"])
            rec["log_match"] = "request_id"
        else:
            # No X-Request-Id: hyper refused the head, or no answer came. The
            # pipeline may still log a line (e.g. after we hang up on a body
            # it waits for): wait until every earlier line is in, then briefly
            # for one more, and take it by order.
            log.wait_for(pending_ids, 2.0)
            pending_ids.clear()
            count = len(log.lines)
            log.wait_new(count, 0.25 if res["outcome"] != "timeout" else 0.6)
            if len(log.lines) > count:
                rec["log_index"] = count
                rec["log_match"] = "order"
                log.claimed.add(count)
                if len(log.lines) > count + 1:
                    rec["log_extra_lines"] = len(log.lines) - count - 1
        results.append(rec)
        if (n + 1) % 500 == 0:
            print(f"corpus: {n + 1}/{len(cases)} sent ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    log.wait_for(pending_ids, 3.0)
    time.sleep(0.1)
    log.poll()
    for rec in results:
        idx = None
        if rec.get("log_match") == "request_id":
            idx = log.by_id.get(rec["request_id"])
            if idx is None:
                rec["log_match"] = "missing"
            else:
                log.claimed.add(idx)
        elif rec.get("log_match") == "order":
            idx = rec["log_index"]
        if idx is not None:
            line = log.lines[idx]
            rec["reason"] = line.get("reason")
            rec["log_status"] = line.get("status")
            rec["upstream_ms"] = line.get("upstream_ms")
            rec["route"] = line.get("route")
        rec["reason_label"] = reason_label(rec)
    return results


def reason_label(rec: dict) -> str:
    """The reason code, or what stands in for it when the log has none."""
    if rec.get("reason"):
        return rec["reason"]
    v = rec.get("verdict")
    if v == "passed":
        return "(upstream)"
    if v == "blocked":
        if rec.get("outcome") == "response" and not rec.get("request_id"):
            return "(parser)"
        if rec.get("outcome") in ("closed", "reset"):
            return "(closed)"
        return "(no reason logged)"
    return f"({v})"


# --------------------------------------------------------------------------
# report


def corpus_meta(path: Path) -> dict:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    meta = {"path": str(path), "sha256": digest, "readme_sha256": None, "crs_commit": None, "crs_tag": None}
    readme = path.parent / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if m := re.search(r"sha256 of this version of the file:\s*`([0-9a-f]{64})`", text):
            meta["readme_sha256"] = m.group(1)
        if m := re.search(r"commit\s*`([0-9a-f]{40})`", text):
            meta["crs_commit"] = m.group(1)
        if m := re.search(r"tag \*\*(v[\d.]+)\*\*", text):
            meta["crs_tag"] = m.group(1)
    return meta


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.1f} %" if b else "–"


def family_rows(results: list[dict], families: list[str]) -> list[dict]:
    rows = []
    for fam in families:
        rs = [r for r in results if r["family"] == fam and r["verdict"] != "not_run"]
        if not rs:
            continue
        blk = [r for r in rs if r["expect"] == "block"]
        alw = [r for r in rs if r["expect"] == "allow"]
        rows.append({
            "family": fam,
            "name": FAMILY_NAMES.get(fam, ""),
            "cases": len(rs),
            "expect_block": len(blk),
            "expect_allow": len(alw),
            "blocked": sum(r["verdict"] == "blocked" for r in rs),
            "passed": sum(r["verdict"] == "passed" for r in rs),
            "other": sum(r["verdict"] not in ("blocked", "passed") for r in rs),
            "caught_blocks": sum(r["verdict"] == "blocked" for r in blk),
            "false_positives": sum(r["verdict"] == "blocked" for r in alw),
        })
    return rows


def total_row(rows: list[dict], label: str) -> dict:
    keys = ["cases", "expect_block", "expect_allow", "blocked", "passed", "other", "caught_blocks", "false_positives"]
    out = {k: sum(r[k] for r in rows) for k in keys}
    out.update(family=label, name="")
    return out


def md_family_table(rows: list[dict], total: dict) -> list[str]:
    out = [
        "| family | cases | expect block | expect allow | blocked | passed | no answer | caught blocks | caught % | false positives |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows + [total]:
        name = f"{r['family']} {r['name']}".strip()
        if r is total:
            name = f"**{name}**"
        out.append(
            f"| {name} | {r['cases']} | {r['expect_block']} | {r['expect_allow']} | {r['blocked']} | {r['passed']} "
            f"| {r['other']} | {r['caught_blocks']} | {pct(r['caught_blocks'], r['expect_block'])} | {r['false_positives']} |"
        )
    return out


def md_escape(text) -> str:
    text = "" if text is None else str(text)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "\\r").replace("\n", "\\n")
    return text.replace("`", "'")


def short_request(case: dict, limit: int = 90) -> str:
    line = f"{case.get('method') or 'GET'} {case.get('uri') or '/'} {case.get('version') or 'HTTP/1.1'}"
    if case.get("raw_request_b64"):
        line = base64.b64decode(case["raw_request_b64"]).split(b"\r\n")[0].decode("latin-1")
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return line


def write_report(path: Path, meta: dict, results: list[dict], cases_by_id: dict, config_text: str, primary: list[str]) -> None:
    all_fams = sorted({r["family"] for r in results})
    context = [f for f in all_fams if f not in primary]
    prows = family_rows(results, primary)
    ptotal = total_row(prows, "primary")
    crows = family_rows(results, context)
    ctotal = total_row(crows, "others")
    ran = [r for r in results if r["verdict"] != "not_run"]
    primary_ran = [r for r in ran if r["family"] in primary]

    L: list[str] = []
    L.append("# CRS regression corpus vs. Portcullis's built-in protections")
    L.append("")
    L.append("Generated by `bench/corpus.sh` (`bench/corpus.py`); do not edit by hand, rerun it.")
    L.append("")
    L.append(f"- Date: {meta['date']}")
    L.append(f"- Portcullis commit: `{meta['commit']}`{' (working tree had local changes)' if meta.get('dirty') else ''}"
             f"; binary: {meta['binary_note']}")
    sha_ok = meta["corpus"]["readme_sha256"] == meta["corpus"]["sha256"]
    L.append(f"- Corpus: OWASP CRS {meta['corpus'].get('crs_tag') or ''} regression corpus, commit "
             f"`{meta['corpus']['crs_commit']}`, `crs-regression.jsonl` sha256 `{meta['corpus']['sha256']}`"
             f" ({'matches' if sha_ok else 'DOES NOT match'} the corpus README)")
    L.append(f"- Cases replayed: {len(ran)} request cases ({len(primary_ran)} in the primary families "
             f"{', '.join(primary)}; {len(ran) - len(primary_ran)} in the others). "
             f"Response-direction cases (95x/959/980) are not replayed: they test the upstream's answers.")
    not_run = len(results) - len(ran)
    if not_run:
        L.append(f"- **{not_run} cases were not run** (the time budget ran out).")
    L.append(f"- Run time: {meta['elapsed_s']:.0f} s; per-case timeout {meta['timeout_s']} s.")
    L.append("")
    L.append("## Method")
    L.append("")
    L.append("Each case is sent exactly as on the wire (request line from `method`/`uri`/`version`, the headers in "
             "order, then `extra_headers`, then `body`/`body_b64`; `raw_request_b64` verbatim) on a fresh TCP "
             "connection to the gateway on 127.0.0.1, one case at a time. Nothing is added to the requests.")
    L.append("")
    L.append("- **blocked**: the gateway answered 4xx/5xx itself (the demo upstream only ever answers 200), or "
             "closed/reset the connection without an answer.")
    L.append("- **passed**: the demo upstream's 2xx came back through the gateway.")
    L.append("- **no answer**: neither within the per-case timeout (the gateway is still waiting for bytes the "
             "case never sends, e.g. a declared body longer than the one sent), or another status.")
    L.append("- The reason code is the access-log line's `reason`, matched by the `X-Request-Id` the gateway "
             "sets on every answer it gives; `(parser)` marks a bare 400 from the HTTP/1.1 parser, which "
             "answers before routing and logs no line; `(upstream)` a case that passed.")
    L.append("- *caught %* = blocked `block` cases / `block` cases. *False positive* = a blocked `allow` case.")
    L.append("- A CRS `block` case means *that CRS rule fires*, often at paranoia level 2–4 and often for an "
             "injection payload; without a rule engine those are expected misses. A CRS `allow` case is a "
             "negative test of one rule, not benign traffic (see the corpus README): a false positive here is "
             "something to look at, not automatically a bug.")
    L.append("")
    L.append("Configuration (the listen port 0 and the log path are filled in at run time):")
    L.append("")
    L.append("```yaml")
    cfg = re.sub(r"path: .*", "path: <tmpdir>/access.log", config_text)
    cfg = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:<demo-port>", cfg)
    L.extend(cfg.rstrip("\n").split("\n"))
    L.append("```")
    L.append("")
    L.append("`portcullis serve --config <tmpdir>/portcullis.yaml --demo-upstream 127.0.0.1:<demo-port>`")
    L.append("")

    L.append("## Primary families")
    L.append("")
    L.extend(md_family_table(prows, ptotal))
    L.append("")
    # PL1 view
    pl1_blk = [r for r in primary_ran if r["expect"] == "block" and cases_by_id[r["id"]].get("rule_pl") == 1]
    L.append(f"Of the {len(pl1_blk)} primary `block` cases for paranoia-level-1 rules, "
             f"{sum(r['verdict'] == 'blocked' for r in pl1_blk)} were blocked "
             f"({pct(sum(r['verdict'] == 'blocked' for r in pl1_blk), len(pl1_blk))}).")
    L.append("")
    L.append("Primary `block` cases the gateway caught, by rule:")
    L.append("")
    L.append("| rule | caught / block cases | reasons |")
    L.append("|---|---:|---|")
    by_rule = collections.defaultdict(list)
    for r in primary_ran:
        if r["expect"] == "block":
            by_rule[r["rule"]].append(r)
    for rule in sorted(by_rule):
        rs = by_rule[rule]
        caught = [r for r in rs if r["verdict"] == "blocked"]
        if not caught:
            continue
        reasons = collections.Counter(r["reason_label"] for r in caught)
        L.append(f"| {rule} | {len(caught)} / {len(rs)} | " + ", ".join(f"`{k}` {v}" for k, v in reasons.most_common()) + " |")
    missed_rules = sorted(rule for rule, rs in by_rule.items() if not any(r["verdict"] == "blocked" for r in rs))
    L.append("")
    L.append(f"Rules with `block` cases of which none was caught ({len(missed_rules)}): "
             + ", ".join(str(r) for r in missed_rules) + ".")
    L.append("")

    if crows:
        L.append("## Other request families (context)")
        L.append("")
        L.append("Injection families: matching their payloads is the rule engine's job, so the misses are "
                 "expected. They are replayed because the path, Host and body checks apply to every request, "
                 "so their `allow` cases can show false positives too.")
        L.append("")
        L.extend(md_family_table(crows, ctotal))
        L.append("")

    L.append("## Reason codes")
    L.append("")
    L.append("| reason | status | cases | on `block` cases | on `allow` cases |")
    L.append("|---|---|---:|---:|---:|")
    reasons = collections.Counter(r["reason_label"] for r in ran)
    for reason, count in reasons.most_common():
        rs = [r for r in ran if r["reason_label"] == reason]
        statuses = collections.Counter(str(r.get("status") or r.get("outcome")) for r in rs)
        st = ", ".join(k for k, _ in statuses.most_common())
        L.append(f"| `{reason}` | {st} | {count} | {sum(r['expect'] == 'block' for r in rs)} | "
                 f"{sum(r['expect'] == 'allow' for r in rs)} |")
    L.append("")

    fps = [r for r in ran if r["expect"] == "allow" and r["verdict"] == "blocked"]
    L.append(f"## False positives ({len(fps)})")
    L.append("")
    L.append("Every `allow` case the gateway blocked, with a judgement: **bug** (the gateway is wrong by its own "
             "rules or by the RFCs), *stricter default* (a legitimate request refused on purpose or by the HTTP "
             "parser, worth documenting), *deliberate* (a documented refusal), *correct* (the request really is "
             "malformed), *config* (follows from this run's route configuration). The judgements are computed "
             "from the case and the reason code by `judge()` in `bench/corpus.py`.")
    L.append("")
    cats = collections.Counter(r["judgement"][0] for r in fps)
    if fps:
        L.append("By judgement: " + ", ".join(f"{k} {v}" for k, v in cats.most_common()) + ".")
        L.append("")
        L.append("| id | desc | request line | status | reason | judgement |")
        L.append("|---|---|---|---|---|---|")
        order = [BUG, UNEXPLAINED, STRICTER, CONFIG, DELIBERATE, CORRECT]
        for r in sorted(fps, key=lambda r: (order.index(r["judgement"][0]), r["family"] not in primary, r["id"])):
            c = cases_by_id[r["id"]]
            cat, why = r["judgement"]
            cat = f"**{cat}**" if cat in (BUG, UNEXPLAINED) else f"*{cat}*"
            L.append(f"| {r['id']} | {md_escape(c.get('desc'))} | `{md_escape(short_request(c))}` | "
                     f"{r.get('status') or r.get('outcome')} | `{r['reason_label']}` | {cat}: {why} |")
    L.append("")

    unfired = documented_but_passed(ran, cases_by_id)
    L.append(f"## Documented refusals that did not happen ({len(unfired)})")
    L.append("")
    L.append("Cases whose shape the README says is refused, but which passed to the upstream (whatever CRS expects).")
    L.append("")
    if unfired:
        L.append("| id | expect | request line | status | what the README promises |")
        L.append("|---|---|---|---|---|")
        for r, why in unfired:
            c = cases_by_id[r["id"]]
            L.append(f"| {r['id']} | {r['expect']} | `{md_escape(short_request(c))}` | {r.get('status')} | {why} |")
    else:
        L.append("None.")
    L.append("")

    odd = [r for r in ran if r["verdict"] not in ("blocked", "passed")
           or (r.get("status") or 0) >= 500 or r.get("log_match") == "missing"]
    L.append(f"## No answer, 5xx and other anomalies ({len(odd)})")
    L.append("")
    if odd:
        L.append("| id | expect | outcome | status | reason | note |")
        L.append("|---|---|---|---|---|---|")
        for r in odd:
            c = cases_by_id[r["id"]]
            note = []
            if r.get("bytes_sent") is not None and r.get("bytes_sent") < r.get("bytes_total", 0):
                note.append(f"sent {r['bytes_sent']}/{r['bytes_total']} bytes")
            if r.get("log_match") == "missing":
                note.append("no access-log line for the request id")
            body_len = len(case_body(c))
            seen = declared_body_length(c)
            if seen is not None and seen != body_len:
                note.append(f"the gateway reads a {seen}-byte body, the case sends {body_len} bytes")
            L.append(f"| {r['id']} | {r['expect']} | {r['outcome']} | {r.get('status') or ''} | `{r['reason_label']}` | {'; '.join(note)} |")
    else:
        L.append("None: every case got an answer within the timeout, and no answer was a 5xx.")
    L.append("")
    if meta.get("crashes"):
        L.append("**The gateway exited during the run:** " + "; ".join(
            f"after case {c['after_case']} (exit code {c['exit_code']})" for c in meta["crashes"]))
        L.append("")

    L.append("## Summary")
    L.append("")
    L.extend(summary_lines(ran, primary, ptotal, fps, unfired, meta))
    L.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(L), encoding="utf-8")


def documented_but_passed(ran: list[dict], cases_by_id: dict) -> list[tuple[dict, str]]:
    """Passed cases that the README's request-smuggling row says are refused.

    The README documents that Content-Length with Transfer-Encoding is
    settled by the parser (chunked wins, the connection is closed) and that
    only differing Content-Lengths are refused; those shapes passing is as
    documented."""
    out = []
    for r in ran:
        if r["verdict"] != "passed":
            continue
        hs = case_headers(cases_by_id[r["id"]])
        n_te = sum(k == "transfer-encoding" for k, _ in hs)
        if n_te > 1:
            out.append((r, "repeated `Transfer-Encoding`: 400 `request.smuggling.transfer_encoding`"))
    return out


def _ids(rs: list[dict], limit: int = 8) -> str:
    ids = [r["id"] for r in rs]
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def summary_lines(ran: list[dict], primary: list[str], ptotal: dict, fps: list[dict],
                  unfired: list[tuple[dict, str]], meta: dict) -> list[str]:
    """The summary: numbers, then what they mean. Sentences about a finding
    appear only when the run shows that finding."""
    prim = [r for r in ran if r["family"] in primary]
    prim_blk = [r for r in prim if r["expect"] == "block"]
    caught = [r for r in prim_blk if r["verdict"] == "blocked"]
    by_reason = collections.Counter(r["reason_label"] for r in caught)
    body_codes = [k for k in by_reason if k.startswith("inspect.")]
    n_body = sum(by_reason[k] for k in body_codes)
    n_parser = by_reason.get("(parser)", 0)
    n_head = len(caught) - n_body - n_parser

    def rule_stats(rule: int) -> tuple[int, int]:
        rs = [r for r in prim_blk if r["rule"] == rule]
        return sum(r["verdict"] == "blocked" for r in rs), len(rs)

    out = [
        f"- **Caught:** {len(caught)} of {len(prim_blk)} `block` cases in the primary families "
        f"({pct(len(caught), len(prim_blk))}): {n_parser} by the HTTP/1.1 parser (bare 400), {n_head} by the "
        f"gateway's own head checks (method, Host, path, routing), {n_body} by the body policies. By reason: "
        + ", ".join(f"`{k}` {v}" for k, v in by_reason.most_common()) + ".",
    ]
    strong = []
    for rule, what in [(920100, "malformed request lines"), (920430, "bad HTTP versions"),
                       (920160, "non-numeric Content-Length"), (921190, "CR/LF in the path"),
                       (920340, "bodies without a Content-Type"), (920420, "undeclared body media types"),
                       (920640, "empty Content-Type with a body"), (920410, "bodies over the size limit"),
                       (911100, "unknown methods")]:
        got, tot = rule_stats(rule)
        if tot:
            strong.append(f"{what} ({rule}: {got}/{tot})")
    out.append("- **Where the built-in protections matter:** the request line and the framing of the message: "
               + "; ".join(strong) + ". Unknown methods are refused because a route can only list the seven "
               "standard methods (`route.method` 405), so extension methods such as PROPFIND can never be served.")
    per_fam = {f: (sum(r["verdict"] == "blocked" for r in prim_blk if r["family"] == f),
                   sum(1 for r in prim_blk if r["family"] == f)) for f in primary}
    out.append("- **What needs the rule engine:** everything inside the query string, headers other than Host, "
               "cookies and form/multipart/JSON/XML values. The path checks only look at the path and the Host "
               "check only at Host, so NUL and control characters elsewhere (920270–920274), CR/LF injection (921120–921160) and `../` traversal in "
               "arguments (930, " + f"{per_fam.get('930', (0, 0))[0]}/{per_fam.get('930', (0, 0))[1]}" + ") pass; "
               "the multipart checks (922, " + f"{per_fam.get('922', (0, 0))[0]}/{per_fam.get('922', (0, 0))[1]}"
               + "), RFI (931), the generic payload rules (934), scanner user agents (913), Range/Accept/encoding "
               "rules and argument-count/length limits (920380–920390) have no counterpart. A `content_type` "
               "allow-list plus a syntax check stops *undeclared* bodies, not hostile values in well-formed ones.")
    cats = collections.defaultdict(list)
    for r in fps:
        cats[r["judgement"][0]].append(r)
    if fps:
        out.append(f"- **False positives:** {len(fps)} blocked `allow` cases in all families "
                   f"({ptotal['false_positives']} of {ptotal['expect_allow']} in the primary ones): "
                   + ", ".join(f"{k} {len(v)}" for k, v in sorted(cats.items(), key=lambda kv: -len(kv[1]))) + ".")
    empty_syntax = [r for r in cats.get(BUG, []) if r["reason_label"] in ("inspect.json.syntax", "inspect.xml.syntax")]
    if empty_syntax:
        out.append(f"  - **Bug — an empty body declared as JSON/XML is refused as malformed** ({len(empty_syntax)} cases: "
                   f"{_ids(empty_syntax)}). A GET with `Content-Type: application/json` and no body, or a POST with "
                   "`Content-Length: 0`, gets 400 `inspect.json.syntax` (`inspect.xml.syntax` for XML types). The "
                   "`content_type` policy's own media-type check skips requests without a body (`has_body`), but the "
                   "body inspectors (its `check_syntax` and `json_threat`/`xml_threat`) are attached from the "
                   "`Content-Type` alone and run on the empty body. Many HTTP clients send a JSON Content-Type on "
                   "every request, including bodiless GET/DELETE.")
    post_415 = [r for r in cats.get(BUG, []) if r["reason_label"] == "inspect.content_type.unsupported"]
    if post_415:
        out.append(f"  - **Bug — a bodiless POST/PUT/PATCH without Content-Length gets 415** ({_ids(post_415)}). "
                   "`has_body` treats POST/PUT/PATCH without `Content-Length` as carrying a body, which is right "
                   "for HTTP/2 but not for HTTP/1.1, where no `Content-Length` and no `Transfer-Encoding` means no "
                   "body (RFC 9112 §6.3). `curl -X POST URL` sends exactly this; with `Content-Length: 0` the same "
                   "request passes.")
    stricter = cats.get(STRICTER, [])
    if stricter:
        out.append(f"  - *Stricter defaults* ({_ids(stricter)}): " + " ".join(
            sorted({r["judgement"][1][0].upper() + r["judgement"][1][1:] + "." for r in stricter}))
            + " Worth a line in the README's parsing section.")
    rest = [r for k in (DELIBERATE, CORRECT, CONFIG) for r in cats.get(k, [])]
    if rest:
        out.append(f"  - The other {len(rest)} are deliberate refusals (CONNECT, a `%00` Host, `%2F` in the path, "
                   "a body without a Content-Type), bodies that really are not the JSON/XML they declare, HTTP/2 "
                   "version strings in an HTTP/1.1 request line, or a media type this run's route does not list.")
    unexplained = cats.get(UNEXPLAINED, [])
    if unexplained:
        out.append(f"  - **Unexplained** ({_ids(unexplained)}): to be looked at by hand.")
    cl_te = [r for r, why in unfired if "cl_and_te" in why]
    if cl_te:
        out.append(f"- **Documented refusal that does not happen:** {_ids(cl_te)} "
                   f"{'sends' if len(cl_te) == 1 else 'send'} "
                   "`Content-Length` together with `Transfer-Encoding: chunked`; the README promises 400 "
                   "`request.smuggling.cl_and_te`, but the request is forwarded (200). hyper's HTTP/1.1 parser drops "
                   "the `Content-Length` header when `Transfer-Encoding` is present (and marks the connection to "
                   "close), so `check_framing` never sees both; it also drops a repeated, equal `Content-Length`, so "
                   "`request.smuggling.duplicate_content_length` cannot fire either. The body is framed by the "
                   "chunked encoding and the connection is closed, which is what RFC 9112 §6.1 allows, so this "
                   "is not a smuggling hole, but the README and the reason codes describe a refusal that does not "
                   "exist over HTTP/1.1.")
    other_unfired = [r for r, why in unfired if "cl_and_te" not in why]
    if other_unfired:
        out.append(f"- **Other documented refusals that did not happen:** {_ids(other_unfired)} (see the table above).")
    others = [r for r in ran if r["family"] not in primary]
    if others:
        oc = [r for r in others if r["expect"] == "block" and r["verdict"] == "blocked"]
        op = collections.Counter(r["reason_label"] for r in oc)
        out.append(f"- **Injection families** (932–949): {len(oc)} of "
                   f"{sum(r['expect'] == 'block' for r in others)} `block` cases blocked "
                   + (f"(by: {', '.join(f'`{k}` {v}' for k, v in op.most_common())})" if oc else "")
                   + ", incidentally: mostly payloads with a raw `<`, `>` or `\"` in the target, which the HTTP "
                   "parser refuses; the same payload percent-encoded passes. These families need the rule engine.")
    no_answer = [r for r in ran if r["verdict"] not in ("blocked", "passed")]
    five = [r for r in ran if (r.get("status") or 0) >= 500]
    out.append(f"- **Robustness:** {len(no_answer)} cases without an answer within the timeout, {len(five)} 5xx "
               f"answers; the gateway {'EXITED during the run' if meta.get('crashes') or not meta.get('gateway_alive_at_end') else 'stayed up'} through "
               f"{len(ran)} cases.")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=os.environ.get("CRS_CORPUS", str(DEFAULT_CORPUS)),
                    help="crs-regression.jsonl (default: $CRS_CORPUS or ../shared/corpus/ beside the repository)")
    ap.add_argument("--families", default="all",
                    help="comma list of families to replay, or 'all' (default: every request family; "
                         f"{','.join(PRIMARY)} are the primary ones)")
    ap.add_argument("--timeout", type=float, default=2.0, help="per-case timeout in seconds (default 2)")
    ap.add_argument("--budget", type=float, default=240.0, help="seconds for sending all cases (default 240)")
    ap.add_argument("--report", default=str(REPO / "docs" / "corpus-report.md"), help="markdown report path")
    ap.add_argument("--json", default=str(REPO / "bench" / "out" / "corpus.json"), help="machine-readable output path")
    ap.add_argument("--no-report", action="store_true", help="write only the JSON")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory (config, logs)")
    args = ap.parse_args()

    t_start = time.monotonic()
    corpus = Path(args.corpus)
    if not corpus.is_file():
        raise SystemExit(f"corpus: {corpus} not found (set --corpus or CRS_CORPUS)")
    families = None if args.families == "all" else {f.strip() for f in args.families.split(",") if f.strip()}
    cases = load_cases(corpus, families)
    cases_by_id = {c["id"]: c for c in cases}

    prebuilt = os.environ.get("PORTCULLIS_BIN")
    binary = build(prebuilt)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "crates", "Cargo.toml", "Cargo.lock"],
                                cwd=REPO, capture_output=True, text=True).stdout.strip())
    commit = os.environ.get("PORTCULLIS_COMMIT", commit)

    tmp = Path(tempfile.mkdtemp(prefix="portcullis-corpus-"))
    access_log = tmp / "access.log"
    upstream_port = free_port()
    config = tmp / "portcullis.yaml"
    config_text = write_config(config, upstream_port, access_log)
    gw = Gateway(binary, config, f"127.0.0.1:{upstream_port}", tmp)

    def cleanup() -> None:
        gw.stop()
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))

    check = subprocess.run([str(binary), "check", "--config", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"corpus: portcullis check refused the config:\n{check.stdout}{check.stderr}")
    gw.start()
    log = AccessLog(access_log)
    # Pre-flight: a plain GET must pass to the demo upstream.
    pre = exchange(gw.addr, b"GET /preflight HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 5.0, False)
    if pre.get("status") != 200 or "portcullis-demo-upstream" not in (pre.get("body") or ""):
        raise SystemExit(f"corpus: pre-flight GET did not reach the demo upstream: {pre}")
    log.wait_for([pre["request_id"]], 2.0)
    if pre["request_id"] in log.by_id:
        log.claimed.add(log.by_id[pre["request_id"]])

    print(f"corpus: replaying {len(cases)} request cases against {gw.addr[0]}:{gw.addr[1]}", file=sys.stderr, flush=True)
    t_run = time.monotonic()
    results = run_cases(cases, gw, log, args.timeout, args.budget)
    elapsed = time.monotonic() - t_run
    alive_at_end = gw.alive()
    code = gw.stop()
    for rec in results:
        if rec["expect"] == "allow" and rec["verdict"] == "blocked":
            rec["judgement"] = list(judge(cases_by_id[rec["id"]], rec))

    primary = [f for f in PRIMARY if families is None or f in families]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "dirty": dirty and not prebuilt,
        "binary_note": "prebuilt (`PORTCULLIS_BIN`)" if prebuilt else "`cargo build --release -p portcullis`",
        "corpus": corpus_meta(corpus),
        "timeout_s": args.timeout,
        "budget_s": args.budget,
        "elapsed_s": elapsed,
        "total_s": time.monotonic() - t_start,
        "crashes": gw.crashes,
        "gateway_alive_at_end": alive_at_end,
        "gateway_exit_code": code,
        "access_log_lines": len(log.lines),
        "access_log_lines_unmatched": len(log.lines) - len(log.claimed),
        "config": config_text,
        "primary_families": primary,
    }
    ran = [r for r in results if r["verdict"] != "not_run"]
    families_all = sorted({r["family"] for r in results})
    out = {
        "meta": meta,
        "families": family_rows(results, families_all),
        "reasons": collections.Counter(r["reason_label"] for r in ran).most_common(),
        "false_positives": [r["id"] for r in ran if r["expect"] == "allow" and r["verdict"] == "blocked"],
        "cases": results,
    }
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    if not args.no_report:
        write_report(Path(args.report), meta, results, cases_by_id, config_text, primary)

    rows = family_rows(results, families_all)
    print(f"{'family':<8}{'cases':>7}{'block':>7}{'allow':>7}{'blocked':>9}{'passed':>8}{'noans':>7}{'caught%':>9}{'FP':>5}")
    for r in rows + [total_row([r for r in rows if r['family'] in primary], "primary")]:
        print(f"{r['family']:<8}{r['cases']:>7}{r['expect_block']:>7}{r['expect_allow']:>7}{r['blocked']:>9}"
              f"{r['passed']:>8}{r['other']:>7}{pct(r['caught_blocks'], r['expect_block']):>9}{r['false_positives']:>5}")
    print(f"corpus: {len(ran)} cases in {elapsed:.0f} s; wrote {json_path}"
          + ("" if args.no_report else f" and {args.report}"), file=sys.stderr)
    if gw.crashes or not alive_at_end:
        print("corpus: WARNING: the gateway exited during the run", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
