//! PgBouncer's TLS settings mapped onto rustls. (Being written.)
