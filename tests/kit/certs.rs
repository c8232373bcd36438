//! Certificates for TLS tests, made with rcgen into a private directory:
//! a CA, a server certificate for `localhost` and 127.0.0.1 signed by it,
//! client certificates whose CN is a user name, and the bad ones a client
//! must refuse (expired, wrong host name, signed by another CA).
//!
//! Key files are mode 0600. Server-side files (CAs, server certificates)
//! are handed to the `postgres` OS user when we are root, as the rest of
//! the kit does, so a PostgreSQL or PgBouncer running as that user can read
//! them (PostgreSQL wants its key owned by itself or root, mode 0600).
//! Client certificates stay with the current user: libpq refuses an
//! `sslkey` owned by anyone but the current user or root.
//!
//! The second half holds the TLS client side the tests need: rustls client
//! configs trusting the test CA (with or without a client certificate),
//! tokio-postgres over rustls, and a raw probe that does SSLRequest or
//! direct TLS and hands back the TLS stream (peer certificate, ALPN, …).

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::pg::{give_to_pg_user, is_root};

/// A certificate file and its private key file (both PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertKey {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertKey {
    /// The certificate's DER (the first one in the file).
    pub fn der(&self) -> CertificateDer<'static> {
        read_certs(&self.cert)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no certificate in {}", self.cert.display()))
    }
}

/// The host names every valid server certificate is made for.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The only name in [`TestCerts::wrong_host_server`].
pub const WRONG_HOST: &str = "wrong-host.invalid";

/// A CA and the certificates the TLS tests use. All paths are in `dir`.
pub struct TestCerts {
    pub dir: PathBuf,
    /// The test CA (self-signed). Trust this.
    pub ca: CertKey,
    /// `localhost` + 127.0.0.1, signed by [`TestCerts::ca`].
    pub server: CertKey,
    /// Same names and CA, but expired (valid 2000-01-01 .. 2001-01-01).
    pub expired_server: CertKey,
    /// Signed by the CA, but only for [`WRONG_HOST`].
    pub wrong_host_server: CertKey,
    /// A second, unrelated CA.
    pub other_ca: CertKey,
    /// `localhost` + 127.0.0.1, signed by [`TestCerts::other_ca`].
    pub other_ca_server: CertKey,
    issuer: Issuer<'static, KeyPair>,
    other_issuer: Issuer<'static, KeyPair>,
    seq: AtomicU32,
    owns_dir: bool,
}

impl TestCerts {
    /// Everything in a new private temp dir, removed when dropped.
    pub fn generate() -> TestCerts {
        let dir = new_dir();
        let mut certs = TestCerts::generate_in(&dir);
        certs.owns_dir = true;
        certs
    }

    /// Everything in `dir` (which must exist), left there when dropped:
    /// for certificates that live as long as the directory's owner (e.g. a
    /// `PgServer`'s base dir, removed by its watchdog).
    pub fn generate_in(dir: &Path) -> TestCerts {
        let seq = AtomicU32::new(0);
        let (ca, issuer) = make_ca(dir, "ca", "Sluice Test CA");
        let (other_ca, other_issuer) = make_ca(dir, "other-ca", "Sluice Other CA");
        let server_leaf = || Leaf::Server(&SERVER_NAMES);
        let server = issue(dir, &seq, "server", server_leaf(), &issuer, None);
        let expired_server = issue(
            dir,
            &seq,
            "expired-server",
            server_leaf(),
            &issuer,
            Some((2000, 2001)),
        );
        let wrong_host_server = issue(
            dir,
            &seq,
            "wrong-host-server",
            Leaf::Server(&[WRONG_HOST]),
            &issuer,
            None,
        );
        let other_ca_server = issue(
            dir,
            &seq,
            "other-ca-server",
            server_leaf(),
            &other_issuer,
            None,
        );
        TestCerts {
            dir: dir.to_path_buf(),
            ca,
            server,
            expired_server,
            wrong_host_server,
            other_ca,
            other_ca_server,
            issuer,
            other_issuer,
            seq,
            owns_dir: false,
        }
    }

