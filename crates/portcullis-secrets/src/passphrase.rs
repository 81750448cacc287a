//! Where the master passphrase comes from, and the [`Passphrase`] wrapper.
//!
//! Three sources, written in the configuration as:
//!
//! - `env:NAME` — the value of environment variable `NAME`, used as is. The
//!   variable stays in the process environment (readable by the same user
//!   through `/proc`), so prefer `file:` or `cmd:` where that matters.
//! - `file:PATH` — the contents of `PATH`, minus one trailing newline. The file
//!   must not be readable by group or others (`chmod 600`).
//! - `cmd:PROGRAM ARG…` — the standard output of `PROGRAM`, minus one trailing
//!   newline. The text after `cmd:` is split on ASCII whitespace and run
//!   directly: **no shell is involved**, so there is no quoting, globbing,
//!   variable expansion or piping (write `cmd:sh -c '…'` explicitly if you need a
//!   shell, knowing that the split happens first). The program gets a null
//!   standard input, its standard error is discarded, it must exit successfully
//!   within [`COMMAND_TIMEOUT`], and print at most [`MAX_SOURCE_BYTES`]. It runs
//!   in its own process group, which is killed as a whole on timeout so that
//!   helpers it started do not outlive it (it therefore cannot read from the
//!   terminal).

use std::fmt;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use zeroize::{Zeroize, Zeroizing};

use crate::error::SecretError;
use crate::private_file::read_private_limited;

/// Shortest accepted passphrase, in bytes.
pub const MIN_PASSPHRASE_LEN: usize = 12;

/// How long a `cmd:` passphrase command may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest passphrase file or command output accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 4096;

/// How often a running passphrase command is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Extra time granted to collect a command's output once it has exited.
const OUTPUT_GRACE: Duration = Duration::from_millis(200);

/// A passphrase of at least [`MIN_PASSPHRASE_LEN`] bytes, wiped from memory on drop.
///
/// `Debug` prints `<redacted>`; there is no `Display`. Clones are wiped on drop too.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps `text` as a passphrase.
    ///
    /// # Errors
    ///
    /// [`SecretError::PassphraseTooShort`] if `text` is shorter than
    /// [`MIN_PASSPHRASE_LEN`] bytes (the rejected text is wiped).
    pub fn new(text: String) -> Result<Self, SecretError> {
        let text = Zeroizing::new(text);
        if text.len() < MIN_PASSPHRASE_LEN {
            return Err(SecretError::PassphraseTooShort { min: MIN_PASSPHRASE_LEN });
        }
        Ok(Self(text))
    }

    /// The passphrase itself. Do not log or copy it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where to obtain the master passphrase; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// An environment variable, by name.
    Env(String),
    /// A file readable by its owner only.
    File(PathBuf),
    /// A program and its arguments, run without a shell.
    Command(Vec<String>),
}

impl PassphraseSource {
    /// Parses the configuration syntax `env:NAME`, `file:PATH` or
    /// `cmd:PROGRAM ARG…`.
    ///
    /// Surrounding whitespace of the whole text and of `NAME`/`PATH` is ignored.
    /// `cmd:` splits on ASCII whitespace; no shell is involved. Returns `None`
    /// for an unknown scheme or an empty name, path or command.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.trim().split_once(':')?;
        match scheme {
            "env" => {
                let name = rest.trim();
                valid_env_name(name).then(|| Self::Env(name.to_owned()))
            }
            "file" => {
                let path = rest.trim();
                (!path.is_empty()).then(|| Self::File(PathBuf::from(path)))
            }
            "cmd" => {
                let argv: Vec<String> = rest.split_ascii_whitespace().map(str::to_owned).collect();
                (!argv.is_empty()).then_some(Self::Command(argv))
            }
            _ => None,
        }
    }

    /// Obtains the passphrase.
    ///
    /// # Errors
    ///
    /// - `Env`: [`SecretError::EnvMissing`] if the variable is unset or empty,
    ///   [`SecretError::EnvInvalidName`], [`SecretError::PassphraseNotUtf8`].
    /// - `File`: [`SecretError::Read`], [`SecretError::NotAFile`],
    ///   [`SecretError::InsecurePermissions`] if group or others can read it,
    ///   [`SecretError::FileTooLarge`], [`SecretError::PassphraseNotUtf8`].
    /// - `Command`: [`SecretError::EmptyCommand`], [`SecretError::CommandSpawn`],
    ///   [`SecretError::CommandTimeout`], [`SecretError::CommandFailed`],
    ///   [`SecretError::CommandOutputTooLarge`], [`SecretError::CommandOutput`],
    ///   [`SecretError::PassphraseNotUtf8`].
    /// - Any source: [`SecretError::PassphraseTooShort`].
    pub fn load(&self) -> Result<Passphrase, SecretError> {
        self.load_with_timeout(COMMAND_TIMEOUT)
    }

    /// [`Self::load`] with a custom command time limit (tests use short ones).
    fn load_with_timeout(&self, timeout: Duration) -> Result<Passphrase, SecretError> {
        match self {
            Self::Env(name) => load_env(name),
            Self::File(path) => load_file(path),
            Self::Command(argv) => load_command(argv, timeout),
        }
    }
}

