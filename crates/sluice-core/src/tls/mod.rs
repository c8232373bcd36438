//! TLS on both legs, with rustls.
//!
//! - [`config`]: PgBouncer's `*_tls_*` settings turned into rustls
//!   configurations (protocols, cipher suites, curves, files).
//! - [`binding`]: `tls-server-end-point` channel-binding data for
//!   SCRAM-SHA-256-PLUS.
pub mod binding;
pub mod config;