    /// A fresh server certificate (new key, so a new serial and
    /// fingerprint) for `names`, signed by the CA; files `<stem>-<n>.crt/.key`.
    pub fn new_server(&self, stem: &str, names: &[&str]) -> CertKey {
        issue(
            &self.dir,
            &self.seq,
            stem,
            Leaf::Server(names),
            &self.issuer,
            None,
        )
    }

    /// A client certificate with CN = `user`, signed by the CA.
    pub fn client(&self, user: &str) -> CertKey {
        issue(
            &self.dir,
            &self.seq,
            &format!("client-{user}"),
            Leaf::Client(user),
            &self.issuer,
            None,
        )
    }

    /// A client certificate with CN = `user`, signed by the *other* CA.
    pub fn client_from_other_ca(&self, user: &str) -> CertKey {
        issue(
            &self.dir,
            &self.seq,
            &format!("other-client-{user}"),
            Leaf::Client(user),
            &self.other_issuer,
            None,
        )
    }

    /// The CA certificate's DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der()
    }

    /// A rustls client config trusting only the test CA, presenting
    /// `client_cert` if given (no ALPN).
    pub fn client_config(&self, client_cert: Option<&CertKey>) -> rustls::ClientConfig {
        client_config_trusting(&self.ca, client_cert)
    }

    /// tokio-postgres over rustls, trusting the test CA.
    pub fn make_tls_connect(&self, client_cert: Option<&CertKey>) -> MakeRustlsConnect {
        MakeRustlsConnect::new(self.client_config(client_cert))
    }
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

enum Leaf<'a> {
    Server(&'a [&'a str]),
    Client(&'a str),
}

/// Make a leaf certificate signed by `issuer` into `dir` as `<stem>-<n>`.
fn issue(
    dir: &Path,
    seq: &AtomicU32,
    stem: &str,
    leaf: Leaf<'_>,
    issuer: &Issuer<'static, KeyPair>,
    years: Option<(i32, i32)>,
) -> CertKey {
    let n = seq.fetch_add(1, Ordering::Relaxed);
    let stem = format!("{stem}-{n}");
    let for_server = matches!(leaf, Leaf::Server(_));
    let (names, cn, usage): (Vec<String>, &str, ExtendedKeyUsagePurpose) = match leaf {
        Leaf::Server(names) => (
            names.iter().map(|s| s.to_string()).collect(),
            names.first().copied().unwrap_or("server"),
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        Leaf::Client(user) => (Vec::new(), user, ExtendedKeyUsagePurpose::ClientAuth),
    };
    let mut params = CertificateParams::new(names).expect("certificate names");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let (from, to) = years.unwrap_or((2020, 2100));
    params.not_before = date_time_ymd(from, 1, 1);
    params.not_after = date_time_ymd(to, 1, 1);
    let key = KeyPair::generate().expect("generate key");
    let cert = params.signed_by(&key, issuer).expect("sign certificate");
    write_pair(dir, &stem, &cert.pem(), &key.serialize_pem(), for_server)
}

fn make_ca(dir: &Path, stem: &str, cn: &str) -> (CertKey, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2100, 1, 1);
    let key = KeyPair::generate().expect("generate CA key");
    let cert = params.self_signed(&key).expect("self-sign CA");
    let files = write_pair(dir, stem, &cert.pem(), &key.serialize_pem(), true);
    (files, Issuer::new(params, key))
}

fn write_pair(dir: &Path, stem: &str, cert_pem: &str, key_pem: &str, for_pg: bool) -> CertKey {
    let files = CertKey {
        cert: dir.join(format!("{stem}.crt")),
        key: dir.join(format!("{stem}.key")),
    };
    write_file_as(&files.cert, cert_pem.as_bytes(), 0o644, for_pg);
    write_file_as(&files.key, key_pem.as_bytes(), 0o600, for_pg);
    files
}

