//! The one error type of this crate.
//!
//! Messages are lowercase and never contain secret material: they may name an
//! environment variable, a file path, a program name or a limit, but never a
//! passphrase, a key, a plaintext, or the output of a passphrase command.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Everything that can go wrong while loading a passphrase, deriving a key,
/// sealing or opening an `enc:v1:` value, or reading a private file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The passphrase environment variable is unset or empty.
    #[error("passphrase environment variable {name} is not set or is empty")]
    EnvMissing {
        /// Name of the variable.
        name: String,
    },
    /// The environment variable name cannot name a variable (empty, `=` or NUL).
    #[error("invalid passphrase environment variable name {name:?}")]
    EnvInvalidName {
        /// The offending name.
        name: String,
    },
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file holding secret material can be read by group or others.
    #[error("{} is readable by group or others (mode {mode:03o}); run `chmod 600 {}`", path.display(), path.display())]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A path that should be a regular file is something else.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A file is larger than allowed for its purpose.
    #[error("{} is larger than {limit} bytes", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// The passphrase is not valid UTF-8.
    #[error("passphrase from {origin} is not valid utf-8")]
    PassphraseNotUtf8 {
        /// Where it came from, e.g. `file /etc/portcullis/pass`.
        origin: String,
    },
    /// The passphrase is shorter than [`crate::MIN_PASSPHRASE_LEN`].
    #[error("passphrase is too short: at least {min} bytes are required")]
    PassphraseTooShort {
        /// The minimum length in bytes.
        min: usize,
    },
    /// A `cmd:` passphrase source has no program.
    #[error("passphrase command is empty")]
    EmptyCommand,
    /// The passphrase command could not be started or waited for.
    #[error("cannot run passphrase command {program}: {source}")]
    CommandSpawn {
        /// The program (argv\[0\]); arguments are never shown.
        program: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The passphrase command did not finish in time and was killed.
    #[error("passphrase command {program} did not finish within {timeout:?} and was killed")]
    CommandTimeout {
        /// The program (argv\[0\]).
        program: String,
        /// The time limit.
        timeout: Duration,
    },
    /// The passphrase command exited unsuccessfully.
    #[error("passphrase command {program} failed: {status}")]
    CommandFailed {
        /// The program (argv\[0\]).
        program: String,
        /// How it exited.
        status: ExitStatus,
    },
    /// The passphrase command printed too much.
    #[error("passphrase command {program} printed more than {limit} bytes")]
    CommandOutputTooLarge {
        /// The program (argv\[0\]).
        program: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// Reading the passphrase command's output failed.
    #[error("cannot read the output of passphrase command {program}")]
    CommandOutput {
        /// The program (argv\[0\]).
        program: String,
    },
    /// Key derivation parameters are out of the accepted range.
    #[error("invalid key derivation parameters: {reason}")]
    InvalidKdfParams {
        /// What is wrong.
        reason: &'static str,
    },
    /// Argon2 refused to derive a key.
    #[error("key derivation failed: {reason}")]
    Kdf {
        /// Argon2's description of the problem.
        reason: String,
    },
    /// The memory needed by the key derivation could not be allocated.
    #[error("not enough memory for key derivation ({memory_kib} KiB)")]
    KdfOutOfMemory {
        /// The requested memory in KiB.
        memory_kib: u32,
    },
    /// The operating system's random number generator failed.
    #[error("operating system random number generator failed: {reason}")]
    Random {
        /// The generator's description of the problem.
        reason: String,
    },
    /// Sealing a value failed (the plaintext is beyond AES-GCM's limit).
    #[error("cannot encrypt value: plaintext is too large")]
    Encrypt,
    /// The text is not a well-formed `enc:v1:` value.
    #[error("malformed encrypted value: {reason}")]
    MalformedToken {
        /// What is wrong.
        reason: &'static str,
    },
    /// The value starts with `enc:` but is not version `v1`.
    #[error("unsupported encrypted value version: only enc:v1 is understood")]
    UnsupportedVersion,
    /// Authentication failed: wrong passphrase, or the value was altered.
    #[error("decryption failed: wrong passphrase or the value was tampered with")]
    DecryptionFailed,
    /// The decrypted value was expected to be text but is not UTF-8.
    #[error("decrypted value is not valid utf-8")]
    NotUtf8,
    /// A value in a text being rotated could not be re-encrypted.
    #[error("encrypted value on line {line}: {source}")]
    Rotate {
        /// 1-based line number of the value.
        line: usize,
        /// Why it failed.
        source: Box<SecretError>,
    },
}

#[cfg(test)]
mod tests {
    use super::SecretError;
    use std::path::PathBuf;

    #[test]
    fn messages_are_lowercase_and_name_the_path() {
        let err = SecretError::InsecurePermissions { path: PathBuf::from("/etc/pass"), mode: 0o644 };
        let text = err.to_string();
        assert_eq!(text, "/etc/pass is readable by group or others (mode 644); run `chmod 600 /etc/pass`");
        let err = SecretError::DecryptionFailed.to_string();
        assert!(err.starts_with("decryption failed"));
    }

    #[test]
    fn rotate_error_carries_line_and_cause() {
        let err = SecretError::Rotate { line: 7, source: Box::new(SecretError::UnsupportedVersion) };
        assert!(err.to_string().starts_with("encrypted value on line 7: unsupported"));
        assert!(std::error::Error::source(&err).is_some());
    }
}
