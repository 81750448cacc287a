//! A client for the admin API that keeps its session cookie and CSRF token,
//! or sends an automation token, over raw sockets.

use std::net::SocketAddr;

use serde_json::Value;

use crate::raw::{RawResponse, request};

/// One admin API user agent.
#[derive(Debug, Clone)]
pub struct AdminClient {
    /// The admin listener.
    pub addr: SocketAddr,
    /// The session cookie value, once logged in.
    pub session: Option<String>,
    /// The CSRF token that goes with the session.
    pub csrf: Option<String>,
    /// An automation token (`pca_…`), sent as a bearer token instead.
    pub token: Option<String>,
}

/// A response with its body parsed as JSON (`Null` when it is not JSON).
#[derive(Debug, Clone)]
pub struct AdminResponse {
    /// The raw response.
    pub raw: RawResponse,
    /// The parsed body.
    pub json: Value,
}

impl AdminResponse {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.raw.status
    }

    /// The stable error word, if the body is an error.
    pub fn error(&self) -> Option<&str> {
        self.json.get("error").and_then(Value::as_str)
    }
}

impl AdminClient {
    /// A client with no credentials.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, session: None, csrf: None, token: None }
    }

    /// Sends `method path` with an optional JSON body and extra header lines
    /// (each `Name: value`), remembering any session cookie and CSRF token
    /// the answer carries.
    pub async fn send(&mut self, method: &str, path: &str, body: Option<&Value>, extra: &[&str]) -> AdminResponse {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n");
        if !body.is_empty() {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(session) = &self.session {
            head.push_str(&format!("Cookie: portcullis_admin_session={session}\r\n"));
        }
        if let Some(csrf) = &self.csrf {
            head.push_str(&format!("X-CSRF-Token: {csrf}\r\n"));
        }
        for line in extra {
            head.push_str(line);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        head.push_str(&body);
        let raw = request(self.addr, &head).await;
        let json = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
        if let Some(cookie) = raw.header("set-cookie") {
            let value = cookie.split(';').next().unwrap_or("").trim_start_matches("portcullis_admin_session=");
            self.session = (!value.is_empty()).then(|| value.to_owned());
        }
        if let Some(csrf) = json.get("csrf_token").and_then(Value::as_str) {
            self.csrf = Some(csrf.to_owned());
        }
        AdminResponse { raw, json }
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> AdminResponse {
        self.send("GET", path, None, &[]).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&mut self, path: &str, body: &Value) -> AdminResponse {
        self.send("POST", path, Some(body), &[]).await
    }

    /// `POST /admin/v1/login`.
    pub async fn login(&mut self, name: &str, password: &str) -> AdminResponse {
        self.post("/admin/v1/login", &serde_json::json!({ "name": name, "password": password })).await
    }
}
