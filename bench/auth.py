#!/usr/bin/env python3
"""What authentication costs: requests per CPU-second and p99 of one
Portcullis process through an unauthenticated route, an API-key route and
two JWT routes (RS256, ES256), side by side in one run (driver; started by
bench/auth.sh; results are recorded in bench/RESULTS.md).

Python 3.11 standard library only, plus the openssl CLI (keys and JWT
signatures). The process, CPU and wrk helpers come from bench.py, the measured run and
the rounds loop from rounds.py, the admin-API flow from provision.py.
Everything listens on 127.0.0.1; every load run is bounded by wrk's -d and
the whole run by --max-seconds; every process this script starts is stopped
in a finally block (and its pid is written to OUT/run/pids so auth.sh's EXIT
trap can stop it too). The private keys live in a temporary directory that
is removed at the end.

Setup: RSA-2048 and P-256 keys (openssl), one RS256 and one ES256 token
(exp = now + 1 h, signed with `openssl dgst -sha256 -sign`), a gateway
config with four routes to the same upstream, `portcullis admin bootstrap`,
`portcullis serve`, then the admin API flow (login, password change, TOTP
enrolment, consumer, app, api_key credential) for the key.

Measurement: one upstream nginx (core 1, fixed answer) and ONE Portcullis
process (workers: 1, core 0, access log to a file). wrk (core 1) drives one
scenario at a time, with the credential as a fixed header; each round runs
every scenario once in a rotated order. A scenario's cost is
1 - (its req/CPU-s / the open route's req/CPU-s), paired within each round.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
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
PORT_UPSTREAM = B.BASE + 400
PORT_GATEWAY = B.BASE + 401
PORT_ADMIN = B.BASE + 402
ISSUER = "https://issuer.bench.invalid"
AUDIENCE = "bench-api"

# More distinct tokens than the gateway remembers (MAX_REMEMBERED = 50,000 in
# crates/portcullis-auth/src/jwt.rs): cycled in order, every request misses that cache
# and pays a signature verification.
FRESH_POOL = 50_500

# name -> (path, credential: None | "api_key" | "rs256" | "es256" | "rs256_pool" | "es256_pool")
SCENARIOS: dict[str, tuple[str, str | None]] = {
    "open": ("/open/small", None),
    "key": ("/key/small", "api_key"),
    "rs256": ("/rs256/small", "rs256"),
    "es256": ("/es256/small", "es256"),
    "open_again": ("/open/small", None),
    # Opt-in (SCENARIOS=...): what the key's header alone costs, on a route that ignores it.
    "open_keyed": ("/open/small", "api_key"),
    # Opt-in (SCENARIOS=...): a new token on every request, from a pool of FRESH_POOL tokens.
    "rs256_fresh": ("/rs256/small", "rs256_pool"),
    "es256_fresh": ("/es256/small", "es256_pool"),
}
DEFAULT_SCENARIOS = ["open", "key", "rs256", "es256", "open_again"]
DESCRIBE = {
    "open": "`/open`: no policies, no credential",
    "key": "`/key`: `api_key` (X-API-Key, store-backed index)",
    "rs256": "`/rs256`: `jwt` RS256 (RSA-2048), static key, one token",
    "es256": "`/es256`: `jwt` ES256 (P-256), static key, one token",
    "open_again": "`/open` again (control)",
    "open_keyed": "`/open` with the API key's header sent (and ignored): the credential's bytes alone",
    "rs256_fresh": f"`/rs256`, a different token on every request ({FRESH_POOL:,} cycled): a signature check each",
    "es256_fresh": f"`/es256`, a different token on every request ({FRESH_POOL:,} cycled): a signature check each",
}
# scenario -> (baseline, goal or None, binding goal?, the control that shows the noise of this comparison)
COSTS: dict[str, tuple[str, float | None, bool, str]] = {
    "open_again": ("open", None, False, ""),  # control: the same request, measured in a separate run
    "open_keyed": ("open", None, False, "open_again"),  # for information: how much of `key` is the header itself
    "key": ("open", 0.03, True, "open_again"),
    "rs256": ("open", 0.10, True, "open_again"),
    "es256": ("open", 0.10, False, "open_again"),  # "reported too": the JWT bar, for information
    "rs256_fresh": ("open", 0.10, False, "open_again"),
    "es256_fresh": ("open", 0.10, False, "open_again"),
}


# --------------------------------------------------------------------------- keys and tokens


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*argv: str, data: bytes | None = None) -> bytes:
    p = subprocess.run(["openssl", *argv], input=data, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(argv)} failed: {p.stderr.decode(errors='replace')}")
    return p.stdout


def make_keys(d: Path) -> dict[str, Path]:
    """RSA-2048 and P-256 key pairs; returns the paths (private and public PEM)."""
    openssl("genrsa", "-out", str(d / "rs256.key"), "2048")
    openssl("rsa", "-in", str(d / "rs256.key"), "-pubout", "-out", str(d / "rs256.pub.pem"))
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(d / "es256.key"))
    openssl("ec", "-in", str(d / "es256.key"), "-pubout", "-out", str(d / "es256.pub.pem"))
    for name in ("rs256.key", "es256.key"):
        os.chmod(d / name, 0o600)
    return {"rs256": d / "rs256.key", "rs256_pub": d / "rs256.pub.pem",
            "es256": d / "es256.key", "es256_pub": d / "es256.pub.pem"}


def der_ecdsa_to_raw(der: bytes, size: int = 32) -> bytes:
    """ECDSA-Sig-Value (DER: SEQUENCE { INTEGER r, INTEGER s }) -> r || s, each `size` bytes (RFC 7518 3.4)."""

    def length(i: int) -> tuple[int, int]:
        n = der[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(der[i:i + k], "big")
            i += k
        return n, i

    if der[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    total, i = length(1)
    if i + total != len(der):
        raise ValueError("DER length mismatch")
    out = b""
    for _ in range(2):
        if der[i] != 0x02:
            raise ValueError("not a DER INTEGER")
        n, i = length(i + 1)
        v = int.from_bytes(der[i:i + n], "big")
        i += n
        out += v.to_bytes(size, "big")  # raises OverflowError if it does not fit
    return out


def mint(alg: str, key: Path, claims: dict) -> str:
    header = {"alg": alg, "typ": "JWT"}
    signing_input = (b64u(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64u(json.dumps(claims, separators=(",", ":")).encode()))
    sig = openssl("dgst", "-sha256", "-sign", str(key), data=signing_input.encode())
    if alg == "ES256":
        sig = der_ecdsa_to_raw(sig)
    return f"{signing_input}.{b64u(sig)}"


def claims(alg: str, now: int, **over) -> dict:
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "bench-user", "iat": now, "exp": now + 3600,
         "jti": f"bench-{alg.lower()}-{secrets.token_hex(4)}", "scope": "bench:read"}
    c.update(over)
    return c


def mint_pool(alg: str, key: Path, n: int, now: int, out: Path) -> float:
    """n distinct tokens (one per line, jti bench-<alg>-pool-<i>), signed with the Python package
    `cryptography` (the openssl CLI is one process per signature: too slow for 50,000).
    Returns the seconds it took."""
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError as e:
        raise RuntimeError(f"the *_fresh scenarios need the Python package cryptography ({e})") from e
    t = time.monotonic()
    private = load_pem_private_key(key.read_bytes(), None)
    header = b64u(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    with open(out, "w") as f:
        for i in range(n):
            c = claims(alg, now, jti=f"bench-{alg.lower()}-pool-{i}")
            si = header + "." + b64u(json.dumps(c, separators=(",", ":")).encode())
            if alg == "RS256":
                sig = private.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256())
            else:
                r, s = utils.decode_dss_signature(private.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
                sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
            f.write(f"{si}.{b64u(sig)}\n")
    return time.monotonic() - t


def pool_lua(pool: Path, state: Path) -> str:
    """A wrk script that sends the pool's tokens in order, one per request, and continues the cycle where
    the previous wrk run stopped (the position is kept in `state`), so warm-up and measured runs never
    repeat a token the gateway still remembers. One wrk thread (-t1) only."""
    return f"""-- generated by bench/auth.py
