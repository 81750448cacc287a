//! `portcullis admin call|consumers|apps|keys|audit …`: drives the admin API
//! for scripts, authenticated with an automation token (from the
//! environment, never from the command line, so it stays out of `ps`).

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Where the API is and how to authenticate.
pub(crate) struct Client {
    /// `http://127.0.0.1:9180` or `https://…`.
    pub(crate) url: String,
    /// The environment variable holding the `pca_…` token.
    pub(crate) token_env: String,
    /// A PEM CA bundle for an https admin listener.
    pub(crate) ca: Option<std::path::PathBuf>,
}

impl Client {
    /// Sends one request; prints the JSON answer; fails on a non-2xx status.
    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<String>) -> anyhow::Result<()> {
        let token = std::env::var(&self.token_env)
            .with_context(|| format!("set {} to an admin API token (pca_…)", self.token_env))?;
        let (https, authority) = match (self.url.strip_prefix("https://"), self.url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest.trim_end_matches('/')),
            (None, Some(rest)) => (false, rest.trim_end_matches('/')),
            _ => bail!("--url must start with http:// or https://"),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", authority)
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/json");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let stream =
            tokio::net::TcpStream::connect(authority).await.with_context(|| format!("connecting to {authority}"))?;
        let response = if https {
            let stream =
                self.tls(authority)?.connect(server_name(authority)?, stream).await.context("TLS handshake")?;
            send(TokioIo::new(stream), request).await?
        } else {
            send(TokioIo::new(stream), request).await?
        };
        let (status, text) = response;
        println!("{text}");
        if !status.is_success() {
            bail!("the admin API answered {status}");
        }
        Ok(())
    }

    fn tls(&self, _authority: &str) -> anyhow::Result<tokio_rustls::TlsConnector> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some(path) => {
                let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                    roots.add(cert?)?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)))
    }
}

fn server_name(authority: &str) -> anyhow::Result<rustls::pki_types::ServerName<'static>> {
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host).trim_matches(['[', ']']);
    Ok(rustls::pki_types::ServerName::try_from(host.to_owned())?)
}

async fn send<I>(io: I, request: Request<Full<Bytes>>) -> anyhow::Result<(http::StatusCode, String)>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = Limited::new(response.into_body(), 16 << 20).collect().await.map_err(|e| anyhow::anyhow!(e))?;
    Ok((status, String::from_utf8_lossy(&body.to_bytes()).into_owned()))
}
