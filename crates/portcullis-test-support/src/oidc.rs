//! A real OpenID provider for end-to-end JWT tests: panva's certified
//! `oidc-provider` from npm, driven by `crates/portcullis/tests/oidc/provider.mjs`
//! in its own `node` process over HTTPS on a free loopback port.
//!
//! It publishes discovery and a JWKS and issues client-credentials access
//! tokens as RS256 JWTs for [`AUDIENCE`]. Signing keys rotate by restarting
//! the provider on the same port with another key set: [`OidcProvider::rotate`]
//! signs with a new key while still publishing the old one,
//! [`OidcProvider::retire_old`] then stops publishing the old one.
//!
//! Needs Node.js (20.19 or later) and npm on `PATH`; the first start runs
//! `npm ci` in `tests/oidc` (once, shared between test processes).

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::TempDir;
use crate::certs::TestCa;
use crate::raw::{RawResponse, parse_responses};
use crate::tls::TlsClient;

/// The `client_id` of the provider's one confidential client.
pub const CLIENT_ID: &str = "portcullis-e2e";
/// Its `client_secret` (HTTP basic client authentication).
pub const CLIENT_SECRET: &str = "portcullis-e2e-secret";
/// The resource indicator, and the `aud` of every access token.
pub const AUDIENCE: &str = "https://api.portcullis.test";
/// The scopes the resource server offers (request them with
/// [`OidcProvider::token_with_scope`]).
pub const SCOPES: &str = "orders:read orders:write";

/// How long the provider may take to print `READY` after a (re)start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one `npm ci` (or waiting for another process's) may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// A running `oidc-provider`. The `node` process is killed on drop; it also
/// exits by itself when the test process dies (it watches its stdin).
#[derive(Debug)]
pub struct OidcProvider {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    port: u16,
    dir: PathBuf,
    ca_pem: String,
    /// Published private JWKs as JSON, the signing key first.
    keys: Vec<Value>,
    generation: usize,
}

/// `crates/portcullis/tests/oidc`: the Node project holding the provider.
fn node_project() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../portcullis/tests/oidc");
    fs::canonicalize(&path).unwrap_or(path)
}

impl OidcProvider {
    /// Installs the Node dependencies if needed, makes a CA and a TLS
    /// certificate for `127.0.0.1` and one signing key, and starts the
    /// provider on a free port. Its files (PEMs, JWKS, `oidc-provider.log`)
    /// go into `dir`, which must outlive the provider. Panics (failing the
    /// test) when Node.js is missing or the provider does not come up.
    pub fn start(dir: &TempDir) -> Self {
        let project = node_project();
        ensure_node_modules(&project);
        let ca = TestCa::new("Portcullis test OIDC CA");
        let leaf = ca.leaf(&["127.0.0.1"]);
        dir.write("oidc-ca.pem", &ca.cert_pem);
        dir.write("oidc-cert.pem", &leaf.cert);
        dir.write("oidc-key.pem", &leaf.key);
        let keys = vec![generate_key(&project)];
        let mut provider = Self {
            child: None,
            stdin: None,
            port: 0,
            dir: dir.path().to_owned(),
            ca_pem: ca.cert_pem,
            keys,
            generation: 0,
        };
        provider.launch();
        provider
    }

    /// The issuer, `https://127.0.0.1:PORT` (no trailing slash).
    pub fn issuer(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The JWKS address, as discovery publishes it.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    /// The discovery document's address.
    pub fn discovery_uri(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    /// The CA (PEM) whose certificate the provider's TLS certificate chains
    /// to: what the gateway must trust to fetch the JWKS.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA, written as `oidc-ca.pem` in the provider's directory.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("oidc-ca.pem")
    }

    /// The port on 127.0.0.1, the same across rotations.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `kid`s the provider publishes now, the signing key's first.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    }

    /// The `kid` of the key that signs tokens now.
    pub fn signing_kid(&self) -> String {
        self.kids().remove(0)
    }

    /// Rotates the signing key: makes a new key and restarts the provider on
    /// the same port with `[new, old]`, so new tokens are signed with the new
    /// key while the old one is still published. Returns the new `kid`.
    ///
    /// Blocks the calling thread while the provider restarts (well under a
    /// second): in a test whose own tasks must keep sending traffic
    /// meanwhile, use a multi-thread runtime or `spawn_blocking`.
    pub fn rotate(&mut self) -> String {
        let new = generate_key(&node_project());
        let old = self.keys.remove(0);
        self.keys = vec![new, old];
        self.restart();
        self.signing_kid()
    }

    /// Retires every key but the signing one: restarts the provider on the
    /// same port publishing only `[new]`.
    pub fn retire_old(&mut self) {
        self.keys.truncate(1);
        self.restart();
    }

    /// Stops the provider and starts it again with the current keys.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// A client-credentials access token (a JWT for [`AUDIENCE`]) from the
    /// token endpoint that discovery names, with HTTP basic client
    /// authentication over verified TLS.
    pub async fn token(&self) -> String {
        self.request_token("grant_type=client_credentials").await
    }

    /// Like [`OidcProvider::token`], asking for `scope` (space-separated,
    /// from [`SCOPES`]).
    pub async fn token_with_scope(&self, scope: &str) -> String {
        self.request_token(&format!("grant_type=client_credentials&scope={}", scope.replace(' ', "+"))).await
    }

    async fn request_token(&self, form: &str) -> String {
        let endpoint =
            self.discovery().await["token_endpoint"].as_str().expect("token_endpoint in discovery").to_owned();
        let path = self.path_of(&endpoint);
        let auth = base64(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes());
        let response = self
            .https(&format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic {auth}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n\
                 Content-Length: {len}\r\nConnection: close\r\n\r\n{form}",
                port = self.port,
                len = form.len(),
            ))
            .await;
        assert_eq!(response.status, 200, "token request failed: {}", response.text());
        let body: Value = serde_json::from_slice(&response.body).expect("token response is JSON");
        let token = body["access_token"].as_str().expect("access_token in token response").to_owned();
        assert_eq!(token.split('.').count(), 3, "access token is not a JWS: {token}");
        token
    }