local pool_file = "{pool}"
local state_file = "{state}"
local tokens = {{}}
local headers = {{}}
pos = 0  -- global: read by done() through thread:get
function init(args)
  for line in io.lines(pool_file) do tokens[#tokens + 1] = line end
  local f = io.open(state_file, "r")
  if f then pos = tonumber(f:read("*l")) or 0; f:close() end
end
function request()
  pos = pos % #tokens + 1
  headers["Authorization"] = "Bearer " .. tokens[pos]
  return wrk.format(nil, nil, headers)
end
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local f = io.open(state_file, "w"); f:write(tostring(t:get("pos"))); f:close()
  end
end
"""


def tamper(token: str) -> str:
    """The same token with one bit of the signature flipped (still base64url)."""
    head, sig = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{b64u(bytes(raw))}"


# --------------------------------------------------------------------------- configs


def gateway_conf(prefix: Path, keys: dict[str, Path]) -> str:
    def jwt(alg: str, pub: Path) -> str:
        return (f"      - type: jwt\n        issuer: {ISSUER}\n        audiences: [{AUDIENCE}]\n"
                f"        algorithms: [{alg}]\n        keys: [{pub}]\n")

    route = R.route
    routes = (route("open") + route("key", "      - type: api_key\n") + route("rs256", jwt("RS256", keys["rs256_pub"]))
              + route("es256", jwt("ES256", keys["es256_pub"])))
    return R.gateway_conf("auth.py", prefix, PORT_GATEWAY, PORT_UPSTREAM, routes, PORT_ADMIN)


# --------------------------------------------------------------------------- requests


def cred_header(cred: str | None, creds: dict[str, str]) -> dict[str, str]:
    """The header of a scenario's credential (for a pool: the token the pre-flight sends)."""
    if cred is None:
        return {}
    if cred == "api_key":
        return {"X-API-Key": creds["api_key"]}
    return {"Authorization": f"Bearer {creds[cred]}"}


def pool_path(args, cred: str) -> Path:
    return args.run_dir / f"{cred}.tokens"


def url(scenario: str, port: int = PORT_GATEWAY) -> str:
    return f"http://{HOST}:{port}{SCENARIOS[scenario][0]}"


def wrk_cmd(args, scenario: str, duration: int, creds: dict[str, str], latency: bool = True,
            port: int = PORT_GATEWAY) -> list[str]:
    cmd = R.wrk_base(args, duration, latency)
    cred = SCENARIOS[scenario][1]
    if cred and cred.endswith("_pool"):
        return cmd + ["-s", str(args.run_dir / f"{cred}.lua"), url(scenario, port)]
    for k, v in cred_header(cred, creds).items():
        cmd += ["-H", f"{k}: {v}"]
    return cmd + [url(scenario, port)]


def log_records(access_log: Path) -> dict[str, dict]:
    """request_id -> access-log record."""
    out = {}
    for line in access_log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        out[rec.get("request_id")] = rec
    return out


def wait_key_active(key: str, timeout: float = 15.0) -> float:
    """Polls GET /key/small with the key until 200: the index follows the store within milliseconds."""
    t0 = time.monotonic()
    while True:
        info = R.send(PORT_GATEWAY, SCENARIOS["key"][0], {"X-API-Key": key})
        if info.get("status") == 200:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"the new API key never worked within {timeout}s: last answer {info}")
        time.sleep(0.05)


