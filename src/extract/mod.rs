//! Extraction: request lines read into method, path, status and latency, and the endpoint
//! each is grouped under.
//!
//! It runs beside classification on every record that is not a traceback, and needs no
//! catalog: the layouts come from `patterns/requests.toml` and the user's pattern files.

pub(crate) mod endpoint;
mod ingress;
pub(crate) mod request;

pub use endpoint::endpoint_key;
pub use request::{Latency, Request, RequestReader, Unit};
