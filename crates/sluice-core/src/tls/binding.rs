//! Channel binding data (tls-server-end-point). (Being written.)
