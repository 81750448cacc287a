//! `portcullis serve`: load, start the data plane, the ops listener and the
//! signal handlers; reload on SIGHUP (or file change); drain on SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use portcullis_config::{Loaded, RuntimeSettings};
use portcullis_core::RequestIds;
use portcullis_proxy::access_log::AccessLog;
use portcullis_proxy::metrics::Metrics;
use portcullis_proxy::{Server, Shared};
use tokio::signal::unix::{SignalKind, signal};

pub(crate) fn run(config: &Path, demo_upstream: Option<SocketAddr>) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let loaded = portcullis_config::load(config, 1, &metrics).map_err(|err| {
        eprintln!("{err}");
        anyhow::anyhow!("the configuration has {} error(s)", err.errors.len())
    })?;
    loaded.share_lockouts();
    let Loaded { snapshot, runtime, management: plane_settings, .. } = loaded;
    init_logging(&runtime);
    let access_log = match &runtime.access_log {
        Some(destination) => Some(AccessLog::start(destination, metrics.clone()).context("opening the access log")?),
        None => None,
    };
    let live = Arc::new(ArcSwap::from_pointee(snapshot));
    let shared = Arc::new(Shared {
        live: live.clone(),
        ids: RequestIds::new().map_err(|e| anyhow::anyhow!("no randomness for request ids: {e}"))?,
        metrics: metrics.clone(),
        access_log,
    });

    let view = Arc::new(ArcSwap::from_pointee(config_view(config)));
    let control = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let plane = control.block_on(async {
        if let Some(addr) = demo_upstream {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the demo upstream on {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, "Demo upstream listening.");
            tokio::spawn(crate::demo::serve(listener));
        }
        if let Some(addr) = runtime.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener on {addr}"))?;
            tracing::info!(listener = "metrics", addr = %listener.local_addr()?, "Listening.");
            tokio::spawn(portcullis_proxy::ops::serve(listener, metrics.clone()));
        }
        let shown = view.clone();
        crate::management::Plane::start(&plane_settings, Arc::new(move || (**shown.load()).clone())).await
    })?;
    let server = Server::start(&shared, runtime.workers, runtime.drain_timeout).context("starting listeners")?;
    for (listener, addr) in live.load().listeners.iter().zip(server.local_addrs()) {
        tracing::info!(listener = %listener.name, addr = %addr, tls = listener.tls.is_some(), "Listening.");
    }
    tracing::info!(workers = runtime.workers, generation = live.load().generation, "Portcullis started.");
    let reloads =
        Reloads { config, live: &live, runtime: &runtime, metrics: &metrics, store: &plane.store, view: &view };
    control.block_on(signals(&reloads))?;
    tracing::info!(drain = ?runtime.drain_timeout, "Shutting down: draining open connections.");
    server.shutdown();
    control.block_on(plane.stop());
    tracing::info!("Stopped.");
    Ok(())
}

/// What a reload touches.
struct Reloads<'a> {
    config: &'a Path,
    live: &'a portcullis_proxy::Live,
    runtime: &'a RuntimeSettings,
    metrics: &'a Metrics,
    store: &'a portcullis_store::Store,
    view: &'a ArcSwap<serde_json::Value>,
}

/// Waits for SIGTERM/SIGINT, reloading on SIGHUP and, if asked, on file change.
async fn signals(reloads: &Reloads<'_>) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut watch = tokio::time::interval(reloads.runtime.watch.unwrap_or(Duration::from_secs(3600)));
    let mut seen = modified(reloads.config);
    loop {
        tokio::select! {
            _ = hup.recv() => reload(reloads).await,
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = watch.tick(), if reloads.runtime.watch.is_some() => {
                let now = modified(reloads.config);
                if now != seen {
                    seen = now;
                    reload(reloads).await;
                }
            }
        }
    }
}

/// The configuration file as a JSON value with secrets masked: what
/// `GET /admin/v1/config` shows of the configuration in force.
fn config_view(config: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(config).unwrap_or_default();
    let mut value: serde_json::Value = serde_saphyr::from_str(&text).unwrap_or(serde_json::Value::Null);
    for secret in ["/store/url", "/counters/redis"] {
        if let Some(url) = value.pointer_mut(secret) {
            *url = serde_json::Value::String("***".into());
        }
    }
    if let Some(serde_json::Value::Array(seeds)) = value.pointer_mut("/counters/redis_cluster") {
        seeds.iter_mut().for_each(|url| *url = serde_json::Value::String("***".into()));
    }
    portcullis_audit::mask_details(&mut value);
    value
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads, and records the outcome as an audit event (a security event).
async fn reload(r: &Reloads<'_>) {
    use portcullis_audit::{NewEvent, Outcome};
    let event = match portcullis_config::reload(r.live, r.config, r.runtime, r.metrics) {
        Ok(generation) => {
            r.metrics.reloads_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            r.view.store(Arc::new(config_view(r.config)));
            tracing::info!(generation, "Configuration reloaded.");
            NewEvent::new("system", "host", "config.reload", "config", Outcome::Success)
                .with_details(serde_json::json!({ "generation": generation }))
        }
        Err(err) => {
            r.metrics.reloads_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(error = %err, "Configuration reload refused; the running configuration keeps serving.");
            NewEvent::new("system", "host", "config.reload", "config", Outcome::Failure)
                .with_details(serde_json::json!({ "error": err.to_string() }))
        }
    };
    if let Err(err) = r.store.record(event).await {
        tracing::error!(error = %err, "The configuration reload could not be recorded in the audit log.");
    }
}

fn init_logging(runtime: &RuntimeSettings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&runtime.log_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    if runtime.log_json {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
}
