//! Where authentication policies find credentials: a slot the process fills
//! with the store's index once the store is open. Configuration is compiled
//! before that (and `portcullis check` never opens the store), so policies
//! hold the slot, not the index.

use std::sync::{Arc, OnceLock};

use portcullis_store::{CredentialIndex, RevocationIndex};

#[derive(Debug, Default)]
struct Slots {
    credentials: OnceLock<Arc<CredentialIndex>>,
    revocations: OnceLock<Arc<RevocationIndex>>,
}

/// The credential and revocation indexes, once available. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CredentialSource(Arc<Slots>);

impl CredentialSource {
    /// An empty slot.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's slot: one store per process, filled by `serve` once the
    /// store is open (`check` never fills it).
    #[must_use]
    pub fn process() -> Self {
        static PROCESS: OnceLock<CredentialSource> = OnceLock::new();
        PROCESS.get_or_init(Self::default).clone()
    }

    /// Fills the credential slot; later calls are ignored.
    pub fn set(&self, index: Arc<CredentialIndex>) {
        let _ = self.0.credentials.set(index);
    }

    /// Fills the revocation slot; later calls are ignored.
    pub fn set_revocations(&self, index: Arc<RevocationIndex>) {
        let _ = self.0.revocations.set(index);
    }

    /// The credential index, or `None` while the store is not open
    /// (policies then fail closed with 503).
    #[must_use]
    pub fn get(&self) -> Option<&Arc<CredentialIndex>> {
        self.0.credentials.get()
    }

    /// The revoked-token index, or `None` while the store is not open.
    #[must_use]
    pub fn revocations(&self) -> Option<&Arc<RevocationIndex>> {
        self.0.revocations.get()
    }
}
