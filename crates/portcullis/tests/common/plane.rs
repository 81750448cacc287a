//! The management plane from a test's side: bootstrap on the host, then a
//! fully logged-in admin session.

use std::process::{Command, Output, Stdio};

use portcullis_test_support::TempDir;
use portcullis_test_support::admin::AdminClient;
use serde_json::json;

use super::{BIN, Gateway};

pub const NEW_PASSWORD: &str = "a far better passphrase, 2026";

pub fn cli(dir: &TempDir, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--config"])
        .arg(dir.path().join("portcullis.yaml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Writes the config, bootstraps `root`, returns the one-time password.
pub fn bootstrap(dir: &TempDir, config: &str) -> String {
    dir.write("portcullis.yaml", config.replace("{dir}", &dir.path().display().to_string()));
    let out = cli(dir, &["admin", "bootstrap", "--name", "root"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().last().unwrap().trim().to_owned()
}

/// Logs root in, sets a new password, enrols TOTP: a fully usable session.
pub async fn admin_session(gw: &Gateway, password: &str) -> AdminClient {
    let mut client = AdminClient::new(gw.admin_addr());
    let login = client.login("root", password).await;
    assert_eq!((login.status(), login.json["duty"].as_str()), (200, Some("change_password")), "{:?}", login.json);
    let changed = client
        .post("/admin/v1/me/password", &json!({ "current_password": password, "new_password": NEW_PASSWORD }))
        .await;
    assert_eq!(changed.status(), 204, "{:?}", changed.json);
    let start = client.post("/admin/v1/me/totp", &json!({})).await;
    let secret = portcullis_credentials::TotpSecret::from_base32(start.json["secret"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let confirm = client
        .post("/admin/v1/me/totp/confirm", &json!({ "secret": secret.to_base32(), "code": secret.code_at(now) }))
        .await;
    assert_eq!(confirm.status(), 200, "{:?}", confirm.json);
    client
}
