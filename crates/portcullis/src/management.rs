//! The management plane inside `portcullis serve`: the store, the admin
//! API, and the background jobs that sign audit checkpoints, enforce
//! retention and forward audit events to syslog.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use portcullis_admin::{AppState, ConfigView, ManagementSettings};
use portcullis_audit::{AuditSigner, SyslogForwarder, SyslogTarget};
use portcullis_store::{AuditQuery, CredentialIndex, RevocationIndex, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::keys;

/// The running management plane.
pub(crate) struct Plane {
    /// The store, for audit events the data plane's owner records (reloads).
    pub(crate) store: Store,
    signer: Arc<AuditSigner>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    followers: [JoinHandle<()>; 2],
}

impl Plane {
    /// Opens the store and starts the admin API and the background jobs.
    pub(crate) async fn start(settings: &ManagementSettings, config_view: ConfigView) -> anyhow::Result<Self> {
        let master = keys::master(settings.master_passphrase.as_ref())?;
        let store =
            Store::open(settings.store_url.as_deref(), &settings.data_dir).await.context("opening the store")?;
        let signer = Arc::new(keys::signer(&settings.data_dir, master.as_ref())?);
        let (stop, stopped) = watch::channel(false);
        // The data plane authenticates against an in-memory index of the
        // store's credentials, kept fresh by change notifications.
        let index = CredentialIndex::load(&store).await.context("loading credentials")?;
        let follower = index.follow(store.clone());
        let mut tasks = Vec::new();
        tracing::info!(credentials = index.len(), "Credential index loaded.");
        let revocations = RevocationIndex::load(&store).await.context("loading revocations")?;
        let revocation_follower = revocations.follow(store.clone());
        let source = portcullis_auth::CredentialSource::process();
        source.set(index);
        source.set_revocations(revocations);
        if let Some(admin) = &settings.admin {
            let listener = tokio::net::TcpListener::bind(admin.listen)
                .await
                .with_context(|| format!("binding the admin listener on {}", admin.listen))?;
            tracing::info!(listener = "admin", addr = %listener.local_addr()?, tls = admin.tls.is_some(), "Listening.");
            let state = AppState::new(store.clone(), admin.clone(), master.clone(), config_view)
                .context("the admin password hashing settings")?;
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(portcullis_admin::serve(listener, state, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })));
        }
        tasks.push(tokio::spawn(checkpoints(
            store.clone(),
            signer.clone(),
            settings.audit.checkpoint_interval,
            stopped.clone(),
        )));
        tasks.push(tokio::spawn(retention(store.clone(), settings.clone(), stopped.clone())));
        if let Some(target) = settings.audit.syslog {
            let cursor = settings.data_dir.join("syslog.cursor");
            tasks.push(tokio::spawn(forward(store.clone(), target, cursor, stopped)));
        }
        Ok(Self { store, signer, stop, tasks, followers: [follower, revocation_follower] })
    }

    /// Stops the jobs and signs the final head.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        for follower in &self.followers {
            follower.abort();
        }
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        if let Err(err) = self.store.sign_checkpoint(&self.signer).await {
            tracing::error!(error = %err, "Final audit checkpoint failed.");
        }
        self.store.close().await;
    }
}

async fn checkpoints(store: Store, signer: Arc<AuditSigner>, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        if let Err(err) = store.sign_checkpoint(&signer).await {
            tracing::error!(error = %err, "Audit checkpoint failed; will retry.");
        }
    }
}

async fn retention(store: Store, settings: ManagementSettings, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(settings.retention_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        match store.enforce_retention(&settings.retention).await {
            Ok(report) => tracing::debug!(?report, "Retention enforced."),
            Err(err) => tracing::error!(error = %err, "Retention job failed; will retry."),
        }
    }
}

/// Sends every audit event after the cursor to syslog, in order. The cursor
/// moves only after a send succeeded, so a collector outage delays events
/// but never drops one.
async fn forward(store: Store, target: SyslogTarget, cursor: std::path::PathBuf, mut stopped: watch::Receiver<bool>) {
    let hostname = std::fs::read_to_string("/etc/hostname").map_or_else(|_| "-".to_owned(), |h| h.trim().to_owned());
    let mut after: i64 = std::fs::read_to_string(&cursor).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let mut forwarder: Option<SyslogForwarder> = None;
    let mut backoff = Duration::from_millis(200);
    loop {
        let query = AuditQuery { after_seq: after, limit: 200, ..AuditQuery::default() };
        let sent = async {
            let events = store.audit_events(&query).await.map_err(|e| e.to_string())?;
            for stored in &events {
                if forwarder.is_none() {
                    forwarder = Some(SyslogForwarder::connect(target).await.map_err(|e| e.to_string())?);
                }
                let line = portcullis_audit::format_rfc5424(&stored.event, &hostname, "portcullis");
                if let Some(f) = forwarder.as_mut()
                    && let Err(err) = f.send(&line).await
                {
                    forwarder = None;
                    return Err(err.to_string());
                }
                after = stored.event.seq;
            }
            Ok::<usize, String>(events.len())
        }
        .await;
        let pause = match sent {
            Ok(count) => {
                backoff = Duration::from_millis(200);
                if count > 0 {
                    let _ = portcullis_secrets::write_private(&cursor, after.to_string().as_bytes());
                }
                if count == 200 { Duration::ZERO } else { Duration::from_secs(1) }
            }
            Err(err) => {
                tracing::warn!(error = %err, "Syslog forwarding failed; retrying from the last event sent.");
                backoff = (backoff * 2).min(Duration::from_secs(30));
                backoff
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
}
