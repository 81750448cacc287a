//! The node's audit signing key: created once in the data directory
//! (owner-only), sealed with the master key when one is configured.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use portcullis_audit::AuditSigner;
use portcullis_secrets::{Decrypter, MasterKey};

/// The master key and its decrypter, when a master passphrase is configured.
pub(crate) type Master = std::sync::Arc<(MasterKey, Decrypter)>;

fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("audit-signing.key")
}

/// Loads the master key from the configured passphrase source.
pub(crate) fn master(source: Option<&portcullis_secrets::PassphraseSource>) -> anyhow::Result<Option<Master>> {
    let Some(source) = source else { return Ok(None) };
    let passphrase = source.load().context("loading the master passphrase")?;
    let key =
        MasterKey::derive(&passphrase, portcullis_secrets::KdfParams::default()).context("deriving the master key")?;
    Ok(Some(std::sync::Arc::new((key, Decrypter::new(passphrase)))))
}

/// The node's signer, created on first use.
pub(crate) fn signer(data_dir: &Path, master: Option<&Master>) -> anyhow::Result<AuditSigner> {
    let path = key_path(data_dir);
    if path.exists() {
        return read_signer(data_dir, master);
    }
    portcullis_secrets::create_private_dir(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let signer = AuditSigner::generate();
    let hex = portcullis_credentials::to_hex(signer.secret_bytes().as_ref());
    let stored = match master {
        Some(master) => master.0.encrypt(hex.as_bytes()),
        None => hex,
    };
    portcullis_secrets::write_private(&path, stored.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let public = data_dir.join("audit-signing.pub");
    std::fs::write(&public, format!("{}\n", signer.public_key().to_text()))
        .with_context(|| format!("writing {}", public.display()))?;
    tracing::info!(key_id = %signer.public_key().key_id(), "Audit signing key created.");
    Ok(signer)
}

/// The node's existing signer (for `audit-log verify`).
pub(crate) fn read_signer(data_dir: &Path, master: Option<&Master>) -> anyhow::Result<AuditSigner> {
    let path = key_path(data_dir);
    let bytes = portcullis_secrets::read_private(&path).with_context(|| format!("reading {}", path.display()))?;
    let text = std::str::from_utf8(&bytes).context("the audit signing key file is not text")?.trim().to_owned();
    let hex = if portcullis_secrets::is_encrypted(&text) {
        let master = master.context("the audit signing key is encrypted: configure secrets.master_passphrase")?;
        master.1.decrypt_str(&text).context("decrypting the audit signing key")?.to_string()
    } else {
        text
    };
    let secret = portcullis_credentials::from_hex(&hex).context("the audit signing key file is corrupt")?;
    AuditSigner::from_secret_bytes(&secret).context("the audit signing key file is corrupt")
}
