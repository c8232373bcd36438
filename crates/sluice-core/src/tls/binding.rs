//! TEMPORARY shim until the real binding lands.
pub fn tls_server_end_point(_cert_der: &[u8]) -> Option<Vec<u8>> {
    None
}
