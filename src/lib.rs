//! lambda-wasm: an Envoy proxy-wasm filter that serves KrakenD `backend/lambda` endpoints by
//! invoking AWS Lambda through Envoy's HTTP callout.
//!
//! Everything but [`filter`] is plain Rust with no host calls: the filter only moves bytes
//! between Envoy and these modules.

pub mod clock;
pub mod config;
pub mod credentials;
pub mod duration;
pub mod event;
pub mod filter;
pub mod function;
pub mod invoke;
pub mod metrics;
pub mod response;
pub mod retry;
pub mod route;
pub mod sign;
