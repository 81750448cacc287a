//! Human units in the configuration: durations (`500ms`, `30s`, `5m`, `1h`,
//! `7d`), retention periods (a duration or `forever`), sizes (`512`, `8KiB`,
//! `1MiB`, `1MB`) and secrets (`env:NAME`, `file:PATH`, `enc:v1:…`).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use portcullis_secrets::Decrypter;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use zeroize::Zeroizing;

/// A duration written with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

/// How long something is kept: a duration, or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepFor {
    /// Removed once older than this.
    Duration(Duration),
    /// Never removed.
    Forever,
}

impl KeepFor {
    /// Parses `forever` or a duration as [`HumanDuration::parse`] does.
    pub fn parse(text: &str) -> Option<Self> {
        if text.trim() == "forever" {
            return Some(Self::Forever);
        }
        HumanDuration::parse(text).map(|d| Self::Duration(d.0))
    }
}

/// A byte size, with an optional SI or IEC unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanSize(pub u64);

fn split_number(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let value = text.get(..end)?.parse().ok()?;
    Some((value, text.get(end..)?.trim()))
}

impl HumanDuration {
    /// Parses `250ms`, `30s`, `5m`, `2h`, `1d`.
    pub fn parse(text: &str) -> Option<Self> {
        let (n, unit) = split_number(text)?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            "d" => Duration::from_secs(n.checked_mul(86_400)?),
            _ => return None,
        };
        Some(Self(d))
    }
}

impl HumanSize {
    /// Parses `1024`, `8KiB`, `1MiB`, `1GiB`, `10KB`, `1MB`.
    pub fn parse(text: &str) -> Option<Self> {
        let (n, unit) = split_number(text)?;
        let factor: u64 = match unit {
            "" | "B" => 1,
            "KB" => 1000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            _ => return None,
        };
        n.checked_mul(factor).map(Self)
    }
}

/// Reads a scalar with `parse`; `expecting` names what it should be.
pub(crate) struct UnitVisitor<T>(pub(crate) fn(&str) -> Option<T>, pub(crate) &'static str);

impl<T> Visitor<'_> for UnitVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).ok_or_else(|| E::custom(format!("{v:?} is not {}", self.1)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    // YAML 1.1 reads a bare `off` or `no` as false.
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        self.visit_str(if v { "true" } else { "off" })
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor(Self::parse, "a duration such as 500ms, 30s, 5m, 1h or 7d"))
    }
}

impl<'de> Deserialize<'de> for KeepFor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor(Self::parse, "a duration such as 12h, 30d or 400d, or forever"))
    }
}

impl<'de> Deserialize<'de> for HumanSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor(Self::parse, "a size such as 512, 8KiB, 1MiB or 1MB"))
    }
}

/// Where a secret comes from: `env:NAME`, `file:PATH`, an `enc:v1:…` value
/// (decrypted with the master passphrase), or (for key files) a bare path.
/// Its `Debug` never shows the value, only the reference.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretRef(String);

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_encrypted() {
            return f.write_str("SecretRef(enc:…)");
        }
        match self.0.split_once(':') {
            Some(("env" | "file", _)) => write!(f, "SecretRef({:?})", self.0),
            _ => write!(f, "SecretRef(file:{:?})", self.0),
        }
    }
}

impl SecretRef {
    /// Whether this is an encrypted (`enc:v…`) value.
    #[must_use]
    pub fn is_encrypted(&self) -> bool {
        portcullis_secrets::is_encrypted(&self.0)
    }

    /// Reads the secret. Relative paths are relative to `base`. Encrypted
    /// values need [`SecretRef::resolve_with`].
    ///
    /// # Errors
    /// A sentence naming the variable or file that could not be read (never its content).
    pub fn resolve(&self, base: &Path) -> Result<Vec<u8>, String> {
        self.resolve_with(base, None)
    }

    /// Reads the secret, decrypting an `enc:v1:` value with `decrypter`.
    /// Relative paths are relative to `base`.
    ///
    /// # Errors
    /// A sentence naming the variable or file that could not be read, or why
    /// an encrypted value could not be opened (never the value or its content).
    pub fn resolve_with(&self, base: &Path, decrypter: Option<&Decrypter>) -> Result<Vec<u8>, String> {
        if self.is_encrypted() {
            return decrypt(&self.0, decrypter).map(|plain| plain.to_vec());
        }
        if let Some(name) = self.0.strip_prefix("env:") {
            return std::env::var(name)
                .map(String::into_bytes)
                .map_err(|_| format!("environment variable {name} is not set"));
        }
        let path = self.0.strip_prefix("file:").unwrap_or(&self.0);
        let path = base.join(path);
        std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    /// The reference as written (an `env:`/`file:` reference, a path, or an
    /// `enc:` token); never a secret in clear.
    pub(crate) fn reference(&self) -> &str {
        &self.0
    }
}

/// A secret text value: `env:NAME`, `file:PATH` (one trailing newline
/// removed), an `enc:v1:…` value (decrypted with the master passphrase), or
/// the value itself written literally. `Debug` shows only the kind of
/// reference, never a literal value.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretValue(String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if portcullis_secrets::is_encrypted(&self.0) {
            return f.write_str("SecretValue(enc:…)");
        }
        match self.0.split_once(':') {
            Some(("env" | "file", _)) => write!(f, "SecretValue({:?})", self.0),
            _ => f.write_str("SecretValue(<literal>)"),
        }
    }
}