def preflight(access_log: Path, creds: dict[str, str], bad: dict[str, str]) -> tuple[list[dict], bool]:
    """Every scenario's own request must get 200 with the upstream's body; and each policy must be
    engaged: a request without or with a wrong credential is refused with 401."""
    checks: list[dict] = []
    for sc, (path, cred) in SCENARIOS.items():
        if cred and cred not in creds:
            continue  # an opt-in pool scenario that is not part of this run
        checks.append({"what": f"{sc}: the benchmark request", "path": path, "cred": cred or "-", "expect": 200,
                       "expect_body": B.SMALL_BODY, "send": (path, cred_header(cred, creds))})
    negative = [
        ("api_key engaged: no key", "/key/small", "-", {}),
        ("api_key engaged: unknown key", "/key/small", "bad key", {"X-API-Key": bad["api_key"]}),
        ("api_key engaged: the key as a Bearer token", "/key/small", "Bearer <api_key>",
         {"Authorization": f"Bearer {creds['api_key']}"}),
        ("jwt RS256 engaged: no token", "/rs256/small", "-", {}),
        ("jwt RS256 engaged: one bit of the signature flipped", "/rs256/small", "tampered rs256",
         {"Authorization": f"Bearer {bad['rs256_tampered']}"}),
        ("jwt RS256 engaged: the ES256 token (alg not allowed)", "/rs256/small", "es256",
         {"Authorization": f"Bearer {creds['es256']}"}),
        ("jwt RS256 engaged: wrong audience", "/rs256/small", "rs256, aud=other",
         {"Authorization": f"Bearer {bad['rs256_wrong_aud']}"}),
        ("jwt RS256 engaged: expired", "/rs256/small", "rs256, exp=now-1h",
         {"Authorization": f"Bearer {bad['rs256_expired']}"}),
        ("jwt ES256 engaged: no token", "/es256/small", "-", {}),
        ("jwt ES256 engaged: one bit of the signature flipped", "/es256/small", "tampered es256",
         {"Authorization": f"Bearer {bad['es256_tampered']}"}),
        ("jwt ES256 engaged: the RS256 token (alg not allowed)", "/es256/small", "rs256",
         {"Authorization": f"Bearer {creds['rs256']}"}),
    ]
    for what, path, cred, hdrs in negative:
        checks.append({"what": what, "path": path, "cred": cred, "expect": 401, "send": (path, hdrs)})
    ok_all = R.run_checks(PORT_GATEWAY, checks, {"www_authenticate": "www-authenticate"}, lambda c: (
        ["401 without WWW-Authenticate"] if c["expect"] == 401 and not c["www_authenticate"] else []))
    recs = log_records(access_log) if access_log.exists() else {}
    for c in checks:
        rec = recs.get(c["request_id"])
        c["reason"] = (rec.get("reason") or "–") if rec else "(not in the access log)"
        c["consumer"] = next((rec.get(k) for k in ("consumer", "consumer_id", "subject") if rec and rec.get(k)),
                             None)
        log(f"preflight GET {c['path']:13s} cred={c['cred']:18s} -> {c['status']} reason={c['reason']} "
            f"{c['what']}" + (f"   <-- {'; '.join(c['problems'])}: {c['response']!r}" if c["problems"] else ""))
    return checks, ok_all


