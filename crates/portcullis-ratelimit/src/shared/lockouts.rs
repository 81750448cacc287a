//! Brute-force lockouts shared by every gateway using the same Redis:
//! failures are counted together (one script per failure, off the request's
//! path), and a lock is announced on a channel that every gateway follows
//! into its own table, so the check on each request stays a local look-up.
//! An admin unlock is announced the same way.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};

use super::SharedCounters;
use crate::lockout::{LockoutRule, Lockouts};

/// The channel locks and unlocks are announced on.
const CHANNEL: &str = "portcullis:lockouts";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The Redis keys of a lockout key: its failures, its lock count and its
/// lock, under one hash tag (one cluster slot).
fn redis_keys(key: &str) -> [String; 3] {
    let digest = Sha256::digest(key.as_bytes());
    let tag: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    ["failures", "locks", "locked"].map(|part| format!("portcullis:lo:{{{tag}}}:{part}"))
}

impl SharedCounters {
    /// Counts one failure of `key` with every gateway; a lock it causes is announced.
    pub(crate) async fn record_failure(&self, key: &str, rule: LockoutRule) {
        let [failures, locks, locked] = redis_keys(key);
        let mut call = self.lockout_script.key(&failures);
        call.key(&locks)
            .key(&locked)
            .arg(millis(rule.window))
            .arg(rule.max_failures)
            .arg(millis(rule.lock_for))
            .arg(millis(rule.max_lock))
            .arg(CHANNEL)
            .arg(key);
        // A failure to count is logged by `call` (and the local table still counts).
        let _ = self.call(|connection| connection.invoke::<u64>(&call)).await;
    }

    /// Unlocks `key` on every gateway; whether it was locked (`None`: Redis did not answer).
    pub(crate) async fn announce_unlock(&self, key: &str) -> Option<bool> {
        let [failures, locks, locked] = redis_keys(key);
        self.call(|connection| async move {
            let was_locked = connection.query::<u64>(redis::cmd("DEL").arg(&locked)).await? > 0;
            connection.query::<u64>(redis::cmd("DEL").arg(&failures).arg(&locks)).await?;
            connection.query::<u64>(redis::cmd("PUBLISH").arg(CHANNEL).arg(format!("unlock {key}"))).await?;
            Ok(was_locked)
        })
        .await
        .ok()
    }

    /// Follows the lock announcements into `table` for as long as these
    /// counters are the ones it shares with, on a thread of its own
    /// (reconnecting after `retry_after` when the subscription breaks).
    pub(crate) fn follow_lockouts(self: &Arc<Self>, table: &'static Lockouts) {
        let me = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("portcullis-lockouts".into()).spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                while let Some(counters) = me.upgrade().filter(|c| table.shares_with(c)) {
                    if let Err(e) = counters.follow_once(table).await {
                        tracing::warn!(error = %e, "Lost the shared lockout announcements; following again shortly.");
                    }
                    let pause = counters.settings.retry_after;
                    drop(counters);
                    tokio::time::sleep(pause).await;
                }
            });
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "Could not follow shared lockouts.");
        }
    }

    /// One subscription, until it breaks or these counters are no longer shared.
    async fn follow_once(self: &Arc<Self>, table: &'static Lockouts) -> redis::RedisResult<()> {
        let mut pubsub = self.client(self.settings.urls.first().map_or("", String::as_str))?.get_async_pubsub().await?;
        pubsub.subscribe(CHANNEL).await?;
        let mut messages = pubsub.on_message();
        loop {
            match tokio::time::timeout(Duration::from_secs(1), messages.next()).await {
                Ok(Some(message)) => apply(table, message.get_payload_bytes()),
                Ok(None) => return Ok(()),
                Err(_) if !table.shares_with(self) => return Ok(()),
                Err(_) => {}
            }
        }
    }
}

/// Applies one announcement: `lock <ms> <locks> <key>` or `unlock <key>`.
fn apply(table: &Lockouts, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else { return };
    if let Some(key) = text.strip_prefix("unlock ") {
        table.unlock_here(key);
    } else if let Some(rest) = text.strip_prefix("lock ") {
        let mut parts = rest.splitn(3, ' ');
        let (Some(ms), Some(locks), Some(key)) = (parts.next(), parts.next(), parts.next()) else { return };
        if let (Ok(ms), Ok(locks)) = (ms.parse(), locks.parse()) {
            table.lock_here(key, Duration::from_millis(ms), locks);
        }
    }
}
