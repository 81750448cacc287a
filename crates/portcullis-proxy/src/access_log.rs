//! The access log: one JSON line per request, formatted and written by a
//! background thread so the data path only moves a record into a channel.
//! Masking happens in that thread too.

use std::borrow::Cow;
use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Uri, Version};
use regex::Regex;

use crate::metrics::Metrics;

/// Records waiting for the writer; beyond this the data path drops and counts.
const QUEUE: usize = 65_536;

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDestination {
    /// Standard output.
    Stdout,
    /// Appended to a file.
    File(PathBuf),
}

/// What is masked before a line is written. Request headers are logged only
/// when listed, and `Authorization`, `Cookie`, `Set-Cookie` and
/// `Proxy-Authorization` are always masked even then.
#[derive(Debug, Default)]
pub struct LogMasking {
    /// Request headers to log.
    pub headers: Vec<HeaderName>,
    /// Extra patterns (e.g. card numbers) masked in the path, query and headers.
    pub patterns: Vec<Regex>,
}

const SECRET_HEADERS: [&str; 4] = ["authorization", "cookie", "set-cookie", "proxy-authorization"];
/// A query parameter whose lower-cased name contains one of these is masked.
const SECRET_PARAMS: [&str; 10] =
    ["key", "token", "secret", "passw", "pwd", "auth", "session", "signature", "credential", "sig"];
const MASK: &str = "***";

impl LogMasking {
    fn mask_patterns(&self, text: String) -> String {
        self.patterns
            .iter()
            .fold(text, |acc, re| if let Cow::Owned(replaced) = re.replace_all(&acc, MASK) { replaced } else { acc })
    }

    /// The request target with secret query values and patterns masked.
    pub fn target(&self, uri: &Uri) -> String {
        let mut out = String::from(uri.path());
        if let Some(query) = uri.query() {
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    Some((name, value)) if is_secret_param(name) || holds_credential(value) => {
                        out.push_str(name);
                        out.push('=');
                        out.push_str(MASK);
                    }
                    _ => out.push_str(pair),
                }
            }
        }
        self.mask_patterns(out)
    }

    fn header(&self, name: &HeaderName, value: &HeaderValue) -> String {
        if SECRET_HEADERS.contains(&name.as_str()) {
            return MASK.to_owned();
        }
        self.mask_patterns(String::from_utf8_lossy(value.as_bytes()).into_owned())
    }
}

/// Whether a query value carries one of our API keys or admin tokens,
/// however it is percent-encoded.
fn holds_credential(value: &str) -> bool {
    use portcullis_core::decode::{Component, percent_decode};
    percent_decode(value, Component::Query).is_none_or(|v| v.contains("pck_") || v.contains("pca_"))
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

/// One request, as the data path hands it over.
#[derive(Debug)]
pub struct LogRecord {
    /// Unix milliseconds when the request head arrived.
    pub start_unix_ms: i64,
    /// Request id.
    pub request_id: Arc<str>,
    /// Matched route.
    pub route: Option<Arc<str>>,
    /// Client address.
    pub client_ip: IpAddr,
    /// Method.
    pub method: Method,
    /// Request target as received.
    pub uri: Uri,
    /// HTTP version.
    pub version: Version,
    /// Response status.
    pub status: u16,
    /// Response body bytes sent.
    pub bytes: u64,
    /// Time to the upstream's response head.
    pub upstream_micros: Option<u64>,
    /// Time to the last response byte.
    pub total_micros: u64,
    /// Denial or failure reason code.
    pub reason: Option<&'static str>,
    /// A failed authentication's masked credential fingerprint
    /// ([`portcullis_core::Ctx::credential`]); written only when present.
    pub credential: Option<Box<str>>,
    /// Selected request headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Masking rules of the snapshot the request ran on.
    pub masking: Arc<LogMasking>,
}

impl LogRecord {
    fn write_json(&self, out: &mut Vec<u8>, stamp: &mut Stamp) -> io::Result<()> {
        out.extend_from_slice(b"{\"ts\":\"");
        stamp.write(self.start_unix_ms, out);
        out.extend_from_slice(b"\",\"request_id\":");
        serde_json::to_writer(&mut *out, &*self.request_id)?;
        out.extend_from_slice(b",\"route\":");
        serde_json::to_writer(&mut *out, &self.route.as_deref())?;
        out.extend_from_slice(b",\"client_ip\":\"");
        match self.client_ip {
            IpAddr::V4(ip) => {
                let mut digits = itoa::Buffer::new();
                for (i, octet) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    out.extend_from_slice(digits.format(octet).as_bytes());
                }
            }
            IpAddr::V6(ip) => write!(out, "{ip}")?,
        }
        out.extend_from_slice(b"\",\"method\":");
        serde_json::to_writer(&mut *out, self.method.as_str())?;
        out.extend_from_slice(b",\"target\":");
        serde_json::to_writer(&mut *out, &self.masking.target(&self.uri))?;
        out.extend_from_slice(b",\"proto\":\"");
        match version_name(self.version) {
            Some(name) => out.extend_from_slice(name.as_bytes()),
            None => write!(out, "{:?}", self.version)?,
        }
        let mut digits = itoa::Buffer::new();
        out.extend_from_slice(b"\",\"status\":");
        out.extend_from_slice(digits.format(self.status).as_bytes());
        out.extend_from_slice(b",\"bytes\":");
        out.extend_from_slice(digits.format(self.bytes).as_bytes());
        out.extend_from_slice(b",\"upstream_ms\":");
        match self.upstream_micros {
            Some(us) => push_millis(out, us),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"total_ms\":");
        push_millis(out, self.total_micros);
        out.extend_from_slice(b",\"reason\":");
        serde_json::to_writer(&mut *out, &self.reason)?;
        if let Some(credential) = &self.credential {
            out.extend_from_slice(b",\"credential\":");
            serde_json::to_writer(&mut *out, &**credential)?;
        }
        if !self.headers.is_empty() {
            out.extend_from_slice(b",\"headers\":{");
            for (i, (name, value)) in self.headers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, name.as_str())?;
                out.push(b':');
                serde_json::to_writer(&mut *out, &self.masking.header(name, value))?;
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }
}

