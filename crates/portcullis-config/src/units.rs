//! Human units in the configuration: durations (`500ms`, `30s`, `5m`, `1h`,
//! `7d`), sizes (`512`, `8KiB`, `1MiB`, `1MB`) and secret references
//! (`env:NAME`, `file:PATH`).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A duration written with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

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

struct UnitVisitor<T>(fn(&str) -> Option<T>, &'static str);

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
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor(Self::parse, "a duration such as 500ms, 30s, 5m, 1h or 7d"))
    }
}

impl<'de> Deserialize<'de> for HumanSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor(Self::parse, "a size such as 512, 8KiB, 1MiB or 1MB"))
    }
}

/// Where a secret comes from: `env:NAME`, `file:PATH`, or (for key files) a
/// bare path. Its `Debug` never shows the value, only the reference.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretRef(String);

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.split_once(':') {
            Some(("env" | "file", _)) => write!(f, "SecretRef({:?})", self.0),
            _ => write!(f, "SecretRef(file:{:?})", self.0),
        }
    }
}

impl SecretRef {
    /// Reads the secret. Relative paths are relative to `base`.
    ///
    /// # Errors
    /// A sentence naming the variable or file that could not be read (never its content).
    pub fn resolve(&self, base: &Path) -> Result<Vec<u8>, String> {
        if let Some(name) = self.0.strip_prefix("env:") {
            return std::env::var(name)
                .map(String::into_bytes)
                .map_err(|_| format!("environment variable {name} is not set"));
        }
        let path = self.0.strip_prefix("file:").unwrap_or(&self.0);
        let path = base.join(path);
        std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
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
}
