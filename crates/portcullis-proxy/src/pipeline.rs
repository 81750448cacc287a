//! One request through the gateway: hygiene checks, normalization, routing,
//! the route's policy chain, the upstream exchange, and the response phase.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use portcullis_core::{
    BodyInspector, BodyRewriter, Ctx, Deny, Lifecycle, Lookup, Policy, PolicyResult, RequestIds, Route, Verdict,
    error_body, normalize_path,
};

use crate::access_log::LogRecord;
use crate::body::{Completion, ResponseBody};
use crate::connection::ConnInfo;
use crate::forward::{self, Forwarding, X_REQUEST_ID};
use crate::hygiene;
use crate::pool::{self, Checkin, SendError};
use crate::request_body::{self, BodyTooLarge, RequestBody};
use crate::shared::Shared;
use crate::snapshot::Snapshot;
use crate::upstream::Upstream;

/// How the gateway answers a request.
enum Answer {
    /// The upstream answered.
    Upstream {
        response: Response<Incoming>,
        checkin: Option<Checkin>,
        upstream_micros: u64,
        total_at: tokio::time::Instant,
    },
    /// The upstream answered and its body was read (and rewritten).
    Buffered { parts: http::response::Parts, body: Bytes, upstream_micros: u64 },
    /// The gateway answers itself (denials, failures, redirects).
    Own(Deny),
    /// A redirect to HTTPS.
    Redirect(HeaderValue),
}

/// Serves one request; never fails: every error becomes a generic answer.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let _in_flight = conn.activity.request();
    let snapshot = shared.live.load_full();
    let (head, body) = req.into_parts();
    let peer_trusted = snapshot.trusted_proxies.contains(conn.peer.ip());
    let request_id = match head.headers.get(&X_REQUEST_ID) {
        Some(id) if peer_trusted && RequestIds::is_acceptable(id.as_bytes()) => {
            Arc::from(id.to_str().unwrap_or_default())
        }
        _ => shared.ids.next_id(),
    };
    let client_ip = forward::client_ip(&head.headers, conn.peer.ip(), &snapshot.trusted_proxies);
    let mut cx = Ctx::new(request_id, client_ip, conn.peer.ip(), conn.is_tls);
    cx.client_cert.clone_from(&conn.client_cert);
    let record = shared.access_log.as_ref().map(|log| {
        let record = LogRecord {
            start_unix_ms: portcullis_core::time::unix_millis_at(cx.received),
            request_id: cx.request_id.clone(),
            route: None,
            client_ip: cx.client_ip,
            method: head.method.clone(),
            uri: head.uri.clone(),
            version: head.version,
            status: 0,
            bytes: 0,
            upstream_micros: None,
            total_micros: 0,
            reason: None,
            credential: None,
            headers: snapshot
                .masking
                .headers
                .iter()
                .filter_map(|name| head.headers.get(name).map(|v| (name.clone(), v.clone())))
                .collect(),
            masking: snapshot.masking.clone(),
        };
        (Box::new(record), log.clone())
    });
    let version = head.version;
    let (answer, route) = serve(&snapshot, &conn, head, body, &mut cx, peer_trusted).await;

    let mut upstream_micros = None;
    let mut response = match answer {
        Answer::Upstream { response, checkin, upstream_micros: micros, total_at } => {
            upstream_micros = Some(micros);
            upstream_response(response, checkin, route, &snapshot, total_at, &cx)
        }
        Answer::Buffered { parts, body, upstream_micros: micros } => {
            upstream_micros = Some(micros);
            buffered_response(parts, body, route, &cx)
        }
        Answer::Own(deny) => {
            cx.reason = Some(deny.reason);
            own_response(&deny, &cx, version)
        }
        Answer::Redirect(location) => {
            let mut response = Response::new(ResponseBody::full(bytes::Bytes::new()));
            *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
    };
    let (mut parts, mut body) = response.into_parts();
    if let Ok(id) = HeaderValue::try_from(&*cx.request_id) {
        parts.headers.insert(X_REQUEST_ID, id);
    }
    if let Some(Lifecycle::Deprecated { deprecation, sunset, link }) = route.map(|r| &r.lifecycle) {
        parts.headers.insert("deprecation", deprecation.clone());
        if let Some(sunset) = sunset {
            parts.headers.insert("sunset", sunset.clone());
        }
        if let Some(link) = link {
            parts.headers.append(header::LINK, link.clone());
        }
    }
    for (name, value) in cx.response_headers.drain(..) {
        parts.headers.append(name, value);
    }
    let policies: &[Arc<dyn Policy>] = route.map_or(&snapshot.default_policies, |r| &r.policies);
    for policy in policies {
        policy.on_response(&mut parts, &cx);
    }

    let status = parts.status.as_u16();
    let metrics = route.map_or(&snapshot.unrouted_metrics, |r| &snapshot.route_metrics[r.index]).clone();
    let log = record.map(|(mut record, log)| {
        record.route = cx.route.clone();
        record.status = status;
        record.upstream_micros = upstream_micros;
        record.reason = cx.reason;
        // Only a refused request names the credential it failed with (an
        // `any_of` may have noted one before another method admitted it).
        record.credential = cx.reason.and(cx.credential.take());
        (record, log)
    });
    body.on_complete(Completion { start: cx.received, metrics, status, log, holds: std::mem::take(&mut cx.holds) });
    response = Response::from_parts(parts, body);
    Ok(response)
}

