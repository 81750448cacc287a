//! `portcullis secret encrypt | decrypt | rotate-master`: values for the
//! configuration file, sealed with the master key.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use portcullis_secrets::{Decrypter, KdfParams, MasterKey, PassphraseSource};

fn source(text: &str) -> anyhow::Result<PassphraseSource> {
    PassphraseSource::parse(text).with_context(|| format!("{text:?} is not env:NAME, file:PATH or cmd:PROGRAM ARGS"))
}

fn stdin_secret() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().take(1 << 20).read_to_string(&mut text).context("reading standard input")?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// Seals standard input; prints the `enc:v1:` value.
pub(crate) fn encrypt(passphrase: &str) -> anyhow::Result<()> {
    let key = MasterKey::derive(&source(passphrase)?.load()?, KdfParams::default())?;
    let plain = stdin_secret()?;
    if plain.is_empty() {
        bail!("nothing to encrypt on standard input");
    }
    println!("{}", key.encrypt(plain.as_bytes()));
    Ok(())
}

/// Opens an `enc:v1:` value read from standard input.
pub(crate) fn decrypt(passphrase: &str) -> anyhow::Result<()> {
    let decrypter = Decrypter::new(source(passphrase)?.load()?);
    println!("{}", decrypter.decrypt_str(stdin_secret()?.trim())?.as_str());
    Ok(())
}

/// Re-seals everything sealed with the master key under a new passphrase:
/// the node's audit signing key and the admins' TOTP secrets in the store
/// (when `management` could be loaded), then every `enc:v1:` value in
/// `config`, which is replaced atomically (owner-only) last.
pub(crate) async fn rotate_master(
    config: &Path,
    management: Option<&portcullis_admin::ManagementSettings>,
    old: &str,
    new: &str,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let decrypter = Decrypter::new(source(old)?.load()?);
    let key = MasterKey::derive(&source(new)?.load()?, KdfParams::default())?;
    let reseal = |sealed: &str| -> Result<String, String> {
        let plain = decrypter.decrypt(sealed).map_err(|e| e.to_string())?;
        key.try_encrypt(&plain).map_err(|e| e.to_string())
    };
    // Everything is re-sealed in memory first, so a value the old passphrase
    // cannot open stops the rotation before anything is written.
    let (rotated, count) = portcullis_secrets::rotate_text(&text, &decrypter, &key)?;
    let signing_key = management.map(|m| m.data_dir.join("audit-signing.key"));
    let resealed_key = match signing_key.as_deref().map(portcullis_secrets::read_private) {
        Some(Ok(stored)) if portcullis_secrets::is_encrypted(String::from_utf8_lossy(&stored).trim()) => {
            let stored = String::from_utf8_lossy(&stored).trim().to_owned();
            Some(reseal(&stored).map_err(anyhow::Error::msg).context("re-sealing the audit signing key")?)
        }
        _ => None,
    };
    if let Some(management) = management {
        let store = portcullis_store::Store::open(management.store_url.as_deref(), &management.data_dir).await?;
        let actor = portcullis_store::Actor::host(&std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
        let resealed = store.reseal_totp_secrets(&actor, reseal).await.context("re-sealing TOTP secrets")?;
        store.close().await;
        println!("Re-encrypted {resealed} TOTP secret(s) in the store.");
    }
    if let (Some(path), Some(resealed)) = (&signing_key, resealed_key) {
        portcullis_secrets::write_private(path, resealed.as_bytes())?;
        println!("Re-encrypted the audit signing key.");
    }
    portcullis_secrets::write_private(config, rotated.as_bytes())
        .with_context(|| format!("writing {}", config.display()))?;
    println!("Re-encrypted {count} value(s) in {}.", config.display());
    Ok(())
}
