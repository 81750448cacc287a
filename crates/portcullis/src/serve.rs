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
    let Loaded { snapshot, runtime } = portcullis_config::load(config, 1, &metrics).map_err(|err| {
        eprintln!("{err}");
        anyhow::anyhow!("the configuration has {} error(s)", err.errors.len())
    })?;
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

    let control = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    control.block_on(async {
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
        anyhow::Ok(())
    })?;
    let server = Server::start(&shared, runtime.workers, runtime.drain_timeout).context("starting listeners")?;
    for (listener, addr) in live.load().listeners.iter().zip(server.local_addrs()) {
        tracing::info!(listener = %listener.name, addr = %addr, tls = listener.tls.is_some(), "Listening.");
    }
    tracing::info!(workers = runtime.workers, generation = live.load().generation, "Portcullis started.");
    control.block_on(signals(config, &live, &runtime, &metrics))?;
    tracing::info!(drain = ?runtime.drain_timeout, "Shutting down: draining open connections.");
    server.shutdown();
    tracing::info!("Stopped.");
    Ok(())
}

/// Waits for SIGTERM/SIGINT, reloading on SIGHUP and, if asked, on file change.
async fn signals(
    config: &Path,
    live: &portcullis_proxy::Live,
    runtime: &RuntimeSettings,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut watch = tokio::time::interval(runtime.watch.unwrap_or(Duration::from_secs(3600)));
    let mut seen = modified(config);
    loop {
        tokio::select! {
            _ = hup.recv() => reload(config, live, runtime, metrics),
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = watch.tick(), if runtime.watch.is_some() => {
                let now = modified(config);
                if now != seen {
                    seen = now;
                    reload(config, live, runtime, metrics);
                }
            }
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn reload(config: &Path, live: &portcullis_proxy::Live, runtime: &RuntimeSettings, metrics: &Metrics) {
    match portcullis_config::reload(live, config, runtime, metrics) {
        Ok(generation) => {
            metrics.reloads_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(generation, "Configuration reloaded.");
        }
        Err(err) => {
            metrics.reloads_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(error = %err, "Configuration reload refused; the running configuration keeps serving.");
        }
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
