//! The end-to-end test kit: a throwaway PostgreSQL 15 (`pg`), real clients
//! (`clients`: psql, pgbench, tokio-postgres) and Sluice started in-process
//! (`sluice`). No fixed ports, no dependence on a running Postgres.
//! `certs` makes the certificates for TLS tests and holds the TLS client
//! side (rustls configs, tokio-postgres over rustls, a raw TLS probe).
#![allow(clippy::unwrap_used)]

pub mod certs;
pub mod clients;
pub mod pg;
pub mod pgbouncer;
pub mod raw;
pub mod sluice;