/// Write `bytes` to `path` with `mode`, owned by the `postgres` OS user
/// when we are root. Replacing a file a server already uses goes through a
/// temp file and a rename, so a reader never sees half a file.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) {
    write_file_as(path, bytes, mode, true);
}

fn write_file_as(path: &Path, bytes: &[u8], mode: u32, for_pg: bool) {
    let tmp = path.with_extension(format!(
        "tmp-{}",
        std::process::id() ^ rand_u32().rotate_left(7)
    ));
    std::fs::write(&tmp, bytes).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", tmp.display()));
    if for_pg {
        give_to_pg_user(&tmp);
    }
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

/// Copy a certificate and key to `to` (mode 0644 / 0600), e.g. to swap the
/// certificate a running pooler reads on RELOAD.
pub fn install(from: &CertKey, to: &CertKey) {
    write_file(&to.cert, &std::fs::read(&from.cert).unwrap(), 0o644);
    write_file(&to.key, &std::fs::read(&from.key).unwrap(), 0o600);
}

fn rand_u32() -> u32 {
    static SEQ: AtomicU32 = AtomicU32::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ SEQ.fetch_add(0x9e37_79b9, Ordering::Relaxed)
}

/// A new private dir for certificates, reachable by the `postgres` user.
fn new_dir() -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    // Under root, TMPDIR might point somewhere postgres cannot reach.
    let parent = if is_root() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    loop {
        let dir = parent.join(format!(
            "sluice-certs-{}-{}-{:x}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            rand_u32()
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                    .expect("chmod cert dir");
                give_to_pg_user(&dir);
                return dir;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("create {}: {e}", dir.display()),
        }
    }
}

// ---- TLS clients ------------------------------------------------------

/// Every certificate in a PEM file.
pub fn read_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn read_key(path: &Path) -> PrivateKeyDer<'static> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_file(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The crypto provider the test clients use (rustls' aws-lc-rs), named
/// explicitly so the process needs no installed default.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A rustls client config trusting the CA in `ca.cert`, presenting
/// `client_cert` if given.
pub fn client_config_trusting(ca: &CertKey, client_cert: Option<&CertKey>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(&ca.cert) {
        roots.add(cert).expect("add CA to roots");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    match client_cert {
        Some(files) => builder
            .with_client_auth_cert(read_certs(&files.cert), read_key(&files.key))
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    }
}

/// Connect tokio-postgres over TLS with `tls` (the config's `ssl_mode`
/// decides whether TLS is asked for), spawning the connection task.
pub async fn connect_tls(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// How [`tls_probe`] starts TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiation {
    /// SSLRequest, then the handshake after `S`.
    SslRequest,
    /// The ClientHello straight away (PostgreSQL 17 `sslnegotiation=direct`).
    Direct,
}

/// A TLS stream to a server, from [`tls_probe`].
pub type ProbeStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Open TCP to 127.0.0.1:`port`, start TLS as `how` says with `config`
/// (set its `alpn_protocols` first if needed) and `server_name` for SNI
/// and verification. Returns the stream (for the peer certificate, the
/// negotiated ALPN, or to send a startup packet), or what went wrong:
/// `Err("N")` when the server declined SSLRequest, else the I/O error
/// text. 10 s limit.
pub async fn tls_probe(
    port: u16,
    config: rustls::ClientConfig,
    server_name: &str,
    how: Negotiation,
) -> Result<ProbeStream, String> {
    let work = async {
        let mut tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        if how == Negotiation::SslRequest {
            tcp.write_all(&ssl_request())
                .await
                .map_err(|e| format!("send SSLRequest: {e}"))?;
            let mut answer = [0u8; 1];
            tcp.read_exact(&mut answer)
                .await
                .map_err(|e| format!("read SSLRequest answer: {e}"))?;
            match answer[0] {
                b'S' => {}
                b'N' => return Err("N".to_string()),
                other => return Err(format!("SSLRequest answered {:?}", other as char)),
            }
        }
        let name = ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .unwrap_or_else(|_| Err("tls probe timed out".to_string()))
}

/// The server's leaf certificate, as [`tls_probe`] with SSLRequest saw it.
pub async fn peer_certificate(
    port: u16,
    config: rustls::ClientConfig,
    server_name: &str,
) -> Result<CertificateDer<'static>, String> {
    let stream = tls_probe(port, config, server_name, Negotiation::SslRequest).await?;
    let (_, conn) = stream.get_ref();
    conn.peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned())
        .ok_or_else(|| "no peer certificate".to_string())
}