/// A line's `ts` text: its date and time of day are formatted once a
/// second, the milliseconds every line.
#[derive(Debug, Default)]
struct Stamp {
    secs: Option<i64>,
    /// `2026-11-22T06:47:55.` for `secs`.
    prefix: String,
}

impl Stamp {
    fn write(&mut self, unix_ms: i64, out: &mut Vec<u8>) {
        let secs = unix_ms.div_euclid(1000);
        if self.secs != Some(secs) {
            self.prefix.clear();
            portcullis_core::time::rfc3339_millis(secs.saturating_mul(1000), &mut self.prefix);
            self.prefix.truncate(self.prefix.len() - "000Z".len());
            self.secs = Some(secs);
        }
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(&three_digits(unix_ms.rem_euclid(1000).unsigned_abs()));
        out.push(b'Z');
    }
}

/// `us` microseconds as milliseconds with three decimals (`1.500`).
fn push_millis(out: &mut Vec<u8>, us: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(us / 1000).as_bytes());
    out.push(b'.');
    out.extend_from_slice(&three_digits(us % 1000));
}

/// The last three decimal digits of `n`, zero-padded.
fn three_digits(n: u64) -> [u8; 3] {
    let digit = |n: u64| b'0' + u8::try_from(n % 10).unwrap_or(0);
    [digit(n / 100), digit(n / 10), digit(n)]
}

/// `HTTP/1.1` and the like, as `Version`'s `Debug` writes them.
fn version_name(version: Version) -> Option<&'static str> {
    [
        (Version::HTTP_11, "HTTP/1.1"),
        (Version::HTTP_2, "HTTP/2.0"),
        (Version::HTTP_10, "HTTP/1.0"),
        (Version::HTTP_09, "HTTP/0.9"),
        (Version::HTTP_3, "HTTP/3.0"),
    ]
    .into_iter()
    .find_map(|(v, name)| (v == version).then_some(name))
}

/// The data path's handle on the access log.
#[derive(Debug, Clone)]
pub struct AccessLog {
    tx: SyncSender<Box<LogRecord>>,
    metrics: Arc<Metrics>,
}

impl AccessLog {
    /// Starts the writer thread.
    ///
    /// # Errors
    /// When the log file cannot be opened.
    pub fn start(destination: &LogDestination, metrics: Arc<Metrics>) -> io::Result<Self> {
        let sink: Box<dyn Write + Send> = match destination {
            LogDestination::Stdout => Box::new(io::stdout()),
            LogDestination::File(path) => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
        };
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new().name("access-log".into()).spawn(move || write_loop(&rx, sink))?;
        Ok(Self { tx, metrics })
    }

