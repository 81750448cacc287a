//! Host-side account commands, run by the operator on the machine with the
//! store: `admin bootstrap` creates the first admin (never a default
//! account), `admin reset-password` recovers a locked-out one. Both print a
//! one-time password that must be changed at the next login.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use portcullis_admin::{AdminSettings, ManagementSettings};
use portcullis_credentials::{PasswordHasher, random_token};
use portcullis_store::{Actor, Store};

/// Where the one-time password comes from.
pub(crate) enum PasswordSource {
    /// Read from standard input (for scripts).
    Stdin,
    /// Generated (256 bits) and printed once.
    Generated,
}

fn os_user() -> String {
    std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into())
}

fn password(source: &PasswordSource, name: &str, settings: &AdminSettings) -> anyhow::Result<(String, bool)> {
    match source {
        PasswordSource::Generated => Ok((random_token(24), true)),
        PasswordSource::Stdin => {
            let mut text = String::new();
            std::io::stdin().take(4096).read_to_string(&mut text).context("reading the password from stdin")?;
            let text = text.trim_end_matches(['\r', '\n']).to_owned();
            if let Err(violation) = settings.password_policy.check(&text, &[name]) {
                bail!("{violation}");
            }
            Ok((text, false))
        }
    }
}

fn hasher(settings: &AdminSettings) -> anyhow::Result<PasswordHasher> {
    let (memory, iterations, lanes) = settings.password_hashing;
    PasswordHasher::new(memory, iterations, lanes).context("the password hashing settings")
}

fn admin_settings(management: &ManagementSettings) -> AdminSettings {
    management.admin.clone().unwrap_or_else(|| AdminSettings::with_defaults(([127, 0, 0, 1], 0).into()))
}

/// Creates the first admin account; refuses when any admin exists.
pub(crate) async fn bootstrap(
    management: &ManagementSettings,
    name: &str,
    source: &PasswordSource,
) -> anyhow::Result<()> {
    check_name(name)?;
    let store =
        Store::open(management.store_url.as_deref(), &management.data_dir).await.context("opening the store")?;
    if store.admin_user_count().await? > 0 {
        bail!("an admin account already exists; add more through the admin API, or use `admin reset-password`");
    }
    let settings = admin_settings(management);
    let (password, generated) = password(source, name, &settings)?;
    let phc = hasher(&settings)?.try_hash(&password).context("hashing the password")?;
    store.create_admin_user(&Actor::host(&os_user()), name, "admin", &phc, true).await?;
    store.close().await;
    if generated {
        println!("Created admin {name:?}. One-time password (change it at first login):\n{password}");
    } else {
        println!("Created admin {name:?}. The password must be changed at first login.");
    }
    Ok(())
}

/// Sets a new one-time password for `name`, unlocks the account and ends
/// its sessions.
pub(crate) async fn reset_password(
    management: &ManagementSettings,
    name: &str,
    source: &PasswordSource,
) -> anyhow::Result<()> {
    let store =
        Store::open(management.store_url.as_deref(), &management.data_dir).await.context("opening the store")?;
    let Some(login) = store.admin_login(name).await? else { bail!("no admin account is named {name:?}") };
    let settings = admin_settings(management);
    let (password, generated) = password(source, name, &settings)?;
    let phc = hasher(&settings)?.try_hash(&password).context("hashing the password")?;
    store.set_admin_password(&Actor::host(&os_user()), &login.user.id, &phc, true, None).await?;
    store.close().await;
    if generated {
        println!("Reset the password of {name:?}. One-time password (change it at next login):\n{password}");
    } else {
        println!("Reset the password of {name:?}. It must be changed at next login.");
    }
    Ok(())
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if !portcullis_admin::is_login_name(name) {
        bail!("an admin name is 1 to 64 of A-Z a-z 0-9 . _ @ -");
    }
    Ok(())
}
