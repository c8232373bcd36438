//! TEMPORARY shim until the real mapping lands (same API).
#![allow(dead_code)]
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

#[derive(Debug)]
pub struct KeyError {
    pub key: &'static str,
    pub message: String,
}
impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}
#[derive(Debug, Clone, Copy)]
pub enum Leg {
    Client,
    Server,
}
pub struct LegText<'a> {
    pub leg: Leg,
    pub protocols: &'a str,
    pub ciphers: &'a str,
    pub tls13_ciphers: &'a str,
    pub ecdhcurve: &'a str,
    pub dheparams: &'a str,
}
pub struct Crypto {
    pub provider: Arc<CryptoProvider>,
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
}
pub fn crypto(_text: &LegText) -> Result<Crypto, KeyError> {
    Ok(Crypto {
        provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        versions: rustls::DEFAULT_VERSIONS.to_vec(),
    })
}
fn err(key: &'static str, e: impl fmt::Display) -> KeyError {
    KeyError { key, message: e.to_string() }
}
pub fn load_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, KeyError> {
    CertificateDer::pem_file_iter(path).map_err(|e| err(key, e))?.collect::<Result<Vec<_>, _>>().map_err(|e| err(key, e))
}
pub fn load_private_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, KeyError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| err(key, e))
}
pub fn load_roots(key: &'static str, path: &Path) -> Result<RootCertStore, KeyError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(key, path)? {
        roots.add(c).map_err(|e| err(key, e))?;
    }
    Ok(roots)
}
pub fn native_roots() -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    Ok(roots)
}
pub fn certified_key(
    provider: &CryptoProvider,
    cert_key: &'static str,
    cert: &Path,
    key_key: &'static str,
    key: &Path,
) -> Result<Arc<rustls::sign::CertifiedKey>, KeyError> {
    let certs = load_certs(cert_key, cert)?;
    let k = load_private_key(key_key, key)?;
    let signing = provider.key_provider.load_private_key(k).map_err(|e| err(key_key, e))?;
    Ok(Arc::new(rustls::sign::CertifiedKey::new(certs, signing)))
}
pub fn protocol_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        _ => "TLSv1.2",
    }
}
pub fn cipher_name(s: rustls::SupportedCipherSuite) -> &'static str {
    s.suite().as_str().unwrap_or("")
}
pub fn group_name(g: rustls::NamedGroup) -> &'static str {
    match g {
        rustls::NamedGroup::X25519 => "X25519",
        _ => "other",
    }
}
