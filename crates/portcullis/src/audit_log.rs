//! `portcullis audit-log verify` proves the chain intact and names the first
//! broken or missing event; `export` writes JSON lines.

use anyhow::{Context as _, bail};
use portcullis_admin::ManagementSettings;
use portcullis_audit::{StoredEvent, Verifier};
use portcullis_store::{AuditQuery, Store};

use crate::keys;

/// Hands every event after sequence number `after` to `each`, in order,
/// a page at a time, until `each` says stop.
async fn walk(store: &Store, mut after: i64, mut each: impl FnMut(&StoredEvent) -> bool) -> anyhow::Result<()> {
    loop {
        let events = store.audit_events(&AuditQuery { after_seq: after, limit: 1000, ..AuditQuery::default() }).await?;
        for event in &events {
            if !each(event) {
                return Ok(());
            }
            after = event.event.seq;
        }
        if events.len() < 1000 {
            return Ok(());
        }
    }
}

/// Verifies the whole log; returns whether it is intact.
pub(crate) async fn verify(management: &ManagementSettings) -> anyhow::Result<bool> {
    let master = keys::master(management.master_passphrase.as_ref())?;
    let store =
        Store::open(management.store_url.as_deref(), &management.data_dir).await.context("opening the store")?;
    let mut trusted = management.audit.trusted_keys.clone();
    trusted.push(keys::read_signer(&management.data_dir, master.as_ref())?.public_key());
    let head = store.audit_head().await?;
    let mut verifier = Verifier::new(trusted, store.audit_checkpoints().await?);
    if head.anchor_seq > 0 {
        verifier = verifier.starting_after(head.anchor_seq, head.anchor_hash);
    }
    walk(&store, head.anchor_seq, |event| verifier.push(event)).await?;
    let report = verifier.finish();
    store.close().await;
    match &report.problem {
        None => {
            println!(
                "The audit log is intact: {} events, {} signed checkpoints, last event {}.",
                report.events, report.checkpoints, report.last_seq
            );
            if report.unsigned_tail() > 0 {
                println!(
                    "{} event(s) after the last checkpoint are chained but not yet signed.",
                    report.unsigned_tail()
                );
            }
            if head.seq != report.last_seq {
                println!("The chain head says {} but the last event read is {}.", head.seq, report.last_seq);
                return Ok(false);
            }
            Ok(true)
        }
        Some(problem) => {
            println!("The audit log is BROKEN: {problem}");
            Ok(false)
        }
    }
}

/// Writes every event after `after` as JSON lines to `out`.
pub(crate) async fn export(
    management: &ManagementSettings,
    after: i64,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<u64> {
    let store =
        Store::open(management.store_url.as_deref(), &management.data_dir).await.context("opening the store")?;
    let mut count = 0;
    let mut failed = None;
    walk(&store, after, |event| {
        match writeln!(out, "{}", portcullis_audit::to_json_line(event)) {
            Ok(()) => count += 1,
            Err(err) => failed = Some(err),
        }
        failed.is_none()
    })
    .await?;
    store.close().await;
    if let Some(err) = failed {
        bail!("writing the export: {err}");
    }
    out.flush()?;
    Ok(count)
}
