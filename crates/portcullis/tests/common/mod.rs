//! Shared pieces of the integration tests.

#![allow(dead_code, unused_imports, unreachable_pub)]

pub mod mtls;
pub mod plane;

pub use portcullis_test_support::gateway::Gateway;
pub use portcullis_test_support::raw;
pub use portcullis_test_support::upstream::TestUpstream;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A one-listener config proxying `routes` (YAML list items, indented by 2)
/// to `upstream`, with the access log in the gateway's directory.
pub fn config(upstream: &TestUpstream, routes: &str) -> String {
    format!(
        "workers: 1
listeners:
  - name: public
    listen: 127.0.0.1:0
upstream_allowlist: [127.0.0.0/8]
upstreams:
  - name: app
    targets: [{url}]
    timeouts: {{ connect: 1s, read: 2s, total: 3s }}
routes:
{routes}
access_log:
  path: {{dir}}/access.log
",
        url = upstream.url()
    )
}

/// A catch-all route to the `app` upstream.
pub const CATCH_ALL: &str = "  - name: all
    prefix: /
    upstream: app
";

/// The `credential` fields of the access-log lines (of `log`) whose reason is `reason`.
pub fn credentials_logged(log: &str, reason: &str) -> Vec<String> {
    log.lines()
        .map(json)
        .filter(|line| line["reason"] == reason)
        .filter_map(|line| line["credential"].as_str().map(str::to_owned))
        .collect()
}

/// The masked fingerprint the gateway logs for a presented token:
/// `sha256:` and the first 8 hex digits of its SHA-256.
pub fn short_sha256(token: &str) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(token.as_bytes());
    format!("sha256:{}", hash.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>())
}

/// Parses an access-log line.
pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).expect("access log line is JSON")
}