# --------------------------------------------------------------------------- runs


def one_run(args, rnd: int, scenario: str, gw: B.Server, upstream: B.Server, creds: dict[str, str]) -> Run:
    return R.measure(args, rnd, scenario, gw, lambda d, lat: wrk_cmd(args, scenario, d, creds, latency=lat),
                     {"upstream": upstream}, creds)


# --------------------------------------------------------------------------- profile

# scenario -> [(label, substrings that must all be in the symbol)]: the inclusive share of the gateway's CPU
# samples of the first symbol (by inclusive share) that matches.
_KEY = [("api_key policy: `ApiKeyPolicy::on_request`", ("ApiKeyPolicy as ", "::on_request")),
        ("… of which `CredentialIndex::resolve_api_key`", ("CredentialIndex::resolve_api_key",)),
        ("… of which `identity_of` (a new `Identity` per request)", ("portcullis_auth::source::identity_of",))]
_JWT = [("jwt policy: `JwtPolicy::on_request`", ("JwtPolicy as ", "::on_request")),
        ("… of which SHA-256 (`sha2::sha256::x86::digest_blocks`, self)", ("sha2::sha256::x86::digest_blocks",)),
        ("… of which `JwtPolicy::admit` (revocation check, headers)", ("portcullis_auth::jwt::JwtPolicy::admit",)),
        ("signature check: `JwtPolicy::verify_then_admit`", ("JwtPolicy::verify_then_admit",)),
        ("… of which `Issuer::verify`", ("portcullis_jwt::issuer::Issuer::verify",))]
