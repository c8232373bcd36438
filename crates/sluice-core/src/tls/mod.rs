//! TLS on both legs, with rustls.
//!
//! - [`config`]: PgBouncer's `*_tls_*` settings turned into rustls
//!   configurations (protocols, cipher suites, curves, files).
//! - [`binding`]: `tls-server-end-point` channel-binding data for
//!   SCRAM-SHA-256-PLUS.
//! - [`conn`]: the TLS byte stream every other module sees as a `Stream`.
//! - [`accept`]: the client leg (SSLRequest, direct TLS, ALPN, the
//!   plaintext-injection check).
//! - [`connect`]: the server leg (SSLRequest to PostgreSQL, verification,
//!   SNI), used for logins and cancel requests alike.
//!
//! Everything here is built once per configuration load (start, RELOAD,
//! console SET) into [`TlsSettings`], which lives in `Settings`: a bad
//! file fails that load and the old settings stay, and connections made
//! before keep the configuration they were made with.

pub mod accept;
pub mod binding;
pub mod config;
pub mod conn;
pub mod connect;
mod verify;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use sluice_config::General;

use self::config::{KeyError, Leg, LegText};

pub use self::conn::{TlsConn, TlsInfo};

/// `client_tls_sslmode`, as PgBouncer reads it (ordered: stricter later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientMode {
    /// SSLRequest answered `N`.
    Disable,
    /// `allow` and `prefer`: TLS when the client asks.
    Prefer,
    /// Plaintext logins refused.
    Require,
    /// `verify-ca` and `verify-full`: TLS with a client certificate that
    /// chains to `client_tls_ca_file` (there is no host name to check
    /// on this side, so the two are the same, as in PgBouncer).
    Verify,
}

/// `server_tls_sslmode`, as libpq reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServerMode {
    Disable,
    /// `allow` and `prefer`: TLS if the server has it, unverified.
    Prefer,
    /// TLS or no connection; certificate not checked.
    Require,
    /// Certificate chain checked, host name not.
    VerifyCa,
    /// Chain and host name checked.
    VerifyFull,
}

impl ClientMode {
    fn parse(text: &str) -> ClientMode {
        match text {
            "allow" | "prefer" => ClientMode::Prefer,
            "require" => ClientMode::Require,
            "verify-ca" | "verify-full" => ClientMode::Verify,
            _ => ClientMode::Disable,
        }
    }
}

impl ServerMode {
    fn parse(text: &str) -> ServerMode {
        match text {
            "allow" | "prefer" => ServerMode::Prefer,
            "require" => ServerMode::Require,
            "verify-ca" => ServerMode::VerifyCa,
            "verify-full" => ServerMode::VerifyFull,
            _ => ServerMode::Disable,
        }
    }
}

/// The client leg: what Sluice presents to clients.
#[derive(Debug)]
pub struct ClientTls {
    pub mode: ClientMode,
    pub config: Arc<rustls::ServerConfig>,
    /// tls-server-end-point data of our certificate (None when its
    /// signature algorithm has no defined hash, e.g. Ed25519).
    pub binding: Option<Arc<[u8]>>,
}

/// The server leg: how Sluice reaches PostgreSQL.
#[derive(Debug)]
pub struct ServerTls {
    pub mode: ServerMode,
    /// None when `mode` is Disable.
    pub config: Option<Arc<rustls::ClientConfig>>,
    /// Hash of every setting and file behind `config`: two loads that
    /// would connect the same way compare equal, so RELOAD closes idle
    /// servers only when something really changed (PgBouncer ≥ 1.24).
    fingerprint: u64,
}

impl PartialEq for ServerTls {
    fn eq(&self, other: &ServerTls) -> bool {
        self.mode == other.mode && self.fingerprint == other.fingerprint
    }
}

impl Eq for ServerTls {}

/// Both legs, built from one configuration load.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// None when `client_tls_sslmode = disable`.
    pub client: Option<Arc<ClientTls>>,
    pub server: Arc<ServerTls>,
}

impl TlsSettings {
    /// Read the files and build both legs. Fails on anything rustls cannot
    /// honour, naming the key.
    pub fn load(g: &General) -> Result<TlsSettings, KeyError> {
        Ok(TlsSettings {
            client: client_leg(g)?.map(Arc::new),
            server: Arc::new(server_leg(g)?),
        })
    }

    /// No TLS on either leg (tests that build settings by hand).
    pub fn plaintext() -> TlsSettings {
        TlsSettings {
            client: None,
            server: Arc::new(ServerTls {
                mode: ServerMode::Disable,
                config: None,
                fingerprint: 0,
            }),
        }
    }
}

/// SHOW CLIENTS / SERVERS `tls`: empty for plaintext, as PgBouncer.
pub fn describe(stream: &crate::stream::Stream) -> String {
    stream.tls().map_or(String::new(), |t| t.describe())
}

/// The `tls=` of the login log line: "no" for plaintext, as PgBouncer.
pub fn log_text(stream: &crate::stream::Stream) -> String {
    stream
        .tls()
        .map_or_else(|| "no".to_string(), |t| t.describe())
}

/// ALPN protocol of PostgreSQL 17 (direct TLS and, when offered, after SSLRequest).
pub const ALPN_POSTGRESQL: &[u8] = b"postgresql";

