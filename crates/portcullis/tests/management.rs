//! The management plane end to end through the real binary: bootstrap on
//! the host, the admin API, durability across a kill, the signed audit log
//! and its verification, syslog forwarding, and sealed secrets.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::plane::{NEW_PASSWORD, admin_session, bootstrap, cli};
use common::{BIN, Gateway, TestUpstream};
use portcullis_test_support::TempDir;
use portcullis_test_support::admin::AdminClient;
use serde_json::json;

fn config(upstream: &TestUpstream, extra: &str) -> String {
    format!(
        "workers: 1
listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
upstream_allowlist: [127.0.0.0/8]
upstreams: [{{ name: app, targets: [{url}] }}]
routes: [{{ name: r, prefix: /, upstream: app }}]
access_log: {{ enabled: false }}
data_dir: {{dir}}/data
audit: {{ checkpoint_interval: 1s }}
admin:
  listen: 127.0.0.1:0
  password_hashing: {{ memory: 8MiB, iterations: 1, parallelism: 1 }}
{extra}",
        url = upstream.url()
    )
}

/// A gateway on a bootstrapped store with `extra` configuration, and an
/// admin session on it: the upstream (keep it alive), the configuration,
/// the gateway and the session.
async fn managed(extra: &str) -> (TestUpstream, String, Gateway, AdminClient) {
    let upstream = TestUpstream::start().await;
    let dir = TempDir::new();
    let config = config(&upstream, extra);
    let password = bootstrap(&dir, &config);
    let gw = Gateway::start_in(BIN, dir, &config);
    let client = admin_session(&gw, &password).await;
    (upstream, config, gw, client)
}