/// SSLRequest: length 8, code 80877103.
pub fn ssl_request() -> [u8; 8] {
    request_code(80_877_103)
}

/// GSSENCRequest: length 8, code 80877104.
pub fn gssenc_request() -> [u8; 8] {
    request_code(80_877_104)
}

fn request_code(code: u32) -> [u8; 8] {
    let mut packet = [0u8; 8];
    packet[..4].copy_from_slice(&8u32.to_be_bytes());
    packet[4..].copy_from_slice(&code.to_be_bytes());
    packet
}

/// A protocol 3.0 StartupMessage for `user` and `database`.
pub fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut body = 0x0003_0000u32.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", database)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(body);
    packet
}

/// What a server sent back on a raw connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// One backend message (type byte and body).
    Msg(u8, Vec<u8>),
    /// The server closed the connection (or reset it).
    Closed,
}

/// Read backend messages from `stream` until ReadyForQuery, an
/// ErrorResponse, the connection closing or `limit` passing (then the
/// last entry is not `Closed` and the list may be empty).
pub async fn read_replies<S>(stream: &mut S, limit: Duration) -> Vec<Reply>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        while buf.len() >= 5 {
            let len = u32::from_be_bytes(buf[1..5].try_into().unwrap()) as usize;
            if buf.len() < 1 + len {
                break;
            }
            let tag = buf[0];
            let body = buf[5..1 + len].to_vec();
            buf.drain(..1 + len);
            // After a FATAL the peer hangs up: keep reading so the close
            // shows as `Reply::Closed` (an ERROR or ReadyForQuery ends it).
            let fatal =
                tag == b'E' && error_fields(&body).get(&'S').map(String::as_str) == Some("FATAL");
            out.push(Reply::Msg(tag, body));
            if tag == b'Z' || (tag == b'E' && !fatal) {
                return out;
            }
        }
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return out,
            Ok(Ok(0)) | Ok(Err(_)) => {
                out.push(Reply::Closed);
                return out;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The fields of an ErrorResponse or NoticeResponse body, by code letter
/// (`S` severity, `C` SQLSTATE, `M` message, …).
pub fn error_fields(body: &[u8]) -> std::collections::BTreeMap<char, String> {
    body.split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| (f[0] as char, String::from_utf8_lossy(&f[1..]).into_owned()))
        .collect()
}

/// The (severity, SQLSTATE, message) of the first ErrorResponse in `replies`.
pub fn first_error(replies: &[Reply]) -> Option<(String, String, String)> {
    replies.iter().find_map(|r| match r {
        Reply::Msg(b'E', body) => {
            let f = error_fields(body);
            Some((
                f.get(&'S').cloned().unwrap_or_default(),
                f.get(&'C').cloned().unwrap_or_default(),
                f.get(&'M').cloned().unwrap_or_default(),
            ))
        }
        _ => None,
    })
}

/// Whether `replies` contain AuthenticationOk (`R` with code 0).
pub fn logged_in(replies: &[Reply]) -> bool {
    replies
        .iter()
        .any(|r| matches!(r, Reply::Msg(b'R', body) if body.as_slice() == [0, 0, 0, 0]))
}
