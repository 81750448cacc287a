//! Threat protection for request and response bodies: streaming JSON and
//! XML validators with limits, and the content checks built on them.
//!
//! Scanners never build a tree and never allocate beyond what their limits
//! allow; every refusal carries a stable reason code.

#![forbid(unsafe_code)]

mod body_view;
pub mod json;
mod json_pointer;
mod malware;
mod mask;
pub mod media;
pub mod multipart;
pub mod openapi;
mod policies;
pub mod xml;

pub use body_view::BodyValues;
pub use malware::{ClamdAddress, MalwareScanPolicy, ScanFailure};
pub use mask::{MaskAction, MaskRules, ResponseMaskPolicy, ResponseSizePolicy};
pub use openapi::{OpenApiError, OpenApiOptions, OpenApiPolicy};
pub use policies::{BodySizePolicy, ContentTypePolicy, JsonThreatPolicy, SyntaxChecks, XmlThreatPolicy};