#[tokio::test]
async fn bootstrap_creates_one_admin_with_a_one_time_password() {
    let upstream = TestUpstream::start().await;
    let dir = TempDir::new();
    let config = config(&upstream, "");
    let password = bootstrap(&dir, &config);
    assert!(password.len() >= 32, "{password}");
    let again = cli(&dir, &["admin", "bootstrap", "--name", "second"], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let weak = cli(&dir, &["admin", "reset-password", "--name", "root", "--password-stdin"], Some("password1"));
    assert!(!weak.status.success(), "a common password is refused");
    let gw = Gateway::start_in(BIN, dir, &config);
    let mut wrong = AdminClient::new(gw.admin_addr());
    assert_eq!(wrong.login("root", "not the password").await.status(), 401);
    let mut client = admin_session(&gw, &password).await;
    assert_eq!(client.get("/admin/v1/consumers").await.status(), 200);
    // Data files are owner-only.
    use std::os::unix::fs::PermissionsExt as _;
    for file in ["data", "data/portcullis.db", "data/audit-signing.key"] {
        let mode = std::fs::metadata(gw.dir.path().join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
    }
}

#[tokio::test]
async fn an_acknowledged_write_survives_a_kill_and_the_log_verifies() {
    let (_upstream, config, gw, mut client) = managed("").await;
    let created = client.post("/admin/v1/consumers", &json!({ "name": "durable" })).await;
    assert_eq!(created.status(), 201);
    // SIGKILL right after the answer: no graceful shutdown, no final checkpoint.
    let gw = Gateway::start_in(BIN, gw.kill_keep_dir(), &config);
    let mut client = AdminClient::new(gw.admin_addr());
    let login = client.login("root", NEW_PASSWORD).await;
    assert_eq!(login.json["duty"], "present_second_factor");
    let token = client.session.clone();
    let dir = gw.kill_keep_dir();
    let verify = cli(&dir, &["audit-log", "verify"], None);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{text}{}", String::from_utf8_lossy(&verify.stderr));
    assert!(text.contains("intact"), "{text}");
    assert!(token.is_some());
    let export = cli(&dir, &["audit-log", "export"], None);
    let lines = String::from_utf8(export.stdout).unwrap();
    assert!(lines.lines().any(|l| l.contains("\"consumer.create\"")), "{lines}");
    assert!(lines.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
}

#[tokio::test]
async fn a_tampered_audit_row_is_named_by_verify() {
    let (_upstream, _config, gw, mut client) = managed("").await;
    for name in ["first", "second"] {
        assert_eq!(client.post("/admin/v1/consumers", &json!({ "name": name })).await.status(), 201);
    }
    // Stop gracefully: the final checkpoint signs the head.
    gw.signal("TERM");
    let dir = {
        let mut gw = gw;
        assert!(gw.wait_exit(Duration::from_secs(10)).is_some());
        gw.kill_keep_dir()
    };
    let intact = cli(&dir, &["audit-log", "verify"], None);
    assert!(intact.status.success(), "{}", String::from_utf8_lossy(&intact.stdout));
    let db = dir.path().join("data/portcullis.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2").execute(&pool).await.unwrap();
    pool.close().await;
    let broken = cli(&dir, &["audit-log", "verify"], None);
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(!broken.status.success(), "{text}");
    assert!(text.contains("event 2 was altered"), "{text}");
}

#[tokio::test]
async fn audit_events_reach_syslog_and_reloads_are_audited() {
    let upstream = TestUpstream::start().await;
    let collector = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = collector.local_addr().unwrap();
    let dir = TempDir::new();
    let config = config(&upstream, "").replace(
        "audit: { checkpoint_interval: 1s }",
        &format!("audit: {{ checkpoint_interval: 1s, syslog: \"udp://{target}\" }}"),
    );
    let password = bootstrap(&dir, &config);
    let gw = Gateway::start_in(BIN, dir, &config);
    let mut client = AdminClient::new(gw.admin_addr());
    assert_eq!(client.login("root", &password).await.status(), 200);
    gw.signal("HUP");
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(seen.contains("admin.login") && seen.contains("config.reload")) {
        let mut buf = vec![0u8; 65536];
        let received = tokio::time::timeout_at(deadline, collector.recv(&mut buf)).await;
        let Ok(Ok(n)) = received else { panic!("syslog saw only:\n{seen}") };
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.push('\n');
    }
    assert!(seen.lines().all(|l| l.is_empty() || l.starts_with('<')), "{seen}");
    assert!(!seen.contains(&password), "a password reached syslog");
}

#[tokio::test]
async fn the_cli_drives_the_admin_api_with_a_token_from_the_environment() {
    let (_upstream, _config, gw, mut client) = managed("").await;
    let issued = client
        .post(
            "/admin/v1/me/tokens",
            &json!({ "name": "ci", "scopes": ["consumers:read", "consumers:write"], "expires_in_days": 1 }),
        )
        .await;
    assert_eq!(issued.status(), 201, "{:?}", issued.json);
    let token = issued.json["secret"].as_str().unwrap();
    let url = format!("http://{}", gw.admin_addr());
    let call = |args: &[&str], token: &str| {
        Command::new(BIN)
            .args(["admin", "call", "--url", &url])
            .args(args)
            .env("PORTCULLIS_ADMIN_TOKEN", token)
            .output()
            .unwrap()
    };
    let created = call(&["POST", "/admin/v1/consumers", "--data", r#"{"name":"from-cli"}"#], token);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stdout));
    let listed = call(&["GET", "/admin/v1/consumers"], token);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("from-cli"));
    let refused = call(&["GET", "/admin/v1/users"], token);
    assert!(!refused.status.success(), "the token lacks users:read");
    let forged = call(&["GET", "/admin/v1/consumers"], "pca_aaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert!(!forged.status.success());
    assert!(String::from_utf8_lossy(&forged.stdout).contains("unauthorized"));
}

#[tokio::test]
async fn secrets_seal_and_rotate_under_the_master_passphrase() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new();
    let old = dir.write("old.pass", "an old master passphrase");
    let new = dir.write("new.pass", "a brand new master passphrase");
    for file in [&old, &new] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let source = |path: &std::path::Path| format!("file:{}", path.display());
    let run = |args: &[&str], input: &str| {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let sealed = run(&["secret", "encrypt", "--passphrase", &source(&old)], "s3cret-db-password");
    assert!(sealed.status.success(), "{}", String::from_utf8_lossy(&sealed.stderr));
    let token = String::from_utf8(sealed.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("enc:v1:") && !token.contains("s3cret"));
    let opened = run(&["secret", "decrypt", "--passphrase", &source(&old)], &token);
    assert_eq!(String::from_utf8(opened.stdout).unwrap().trim(), "s3cret-db-password");
    let wrong = run(&["secret", "decrypt", "--passphrase", &source(&new)], &token);
    assert!(!wrong.status.success());
    assert!(!String::from_utf8_lossy(&wrong.stderr).contains("s3cret"));
    let config = dir.write("portcullis.yaml", format!("store:\n  url: \"{token}\"\n"));
    let rotated = run(
        &[
            "secret",
            "rotate-master",
            "--config",
            config.to_str().unwrap(),
            "--old",
            &source(&old),
            "--new",
            &source(&new),
        ],
        "",
    );
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let text = std::fs::read_to_string(&config).unwrap();
    let new_token = text.split('"').nth(1).unwrap();
    assert_ne!(new_token, token);
    let reopened = run(&["secret", "decrypt", "--passphrase", &source(&new)], new_token);
    assert_eq!(String::from_utf8(reopened.stdout).unwrap().trim(), "s3cret-db-password");
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o077, 0);
}

#[tokio::test]
async fn the_management_plane_runs_on_postgresql() {
    let postgres = portcullis_test_support::postgres::Postgres::start();
    let (_upstream, _config, gw, mut client) = managed(&format!("store: {{ url: \"{}\" }}\n", postgres.url)).await;
    assert_eq!(client.post("/admin/v1/consumers", &json!({ "name": "on-postgres" })).await.status(), 201);
    assert!(!gw.dir.path().join("data/portcullis.db").exists(), "SQLite was used instead");
    let dir = gw.kill_keep_dir();
    let verify = cli(&dir, &["audit-log", "verify"], None);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[tokio::test]
async fn rotating_the_master_key_reseals_totp_secrets_and_the_signing_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let upstream = TestUpstream::start().await;
    let dir = TempDir::new();
    for (name, text) in [("old.pass", "the old master passphrase"), ("new.pass", "the new master passphrase")] {
        let path = dir.write(name, text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let with_passphrase =
        |file: &str| config(&upstream, &format!("secrets: {{ master_passphrase: \"file:{{dir}}/{file}\" }}\n"));
    let password = bootstrap(&dir, &with_passphrase("old.pass"));
    let gw = Gateway::start_in(BIN, dir, &with_passphrase("old.pass"));
    let client = admin_session(&gw, &password).await;
    drop(client);
    let dir = gw.kill_keep_dir();
    let sealed_key = std::fs::read_to_string(dir.path().join("data/audit-signing.key")).unwrap();
    assert!(sealed_key.starts_with("enc:v1:"), "the signing key is sealed with the master key");
    let source = |file: &str| format!("file:{}", dir.path().join(file).display());
    let rotated =
        cli(&dir, &["secret", "rotate-master", "--old", &source("old.pass"), "--new", &source("new.pass")], None);
    let out = String::from_utf8_lossy(&rotated.stdout);
    assert!(rotated.status.success(), "{out}{}", String::from_utf8_lossy(&rotated.stderr));
    assert!(out.contains("1 TOTP secret(s)") && out.contains("audit signing key"), "{out}");
    // Point the configuration at the new passphrase; everything still opens.
    dir.write("portcullis.yaml", with_passphrase("new.pass").replace("{dir}", &dir.path().display().to_string()));
    let verify = cli(&dir, &["audit-log", "verify"], None);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let gw = Gateway::start_in(BIN, dir, &with_passphrase("new.pass"));
    let mut client = AdminClient::new(gw.admin_addr());
    let login = client.login("root", NEW_PASSWORD).await;
    assert_eq!(login.json["duty"], "present_second_factor");
    // A wrong code is refused cleanly (the secret opened; no 500).
    let wrong = client.post("/admin/v1/login/second-factor", &json!({ "code": "000000" })).await;
    assert_eq!(wrong.status(), 401, "{:?}", wrong.json);
}

#[tokio::test]
async fn the_admin_listener_can_require_tls_with_a_client_certificate() {
    use portcullis_test_support::certs::TestCa;
    use portcullis_test_support::tls::TlsClient;
    let upstream = TestUpstream::start().await;
    let dir = TempDir::new();
    let server_ca = TestCa::new("Admin CA");
    let operators = TestCa::new("Operator CA");
    let server = server_ca.leaf(&["admin.test"]);
    dir.write("admin.pem", &server.cert);
    dir.write("admin.key", &server.key);
    dir.write("operators.pem", &operators.cert_pem);
    let config = config(&upstream, "").replace(
        "admin:\n  listen: 127.0.0.1:0\n",
        "admin:\n  listen: 127.0.0.1:0\n  tls:\n    certificates: [{ cert: admin.pem, key: admin.key }]\n    client_auth: { ca: operators.pem, required: true }\n",
    );
    let gw = Gateway::start_in(BIN, dir, &config);
    let request = "GET /admin/v1/openapi.json HTTP/1.1\r\nHost: admin.test\r\nConnection: close\r\n\r\n";
    let mut with_cert = TlsClient::new(&server_ca.cert_pem, "admin.test");
    with_cert.client_cert = Some(operators.leaf(&["operator-1"]));
    let answer = with_cert.exchange(gw.admin_addr(), Some(request)).await.unwrap();
    assert_eq!(answer.response.unwrap().status, 200);
    let without = TlsClient::new(&server_ca.cert_pem, "admin.test");
    let refused = without.exchange(gw.admin_addr(), Some(request)).await;
    assert!(refused.is_err() || refused.unwrap().response.is_none(), "no client certificate, no admin API");
    let plain = portcullis_test_support::raw::request(gw.admin_addr(), request).await;
    assert_ne!(plain.status, 200, "plain HTTP is not served on a TLS admin listener");
}
