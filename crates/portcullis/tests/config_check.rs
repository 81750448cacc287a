//! `portcullis check`: every error, with file, line and column; the shipped
//! examples pass.

mod common;

use std::process::Command;

use common::BIN;
use portcullis_test_support::TempDir;
use portcullis_test_support::certs::TestCa;

fn check(path: &std::path::Path) -> (bool, String) {
    let out = Command::new(BIN).args(["check", "--config"]).arg(path).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Writes the PEM files `examples/hardened.yaml` refers to.
fn hardened_tls(dir: &TempDir) {
    std::fs::create_dir_all(dir.path().join("tls")).unwrap();
    let ca = TestCa::new("Example CA");
    let api = ca.leaf(&["api.example.com"]);
    let client = ca.leaf(&["gateway"]);
    dir.write("tls/api.pem", &api.cert);
    dir.write("tls/api.key", &api.key);
    dir.write("tls/clients-ca.pem", &ca.cert_pem);
    dir.write("tls/internal-ca.pem", &ca.cert_pem);
    dir.write("tls/gateway-client.pem", &client.cert);
    dir.write("tls/gateway-client.key", &client.key);
}

#[test]
fn shipped_examples_pass_check() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let (ok, out) = check(&std::path::Path::new(root).join("quickstart.yaml"));
    assert!(ok, "{out}");
    let dir = TempDir::new();
    hardened_tls(&dir);
    let hardened = std::fs::read_to_string(format!("{root}/hardened.yaml")).unwrap();
    let path = dir.write("hardened.yaml", hardened);
    let (ok, out) = check(&path);
    assert!(ok, "{out}");
}

#[test]
fn every_semantic_error_is_listed_with_its_position() {
    let dir = TempDir::new();
    let path = dir.write(
        "bad.yaml",
        "listeners:
  - name: public
    listen: not-an-address
upstream_allowlist: [10.0.0.0/8]
upstreams:
  - name: app
    targets: [http://203.0.113.7:80, ftp://x]
routes:
  - name: a
    path: /a/../b
    upstream: missing
    methods: [TRACE]
  - name: a
    prefix: /x
    path: /y
    upstream: app
",
    );
    let (ok, out) = check(&path);
    assert!(!ok);
    let file = path.display().to_string();
    for expected in [
        format!("{file}:2:5: listeners[0].listen: \"not-an-address\" is not ip:port"),
        format!("{file}:6:5: upstreams[0].targets[0]: \"203.0.113.7\" is not in upstream_allowlist"),
        format!("{file}:6:5: upstreams[0].targets[1]:"),
        format!("{file}:9:5: routes[0].path: \"/a/../b\" must be an absolute, normalized path"),
        format!("{file}:9:5: routes[0].upstream: no upstream is named \"missing\""),
        format!("{file}:9:5: routes[0].methods[0]: \"TRACE\" cannot be served"),
        format!("{file}:13:5: routes[1].name: route \"a\" is defined twice"),
        format!("{file}:13:5: routes[1]: give exactly one of `path` and `prefix`"),
    ] {
        assert!(out.contains(&expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn unknown_keys_and_bad_units_are_errors_with_positions() {
    let dir = TempDir::new();
    let unknown = dir.write(
        "unknown.yaml",
        "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n    tls_mode: strict\nupstreams: []\nroutes: []\n",
    );
    let (ok, out) = check(&unknown);
    assert!(!ok);
    assert!(out.contains("unknown.yaml:4:") && out.contains("tls_mode"), "{out}");
    let units =
        dir.write("units.yaml", "listeners: []\nlimits:\n  idle_timeout: 30 parsecs\nupstreams: []\nroutes: []\n");
    let (ok, out) = check(&units);
    assert!(!ok);
    assert!(out.contains("units.yaml:3:") && out.contains("is not a duration"), "{out}");
    let (ok, out) = check(&dir.path().join("absent.yaml"));
    assert!(!ok && out.contains("cannot read the file"), "{out}");
}

#[test]
fn broken_certificates_are_refused() {
    let dir = TempDir::new();
    let ca = TestCa::new("CA");
    let good = ca.leaf(&["a.test"]);
    let other = ca.leaf(&["b.test"]);
    let expired = ca.expired_leaf(&["old.test"]);
    dir.write("good.pem", &good.cert);
    dir.write("other.key", &other.key);
    dir.write("expired.pem", &expired.cert);
    dir.write("expired.key", &expired.key);
    dir.write("garbage.pem", "not a certificate");
    dir.write("good.key", &good.key);
    let listener = |cert: &str, key: &str| {
        format!(
            "listeners:\n  - name: tls\n    listen: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: {cert}\n          key: {key}\n\
             upstream_allowlist: [127.0.0.1]\nupstreams: []\nroutes: []\n"
        )
    };
    let cases = [
        (listener("good.pem", "other.key"), "does not match"),
        (listener("expired.pem", "expired.key"), "expired"),
        (listener("garbage.pem", "good.key"), "no PEM certificate"),
        (listener("missing.pem", "good.key"), "cannot read"),
        (listener("good.pem", "env:PORTCULLIS_TEST_UNSET_KEY"), "PORTCULLIS_TEST_UNSET_KEY is not set"),
    ];
    for (config, expected) in cases {
        let path = dir.write("tls.yaml", &config);
        let (ok, out) = check(&path);
        assert!(!ok && out.contains(expected), "expected {expected:?}:\n{out}");
        assert!(!out.contains("BEGIN"), "key material printed: {out}");
    }
}
