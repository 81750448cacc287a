//! Prometheus metrics, lock-free on the request path: every series the data
//! path touches is an atomic that the snapshot holds a handle to. Locks are
//! taken only when a route is registered (at load) and when `/metrics` is read.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Latency bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The series of one route (or of unrouted requests).
#[derive(Debug, Default)]
pub struct RouteMetrics {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    upstream_errors: AtomicU64,
}

impl RouteMetrics {
    /// Records a finished request.
    pub fn observe(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts a failed upstream exchange.
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Process-wide counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<Vec<(String, Arc<RouteMetrics>)>>,
    /// Open client connections.
    pub open_connections: AtomicU64,
    /// Connections closed at accept because `max_connections` was reached.
    pub rejected_connections: AtomicU64,
    /// Failed TLS handshakes.
    pub tls_handshake_failures: AtomicU64,
    /// Successful configuration reloads.
    pub reloads_ok: AtomicU64,
    /// Refused configuration reloads.
    pub reloads_failed: AtomicU64,
    /// Access-log lines dropped because the writer fell behind.
    pub access_log_dropped: AtomicU64,
}

impl Metrics {
    /// The series for `route`, created on first use and kept across reloads
    /// so counters do not reset.
    pub fn route(&self, route: &str) -> Arc<RouteMetrics> {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, m)) = routes.iter().find(|(name, _)| name == route) {
            return m.clone();
        }
        let m = Arc::new(RouteMetrics::default());
        routes.push((route.to_owned(), m.clone()));
        m
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner).clone();
        out.push_str("# HELP portcullis_requests_total Requests answered, by route and status class.\n");
        out.push_str("# TYPE portcullis_requests_total counter\n");
        for (route, m) in &routes {
            for (i, c) in m.by_class.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "portcullis_requests_total{{route=\"{route}\",class=\"{}xx\"}} {}",
                    i + 1,
                    c.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP portcullis_request_duration_seconds Time from request head to last response byte.\n");
        out.push_str("# TYPE portcullis_request_duration_seconds histogram\n");
        for (route, m) in &routes {
            let mut cumulative = 0;
            for (bound, b) in BUCKETS.iter().zip(&m.buckets) {
                cumulative += b.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "portcullis_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = m.count.load(Ordering::Relaxed);
            let sum = Duration::from_micros(m.sum_micros.load(Ordering::Relaxed)).as_secs_f64();
            let _ =
                writeln!(out, "portcullis_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "portcullis_request_duration_seconds_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(out, "portcullis_request_duration_seconds_count{{route=\"{route}\"}} {count}");
        }
        out.push_str(
            "# HELP portcullis_upstream_errors_total Upstream exchanges that failed (connect, timeout, protocol).\n",
        );
        out.push_str("# TYPE portcullis_upstream_errors_total counter\n");
        for (route, m) in &routes {
            let _ = writeln!(
                out,
                "portcullis_upstream_errors_total{{route=\"{route}\"}} {}",
                m.upstream_errors.load(Ordering::Relaxed)
            );
        }
        let gauges: [(&str, &str, &str, &AtomicU64); 6] = [
            ("portcullis_open_connections", "gauge", "Open client connections.", &self.open_connections),
            (
                "portcullis_rejected_connections_total",
                "counter",
                "Connections refused at max_connections.",
                &self.rejected_connections,
            ),
            (
                "portcullis_tls_handshake_failures_total",
                "counter",
                "Failed TLS handshakes.",
                &self.tls_handshake_failures,
            ),
            ("portcullis_config_reloads_total{result=\"ok\"}", "counter", "Configuration reloads.", &self.reloads_ok),
            ("portcullis_config_reloads_total{result=\"refused\"}", "", "", &self.reloads_failed),
            (
                "portcullis_access_log_dropped_total",
                "counter",
                "Access-log lines dropped under back-pressure.",
                &self.access_log_dropped,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let family = name.split('{').next().unwrap_or(name);
            if !kind.is_empty() {
                let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} {kind}");
            }
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        portcullis_core::render_counters(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_series_survive_re_registration() {
        let metrics = Metrics::default();
        metrics.route("api").observe(204, Duration::from_millis(2));
        metrics.route("api").observe(503, Duration::from_millis(2));
        let text = metrics.render();
        assert!(text.contains("portcullis_requests_total{route=\"api\",class=\"2xx\"} 1"), "{text}");
        assert!(text.contains("portcullis_requests_total{route=\"api\",class=\"5xx\"} 1"), "{text}");
        assert!(text.contains("portcullis_request_duration_seconds_count{route=\"api\"} 2"), "{text}");
    }
}
