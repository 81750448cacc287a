//! JWT bearer verification for Portcullis (work in progress).

#![forbid(unsafe_code)]