/// Everything up to the upstream's response head.
async fn serve<'s>(
    snapshot: &'s Snapshot,
    conn: &ConnInfo,
    mut head: Parts,
    body: Incoming,
    cx: &mut Ctx,
    peer_trusted: bool,
) -> (Answer, Option<&'s Route>) {
    let (route, normalized) = match route_request(snapshot, conn, &head) {
        Ok(Routed::Route(route, normalized, params)) => {
            cx.path_params = params;
            (route, normalized)
        }
        Ok(Routed::Redirect(location)) => return (Answer::Redirect(location), None),
        Err(deny) => return (Answer::Own(deny), None),
    };
    cx.route = Some(route.id.clone());
    if let Lifecycle::Retired = route.lifecycle {
        return (Answer::Own(Deny::new(StatusCode::GONE, "route.retired")), Some(route));
    }
    for policy in route.policies.iter() {
        let result = policy.on_request(&mut head, cx).resolve().await;
        if let Err(deny) = decided(result, &**policy, cx) {
            return (Answer::Own(deny), Some(route));
        }
    }
    let body = match request_body(snapshot, route, &mut head, body, cx).await {
        Ok(body) => body,
        Err(deny) => return (Answer::Own(deny), Some(route)),
    };
    if route.rewrites_responses {
        // Rewriting needs a body it can read: ask for no content coding.
        head.headers.remove(header::ACCEPT_ENCODING);
    }
    let upstream = &snapshot.upstreams[route.upstream];
    match upstream.admit() {
        Ok(None) => {}
        Ok(Some(place)) => cx.holds.push(Box::new(place)),
        Err(()) => {
            let busy = Deny::new(StatusCode::SERVICE_UNAVAILABLE, "upstream.busy").retry_after(1);
            return (Answer::Own(busy), Some(route));
        }
    }
    let answer = exchange(upstream, head, body, normalized.as_deref(), conn, peer_trusted, cx).await;
    let answer = match answer {
        Answer::Upstream { response, checkin, upstream_micros, total_at } if route.rewrites_responses => {
            rewrite_response(route, response, checkin, upstream_micros, total_at, cx).await
        }
        Answer::Upstream { ref response, .. }
            if route
                .max_response_body
                .is_some_and(|max| declared_length(response.headers()).is_some_and(|n| n > max)) =>
        {
            Answer::Own(Deny::new(StatusCode::BAD_GATEWAY, "upstream.response.too_large"))
        }
        Answer::Own(deny) => {
            snapshot.route_metrics[route.index].upstream_error();
            Answer::Own(deny)
        }
        other => other,
    };
    (answer, Some(route))
}

