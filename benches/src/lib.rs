//! Placeholder until the load bench lands.