_COMMON = [("identity headers: `identity_headers::apply`", ("identity_headers::apply",)),
           ("dropping an `Identity`", ("drop_in_place<portcullis_core::identity::Identity>",))]
PROFILE: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "open": _KEY + _JWT + _COMMON,  # the same functions on the route without policies: what "none" reads as
    "key": _KEY + _COMMON,
    "rs256": _JWT + _COMMON,
    "es256": _JWT + _COMMON,
    "rs256_fresh": _JWT + _COMMON,
    "es256_fresh": _JWT + _COMMON,
}


# --------------------------------------------------------------------------- report


def summarize(args, runs: list[Run], meta: dict, checks: list[dict]) -> str:
    f, med = B.fmt, B.med
    ok = [r for r in runs if not r.failure]
    ran = [s for s in SCENARIOS if any(r.scenario == s for r in runs)]
    L = ["# Portcullis authentication cost\n",
         f"- date: {meta['date']}",
         f"- machine: {meta['nproc']} CPUs, {meta['cpu']}, kernel {meta['kernel']}",
         f"- portcullis: commit {meta['commit']} ({meta['binary']}, modified {meta.get('binary_built', '?')}, "
         f"sha256 {meta.get('binary_sha256', '?')}…), one process, `workers: 1`, core "
         f"{args.proxy_core}, access log to a file, admin plane on (SQLite store)",
         f"- upstream: {meta['nginx_version']} on core {args.upstream_core}; load: {meta['wrk_version']}, "
         f"`-t{args.threads} -c{args.connections}` on core {args.client_core}",
         f"- rounds: {args.rounds} x {args.duration}s (+{args.warmup}s warm-up) per scenario, order rotated "
         f"every round; {sum(r.attempts - 1 for r in runs)} noisy runs repeated, "
         f"{sum(r.noisy for r in runs)} noisy runs kept (noise limit {args.noise_limit} cores)",
         f"- credentials: API key {meta.get('api_key_len', '?')} bytes; RS256 token {meta.get('rs256_len', '?')} "
         f"bytes; ES256 token {meta.get('es256_len', '?')} bytes (one token each, exp = now + 1 h)"
         + "".join(f"; {meta[k]} for `{k.split('_')[0]}_fresh`" for k in ("rs256_pool_minted", "es256_pool_minted")
                   if k in meta),
         f"- setup: {meta.get('setup', '?')}", ""]

    # Costs first (the main table needs them).
    per_sc: dict[str, dict] = {}
    noise: dict[str, float] = {}
    for sc, (base, goal, binding, control) in COSTS.items():  # the control comes first in COSTS
        if sc not in ran or base not in ran:
            continue
        per, quiet, dp99, cells = [], [], [], []
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
                dp99.append(x[0].p99_ms - b[0].p99_ms)
            else:
                cells.append("n/a")
        good = [c for c in per if c == c]
        v, basis = (med(quiet), f"median of {len(quiet)} quiet rounds") if len(quiet) >= 3 else \
            (med(per), f"median of all {len(per)} rounds")
        if goal is None:
            noise[sc] = 2 * med([abs(c) for c in (quiet if len(quiet) >= 3 else good)])
            met = "–"
        elif v != v:
            met = "n/a"
        else:
            met = "yes" if v < goal else "NO"
            floor = noise.get(control, float("nan"))
            if floor == floor and abs(v - goal) < floor:
                met = f"within noise (±{100 * floor:.0f}%): {met} by the median"
            if not binding:
                met = f"reported ({met} against < {100 * goal:.0f}%)"
        per_sc[sc] = {"cells": cells, "all": med(per), "quiet": med(quiet), "n_quiet": len(quiet), "v": v,
                      "basis": basis, "min": min(good) if good else float("nan"),
                      "max": max(good) if good else float("nan"), "dp99": med(dp99), "goal": goal, "met": met,
                      "binding": binding}

    L.append("## Result\n")
    L.append("Cost = 1 - req/CPU-s ÷ `open`'s req/CPU-s, paired within each round, median over rounds. "
             "Δp99 = p99 - `open`'s p99, median of the per-round differences.\n")
    L.append("| scenario | route | req/CPU-s (median) | cost vs /open | Δp99 ms | p99 ms (median) | goal | met? |")
    L.append("|---|---|---:|---:|---:|---:|---|---|")
    for sc in ran:
        rs = [r for r in ok if r.scenario == sc]
        c = per_sc.get(sc)
        goal = "–" if not c or c["goal"] is None else (
            f"< {100 * c['goal']:.0f}%" if c["binding"] else f"(none; JWT bar < {100 * c['goal']:.0f}%)")
        L.append(f"| {sc} | {DESCRIBE[sc]} | {f(med([r.req_per_cpu_s for r in rs]))} | "
                 f"{'baseline' if sc == 'open' else (pct(c['v']) + ('' if c['goal'] is not None else ' (control)')) if c else 'n/a'} | "
                 f"{'–' if not c else f(c['dp99'], 3)} | {f(med([r.p99_ms for r in rs]), 3)} | {goal} | "
                 f"{c['met'] if c else '–'} |")
    L.append("")

    L += R.medians_section(runs, ran)

    L.append("## Cost per round\n")
    hdr = " | ".join(f"r{i + 1}" for i in range(args.rounds))
    L.append(f"| scenario | {hdr} | **median** | quiet rounds (n) | min … max |")
    L.append("|---|" + "---:|" * args.rounds + "---:|---:|---:|")
    for sc in ("key", "open_keyed", "rs256", "es256", "rs256_fresh", "es256_fresh", "open_again"):
        if sc in per_sc:
            c = per_sc[sc]
            L.append(f"| {sc} | " + " | ".join(c["cells"]) + f" | **{pct(c['all'])}** | {pct(c['quiet'])} "
                     f"({c['n_quiet']}) | {pct(c['min'])} … {pct(c['max'])} |")
    L.append("")
    L.append("`*`: a noisy run in the pair (other CPU + steal over the noise limit). The verdict uses the median "
             "over the quiet rounds when there are at least 3, else over all rounds. \"within noise (±x)\": "
             "the cost is closer to the goal than x, twice the median |cost| of the `open_again` control (the "
             "same request as `open`, measured in a separate run of the round): this run cannot tell.\n")

    L += B.thread_cpu_section(ok, ran, min_share=0.005)

    L.append("## Goals\n")
    L.append("| goal | measured cost | basis | met? |")
    L.append("|---|---:|---|---|")
    for sc, label in (("key", "API-key auth costs < 3% throughput"),
                      ("rs256", "JWT RS256 (static key, one token) costs < 10%"),
                      ("es256", "JWT ES256 (reported; no goal of its own)"),
                      ("rs256_fresh", "JWT RS256, a new token per request (reported)"),
                      ("es256_fresh", "JWT ES256, a new token per request (reported)")):
        if sc in per_sc:
            c = per_sc[sc]
            L.append(f"| {label} | {pct(c['v'])} (range {pct(c['min'])} … {pct(c['max'])}) | {c['basis']} | "
                     f"{c['met']} |")
    errs = sum(r.errors for r in runs)
    fails = [r for r in runs if r.failure]
    pf = all(not c["problems"] for c in checks) and bool(checks)
    L.append(f"| no errors / non-2xx, pre-flight passed | {errs} errors, {len(fails)} failed runs, pre-flight "
             f"{'passed' if pf else 'FAILED'} | | {'yes' if not errs and not fails and pf else 'NO'} |")
    L.append("")

    L.append("## Pre-flight\n")
    L.append("| check | request | status (expected) | reason in the access log | notes |")
    L.append("|---|---|---|---|---|")
    for c in checks:
        L.append(f"| {c['what']} | GET {c['path']}, credential: {c['cred']} | {c['status']} ({c['expect']}) | "
                 f"{c['reason']} | {'; '.join(c['problems'])} |")
    L.append("")
    L += R.profile_section(meta.get("profile"))
    L += R.failed_runs_section(runs)
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = R.driver_args(__doc__, list(SCENARIOS), DEFAULT_SCENARIOS, rounds=5, duration=10, max_seconds=900)
    ap.add_argument("--perf", type=float, default=0, metavar="SECONDS",
                    help="after the rounds, profile the gateway with perf for this long per scenario (0: no)")
    ap.add_argument("--perf-freq", type=int, default=999)
    ap.add_argument("--report-only", type=Path, metavar="JSON",
                    help="measure nothing: rewrite the report of an earlier run from its latest.json")
    args = ap.parse_args()
    if args.report_only:
        return R.report_only(args.report_only, summarize)
    scenarios = R.chosen_scenarios(ap, args, SCENARIOS)

    t_begin = time.monotonic()
    if not R.prepare(args, {PORT_UPSTREAM, PORT_GATEWAY, PORT_ADMIN, PORT_GATEWAY + T.PORT_SHIFT,
                            PORT_ADMIN + T.PORT_SHIFT}):
        return 2

    meta = R.machine_meta(args, openssl_version=B.cmd_version(["openssl", "version"]))

    runs: list[Run] = []
    twin_runs: list[T.TwinRun] = []
    checks: list[dict] = []
    keydir = Path(tempfile.mkdtemp(prefix="portcullis-auth-bench-"))
    creds: dict[str, str] = {}
    try:
        # ---- keys and tokens (private keys only in the temporary directory)
        t = time.monotonic()
        keys = make_keys(keydir)
        now = int(time.time())
        creds["rs256"] = mint("RS256", keys["rs256"], claims("RS256", now))
        creds["es256"] = mint("ES256", keys["es256"], claims("ES256", now))
        bad = {"rs256_tampered": tamper(creds["rs256"]), "es256_tampered": tamper(creds["es256"]),
               "rs256_wrong_aud": mint("RS256", keys["rs256"], claims("RS256", now, aud="other-api")),
               "rs256_expired": mint("RS256", keys["rs256"], claims("RS256", now, iat=now - 7200, exp=now - 3600)),
               "api_key": "pck_" + secrets.token_urlsafe(39)}
        meta["rs256_len"], meta["es256_len"] = len(creds["rs256"]), len(creds["es256"])
        for cred in sorted({SCENARIOS[s][1] for s in scenarios} & {"rs256_pool", "es256_pool"}):
            if args.threads != 1:
                raise RuntimeError("the *_fresh scenarios need THREADS=1 (one position in the token pool)")
            alg = cred.split("_")[0].upper()
            pool = pool_path(args, cred)
            secs = mint_pool(alg, keys[alg.lower()], FRESH_POOL, now, pool)
            (args.run_dir / f"{cred}.lua").write_text(pool_lua(pool, args.run_dir / f"{cred}.pos"))
            with open(pool) as fh:
                # The pre-flight sends the last token: the cycle reaches it after 50,499 others, long after
                # the gateway has forgotten it.
                creds[cred] = fh.read().rstrip("\n").rsplit("\n", 1)[-1]
            meta[f"{cred}_minted"] = f"{FRESH_POOL:,} {alg} tokens in {secs:.0f}s"
            log(f"minted {FRESH_POOL:,} {alg} tokens in {secs:.0f}s -> {pool}")
        log(f"keys and tokens in {keydir} ({time.monotonic() - t:.1f}s): RS256 token {len(creds['rs256'])} bytes, "
            f"ES256 token {len(creds['es256'])} bytes")

        # ---- upstream
        up_prefix = args.run_dir / "upstream"
        up_prefix.mkdir()
        upstream = B.start_nginx(args.nginx, "upstream", up_prefix, R.small_upstream_conf(up_prefix, PORT_UPSTREAM),
                                 [PORT_UPSTREAM], args.upstream_core)
        log(f"upstream nginx pid {upstream.proc.pid} on {HOST}:{PORT_UPSTREAM} (core {args.upstream_core})")

        # ---- gateway: config, bootstrap, serve
        gw_prefix = args.run_dir / "portcullis"
        gw_prefix.mkdir()
        conf = gw_prefix / "portcullis.yaml"
        conf.write_text(gateway_conf(gw_prefix, keys))
        chk = subprocess.run([args.portcullis, "check", "--config", str(conf)], capture_output=True, text=True,
                             timeout=60)
        if chk.returncode != 0:
            log(f"portcullis check refused {conf}:\n{chk.stdout}{chk.stderr}")
            return 1
        t = time.monotonic()
        otp = P.bootstrap(args.portcullis, conf)
        t_boot = time.monotonic() - t
        err = open(gw_prefix / "stderr.log", "ab")
        p = B.spawn(["taskset", "-c", str(args.proxy_core), args.portcullis, "serve", "--config", str(conf)], err,
                    err)
        gw = B.Server("portcullis", p, gw_prefix, [PORT_GATEWAY, PORT_ADMIN], gw_prefix / "access.log")
        try:
            B.wait_listening(gw.ports, p, "portcullis", timeout=30)
        except RuntimeError:
            log("portcullis did not start; stderr:\n" + B._tail(gw_prefix / "stderr.log"))
            raise
        log(f"portcullis pid {p.pid} on {HOST}:{PORT_GATEWAY}, admin {HOST}:{PORT_ADMIN} (core {args.proxy_core}); "
            f"config {conf}")

        # ---- the API key, through the admin API
        t = time.monotonic()
        keys_by_app, steps, _ = P.provision_api_keys(PORT_ADMIN, otp, ["wrk"])
        creds["api_key"] = keys_by_app["wrk"]
        t_admin = time.monotonic() - t
        t_active = wait_key_active(creds["api_key"])
        meta["api_key_len"] = len(creds["api_key"])
        meta["admin_flow"] = steps
        meta["setup"] = (f"bootstrap {t_boot:.1f}s; admin flow (login, password, TOTP, consumer, app, api_key) "
                         f"{t_admin:.1f}s; key working at the gateway {1000 * t_active:.0f} ms after creation")
        log(f"admin flow: {steps}; {meta['setup']}")
        time.sleep(0.5)
        meta["idle_rss_kib"] = B.status_kib(p.pid, "VmRSS")

        checks, ok = preflight(gw.access_log, creds, bad)
        if not ok:
            log("pre-flight failed: not measuring (see above and " + str(gw_prefix / "stderr.log") + ")")
            return 1

        def gone() -> str | None:
            if gw.proc.poll() is None:
                return None
            log("portcullis is gone; stderr:\n" + B._tail(gw_prefix / "stderr.log"))
            return "portcullis exited"

        R.run_rounds(args, scenarios, t_begin, lambda rnd, sc: one_run(args, rnd, sc, gw, upstream, creds), gone,
                     runs)
        meta["peak_rss_kib"] = B.status_kib(p.pid, "VmHWM")
        if args.perf > 0:
            meta["profile"] = R.profile(args, gw, [s for s in scenarios if s in PROFILE], PROFILE,
                                         lambda sc, secs: wrk_cmd(args, sc, secs, creds, latency=False))
        if args.twin > 0:
            twin = T.start_twin(args, gw, conf, [PORT_GATEWAY, PORT_ADMIN], "twin")
            baselines = {sc: base for sc, (base, *_) in COSTS.items() if sc != "open_again"}  # not the control
            pairs = T.pairs_for(args, scenarios, baselines)
            T.run_rounds(args, pairs, (gw, twin), lambda sc, i, d: wrk_cmd(
                args, sc, d, creds, latency=False, port=PORT_GATEWAY + i * T.PORT_SHIFT), t_begin, twin_runs)
        log(f"measured {len(runs)} runs and {len(twin_runs)} twin runs in {time.monotonic() - t_begin:.0f}s")
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); writing what was measured")
    finally:
        B.stop_all()
        shutil.rmtree(keydir, ignore_errors=True)

    report = summarize(args, runs, meta, checks) + "\n".join(
        T.section(args, twin_runs, {sc: goal for sc, (_, goal, _, _) in COSTS.items()}, DESCRIBE))
    R.write_results(args, report, {"meta": meta, "preflight": checks, "runs": [asdict(r) for r in runs],
                                   "twin_runs": [asdict(r) for r in twin_runs]})
    failed = (any(r.failure or r.errors for r in runs + twin_runs) or any(c["problems"] for c in checks)
              or not checks)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
