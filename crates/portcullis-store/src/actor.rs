//! Who makes a change, and from where: the two facts every audit event starts with.

/// The author of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// An admin user's name, `cli:<user>` on the host, or `system`.
    pub name: String,
    /// The client address, or `host` for the command line.
    pub source: String,
}

impl Actor {
    /// An admin user acting from `source`.
    #[must_use]
    pub fn user(name: &str, source: &str) -> Self {
        Self { name: name.to_owned(), source: source.to_owned() }
    }

    /// Portcullis itself (retention, reloads).
    #[must_use]
    pub fn system() -> Self {
        Self { name: "system".into(), source: "host".into() }
    }

    /// Someone at the host's command line (bootstrap, reset-password).
    #[must_use]
    pub fn host(os_user: &str) -> Self {
        Self { name: format!("cli:{os_user}"), source: "host".into() }
    }

    /// Starts the audit event for `action` on `target`, succeeded.
    pub(crate) fn event(&self, action: &str, target: &str) -> portcullis_audit::NewEvent {
        portcullis_audit::NewEvent::new(&self.name, &self.source, action, target, portcullis_audit::Outcome::Success)
    }
}
