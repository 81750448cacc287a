//! The `counters` section: whether rate limits count in this process or in
//! Redis (one server or a cluster), shared by every gateway.

use std::time::Duration;

use portcullis_ratelimit::{Counting, SharedCounters, SharedSettings, Store, is_redis_url};

use super::Compiler;
use super::management::at;
use crate::spec::CountersSpec;

impl Compiler<'_> {
    /// Where this configuration's limits count; `None` after an error.
    pub(super) fn counting(&mut self, spec: &CountersSpec) -> Option<Counting> {
        let (seeds, cluster) = match (&spec.redis, spec.redis_cluster.is_empty()) {
            (None, true) => return Some(Counting::Local(Store::global())),
            (Some(one), true) => (std::slice::from_ref(one), false),
            (None, false) => (spec.redis_cluster.as_slice(), true),
            (Some(one), false) => {
                self.error(at(one), "counters.redis", "give either `redis` or `redis_cluster`, not both");
                return None;
            }
        };
        let field = if cluster { "counters.redis_cluster" } else { "counters.redis" };
        let mut urls = Vec::new();
        for (i, url) in seeds.iter().enumerate() {
            let path = if cluster { format!("{field}[{i}]") } else { field.to_owned() };
            if url.value.is_encrypted() && matches!(self.master, super::Master::Failed) {
                self.error(at(url), &path, "cannot be decrypted: secrets.master_passphrase could not be loaded");
                continue;
            }
            let text =
                url.value.resolve_with(self.base, self.master.decrypter()).map_err(|e| self.error(at(url), &path, e));
            let Ok(text) = text else { continue };
            let text = text.trim();
            if !(text.starts_with("redis://") || text.starts_with("rediss://")) || !is_redis_url(text) {
                // Never echo the value: it may hold a password.
                self.error(at(url), path, "must be a redis:// or rediss:// URL");
                continue;
            }
            urls.push(text.to_owned());
        }
        let ca_pem = spec.ca.as_ref().and_then(|ca| self.read(at(ca), "counters.ca", &ca.value));
        let gateways = spec.gateways.as_ref().map_or(1, |g| g.value);
        if gateways == 0 {
            self.error(spec.gateways.as_ref().and_then(at), "counters.gateways", "must be at least 1");
        }
        let timeout = self.bounded(
            "counters.timeout",
            spec.timeout.as_ref(),
            Duration::from_millis(50),
            (Duration::from_millis(1), "1ms"),
        );
        let retry_after = self.bounded(
            "counters.retry_after",
            spec.retry_after.as_ref(),
            Duration::from_secs(1),
            (Duration::from_millis(100), "100ms"),
        );
        if urls.len() != seeds.len() || (spec.ca.is_some() && ca_pem.is_none()) || gateways == 0 {
            return None;
        }
        let settings = SharedSettings {
            urls,
            cluster,
            ca_pem,
            gateways,
            timeout,
            retry_after,
            local_precheck: spec.local_precheck.unwrap_or(true),
        };
        Some(Counting::Shared(SharedCounters::shared(settings)))
    }
}
