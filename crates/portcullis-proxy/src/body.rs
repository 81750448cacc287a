//! The response body the gateway sends: an upstream's stream (with read and
//! total deadlines) or a small generated body. When it ends or is dropped it
//! records metrics and the access-log line, so both see the bytes actually sent.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Sleep;

use crate::access_log::{AccessLog, LogRecord};
use crate::metrics::RouteMetrics;
use crate::pool::Checkin;

/// Errors while streaming a response body.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The upstream stopped sending within its read or total timeout.
#[derive(Debug, thiserror::Error)]
#[error("upstream response body timed out")]
pub(crate) struct BodyTimeout;

enum Inner {
    Full(Option<Bytes>),
    Upstream(Incoming),
}

/// The upstream's read and total deadlines while its body streams. The
/// timer is armed only when the body first has to wait: a small body that
/// is already buffered never touches the timer wheel.
struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
    read: Duration,
    total_at: tokio::time::Instant,
}

impl Deadline {
    fn next(&self) -> tokio::time::Instant {
        (tokio::time::Instant::now() + self.read).min(self.total_at)
    }

    /// After a frame: the read deadline starts again, if one is armed (until
    /// then a frame costs no clock read).
    fn rearm(&mut self) {
        if self.sleep.is_some() {
            let next = self.next();
            if let Some(sleep) = &mut self.sleep {
                sleep.as_mut().reset(next);
            }
        }
    }
}

/// What to record once the response is over.
pub(crate) struct Completion {
    pub(crate) start: Instant,
    pub(crate) metrics: Arc<RouteMetrics>,
    pub(crate) status: u16,
    pub(crate) log: Option<(Box<LogRecord>, AccessLog)>,
    /// Dropped when the response is over (e.g. concurrency slots).
    pub(crate) holds: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

/// The body of every response Portcullis sends.
pub struct ResponseBody {
    inner: Inner,
    deadline: Option<Deadline>,
    checkin: Option<Checkin>,
    ended: bool,
    bytes: u64,
    /// Bytes the body may have; past this the stream is cut.
    limit: u64,
    done: Option<Completion>,
}

/// The upstream body outgrew the route's response limit.
#[derive(Debug, thiserror::Error)]
#[error("upstream response body exceeds the route's limit")]
pub(crate) struct ResponseTooLarge;

impl ResponseBody {
    /// A generated body, sent in one frame.
    pub fn full(bytes: Bytes) -> Self {
        Self {
            inner: Inner::Full(Some(bytes)),
            deadline: None,
            checkin: None,
            ended: false,
            bytes: 0,
            limit: u64::MAX,
            done: None,
        }
    }

    /// An upstream body streamed through, bounded by `read` between chunks
    /// and by `total_at` overall. `checkin` returns the connection to its pool
    /// once the body has been read to its end. A body longer than `limit`
    /// is cut.
    pub(crate) fn upstream(
        body: Incoming,
        read: Duration,
        total_at: tokio::time::Instant,
        checkin: Option<Checkin>,
        limit: u64,
    ) -> Self {
        let deadline = Deadline { sleep: None, read, total_at };
        Self {
            inner: Inner::Upstream(body),
            deadline: Some(deadline),
            checkin,
            ended: false,
            bytes: 0,
            limit,
            done: None,
        }
    }

    fn inner_is_end(&self) -> bool {
        match &self.inner {
            Inner::Full(bytes) => bytes.is_none(),
            Inner::Upstream(body) => body.is_end_stream(),
        }
    }

    pub(crate) fn on_complete(&mut self, completion: Completion) {
        self.done = Some(completion);
    }

    fn finish(&mut self, cut: Option<&'static str>) {
        // Dropping a body that already ended finds nothing left to do: no clock read.
        if self.checkin.is_none() && self.done.is_none() {
            return;
        }
        let now = Instant::now();
        if let Some(checkin) = self.checkin.take()
            && (self.ended || self.inner_is_end())
        {
            checkin.give_back(now);
        }
        let Some(done) = self.done.take() else { return };
        let elapsed = now.saturating_duration_since(done.start);
        done.metrics.observe(done.status, elapsed);
        if let Some((mut record, log)) = done.log {
            record.bytes = self.bytes;
            record.total_micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            if cut.is_some() {
                record.reason = cut;
            }
            log.send(record);
        }
        // The response is over: release what policies held for its duration.
        drop(done.holds);
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = match &mut this.inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Upstream(body) => match Pin::new(body).poll_frame(cx) {
                Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(BoxError::from))),
                Poll::Pending => {
                    if let Some(deadline) = &mut this.deadline {
                        let at = deadline.next();
                        let sleep = deadline.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                        ready!(sleep.as_mut().poll(cx));
                        this.checkin = None;
                        this.finish(Some("upstream.timeout.body"));
                        return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
                    }
                    Poll::Pending
                }
            },
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                    if this.bytes > this.limit {
                        this.checkin = None;
                        this.finish(Some("upstream.response.too_large"));
                        return Poll::Ready(Some(Err(Box::new(ResponseTooLarge))));
                    }
                }
                if let Some(deadline) = &mut this.deadline {
                    deadline.rearm();
                }
            }
            Poll::Ready(None) => {
                this.ended = true;
                this.finish(None);
            }
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner_is_end()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Upstream(body) => body.size_hint(),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.finish(None);
    }
}

use std::future::Future as _;