fn client_leg(g: &General) -> Result<Option<ClientTls>, KeyError> {
    let mode = ClientMode::parse(&g.client_tls_sslmode);
    if mode == ClientMode::Disable {
        return Ok(None);
    }
    let crypto = config::crypto(&LegText {
        leg: Leg::Client,
        protocols: &g.client_tls_protocols,
        ciphers: &g.client_tls_ciphers,
        tls13_ciphers: &g.client_tls13_ciphers,
        ecdhcurve: &g.client_tls_ecdhcurve,
        dheparams: &g.client_tls_dheparams,
    })?;
    let (cert, key) = match (&g.client_tls_cert_file, &g.client_tls_key_file) {
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            return Err(KeyError {
                key: "client_tls_sslmode",
                message: "needs client_tls_key_file and client_tls_cert_file".to_string(),
            })
        }
    };
    let certified = config::certified_key(
        &crypto.provider,
        "client_tls_cert_file",
        cert,
        "client_tls_key_file",
        key,
    )?;
    let binding = certified
        .cert
        .first()
        .and_then(|c| binding::tls_server_end_point(c.as_ref()))
        .map(Arc::from);
    let builder = rustls::ServerConfig::builder_with_provider(crypto.provider.clone())
        .with_protocol_versions(&crypto.versions)
        .map_err(|e| KeyError {
            key: "client_tls_protocols",
            message: e.to_string(),
        })?;
    let builder = match &g.client_tls_ca_file {
        Some(ca) => {
            let roots = Arc::new(config::load_roots("client_tls_ca_file", ca)?);
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots,
                crypto.provider.clone(),
            );
            // Below verify-ca a certificate is asked for but not required;
            // one that is sent must still be valid (PgBouncer's
            // "optional" verification), so cert auth can trust it.
            let verifier = if mode == ClientMode::Verify {
                verifier.build()
            } else {
                verifier.allow_unauthenticated().build()
            }
            .map_err(|e| KeyError {
                key: "client_tls_ca_file",
                message: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server_config =
        builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    // A client that offers ALPN must offer postgresql; rustls refuses any
    // other with no_application_protocol. (A direct-TLS client that offers
    // none is refused in `accept`, as PostgreSQL does.)
    server_config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    // The order of client_tls_ciphers is ours to impose, as OpenSSL's
    // server preference does for PgBouncer (rustls defaults to the
    // client's order).
    server_config.ignore_client_order = true;
    Ok(Some(ClientTls {
        mode,
        config: Arc::new(server_config),
        binding,
    }))
}

fn server_leg(g: &General) -> Result<ServerTls, KeyError> {
    let mode = ServerMode::parse(&g.server_tls_sslmode);
    let mut fingerprint = DefaultHasher::new();
    if mode == ServerMode::Disable {
        return Ok(ServerTls {
            mode,
            config: None,
            fingerprint: 0,
        });
    }
    for text in [
        &g.server_tls_protocols,
        &g.server_tls_ciphers,
        &g.server_tls13_ciphers,
    ] {
        text.hash(&mut fingerprint);
    }
    let crypto = config::crypto(&LegText {
        leg: Leg::Server,
        protocols: &g.server_tls_protocols,
        ciphers: &g.server_tls_ciphers,
        tls13_ciphers: &g.server_tls13_ciphers,
        ecdhcurve: "auto",
        dheparams: "auto",
    })?;
    let builder = rustls::ClientConfig::builder_with_provider(crypto.provider.clone())
        .with_protocol_versions(&crypto.versions)
        .map_err(|e| KeyError {
            key: "server_tls_protocols",
            message: e.to_string(),
        })?;
    let roots = match &g.server_tls_ca_file {
        Some(ca) => {
            hash_file(ca, &mut fingerprint);
            Some(config::load_roots("server_tls_ca_file", ca)?)
        }
        None if mode >= ServerMode::VerifyCa => {
            Some(config::native_roots().map_err(|message| KeyError {
                key: "server_tls_ca_file",
                message,
            })?)
        }
        None => None,
    };
    let verifier = verify::for_mode(mode, roots, &crypto.provider).map_err(|message| KeyError {
        key: "server_tls_ca_file",
        message,
    })?;
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut client_config = match (&g.server_tls_cert_file, &g.server_tls_key_file) {
        (Some(cert), Some(key)) => {
            hash_file(cert, &mut fingerprint);
            hash_file(key, &mut fingerprint);
            let certified = config::certified_key(
                &crypto.provider,
                "server_tls_cert_file",
                cert,
                "server_tls_key_file",
                key,
            )?;
            builder.with_client_cert_resolver(Arc::new(verify::OurCertificate(certified)))
        }
        _ => builder.with_no_client_auth(),
    };
    client_config.alpn_protocols = Vec::new();
    Ok(ServerTls {
        mode,
        config: Some(Arc::new(client_config)),
        fingerprint: fingerprint.finish(),
    })
}

/// Fold a file's bytes into the fingerprint (a file rewritten in place
/// is a change too). A file that cannot be read fails later, on load.
fn hash_file(path: &Path, into: &mut DefaultHasher) {
    path.hash(into);
    if let Ok(bytes) = std::fs::read(path) {
        bytes.hash(into);
    }
}
