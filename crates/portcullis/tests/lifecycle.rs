//! Reload and shutdown: an atomic swap that drops nothing, invalid files
//! refused while the old configuration serves, and a graceful drain.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{BIN, Gateway, TestUpstream, raw};
use tokio::io::AsyncWriteExt;

fn cfg(upstream: &TestUpstream, route_path: &str, extra: &str) -> String {
    format!(
        "workers: 2
listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
upstream_allowlist: [127.0.0.1]
upstreams: [{{ name: app, targets: [{}] }}]
routes: [{{ name: r, prefix: {route_path}, upstream: app }}]
access_log: {{ enabled: false }}
metrics: {{ listen: 127.0.0.1:0 }}
shutdown: {{ drain_timeout: 5s }}
{extra}",
        upstream.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_under_load_drops_no_request() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &cfg(&upstream, "/", ""));
    let addr = gw.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            // Keep-alive connections, so reloads happen under open connections.
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            for _ in 0..5000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                stream.write_all(b"GET /a HTTP/1.1\r\nHost: api.test\r\n\r\n").await.unwrap();
                let resp = raw::read_response(&mut stream, Duration::from_secs(2)).await;
                if resp.is_some_and(|r| r.status == 200) {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        gw.rewrite_config(&cfg(&upstream, if i % 2 == 0 { "/a" } else { "/" }, ""));
        gw.signal("HUP");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert!(gw.wait_for_log("generation=6", Duration::from_secs(5)), "{:?}", gw.stderr());
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 100, "the load ran: {}", ok.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_or_restart_only_reloads_are_refused_and_old_config_serves() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &cfg(&upstream, "/", ""));
    gw.rewrite_config("listeners: [oops\n");
    gw.signal("HUP");
    assert!(gw.wait_for_log("reload refused", Duration::from_secs(5)));
    assert_eq!(raw::get(gw.addr(), "api.test", "/x").await.status, 200);
    gw.rewrite_config(&cfg(&upstream, "/", "").replace("workers: 2", "workers: 3"));
    gw.signal("HUP");
    assert!(gw.wait_for_log("only with a restart: workers", Duration::from_secs(5)), "{:?}", gw.stderr());
    // A valid change applies: /x is no longer routed.
    gw.rewrite_config(&cfg(&upstream, "/only", ""));
    gw.signal("HUP");
    assert!(gw.wait_for_log("generation=2", Duration::from_secs(5)));
    assert_eq!(raw::get(gw.addr(), "api.test", "/x").await.status, 404);
    let metrics = raw::get(gw.listener("public"), "api.test", "/only/y").await;
    assert_eq!(metrics.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_the_ops_listener() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &cfg(&upstream, "/", ""));
    raw::get(gw.addr(), "api.test", "/x").await;
    let ops = gw.metrics_addr();
    let text = raw::get(ops, "localhost", "/metrics").await.text();
    assert!(text.contains("portcullis_requests_total{route=\"r\",class=\"2xx\"} 1"), "{text}");
    assert!(text.contains("portcullis_open_connections"), "{text}");
    assert_eq!(raw::get(ops, "localhost", "/healthz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    let upstream = TestUpstream::start().await;
    let mut gw = Gateway::start(BIN, &cfg(&upstream, "/", ""));
    let addr = gw.addr();
    let slow = tokio::spawn(async move { raw::get(addr, "api.test", "/slow/800").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.signal("TERM");
    let resp = slow.await.unwrap();
    assert_eq!(resp.status, 200, "the in-flight request completed during the drain");
    let status = gw.wait_exit(Duration::from_secs(5)).expect("exited after draining");
    assert!(status.success());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer accepting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_watch_reloads_when_enabled() {
    let upstream = TestUpstream::start().await;
    let watch = "reload: { watch: true, interval: 100ms }\n";
    let gw = Gateway::start(BIN, &cfg(&upstream, "/", watch));
    assert_eq!(raw::get(gw.addr(), "api.test", "/x").await.status, 200);
    // File systems with coarse timestamps need the next tick to see a change.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    gw.rewrite_config(&cfg(&upstream, "/only", watch));
    assert!(gw.wait_for_log("generation=2", Duration::from_secs(5)), "{:?}", gw.stderr());
    assert_eq!(raw::get(gw.addr(), "api.test", "/x").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &cfg(&upstream, "/", "limits: { max_connections: 2 }\n"));
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: api.test\r\n\r\n").await.unwrap();
        assert_eq!(raw::read_response(&mut stream, Duration::from_secs(2)).await.unwrap().status, 200);
        held.push(stream);
    }
    let mut third = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: api.test\r\n\r\n").await;
    assert!(raw::closed_within(&mut third, Duration::from_secs(2)).await, "third connection was served");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(raw::get(gw.addr(), "api.test", "/").await.status, 200, "slots are released");
}
