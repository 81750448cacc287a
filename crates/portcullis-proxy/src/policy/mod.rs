//! The policies this crate provides; each is one file.

mod ip_filter;
mod security_headers;

pub use ip_filter::IpFilterPolicy;
pub use security_headers::{CookieFlags, SecurityHeadersPolicy};