/// Whether `name` can name an environment variable.
fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

fn load_env(name: &str) -> Result<Passphrase, SecretError> {
    if !valid_env_name(name) {
        return Err(SecretError::EnvInvalidName { name: name.to_owned() });
    }
    let value = std::env::var_os(name).filter(|value| !value.is_empty());
    let Some(value) = value else {
        return Err(SecretError::EnvMissing { name: name.to_owned() });
    };
    let bytes = Zeroizing::new(value.into_vec());
    into_passphrase(bytes, || format!("environment variable {name}"))
}

fn load_file(path: &Path) -> Result<Passphrase, SecretError> {
    let mut bytes = read_private_limited(path, Some(MAX_SOURCE_BYTES as u64))?;
    trim_one_newline(&mut bytes);
    into_passphrase(bytes, || format!("file {}", path.display()))
}

fn load_command(argv: &[String], timeout: Duration) -> Result<Passphrase, SecretError> {
    let program = argv.first().map(String::as_str).unwrap_or_default();
    let mut bytes = run_command(argv, timeout)?;
    trim_one_newline(&mut bytes);
    into_passphrase(bytes, || format!("command {program}"))
}

/// Removes one trailing `\n` (or `\r\n`).
fn trim_one_newline(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

/// Converts raw bytes into a passphrase, wiping them if they are not UTF-8.
fn into_passphrase(mut bytes: Zeroizing<Vec<u8>>, origin: impl FnOnce() -> String) -> Result<Passphrase, SecretError> {
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Passphrase::new(text),
        Err(err) => {
            err.into_bytes().zeroize();
            Err(SecretError::PassphraseNotUtf8 { origin: origin() })
        }
    }
}

