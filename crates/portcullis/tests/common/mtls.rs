//! A mutual-TLS listener from a test's side: a server CA and a client CA
//! made at test time, and requests sent with or without a client
//! certificate.

use portcullis_test_support::TempDir;
use portcullis_test_support::certs::{Pem, TestCa};
use portcullis_test_support::raw::RawResponse;
use portcullis_test_support::tls::TlsClient;
use sha2::Digest as _;

use super::Gateway;

/// The listener entry (a YAML list item indented by 2) named `mtls`: client
/// certificates from `clients.pem` are verified but optional, so a route's
/// policy decides what a request without one gets.
pub const LISTENER: &str = "  - name: mtls
    listen: 127.0.0.1:0
    tls:
      certificates: [{ cert: server.pem, key: server.key }]
      client_auth: { ca: clients.pem, required: false }
";

/// `config` (one plain listener named `public`, in block or flow form) with
/// the `mtls` listener added after it.
pub fn with_listener(config: &str) -> String {
    let flow = "listeners: [{ name: public, listen: 127.0.0.1:0 }]\n";
    let block = "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n";
    let at = config.find(flow).map(|i| (i, flow.len())).or_else(|| config.find(block).map(|i| (i, block.len())));
    let (start, len) = at.expect("a config with one plain listener named public");
    format!("{}{block}{LISTENER}{}", &config[..start], &config[start + len..])
}

/// The certificate authorities of one mutual-TLS listener.
pub struct Mtls {
    /// Issues the listener's certificate for `api.test`.
    pub server_ca: TestCa,
    /// The listener's trusted client CA.
    pub clients: TestCa,
}

impl Mtls {
    /// New CAs, with `server.pem`, `server.key` and `clients.pem` written to `dir`.
    pub fn new(dir: &TempDir) -> Self {
        let server_ca = TestCa::new("Server CA");
        let clients = TestCa::new("Client CA");
        let server = server_ca.leaf(&["api.test"]);
        dir.write("server.pem", &server.cert);
        dir.write("server.key", &server.key);
        dir.write("clients.pem", &clients.cert_pem);
        Self { server_ca, clients }
    }

    /// Sends `GET path` with `headers` to the `mtls` listener, presenting
    /// `cert` if given. `None` when the gateway refused the handshake or
    /// closed the connection without an answer.
    pub async fn get(
        &self,
        gw: &Gateway,
        cert: Option<&Pem>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Option<RawResponse> {
        let extra: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
        let request = format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n{extra}Connection: close\r\n\r\n");
        let mut client = TlsClient::new(&self.server_ca.cert_pem, "api.test");
        client.client_cert = cert.cloned();
        client.exchange(gw.listener("mtls"), Some(&request)).await.ok()?.response
    }
}

/// The SHA-256 of `pem`'s DER certificate.
pub fn sha256(pem: &Pem) -> [u8; 32] {
    let der = rustls_pemfile::certs(&mut pem.cert.as_bytes()).next().unwrap().unwrap();
    sha2::Sha256::digest(der.as_ref()).into()
}
