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

/// Re-seals every `enc:v1:` value in `config` under a new passphrase,
/// replacing the file atomically (owner-only).
pub(crate) fn rotate_master(config: &Path, old: &str, new: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let decrypter = Decrypter::new(source(old)?.load()?);
    let key = MasterKey::derive(&source(new)?.load()?, KdfParams::default())?;
    let (rotated, count) = portcullis_secrets::rotate_text(&text, &decrypter, &key)?;
    portcullis_secrets::write_private(config, rotated.as_bytes())
        .with_context(|| format!("writing {}", config.display()))?;
    println!("Re-encrypted {count} value(s) in {}.", config.display());
    Ok(())
}
