//! PgBouncer's TLS settings mapped onto rustls (aws-lc-rs provider).
//!
//! PgBouncer hands its strings to OpenSSL (through libusual's libtls
//! layer); Sluice reads the same strings and builds a rustls provider
//! that offers exactly what they name. rustls has TLS 1.2 and 1.3 and
//! only AEAD suites with ECDHE, so anything outside that — TLS 1.0/1.1,
//! CBC or DHE suites, `none` for the curve, 1024-bit DH — is refused with
//! an error naming the key: a setting that cannot be honoured must never
//! turn into something weaker or different in silence.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::aws_lc_rs::{self, cipher_suite, kx_group};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{NamedGroup, ProtocolVersion, RootCertStore, SupportedCipherSuite};

/// An error about one setting; shown as `key: message` (with file and
/// line added by the caller when the key came from a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

fn key_error(key: &'static str, message: impl Into<String>) -> KeyError {
    KeyError {
        key,
        message: message.into(),
    }
}

/// Which side a setting belongs to (its keys' prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// `client_tls_*`: Sluice as the TLS server.
    Client,
    /// `server_tls_*`: Sluice as the TLS client of PostgreSQL.
    Server,
}

impl Leg {
    fn key(self, what: Setting) -> &'static str {
        match (self, what) {
            (Leg::Client, Setting::Protocols) => "client_tls_protocols",
            (Leg::Client, Setting::Ciphers) => "client_tls_ciphers",
            (Leg::Client, Setting::Tls13Ciphers) => "client_tls13_ciphers",
            (Leg::Server, Setting::Protocols) => "server_tls_protocols",
            (Leg::Server, Setting::Ciphers) => "server_tls_ciphers",
            (Leg::Server, Setting::Tls13Ciphers) => "server_tls13_ciphers",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Setting {
    Protocols,
    Ciphers,
    Tls13Ciphers,
}

/// The text settings of one leg, as the config holds them.
#[derive(Debug, Clone, Copy)]
pub struct LegText<'a> {
    pub leg: Leg,
    pub protocols: &'a str,
    pub ciphers: &'a str,
    /// Empty: the TLS 1.3 suites named in `ciphers`, or the defaults.
    pub tls13_ciphers: &'a str,
    /// `client_tls_ecdhcurve`; the server leg passes "auto".
    pub ecdhcurve: &'a str,
    /// `client_tls_dheparams`; the server leg passes "auto".
    pub dheparams: &'a str,
}

/// What a leg's rustls configuration is built from.
#[derive(Debug, Clone)]
pub struct Crypto {
    pub provider: Arc<CryptoProvider>,
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
}

/// The provider and versions `text` asks for, or why they cannot be had.
pub fn crypto(text: &LegText) -> Result<Crypto, KeyError> {
    let versions = protocol_versions(text.protocols)
        .map_err(|m| key_error(text.leg.key(Setting::Protocols), m))?;
    let suites = cipher_suites(text)?;
    for version in &versions {
        if !suites.iter().any(|s| s.version() == *version) {
            return Err(key_error(
                text.leg.key(Setting::Ciphers),
                format!(
                    "no cipher suite left for {} (enabled by {})",
                    protocol_name(version.version),
                    text.leg.key(Setting::Protocols)
                ),
            ));
        }
    }
    if text.leg == Leg::Client {
        check_dheparams(text.dheparams).map_err(|m| key_error("client_tls_dheparams", m))?;
    }
    let kx_groups = kx_groups(text.ecdhcurve).map_err(|m| key_error("client_tls_ecdhcurve", m))?;
    let provider = CryptoProvider {
        cipher_suites: suites,
        kx_groups,
        ..aws_lc_rs::default_provider()
    };
    Ok(Crypto {
        provider: Arc::new(provider),
        versions,
    })
}

// ---- protocols -------------------------------------------------------------

const TLS10: u8 = 1;
const TLS11: u8 = 2;
const TLS12: u8 = 4;
const TLS13: u8 = 8;

/// libusual's syntax: tokens separated by `,` `:` or blanks, read left to
/// right, `!` removes; a list that starts with `!` starts from `all`.
fn protocol_versions(text: &str) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let mut set = match tokens(text).next() {
        Some(first) if first.starts_with('!') => TLS10 | TLS11 | TLS12 | TLS13,
        _ => 0u8,
    };
    for token in tokens(text) {
        let (remove, name) = match token.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, token),
        };
        let bits = match name.to_ascii_lowercase().as_str() {
            "tlsv1.0" | "tlsv1" => TLS10,
            "tlsv1.1" => TLS11,
            "tlsv1.2" => TLS12,
            "tlsv1.3" => TLS13,
            "all" => TLS10 | TLS11 | TLS12 | TLS13,
            "secure" | "default" => TLS12 | TLS13,
            _ => {
                return Err(format!(
                    "unknown protocol {token:?} (expected tlsv1.0 … tlsv1.3, all, secure, default, with ! to remove)"
                ))
            }
        };
        if remove {
            set &= !bits;
        } else {
            set |= bits;
        }
    }
    if set & (TLS10 | TLS11) != 0 {
        return Err(
            "rustls supports TLS 1.2 and 1.3 only; use secure or tlsv1.2,tlsv1.3 \
                    (all needs !tlsv1.0,!tlsv1.1)"
                .to_string(),
        );
    }
    let mut versions = Vec::new();
    if set & TLS13 != 0 {
        versions.push(&rustls::version::TLS13);
    }
    if set & TLS12 != 0 {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err("no protocol version left".to_string());
    }
    Ok(versions)
}

fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c == ':' || c.is_whitespace())
        .filter(|t| !t.is_empty())
}

// ---- cipher suites ---------------------------------------------------------

/// Every suite the provider has, with its OpenSSL name (which PgBouncer
/// users write, and PgBouncer shows).
fn known_suites() -> [(&'static str, SupportedCipherSuite); 9] {
    [
        (
            "TLS_AES_256_GCM_SHA384",
            cipher_suite::TLS13_AES_256_GCM_SHA384,
        ),
        (
            "TLS_AES_128_GCM_SHA256",
            cipher_suite::TLS13_AES_128_GCM_SHA256,
        ),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
}

/// A suite by its OpenSSL name, its IANA name or rustls' name.
fn suite_named(name: &str) -> Option<SupportedCipherSuite> {
    known_suites().into_iter().find_map(|(openssl, suite)| {
        let iana = suite.suite().as_str().unwrap_or("");
        let iana13 = iana.replacen("TLS13_", "TLS_", 1);
        [openssl, iana, iana13.as_str()]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
            .then_some(suite)
    })
}

fn available() -> String {
    known_suites().map(|(name, _)| name).join(":")
}

/// PgBouncer's keywords meaning "the library's default set".
fn is_default_keyword(text: &str) -> bool {
    ["default", "secure", "fast", "normal"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(text.trim()))
}

/// The suites in preference order: TLS 1.3 ones first (from
/// `tls13_ciphers`, else those named in `ciphers`, else the defaults),
/// then TLS 1.2 ones (from `ciphers`, else the defaults).
fn cipher_suites(text: &LegText) -> Result<Vec<SupportedCipherSuite>, KeyError> {
    let defaults = aws_lc_rs::DEFAULT_CIPHER_SUITES;
    let is13 = |s: &SupportedCipherSuite| s.version() == &rustls::version::TLS13;
    let ciphers_key = text.leg.key(Setting::Ciphers);
    let (named13, named12) = if is_default_keyword(text.ciphers) {
        (
            Vec::new(),
            defaults.iter().copied().filter(|s| !is13(s)).collect(),
        )
    } else {
        let named = suite_list(text.ciphers).map_err(|m| key_error(ciphers_key, m))?;
        let (thirteen, twelve): (Vec<_>, Vec<_>) = named.into_iter().partition(is13);
        (thirteen, twelve)
    };
    let tls13 = if !text.tls13_ciphers.trim().is_empty() {
        let key = text.leg.key(Setting::Tls13Ciphers);
        let named = suite_list(text.tls13_ciphers).map_err(|m| key_error(key, m))?;
        if let Some(other) = named.iter().find(|s| !is13(s)) {
            return Err(key_error(
                key,
                format!("{} is not a TLS 1.3 suite", cipher_name(*other)),
            ));
        }
        named
    } else if !named13.is_empty() {
        named13
    } else {
        defaults.iter().copied().filter(is13).collect()
    };
    Ok(tls13.into_iter().chain(named12).collect())
}

fn suite_list(text: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let mut suites = Vec::new();
    for token in tokens(text) {
        let suite = suite_named(token).ok_or_else(|| {
            format!(
                "cipher {token:?} is not available in rustls (only AEAD suites with ECDHE; \
                 no OpenSSL expressions such as HIGH or !aNULL); available: {}",
                available()
            )
        })?;
        if !suites.contains(&suite) {
            suites.push(suite);
        }
    }
    if suites.is_empty() {
        return Err(format!("no cipher suite named; available: {}", available()));
    }
    Ok(suites)
}

// ---- key exchange ----------------------------------------------------------

fn kx_groups(text: &str) -> Result<Vec<&'static dyn SupportedKxGroup>, String> {
    if text.trim().eq_ignore_ascii_case("auto") {
        return Ok(aws_lc_rs::DEFAULT_KX_GROUPS.to_vec());
    }
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for token in tokens(text) {
        let group: &'static dyn SupportedKxGroup = match token.to_ascii_lowercase().as_str() {
            "x25519" => kx_group::X25519,
            "p-256" | "prime256v1" | "secp256r1" => kx_group::SECP256R1,
            "p-384" | "secp384r1" => kx_group::SECP384R1,
            "x25519mlkem768" => kx_group::X25519MLKEM768,
            "none" => {
                return Err("none cannot be honoured: rustls always uses (EC)DHE key exchange"
                    .to_string())
            }
            _ => {
                return Err(format!(
                    "curve {token:?} is not available in rustls (auto, X25519, prime256v1, secp384r1, X25519MLKEM768)"
                ))
            }
        };
        if !groups.iter().any(|g| g.name() == group.name()) {
            groups.push(group);
        }
    }
    if groups.is_empty() {
        return Err("no curve named".to_string());
    }
    Ok(groups)
}

