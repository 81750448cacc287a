"""API keys through the real management flow, for the benchmark drivers (bench/auth.py, bench/limits.py).

Python 3.11 standard library only. `bootstrap` runs `portcullis admin bootstrap` (the first admin, with
a one-time password); `provision_api_keys` then drives the admin API over plain HTTP on 127.0.0.1: login,
password change, TOTP enrolment and confirmation (RFC 6238, computed here), one consumer, and per app an
app and an `api_key` credential. The gateway's config should set cheap admin password hashing
(`admin.password_hashing`), which only changes the setup time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import secrets
import struct
import subprocess
import time

HOST = "127.0.0.1"
ADMIN_NAME = "bench"


def log(msg: str) -> None:
    print(msg, flush=True)


def totp(secret_b32: str, unix: float) -> str:
    """RFC 6238 TOTP: HMAC-SHA1, 30 s steps, 6 digits (RFC 4226 dynamic truncation)."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(unix) // 30), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


class Admin:
    """The admin API over plain HTTP on 127.0.0.1: keeps the session cookie and the CSRF token."""

    def __init__(self, port: int):
        self.port = port
        self.cookie: str | None = None
        self.csrf: str | None = None

    def call(self, method: str, path: str, body: dict | None = None, expect: int | tuple = 200) -> dict:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.csrf and method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        try:
            conn.request(method, "/admin/v1" + path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            for k, v in resp.getheaders():
                if k.lower() == "set-cookie":
                    pair = v.split(";", 1)[0].strip()
                    self.cookie = pair if pair.split("=", 1)[-1] else None
        finally:
            conn.close()
        try:
            js = json.loads(raw) if raw else {}
        except ValueError:
            js = {"raw": raw.decode(errors="replace")[:300]}
        if isinstance(js, dict) and js.get("csrf_token"):
            self.csrf = js["csrf_token"]
        ok = (expect,) if isinstance(expect, int) else expect
        if resp.status not in ok:
            raise RuntimeError(f"admin {method} {path}: {resp.status} (expected {expect}): {js}")
        return js


def bootstrap(binary: str, conf) -> str:
    """`portcullis admin bootstrap` for the config `conf`; returns the one-time password."""
    p = subprocess.run([binary, "admin", "bootstrap", "--config", str(conf), "--name", ADMIN_NAME],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"portcullis admin bootstrap failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p.stdout.strip().splitlines()[-1].strip()


def provision_api_keys(port: int, one_time_password: str, apps: list[str]) -> tuple[dict[str, str], dict, Admin]:
    """Login, password change, TOTP enrolment, then a consumer and, for each name in `apps`, an app with an
    api_key credential. Returns the keys by app name, a summary of the flow (no secrets) and the logged-in
    session (for further admin calls)."""
    a = Admin(port)
    steps = {}
    login = a.call("POST", "/login", {"name": ADMIN_NAME, "password": one_time_password})
    steps["login"] = f"200, duty {login.get('duty')}"
    new_password = "Perf-run-" + secrets.token_urlsafe(18) + "-7x!"  # must not contain the user name
    a.call("POST", "/me/password", {"current_password": one_time_password, "new_password": new_password},
           expect=(200, 204))
    steps["password"] = "changed"
    enrol = a.call("POST", "/me/totp", {}, expect=(200, 201))
    secret = enrol["secret"]
    confirmed = None
    for attempt in range(3):  # a code at a step boundary may be refused once; the next step's works
        code = totp(secret, time.time())
        try:
            confirmed = a.call("POST", "/me/totp/confirm", {"secret": secret, "code": code})
            break
        except RuntimeError as e:
            if attempt == 2:
                raise
            log(f"  TOTP confirm refused ({e}); retrying at the next step")
            time.sleep(31 - time.time() % 30)
    steps["totp"] = f"confirmed, {len(confirmed.get('recovery_codes', []))} recovery codes"
    consumer = a.call("POST", "/consumers", {"name": "bench-consumer"}, expect=201)
    steps["consumer"] = consumer["id"]
    keys = {}
    for name in apps:
        app = a.call("POST", f"/consumers/{consumer['id']}/apps", {"name": name}, expect=201)
        cred = a.call("POST", f"/apps/{app['id']}/credentials", {"kind": "api_key"}, expect=201)
        keys[name] = cred["secret"]
        steps[f"app {name}"] = app["id"]
        steps[f"credential {name}"] = cred.get("credential", {}).get("id")
    return keys, steps, a