    /// Hands a record to the writer; never blocks. A full queue drops the
    /// record and counts it in `portcullis_access_log_dropped_total`.
    pub fn send(&self, record: Box<LogRecord>) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(record) {
            self.metrics.access_log_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How long the writer sleeps when the queue is empty. It polls instead of
/// blocking in `recv`, so that a request never has to wake it (a futex wake
/// and a context switch per request cost more than formatting the line).
const IDLE_POLL: Duration = Duration::from_millis(10);

/// Writes records as they come, flushing whenever the queue runs dry.
fn write_loop(rx: &Receiver<Box<LogRecord>>, sink: Box<dyn Write + Send>) {
    let mut out = BufWriter::with_capacity(64 * 1024, sink);
    let mut line = Vec::with_capacity(512);
    let mut stamp = Stamp::default();
    loop {
        match rx.try_recv() {
            Ok(record) => {
                line.clear();
                if record.write_json(&mut line, &mut stamp).is_ok() && out.write_all(&line).is_err() {
                    return;
                }
            }
            Err(TryRecvError::Empty) => {
                if out.flush().is_err() {
                    return;
                }
                std::thread::sleep(IDLE_POLL);
            }
            Err(TryRecvError::Disconnected) => {
                let _ = out.flush();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_query_and_patterns_are_masked() {
        let masking =
            LogMasking { headers: vec![], patterns: vec![Regex::new(r"\b\d{4}(?:[ -]?\d{4}){3}\b").unwrap()] };
        let uri: Uri = "/pay/4111111111111111?api_key=abc&x=1&access_token=t&Password=p".parse().unwrap();
        assert_eq!(masking.target(&uri), "/pay/***?api_key=***&x=1&access_token=***&Password=***");
        let encoded: Uri = "/a?q=%70ck_ab12cd34_secret&ok=1".parse().unwrap();
        assert_eq!(masking.target(&encoded), "/a?q=***&ok=1");
        let auth = HeaderValue::from_static("Bearer secret");
        assert_eq!(masking.header(&http::header::AUTHORIZATION, &auth), "***");
    }

    #[test]
    #[expect(clippy::cast_precision_loss, reason = "the float formatting the integer one replaced")]
    fn numbers_are_written_as_before() {
        for us in (0..20_000).chain([999_999, 1_000_000, 86_400_000_123, u64::from(u32::MAX)]) {
            let mut out = Vec::new();
            push_millis(&mut out, us);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{:.3}", us as f64 / 1000.0));
        }
        for version in [Version::HTTP_09, Version::HTTP_10, Version::HTTP_11, Version::HTTP_2, Version::HTTP_3] {
            assert_eq!(version_name(version), Some(format!("{version:?}").as_str()));
        }
    }

    #[test]
    fn timestamps_and_addresses_are_written_as_before() {
        let mut stamp = Stamp::default();
        for ms in [0, 999, 1_000, 1_795_000_000_123, 1_795_000_000_999, 1_795_000_001_000, 1_795_000_000_124, -1] {
            let (mut out, mut text) = (Vec::new(), String::new());
            stamp.write(ms, &mut out);
            portcullis_core::time::rfc3339_millis(ms, &mut text);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
        let masking = Arc::new(LogMasking::default());
        for ip in ["192.0.2.255", "0.0.0.0", "2001:db8::1", "::ffff:192.0.2.1"] {
            let record = LogRecord {
                start_unix_ms: 0,
                request_id: "id".into(),
                route: None,
                client_ip: ip.parse().unwrap(),
                method: Method::GET,
                uri: "/".parse().unwrap(),
                version: Version::HTTP_2,
                status: 404,
                bytes: 0,
                upstream_micros: None,
                total_micros: 0,
                reason: None,
                credential: None,
                headers: vec![],
                masking: masking.clone(),
            };
            let mut out = Vec::new();
            record.write_json(&mut out, &mut stamp).unwrap();
            let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(value["client_ip"], record.client_ip.to_string());
            assert_eq!((value["upstream_ms"].is_null(), &value["proto"]), (true, &serde_json::json!("HTTP/2.0")));
        }
    }

    #[test]
    fn record_is_one_json_line() {
        let record = LogRecord {
            start_unix_ms: 0,
            request_id: "id1".into(),
            route: Some("r".into()),
            client_ip: "127.0.0.1".parse().unwrap(),
            method: Method::GET,
            uri: "/a?token=x".parse().unwrap(),
            version: Version::HTTP_11,
            status: 200,
            bytes: 5,
            upstream_micros: Some(1500),
            total_micros: 2000,
            reason: Some("auth.jwt.signature"),
            credential: Some("sha256:1a2b3c4d".into()),
            headers: vec![(http::header::COOKIE, HeaderValue::from_static("s=1"))],
            masking: Arc::new(LogMasking { headers: vec![http::header::COOKIE], patterns: vec![] }),
        };
        let mut out = Vec::new();
        record.write_json(&mut out, &mut Stamp::default()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["target"], "/a?token=***");
        assert_eq!(value["headers"]["cookie"], "***");
        assert_eq!(value["upstream_ms"], 1.5);
        assert_eq!(value["total_ms"], 2.0);
        assert_eq!(value["proto"], "HTTP/1.1");
        assert_eq!(value["ts"], "1970-01-01T00:00:00.000Z");
        assert_eq!(value["client_ip"], "127.0.0.1");
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("\"upstream_ms\":1.500,\"total_ms\":2.000,"), "{text}");
        assert_eq!(
            (value["reason"].as_str(), value["credential"].as_str()),
            (Some("auth.jwt.signature"), Some("sha256:1a2b3c4d"))
        );
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }
}