/// The body to forward: streamed (counted against the route's limit), or
/// buffered when a policy inspects it or wants all of it, and forwarded
/// only after every policy accepted it.
async fn request_body(
    snapshot: &Snapshot,
    route: &Route,
    head: &mut Parts,
    body: Incoming,
    cx: &mut Ctx,
) -> Result<RequestBody, Deny> {
    let mut inspectors: Vec<Box<dyn BodyInspector>> =
        route.policies.iter().filter_map(|p| p.body_inspector(head, cx)).collect();
    let wanting: Vec<&Arc<dyn Policy>> = route.policies.iter().filter(|p| p.wants_body(head)).collect();
    if inspectors.is_empty() && wanting.is_empty() {
        return Ok(match route.max_request_body {
            Some(max) => RequestBody::Limited { inner: body, remaining: max },
            None => RequestBody::Stream(body),
        });
    }
    let max = route.max_request_body.unwrap_or(DEFAULT_INSPECTED_BODY);
    let bytes = request_body::buffer_and_inspect(body, &mut inspectors, max, snapshot.limits.body_read_timeout).await?;
    for policy in wanting {
        let result = policy.on_body(head, &bytes, cx).resolve().await;
        decided(result, &**policy, cx)?;
    }
    Ok(RequestBody::Full(Some(bytes)))
}

/// A policy's decision as the pipeline acts on it: go on, or answer with
/// the denial. A policy that could not decide fails closed with 503; the
/// detail goes to the log only.
fn decided(result: PolicyResult, policy: &dyn Policy, cx: &Ctx) -> Result<(), Deny> {
    match result {
        Ok(Verdict::Continue) => Ok(()),
        Ok(Verdict::Deny(deny)) => Err(deny),
        Err(err) => {
            tracing::error!(request_id = %cx.request_id, policy = policy.name(), error = %err, "Policy could not decide; failing closed.");
            Err(Deny::new(StatusCode::SERVICE_UNAVAILABLE, err.reason))
        }
    }
}

/// A buffered, inspected request body may be at most this large when the
/// route sets no `body_size` limit.
const DEFAULT_INSPECTED_BODY: u64 = 1 << 20;
/// A response buffered for rewriting may be at most this large when the
/// route sets no response limit.
const DEFAULT_REWRITTEN_RESPONSE: u64 = 10 << 20;

/// Reads the upstream body (within the route's limit and the exchange's
/// deadline) and passes it through the route's rewriters.
async fn rewrite_response(
    route: &Route,
    response: Response<Incoming>,
    checkin: Option<Checkin>,
    upstream_micros: u64,
    total_at: tokio::time::Instant,
    cx: &Ctx,
) -> Answer {
    let (parts, body) = response.into_parts();
    let mut rewriters: Vec<Box<dyn BodyRewriter>> =
        route.policies.iter().filter_map(|p| p.response_rewriter(&parts, cx)).collect();
    if rewriters.is_empty() {
        return Answer::Upstream { response: Response::from_parts(parts, body), checkin, upstream_micros, total_at };
    }
    let max = route.max_response_body.unwrap_or(DEFAULT_REWRITTEN_RESPONSE);
    let too_large = || Answer::Own(Deny::new(StatusCode::BAD_GATEWAY, "upstream.response.too_large"));
    if declared_length(&parts.headers).is_some_and(|n| n > max) {
        return too_large();
    }
    let limited = http_body_util::Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX));
    let mut bytes = match tokio::time::timeout_at(total_at, limited.collect()).await {
        Err(_) => return Answer::Own(Deny::new(StatusCode::GATEWAY_TIMEOUT, "upstream.timeout")),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(_)) => return Answer::Own(Deny::new(StatusCode::BAD_GATEWAY, "upstream.protocol")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    if let Some(checkin) = checkin {
        checkin.give_back(std::time::Instant::now());
    }
    for rewriter in &mut rewriters {
        match rewriter.rewrite(&bytes) {
            Ok(Some(new)) => bytes = Bytes::from(new),
            Ok(None) => {}
            Err(deny) => return Answer::Own(deny),
        }
    }
    Answer::Buffered { parts, body: bytes, upstream_micros }
}

