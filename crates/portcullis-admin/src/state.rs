//! What every admin handler shares.

use std::sync::Arc;

use portcullis_credentials::PasswordHasher;
use portcullis_secrets::{Decrypter, MasterKey};
use portcullis_store::Store;

use crate::AdminSettings;

/// A read-only JSON view of the gateway configuration in force, supplied by
/// whoever runs the data plane (so this crate does not know its types).
pub type ConfigView = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// The admin API's shared state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The runtime-data store.
    pub store: Store,
    /// Listener and account rules.
    pub settings: Arc<AdminSettings>,
    /// argon2id with the configured cost.
    pub hasher: Arc<PasswordHasher>,
    /// Encrypts TOTP secrets at rest when a master passphrase is configured.
    pub master: Option<Arc<(MasterKey, Decrypter)>>,
    /// The effective configuration, for `GET /admin/v1/config`.
    pub config_view: ConfigView,
}

impl AppState {
    /// State for `settings`, with argon2id at the configured cost.
    ///
    /// # Errors
    /// The configured argon2 cost is invalid.
    pub fn new(
        store: Store,
        settings: AdminSettings,
        master: Option<Arc<(MasterKey, Decrypter)>>,
        config_view: ConfigView,
    ) -> Result<Self, portcullis_credentials::CredentialError> {
        let (memory, iterations, lanes) = settings.password_hashing;
        Ok(Self {
            store,
            hasher: Arc::new(PasswordHasher::new(memory, iterations, lanes)?),
            settings: Arc::new(settings),
            master,
            config_view,
        })
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.store).finish_non_exhaustive()
    }
}