    /// The discovery document.
    pub async fn discovery(&self) -> Value {
        self.get_json(&self.discovery_uri()).await
    }

    /// The published JWKS (public keys only).
    pub async fn jwks(&self) -> Value {
        self.get_json(&self.jwks_uri()).await
    }

    async fn get_json(&self, url: &str) -> Value {
        let path = self.path_of(url);
        let response = self
            .https(&format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
                self.port
            ))
            .await;
        assert_eq!(response.status, 200, "GET {url} failed: {}", response.text());
        serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e})"))
    }

    /// The path of `url`, which must be on this provider.
    fn path_of<'a>(&self, url: &'a str) -> &'a str {
        let issuer = self.issuer();
        let path = url.strip_prefix(issuer.as_str()).unwrap_or_else(|| panic!("{url} is not under {issuer}"));
        if path.is_empty() { "/" } else { path }
    }

    /// One request over TLS verified against the provider's CA.
    async fn https(&self, request: &str) -> RawResponse {
        let client = TlsClient::new(&self.ca_pem, "127.0.0.1");
        let addr = ([127, 0, 0, 1], self.port).into();
        let exchange = async {
            let mut tls = client.connect(addr).await.unwrap_or_else(|e| panic!("TLS to the OIDC provider: {e}"));
            tls.write_all(request.as_bytes()).await.unwrap();
            let mut bytes = Vec::new();
            // Node may close without close_notify: keep what was read.
            let _ = tls.read_to_end(&mut bytes).await;
            bytes
        };
        let bytes = tokio::time::timeout(Duration::from_secs(20), exchange).await.expect("OIDC provider answers");
        parse_responses(&bytes)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no HTTP response from the OIDC provider: {:?}", String::from_utf8_lossy(&bytes)))
    }

    /// Writes the current key set and starts `node provider.mjs` on
    /// `self.port` (0 the first time), waiting for `READY <port>`.
    fn launch(&mut self) {
        self.generation += 1;
        let jwks = self.dir.join(format!("oidc-jwks-{}.json", self.generation));
        fs::write(&jwks, serde_json::json!({ "keys": self.keys }).to_string()).unwrap();
        // A restart may race the kernel releasing the port: retry briefly.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.spawn(&jwks) {
                Ok(()) => return,
                Err(why) if self.port != 0 && attempts < 5 && why.contains("EADDRINUSE") => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(why) => panic!("{why}"),
            }
        }
    }

    fn spawn(&mut self, jwks: &Path) -> Result<(), String> {
        let log_path = self.dir.join("oidc-provider.log");
        let log = fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut child = Command::new("node")
            .arg(node_project().join("provider.mjs"))
            .current_dir(node_project())
            .env("OIDC_PORT", self.port.to_string())
            .env("OIDC_CERT", self.dir.join("oidc-cert.pem"))
            .env("OIDC_KEY", self.dir.join("oidc-key.pem"))
            .env("OIDC_JWKS", jwks)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_AUDIENCE", AUDIENCE)
            .env("OIDC_EXIT_ON_STDIN_EOF", "1")
            .env_remove("OIDC_ISSUER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20.19+ must be on PATH): {e}"));
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(child.stdout.take().unwrap());
        // Forwards stdout lines; keeps draining after READY.
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        let failure = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("READY ") {
                        let port: u16 = port.trim().parse().expect("port in READY line");
                        assert!(self.port == 0 || self.port == port, "provider moved from {} to {port}", self.port);
                        self.port = port;
                        self.child = Some(child);
                        self.stdin = stdin;
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break "did not print READY in time",
                Err(mpsc::RecvTimeoutError::Disconnected) => break "exited before READY",
            }
        };
        drop(stdin);
        let _ = child.kill();
        let status = child.wait().ok();
        let log = fs::read(&log_path).unwrap_or_default();
        let log = String::from_utf8_lossy(log.get(usize::try_from(log_start).unwrap_or(0)..).unwrap_or_default());
        Err(format!("OIDC provider {failure} (port {}, exit {status:?}); its stderr:\n{log}", self.port))
    }

    fn stop(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh private RS256 JWK with a random `kid`, from `genkey.mjs`.
fn generate_key(project: &Path) -> Value {
    let out = Command::new("node")
        .arg(project.join("genkey.mjs"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20.19+ must be on PATH): {e}"));
    assert!(out.status.success(), "genkey.mjs failed: {}", String::from_utf8_lossy(&out.stderr));
    let key: Value = serde_json::from_slice(&out.stdout).expect("genkey.mjs prints a JWK");
    assert!(key["kid"].is_string() && key["d"].is_string(), "genkey.mjs printed no private key with a kid");
    key
}

/// Runs `npm ci` in `project` unless a previous run already installed
/// exactly this `package-lock.json`. Test processes run in parallel, so a
/// directory made with `create_dir` (atomic) serves as the lock.
fn ensure_node_modules(project: &Path) {
    let marker = project.join("node_modules/.portcullis-installed");
    let stamp =
        format!("{:016x}", fnv1a(&fs::read(project.join("package-lock.json")).expect("tests/oidc/package-lock.json")));
    let installed = || fs::read_to_string(&marker).is_ok_and(|s| s == stamp);
    if installed() {
        return;
    }
    let _lock = DirLock::acquire(&project.join("node_modules.lock"));
    if installed() {
        return;
    }
    let out = Command::new("npm")
        .arg("ci")
        .arg("--prefix")
        .arg(project)
        .args(["--no-audit", "--no-fund"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `npm` (Node.js 20.19+ with npm must be on PATH): {e}"));
    assert!(
        out.status.success(),
        "npm ci in {} failed:\n{}\n{}",
        project.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(&marker, &stamp).unwrap();
}

/// A cross-process mutex: the directory exists while it is held.
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(path: &Path) -> Self {
        let deadline = Instant::now() + INSTALL_TIMEOUT;
        loop {
            match fs::create_dir(path) {
                Ok(()) => return Self(path.to_owned()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    // A holder that died without cleaning up leaves a stale lock.
                    let age = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if age.is_some_and(|age| age > INSTALL_TIMEOUT) {
                        let _ = fs::remove_dir(path);
                    }
                    assert!(Instant::now() < deadline, "timed out waiting for {}", path.display());
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes one base64url part of a JWT (no padding).
pub fn base64url_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c:?}"),
        }
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap());
        }
    }
    out
}

/// The decoded header and claims of a compact JWS.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut json = || serde_json::from_slice(&base64url_decode(parts.next().expect("JWT part"))).expect("JWT JSON");
    let header = json();
    let claims = json();
    (header, claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64(b"portcullis-e2e:s"), "cG9ydGN1bGxpcy1lMmU6cw==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64url_decode("YWI"), b"ab");
        assert_eq!(base64url_decode("_-8"), [0xff, 0xef]);
    }

    fn published_kids(jwks: &Value) -> Vec<String> {
        let keys = jwks["keys"].as_array().expect("keys in JWKS");
        for key in keys {
            assert!(key.get("d").is_none(), "JWKS leaks a private key: {key}");
        }
        keys.iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn issues_jwts_and_rotates_keys() {
        let dir = TempDir::new();
        let started = Instant::now();
        let mut op = OidcProvider::start(&dir);
        eprintln!("start: {:?}", started.elapsed());

        let discovery = op.discovery().await;
        assert_eq!(discovery["issuer"], op.issuer());
        assert_eq!(discovery["jwks_uri"], op.jwks_uri());
        assert!(discovery["grant_types_supported"].as_array().unwrap().iter().any(|g| g == "client_credentials"));

        let first = op.signing_kid();
        let (header, claims) = jwt_parts(&op.token().await);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["kid"], first.as_str());
        assert_eq!(claims["iss"], op.issuer());
        assert_eq!(claims["aud"], AUDIENCE);
        assert_eq!(claims["client_id"], CLIENT_ID);
        assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
        let (_, scoped) = jwt_parts(&op.token_with_scope("orders:read").await);
        assert_eq!(scoped["scope"], "orders:read");
        assert_eq!(published_kids(&op.jwks().await), [first.as_str()]);

        let started = Instant::now();
        let second = op.rotate();
        eprintln!("rotate: {:?}", started.elapsed());
        assert_ne!(first, second);
        assert_eq!(op.kids(), [second.as_str(), first.as_str()]);
        let (header, _) = jwt_parts(&op.token().await);
        assert_eq!(header["kid"], second.as_str());
        assert_eq!(published_kids(&op.jwks().await), [second.as_str(), first.as_str()]);

        let port = op.port();
        let started = Instant::now();
        op.retire_old();
        eprintln!("retire_old: {:?}", started.elapsed());
        assert_eq!(op.port(), port);
        assert_eq!(op.kids(), [second.as_str()]);
        assert_eq!(published_kids(&op.jwks().await), [second.as_str()]);
        let (header, _) = jwt_parts(&op.token().await);
        assert_eq!(header["kid"], second.as_str());
    }
}