/// Where hygiene checks and routing send a request.
enum Routed<'s> {
    /// To this route, with the normalized path when it differs from the
    /// request's, and the template parameters (empty for most routes).
    Route(&'s Route, Option<String>, Vec<(Box<str>, Box<str>)>),
    /// To HTTPS (a redirecting listener).
    Redirect(HeaderValue),
}

/// Hygiene checks, normalization and routing.
fn route_request<'s>(snapshot: &'s Snapshot, conn: &ConnInfo, head: &Parts) -> Result<Routed<'s>, Deny> {
    hygiene::check_method(&head.method)?;
    let target_len = head.uri.path_and_query().map_or(0, |p| p.as_str().len())
        + head.uri.authority().map_or(0, |a| a.as_str().len());
    if target_len > snapshot.limits.max_uri_bytes {
        return Err(Deny::new(StatusCode::URI_TOO_LONG, "request.target.too_long"));
    }
    hygiene::check_transfer_encoding(head)?;
    let host = hygiene::request_host(head)?;
    let path = normalize_path(head.uri.path()).map_err(|e| Deny::malformed(e.reason()))?;
    if let Some(port) = snapshot.listeners[conn.listener].redirect_https {
        return redirect(snapshot, &host, port, head).map(Routed::Redirect);
    }
    let (route, params) = match snapshot.routes.lookup(&host, &path, &head.method) {
        Lookup::Found { route, params } => (route, params.iter().map(|(k, v)| (k.into(), v.into())).collect()),
        Lookup::UnknownHost => return Err(Deny::new(StatusCode::MISDIRECTED_REQUEST, "route.host.unknown")),
        Lookup::NotFound => return Err(Deny::new(StatusCode::NOT_FOUND, "route.not_found")),
        Lookup::MethodNotAllowed(allow) => {
            return Err(Deny {
                allow: Some(allow.clone()),
                ..Deny::new(StatusCode::METHOD_NOT_ALLOWED, "route.method")
            });
        }
    };
    let normalized = match path {
        Cow::Owned(path) => Some(path),
        Cow::Borrowed(_) => None,
    };
    Ok(Routed::Route(route, normalized, params))
}

/// Sends the request to one of the upstream's targets.
async fn exchange(
    upstream: &Arc<Upstream>,
    mut head: Parts,
    body: RequestBody,
    normalized: Option<&str>,
    conn: &ConnInfo,
    peer_trusted: bool,
    cx: &Ctx,
) -> Answer {
    let index = upstream.pick();
    let target = &upstream.targets[index];
    let fwd = Forwarding {
        peer_trusted,
        conn: &conn.forwarding,
        request_id: &cx.request_id,
        identity: cx.identity.as_deref(),
    };
    if let Err(deny) = forward::upstream_head(&mut head, normalized, upstream, target, &fwd) {
        return Answer::Own(deny);
    }
    let sent = tokio::time::Instant::now();
    let total_at = sent + upstream.timeouts.total;
    let head_at = (sent + upstream.timeouts.read).min(total_at);
    let request = Request::from_parts(head, body);
    let result = tokio::time::timeout_at(head_at, pool::send(upstream, index, request, sent.into_std())).await;
    let upstream_micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
    match result {
        Ok(Ok((response, checkin))) => {
            upstream.report(index, true);
            Answer::Upstream { response, checkin, upstream_micros, total_at }
        }
        Ok(Err(err)) => {
            let (deny, reachable) = classify(&err);
            upstream.report(index, reachable);
            tracing::warn!(request_id = %cx.request_id, upstream = %upstream.name, target = %target.authority,
                error = %err, "Upstream exchange failed.");
            Answer::Own(deny)
        }
        Err(_) => {
            upstream.report(index, false);
            tracing::warn!(request_id = %cx.request_id, upstream = %upstream.name, target = %target.authority,
                "Upstream timed out.");
            Answer::Own(Deny::new(StatusCode::GATEWAY_TIMEOUT, "upstream.timeout"))
        }
    }
}

