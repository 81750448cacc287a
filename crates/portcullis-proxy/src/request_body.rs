//! The request body the gateway sends upstream: streamed as it arrives
//! (optionally counted against a limit), or buffered and inspected first.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use portcullis_core::{BodyInspector, Deny};

use crate::body::BoxError;

/// The body exceeded the route's limit while streaming.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the route's limit")]
pub(crate) struct BodyTooLarge;

/// A request body on its way upstream.
pub(crate) enum RequestBody {
    /// Streamed through unchanged.
    Stream(Incoming),
    /// Streamed through, refused past `remaining` more bytes.
    Limited { inner: Incoming, remaining: u64 },
    /// Buffered and inspected.
    Full(Option<Bytes>),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut *self {
            Self::Stream(inner) => Pin::new(inner).poll_frame(cx).map(|f| f.map(|f| f.map_err(BoxError::from))),
            Self::Limited { inner, remaining } => {
                let polled = Pin::new(inner).poll_frame(cx).map(|f| f.map(|f| f.map_err(BoxError::from)));
                if let Poll::Ready(Some(Ok(frame))) = &polled
                    && let Some(data) = frame.data_ref()
                {
                    let len = data.len() as u64;
                    if len > *remaining {
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                    }
                    *remaining -= len;
                }
                polled
            }
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Stream(inner) | Self::Limited { inner, .. } => inner.is_end_stream(),
            Self::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Stream(inner) | Self::Limited { inner, .. } => inner.size_hint(),
            Self::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
        }
    }
}

/// Reads the whole body (at most `max` bytes, each chunk within `wait`),
/// feeding every chunk to the inspectors as it arrives, then the whole body.
/// Every refusal closes the connection: the rest of the body is unread.
pub(crate) async fn buffer_and_inspect(
    mut body: Incoming,
    inspectors: &mut [Box<dyn BodyInspector>],
    max: u64,
    wait: Duration,
) -> Result<Bytes, Deny> {
    let close = |deny: Deny| Deny { close: true, ..deny };
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut total = 0u64;
    loop {
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return Err(close(Deny::new(StatusCode::REQUEST_TIMEOUT, "request.body.timeout"))),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(Deny::malformed("request.body.invalid")),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        total += data.len() as u64;
        if total > max {
            return Err(close(Deny::new(StatusCode::PAYLOAD_TOO_LARGE, "inspect.body.too_large")));
        }
        for inspector in inspectors.iter_mut() {
            inspector.feed(&data).map_err(close)?;
        }
        match first.take() {
            None if rest.is_empty() => first = Some(data),
            None => rest.extend_from_slice(&data),
            Some(previous) => {
                rest.extend_from_slice(&previous);
                rest.extend_from_slice(&data);
            }
        }
    }
    let whole = first.unwrap_or_else(|| rest.freeze());
    for inspector in inspectors.iter_mut() {
        inspector.finish(&whole).map_err(close)?;
    }
    Ok(whole)
}
