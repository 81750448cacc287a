//! TOTP secrets at rest: sealed with the master key (`enc:v1:`) when one is
//! configured, otherwise kept as base32 (the store file is owner-only).

use portcullis_credentials::TotpSecret;

use crate::error::ApiError;
use crate::state::AppState;

/// The stored form of `secret`.
pub(crate) fn seal_secret(state: &AppState, secret: &TotpSecret) -> String {
    match &state.master {
        Some(master) => master.0.encrypt(secret.to_base32().as_bytes()),
        None => secret.to_base32(),
    }
}

/// The secret from its stored form.
pub(crate) fn open_secret(state: &AppState, stored: &str) -> Result<TotpSecret, ApiError> {
    let base32 = if portcullis_secrets::is_encrypted(stored) {
        let master = state
            .master
            .as_ref()
            .ok_or_else(|| ApiError::internal(&"a TOTP secret is encrypted but no master passphrase is configured"))?;
        let plain = master.1.decrypt_str(stored).map_err(|err| ApiError::internal(&err))?;
        plain.to_string()
    } else {
        stored.to_owned()
    };
    TotpSecret::from_base32(&base32).map_err(|err| ApiError::internal(&err))
}
