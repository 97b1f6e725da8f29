//! lambda-wasm: an Envoy proxy-wasm filter that serves KrakenD `backend/lambda` endpoints by
//! invoking AWS Lambda through Envoy's HTTP callout.
//!
//! Everything but [`filter`] is plain Rust with no host calls: the [`engine`] decides, through a
//! small host interface that [`filter`] implements for Envoy and the unit tests simulate.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod aggregate;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod duration;
pub mod engine;
pub mod event;
pub mod eventstream;
pub mod filter;
pub mod function;
pub mod http;
pub mod invoke;
pub mod keys;
pub mod manipulate;
pub mod metrics;
pub mod response;
pub mod retry;
pub mod route;
pub mod sign;
#[cfg(test)]
pub mod testkit;