/// Kills `child`'s process group (so helpers it started die too) and reaps
/// `child`, ignoring errors (they may already be gone).
fn kill(child: &mut Child) {
    kill_group(child);
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills the process group led by `child`, if any member is still alive.
fn kill_group(child: &Child) {
    let group = Pid::from_child(child);
    let _ = kill_process_group(group, Signal::KILL);
}

/// Runs `argv` without a shell and returns its standard output.
fn run_command(argv: &[String], timeout: Duration) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(SecretError::EmptyCommand);
    };
    if program.is_empty() {
        return Err(SecretError::EmptyCommand);
    }
    let name = || program.clone();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|source| SecretError::CommandSpawn { program: name(), source })?;
    let deadline = Instant::now() + timeout;

    let Some(mut stdout) = child.stdout.take() else {
        kill(&mut child);
        return Err(SecretError::CommandOutput { program: name() });
    };
    let (sender, receiver) = mpsc::channel();
    let reader = thread::Builder::new().name("passphrase-cmd".to_owned()).spawn(move || {
        let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SOURCE_BYTES + 1));
        let result = (&mut stdout).take(MAX_SOURCE_BYTES as u64 + 1).read_to_end(&mut buf);
        // The receiver may be gone after a timeout; the buffer is then wiped on drop.
        let _ = sender.send(result.map(|_| buf));
    });
    if let Err(source) = reader {
        kill(&mut child);
        return Err(SecretError::CommandSpawn { program: name(), source });
    }

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => {
                kill(&mut child);
                return Err(SecretError::CommandSpawn { program: name(), source });
            }
        }
        let now = Instant::now();
        if now >= deadline {
            kill(&mut child);
            return Err(SecretError::CommandTimeout { program: name(), timeout });
        }
        thread::sleep(POLL_INTERVAL.min(deadline - now));
    };

    // A grandchild may still hold the pipe open; do not wait for it forever.
    let wait = deadline.saturating_duration_since(Instant::now()).max(OUTPUT_GRACE);
    let output = match receiver.recv_timeout(wait) {
        Ok(Ok(output)) => output,
        Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err(SecretError::CommandOutput { program: name() });
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            kill_group(&child);
            return Err(SecretError::CommandTimeout { program: name(), timeout });
        }
    };
    if output.len() > MAX_SOURCE_BYTES {
        return Err(SecretError::CommandOutputTooLarge { program: name(), limit: MAX_SOURCE_BYTES });
    }
    if !status.success() {
        return Err(SecretError::CommandFailed { program: name(), status });
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;
    use std::os::unix::fs::PermissionsExt;

    fn argv(items: &[&str]) -> PassphraseSource {
        PassphraseSource::Command(items.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn parse_accepts_the_three_schemes() {
        assert_eq!(
            PassphraseSource::parse("env:PORTCULLIS_PASS"),
            Some(PassphraseSource::Env("PORTCULLIS_PASS".into()))
        );
        assert_eq!(PassphraseSource::parse(" file: /etc/p "), Some(PassphraseSource::File("/etc/p".into())));
        assert_eq!(
            PassphraseSource::parse("cmd:pass  show\tportcullis"),
            Some(PassphraseSource::Command(vec!["pass".into(), "show".into(), "portcullis".into()]))
        );
    }

    #[test]
    fn parse_rejects_garbage() {
        for text in ["", "env:", "env:A=B", "file:", "cmd:", "cmd:   ", "http:x", "plain", ":", "env"] {
            assert_eq!(PassphraseSource::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn short_passphrase_is_refused_and_debug_is_redacted() {
        assert!(matches!(Passphrase::new("short".into()), Err(SecretError::PassphraseTooShort { min: 12 })));
        let pass = Passphrase::new("correct horse battery".into()).unwrap();
        assert_eq!(format!("{pass:?}"), "<redacted>");
        assert_eq!(pass.expose_secret(), "correct horse battery");
    }

    #[test]
    fn env_missing_names_the_variable() {
        let err = PassphraseSource::Env("PORTCULLIS_SECRETS_TEST_SURELY_UNSET".into()).load().unwrap_err();
        assert!(err.to_string().contains("PORTCULLIS_SECRETS_TEST_SURELY_UNSET"), "{err}");
        let err = PassphraseSource::Env(String::new()).load().unwrap_err();
        assert!(matches!(err, SecretError::EnvInvalidName { .. }));
    }

    #[test]
    fn env_present_is_used() {
        // PATH is set in any test environment; it is long enough but we only check it loads.
        let path = std::env::var("PATH").unwrap_or_default();
        if path.len() >= MIN_PASSPHRASE_LEN {
            let pass = PassphraseSource::Env("PATH".into()).load().unwrap();
            assert_eq!(pass.expose_secret(), path);
        }
    }

    #[test]
    fn file_trims_one_newline() {
        let dir = TempDir::new();
        let path = dir.path().join("pass");
        crate::write_private(&path, b"correct horse battery\n\n").unwrap();
        let pass = PassphraseSource::File(path.clone()).load().unwrap();
        assert_eq!(pass.expose_secret(), "correct horse battery\n");
        crate::write_private(&path, b"correct horse battery\r\n").unwrap();
        let pass = PassphraseSource::File(path).load().unwrap();
        assert_eq!(pass.expose_secret(), "correct horse battery");
    }

    #[test]
    fn world_readable_file_is_refused() {
        let dir = TempDir::new();
        let path = dir.path().join("pass");
        crate::write_private(&path, b"correct horse battery\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = PassphraseSource::File(path).load().unwrap_err();
        assert!(matches!(err, SecretError::InsecurePermissions { mode: 0o644, .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"));
        assert!(!err.to_string().contains("horse"));
    }

    #[test]
    fn non_utf8_file_is_refused() {
        let dir = TempDir::new();
        let path = dir.path().join("pass");
        crate::write_private(&path, b"\xff\xfe correct horse battery").unwrap();
        assert!(matches!(PassphraseSource::File(path).load(), Err(SecretError::PassphraseNotUtf8 { .. })));
    }

    #[test]
    fn echo_command_works() {
        let pass = argv(&["echo", "correct", "horse", "battery"]).load().unwrap();
        assert_eq!(pass.expose_secret(), "correct horse battery");
    }

    #[test]
    fn slow_command_is_killed() {
        let started = Instant::now();
        let err = argv(&["sh", "-c", "sleep 30"]).load_with_timeout(Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, SecretError::CommandTimeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn helpers_of_a_slow_command_are_killed_too() {
        let dir = TempDir::new();
        let marker = dir.path().join("survived");
        let script = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let err = argv(&["sh", "-c", &script]).load_with_timeout(Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, SecretError::CommandTimeout { .. }), "{err}");
        thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "a helper process outlived the timeout");
    }

    #[test]
    fn failing_command_is_an_error() {
        let err = argv(&["sh", "-c", "echo correct horse battery; exit 3"]).load().unwrap_err();
        assert!(matches!(err, SecretError::CommandFailed { .. }), "{err}");
        assert!(!err.to_string().contains("horse"));
    }

    #[test]
    fn chatty_command_is_refused() {
        let err = argv(&["yes"]).load().unwrap_err();
        assert!(matches!(err, SecretError::CommandOutputTooLarge { limit: MAX_SOURCE_BYTES, .. }), "{err}");
    }

    #[test]
    fn missing_program_is_an_error() {
        let err = argv(&["/nonexistent/portcullis-pass"]).load().unwrap_err();
        assert!(matches!(err, SecretError::CommandSpawn { .. }), "{err}");
        assert!(matches!(PassphraseSource::Command(Vec::new()).load(), Err(SecretError::EmptyCommand)));
    }

    #[test]
    fn no_shell_is_involved() {
        // With a shell, `$HOME` would expand; run directly, echo prints it literally.
        let pass = argv(&["echo", "literal", "$HOME", "stays"]).load().unwrap();
        assert_eq!(pass.expose_secret(), "literal $HOME stays");
    }
}
