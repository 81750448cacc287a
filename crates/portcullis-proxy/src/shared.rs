//! What every connection of the process shares.

use std::sync::Arc;

use portcullis_core::RequestIds;

use crate::access_log::AccessLog;
use crate::metrics::Metrics;
use crate::snapshot::Live;

/// Process-wide state of the data plane.
#[derive(Debug)]
pub struct Shared {
    /// The running configuration.
    pub live: Arc<Live>,
    /// Request id generator.
    pub ids: RequestIds,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The access log, if enabled.
    pub access_log: Option<AccessLog>,
}