/// rustls has no finite-field DHE suites, so no DHE is ever negotiated:
/// `auto` (PgBouncer's default) and `none` both mean exactly that.
fn check_dheparams(text: &str) -> Result<(), String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "auto" | "none" => Ok(()),
        _ => Err(format!(
            "{text:?} cannot be honoured: rustls has no DHE suites (use auto or none)"
        )),
    }
}

// ---- files -----------------------------------------------------------------

/// Every certificate in a PEM file; at least one.
pub fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, KeyError> {
    let fail = |e: &dyn fmt::Display| key_error(key, format!("{}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    if certs.is_empty() {
        return Err(fail(&"no certificate in the file"));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn load_private_key(
    key: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, KeyError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| key_error(key, format!("{}: {e}", path.display())))
}

/// A CA file: every certificate in it must be a usable trust anchor.
pub fn load_roots(key: &'static str, path: &Path) -> Result<RootCertStore, KeyError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(key, path)? {
        roots
            .add(cert)
            .map_err(|e| key_error(key, format!("{}: {e}", path.display())))?;
    }
    Ok(roots)
}

/// The system's CA store, for verify-ca/verify-full towards servers when
/// `server_tls_ca_file` is unset (PgBouncer uses the system CA file then).
pub fn native_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err("no system CA certificates found; set server_tls_ca_file".to_string());
    }
    Ok(roots)
}

/// A certificate chain and its key, checked to belong together.
pub fn certified_key(
    provider: &CryptoProvider,
    cert_key: &'static str,
    cert: &Path,
    key_key: &'static str,
    key: &Path,
) -> Result<Arc<CertifiedKey>, KeyError> {
    let chain = load_certs(cert_key, cert)?;
    let private = load_private_key(key_key, key)?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| key_error(key_key, format!("{}: {e}", key.display())))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        // Unknown: the provider cannot tell for this key type; the
        // handshake will show it.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(e) => Err(key_error(
            key_key,
            format!(
                "{} does not belong to {}: {e}",
                key.display(),
                cert.display()
            ),
        )),
    }
}

// ---- names -----------------------------------------------------------------

/// As OpenSSL prints it ("TLSv1.3").
pub fn protocol_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3",
        ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "unknown",
    }
}

/// OpenSSL's name of a suite, as PgBouncer shows it.
pub fn cipher_name(suite: SupportedCipherSuite) -> &'static str {
    known_suites()
        .into_iter()
        .find(|(_, s)| *s == suite)
        .map_or("unknown", |(name, _)| name)
}

/// OpenSSL's name of a key-exchange group.
pub fn group_name(g: NamedGroup) -> &'static str {
    match g {
        NamedGroup::X25519 => "X25519",
        NamedGroup::secp256r1 => "prime256v1",
        NamedGroup::secp384r1 => "secp384r1",
        NamedGroup::X25519MLKEM768 => "X25519MLKEM768",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests;