impl SecretValue {
    /// Whether this is an encrypted (`enc:v…`) value.
    #[must_use]
    pub fn is_encrypted(&self) -> bool {
        portcullis_secrets::is_encrypted(&self.0)
    }

    /// The value as text, decrypting an `enc:v1:` value with `decrypter`.
    /// Relative `file:` paths are relative to `base`.
    ///
    /// # Errors
    /// A sentence naming the variable or file that could not be read, or why
    /// an encrypted value could not be opened (never the value or its content).
    pub fn resolve_with(&self, base: &Path, decrypter: Option<&Decrypter>) -> Result<String, String> {
        if self.is_encrypted() {
            let plain = decrypt(&self.0, decrypter)?;
            return std::str::from_utf8(&plain).map(str::to_owned).map_err(|_| "is not UTF-8 text".to_owned());
        }
        if let Some(name) = self.0.strip_prefix("env:") {
            return std::env::var(name).map_err(|_| format!("environment variable {name} is not set"));
        }
        if let Some(path) = self.0.strip_prefix("file:") {
            let path = base.join(path);
            let mut text =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if text.ends_with('\n') {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
            return Ok(text);
        }
        Ok(self.0.clone())
    }
}

/// Opens an `enc:` value; the error names the reason, never the value.
fn decrypt(token: &str, decrypter: Option<&Decrypter>) -> Result<Zeroizing<Vec<u8>>, String> {
    let decrypter =
        decrypter.ok_or_else(|| "is encrypted (enc:v1:) but secrets.master_passphrase is not set".to_owned())?;
    decrypter.decrypt(token).map_err(|e| format!("cannot be decrypted: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse() {
        assert_eq!(HumanDuration::parse("30s"), Some(HumanDuration(Duration::from_secs(30))));
        assert_eq!(HumanDuration::parse("250ms"), Some(HumanDuration(Duration::from_millis(250))));
        assert_eq!(HumanDuration::parse("2h"), Some(HumanDuration(Duration::from_secs(7200))));
        assert_eq!(HumanDuration::parse("30"), None);
        assert_eq!(HumanDuration::parse("-1s"), None);
        assert_eq!(HumanSize::parse("8KiB"), Some(HumanSize(8192)));
        assert_eq!(HumanSize::parse("1MB"), Some(HumanSize(1_000_000)));
        assert_eq!(HumanSize::parse("12"), Some(HumanSize(12)));
        assert_eq!(HumanSize::parse("1 TiB"), None);
        assert_eq!(HumanSize::parse("99999999999999999999GiB"), None);
    }

    #[test]
    fn secrets_resolve_and_never_print() {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("portcullis-secret-{}", std::process::id()));
        std::fs::write(&file, "s3cret").unwrap();
        let secret = SecretRef(format!("file:{}", file.display()));
        assert_eq!(secret.resolve(&dir).unwrap(), b"s3cret");
        assert!(!format!("{secret:?}").contains("s3cret"));
        assert!(SecretRef("env:PORTCULLIS_SURELY_UNSET".into()).resolve(&dir).unwrap_err().contains("not set"));
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn keep_for_parses_forever() {
        assert_eq!(KeepFor::parse("forever"), Some(KeepFor::Forever));
        assert_eq!(KeepFor::parse("400d"), Some(KeepFor::Duration(Duration::from_secs(400 * 86_400))));
        assert_eq!(KeepFor::parse("always"), None);
    }

    #[test]
    fn secret_values_never_print() {
        let literal = SecretValue("postgres://u:pw@db/x".into());
        assert_eq!(format!("{literal:?}"), "SecretValue(<literal>)");
        assert_eq!(literal.resolve_with(Path::new("."), None).unwrap(), "postgres://u:pw@db/x");
        let sealed = SecretValue("enc:v1:m=8.t=1.p=1:AAAA:BBBB".into());
        assert_eq!(format!("{sealed:?}"), "SecretValue(enc:…)");
        assert!(sealed.resolve_with(Path::new("."), None).unwrap_err().contains("master_passphrase is not set"));
        assert_eq!(format!("{:?}", SecretRef("enc:v1:x".into())), "SecretRef(enc:…)");
        assert_eq!(format!("{:?}", SecretValue("env:URL".into())), "SecretValue(\"env:URL\")");
    }
}