/// Maps a failed exchange to a denial, and says whether the target was reachable.
fn classify(err: &SendError) -> (Deny, bool) {
    match err {
        SendError::Connect(_) => (Deny::new(StatusCode::BAD_GATEWAY, "upstream.connect"), false),
        // A failure while streaming the client's body (a bad chunk, a client
        // that went away) is the client's fault; hyper reports it as a "user" error.
        SendError::Http(e) if caused_by::<BodyTooLarge>(e) => {
            (Deny { close: true, ..Deny::new(StatusCode::PAYLOAD_TOO_LARGE, "inspect.body.too_large") }, true)
        }
        SendError::Http(e) if e.is_user() => (Deny::malformed("request.body.invalid"), true),
        SendError::Http(_) => (Deny::new(StatusCode::BAD_GATEWAY, "upstream.protocol"), true),
    }
}

/// The `Content-Length` of a response, if it has a valid one.
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// Whether `err` or one of its sources is an `E`.
fn caused_by<E: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<E>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// A redirect to the same host and target over HTTPS.
fn redirect(snapshot: &Snapshot, host: &str, port: u16, head: &Parts) -> Result<HeaderValue, Deny> {
    if !snapshot.routes.knows_host(host) || host.is_empty() {
        return Err(Deny::new(StatusCode::MISDIRECTED_REQUEST, "route.host.unknown"));
    }
    let target = head.uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    let location =
        if port == 443 { format!("https://{host}{target}") } else { format!("https://{host}:{port}{target}") };
    HeaderValue::try_from(location).map_err(|_| Deny::malformed("request.target.invalid"))
}

/// The upstream's response, cleaned; 5xx bodies replaced when the route asks.
fn upstream_response(
    response: Response<Incoming>,
    checkin: Option<Checkin>,
    route: Option<&Route>,
    snapshot: &Snapshot,
    total_at: tokio::time::Instant,
    cx: &Ctx,
) -> Response<ResponseBody> {
    let (mut parts, body) = response.into_parts();
    forward::clean_response(&mut parts.headers);
    if parts.status.is_server_error() && route.is_some_and(|r| r.replace_upstream_errors) {
        parts.headers.clear();
        let body = error_body(parts.status, &cx.request_id);
        set_json(&mut parts.headers, body.len());
        return Response::from_parts(parts, ResponseBody::full(body));
    }
    let read = route.map_or(snapshot.limits.idle_timeout, |r| snapshot.upstreams[r.upstream].timeouts.read);
    let limit = route.and_then(|r| r.max_response_body).unwrap_or(u64::MAX);
    Response::from_parts(parts, ResponseBody::upstream(body, read, total_at, checkin, limit))
}

/// A response whose body was read and rewritten.
fn buffered_response(
    mut parts: http::response::Parts,
    body: Bytes,
    route: Option<&Route>,
    cx: &Ctx,
) -> Response<ResponseBody> {
    forward::clean_response(&mut parts.headers);
    if parts.status.is_server_error() && route.is_some_and(|r| r.replace_upstream_errors) {
        parts.headers.clear();
        let generic = error_body(parts.status, &cx.request_id);
        set_json(&mut parts.headers, generic.len());
        return Response::from_parts(parts, ResponseBody::full(generic));
    }
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Response::from_parts(parts, ResponseBody::full(body))
}

/// The gateway's own generic error answer.
fn own_response(deny: &Deny, cx: &Ctx, version: Version) -> Response<ResponseBody> {
    let body = error_body(deny.status, &cx.request_id);
    let length = body.len();
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = deny.status;
    let headers = response.headers_mut();
    set_json(headers, length);
    if let Some(allow) = &deny.allow {
        headers.insert(header::ALLOW, allow.clone());
    }
    for (name, value) in &deny.headers {
        headers.append(name.clone(), value.clone());
    }
    if deny.close && version <= Version::HTTP_11 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Headers of a generated JSON error body of `length` bytes.
fn set_json(headers: &mut http::HeaderMap, length: usize) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
}
