//! Process-wide named counters that policies register at configuration
//! load and bump on the request path (an atomic add, no lock). The metrics
//! endpoint renders them with the rest.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// One counter series.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Families (name, help) and their series (labels, counter).
type Families = Vec<(&'static str, &'static str, Vec<(String, Arc<Counter>)>)>;

/// The registry of named counters.
#[derive(Debug, Default)]
pub struct Counters(Mutex<Families>);

/// The process's registry.
pub fn counters() -> &'static Counters {
    static REGISTRY: OnceLock<Counters> = OnceLock::new();
    REGISTRY.get_or_init(Counters::default)
}

impl Counters {
    /// The counter `name{labels}`, created on first use and kept across
    /// reloads. `labels` are `key="value"` pairs; values must not contain `"`.
    pub fn counter(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) -> Arc<Counter> {
        let rendered: Vec<String> =
            labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace(['"', '\\', '\n'], "_"))).collect();
        let rendered = rendered.join(",");
        let mut families = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let index = match families.iter().position(|(n, _, _)| *n == name) {
            Some(i) => i,
            None => {
                families.push((name, help, Vec::new()));
                families.len() - 1
            }
        };
        let series = &mut families[index].2;
        if let Some((_, c)) = series.iter().find(|(l, _)| *l == rendered) {
            return c.clone();
        }
        let counter = Arc::new(Counter::default());
        series.push((rendered, counter.clone()));
        counter
    }
}

/// Appends every registered counter in the Prometheus text format.
pub fn render_counters(out: &mut String) {
    let families = counters().0.lock().unwrap_or_else(PoisonError::into_inner);
    for (name, help, series) in families.iter() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, counter) in series {
            let _ = writeln!(out, "{name}{{{labels}}} {}", counter.get());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_shared_and_rendered() {
        let a = counters().counter("portcullis_test_total", "Test.", &[("limit", "x")]);
        let b = counters().counter("portcullis_test_total", "Test.", &[("limit", "x")]);
        a.inc();
        b.inc();
        let mut out = String::new();
        render_counters(&mut out);
        assert!(out.contains("portcullis_test_total{limit=\"x\"} 2"), "{out}");
    }
}
