//! Server connections: connecting and logging in to PostgreSQL, and the
//! small internal queries Sluice runs on its own behalf (parameter sync,
//! reset, liveness check). The relay of client traffic lives in `relay`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::ScramSha256;
use postgres_protocol::message::frontend;
use sluice_proto::fields::{parse_error_fields, parse_parameter_status};
use sluice_proto::frame::split_message;
use sluice_proto::scram::{ClientChannelBinding, ScramKeyClient, SCRAM_SHA_256_PLUS};
use sluice_proto::startup::CancelKey;
use sluice_proto::tags::{auth, backend, status};
use sluice_proto::{PgError, ProtoError, Severity, SqlState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connector::{Connector, ServerRoute};
use crate::control::registry::ServerInfo;
use crate::errors::PoolerError;
use crate::params::VarCache;
use crate::relay::Half;
use crate::settings::ServerTarget;
use crate::stream::Stream;
use crate::tls::accept::HandshakeCounters;

/// How long a closing server may take to hang up after our Terminate.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Largest message accepted from a server during login and internal queries.
const MAX_LOGIN_MESSAGE: usize = 1 << 20;

/// How a server connection proves who it is.
#[derive(Debug, Clone)]
pub enum ServerCredential {
    /// No password known: only trust (or peer) servers accept us.
    None,
    Password(String),
    /// An `md5…` secret: enough to answer an md5 challenge.
    Md5Secret(String),
    /// Keys recovered from a client's SCRAM proof (pass-through).
    ScramKeys {
        client_key: [u8; 32],
        server_key: [u8; 32],
    },
    /// A SCRAM secret, but no client has logged in with SCRAM yet.
    ScramSecretWithoutKeys,
}

/// Where to reach a server, kept for cancel requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAddr {
    Tcp(String, u16),
    Unix(PathBuf),
}

impl ServerAddr {
    pub fn of(target: &ServerTarget) -> ServerAddr {
        if target.host.starts_with('/') {
            ServerAddr::Unix(PathBuf::from(&target.host).join(format!(".s.PGSQL.{}", target.port)))
        } else {
            ServerAddr::Tcp(target.host.clone(), target.port)
        }
    }
}

/// Why a server connection could not be made or broke.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not connect to server: {0}")]
    Connect(std::io::Error),
    #[error("server connection timed out")]
    Timeout,
    #[error("TLS to server failed: {0}")]
    Tls(String),
    #[error("server refused login: {message}")]
    Refused { code: String, message: String },
    #[error("{0}")]
    Auth(String),
    #[error("server protocol error: {0}")]
    Protocol(#[from] ProtoError),
    #[error("server connection lost: {0}")]
    Io(std::io::Error),
    #[error("server closed the connection unexpectedly")]
    Closed,
    #[error("server query failed: {message}")]
    QueryFailed { code: String, message: String },
}

impl ServerError {
    /// What the client is told. A server's own refusal keeps its
    /// SQLSTATE, as PgBouncer forwards it since 1.20.
    pub fn to_client_error(&self) -> PgError {
        match self {
            ServerError::Refused { code, message } => PgError {
                severity: Severity::Fatal,
                code: leak_known_code(code),
                message: message.clone(),
                detail: None,
                hint: None,
            },
            ServerError::Auth(_) => PoolerError::WrongPasswordType.to_pg(),
            other => PoolerError::ServerUnavailable(other.to_string()).to_pg(),
        }
    }
}

/// `SqlState` holds a `&'static str`; map the codes a login can return to
/// our constants instead of leaking strings.
fn leak_known_code(code: &str) -> SqlState {
    const KNOWN: [SqlState; 9] = [
        SqlState::INVALID_PASSWORD,
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        SqlState::INVALID_CATALOG_NAME,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::FEATURE_NOT_SUPPORTED,
        SqlState::PROTOCOL_VIOLATION,
        SqlState::CONFIGURATION_LIMIT_EXCEEDED,
    ];
    KNOWN
        .into_iter()
        .find(|s| s.code() == code)
        .unwrap_or(SqlState::CONNECTION_FAILURE)
}

/// A logged-in server connection with its relay buffers. Owned by exactly
/// one place at a time: the pool's idle list or one client's session.
#[derive(Debug)]
pub struct ServerConn {
    pub stream: Stream,
    pub id: u64,
    /// The backend's real cancel key (never shown to clients).
    pub key: Option<CancelKey>,
    /// Shared with the cancel slot of each client linked to it, so a
    /// link costs a reference count, not a copy of the host name.
    pub route: Arc<ServerRoute>,
    /// Tracked parameters as this backend currently has them.
    pub vars: VarCache,
    /// Every ParameterStatus seen at login (the pool's welcome set).
    pub login_params: Vec<(String, String)>,
    pub created: Instant,
    pub last_used: Instant,
    /// Pool configuration generation at connect; older ones close on release.
    pub generation: u64,
    pub c2s: Half,
    pub s2c: Half,
    /// Prepared statements this backend has under Sluice's names.
    pub statements: crate::prepared::ServerStatements,
    /// What SHOW SERVERS shows of it, built once after login; a linked
    /// client's registry entry shares it.
    pub info: Arc<ServerInfo>,
    /// (client id, client `VarCache` version, our `vars` version) when a
    /// client's parameters were last found to agree with ours: while all
    /// three are unchanged there is nothing to compare again.
    pub vars_agree_with: Option<(u64, u64, u64)>,
}

/// What a new connection is stamped with by its pool.
#[derive(Debug, Clone, Copy)]
pub struct ConnIdentity {
    /// Process-unique id (SHOW SERVERS `id`).
    pub id: u64,
    /// Pool configuration generation at connect time.
    pub generation: u64,
}

/// How a pool reaches servers: its connector, and where server-leg TLS
/// handshakes are counted.
pub type Reach<'a> = (&'a Arc<dyn Connector>, &'a Arc<HandshakeCounters>);

/// Connect through the connector and log in, within `timeout`.
pub async fn connect(
    reach: Reach<'_>,
    target: &ServerTarget,
    credential: &ServerCredential,
    tracked: VarCache,
    identity: ConnIdentity,
    timeout: Duration,
) -> Result<ServerConn, ServerError> {
    match tokio::time::timeout(
        timeout,
        connect_inner(reach, target, credential, tracked, identity),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(ServerError::Timeout),
    }
}

async fn connect_inner(
    (connector, handshakes): Reach<'_>,
    target: &ServerTarget,
    credential: &ServerCredential,
    tracked: VarCache,
    identity: ConnIdentity,
) -> Result<ServerConn, ServerError> {
    let route = ServerRoute {
        addr: ServerAddr::of(target),
        connector: connector.clone(),
        tls: target.tls.clone(),
        handshakes: handshakes.clone(),
    };
    let stream = route.connect().await?;
    let now = Instant::now();
    let mut conn = ServerConn {
        stream,
        id: identity.id,
        key: None,
        route: Arc::new(route),
        vars: tracked,
        login_params: Vec::new(),
        created: now,
        last_used: now,
        generation: identity.generation,
        c2s: Half::new(),
        s2c: Half::new(),
        statements: Default::default(),
        info: Arc::new(ServerInfo::default()),
        vars_agree_with: None,
    };
    conn.login(target, credential).await?;
    conn.info = Arc::new(ServerInfo::build(&conn));
    if let Some(query) = &target.connect_query {
        // PgBouncer logs connect_query errors and carries on.
        if let Err(e) = conn.simple_query(query).await {
            tracing::warn!("connect_query failed: {e}");
            if matches!(
                e,
                ServerError::Io(_) | ServerError::Closed | ServerError::Protocol(_)
            ) {
                return Err(e);
            }
        }
    }
    Ok(conn)
}

impl ServerConn {
    async fn send(&mut self, buf: &[u8]) -> Result<(), ServerError> {
        self.stream.write_all(buf).await.map_err(ServerError::Io)?;
        // A TLS stream may hold what it was given until flushed.
        self.stream.flush().await.map_err(ServerError::Io)
    }

    /// Read one whole message, gathering into the s2c buffer.
    async fn recv(&mut self) -> Result<(u8, bytes::Bytes), ServerError> {
        loop {
            if let Some(msg) = split_message(&mut self.s2c.buf, MAX_LOGIN_MESSAGE)? {
                return Ok((msg.tag, msg.body));
            }
            self.s2c.buf.reserve(4096);
            let n = self
                .stream
                .read_buf(&mut self.s2c.buf)
                .await
                .map_err(ServerError::Io)?;
            if n == 0 {
                return Err(ServerError::Closed);
            }
        }
    }

    async fn login(
        &mut self,
        target: &ServerTarget,
        credential: &ServerCredential,
    ) -> Result<(), ServerError> {
        let mut buf = BytesMut::new();
        let mut params: Vec<(&str, &str)> = vec![
            ("user", target.user.as_str()),
            ("database", target.dbname.as_str()),
        ];
        params.extend(
            target
                .startup_params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        frontend::startup_message(params, &mut buf).map_err(io_proto)?;
        self.send(&buf).await?;

        let mut scram: Option<Scram> = None;
        loop {
            let (tag, body) = self.recv().await?;
            match tag {
                backend::AUTHENTICATION => {
                    let code = read_i32(&body, 0)?;
                    buf.clear();
                    match code {
                        auth::OK => {}
                        auth::CLEARTEXT_PASSWORD => {
                            let password = match credential {
                                ServerCredential::Password(p) => p.clone(),
                                _ => return Err(no_password(target, "cleartext")),
                            };
                            frontend::password_message(password.as_bytes(), &mut buf)
                                .map_err(io_proto)?;
                            self.send(&buf).await?;
                        }
                        auth::MD5_PASSWORD => {
                            let salt: [u8; 4] = body
                                .get(4..8)
                                .and_then(|s| s.try_into().ok())
                                .ok_or(ProtoError::Malformed("md5 salt"))?;
                            let response = match credential {
                                ServerCredential::Password(p) => {
                                    postgres_protocol::authentication::md5_hash(
                                        target.user.as_bytes(),
                                        p.as_bytes(),
                                        salt,
                                    )
                                }
                                ServerCredential::Md5Secret(secret) => {
                                    sluice_proto::md5auth::md5_response_from_secret(secret, salt)
                                        .ok_or_else(|| {
                                            ServerError::Auth("invalid md5 secret".into())
                                        })?
                                }
                                _ => return Err(no_password(target, "md5")),
                            };
                            frontend::password_message(response.as_bytes(), &mut buf)
                                .map_err(io_proto)?;
                            self.send(&buf).await?;
                        }
                        auth::SASL => {
                            let mechanisms = &body[4..];
                            if !mechanisms.split(|b| *b == 0).any(|m| m == b"SCRAM-SHA-256") {
                                return Err(ServerError::Auth(
                                    "server does not offer SCRAM-SHA-256".into(),
                                ));
                            }
                            // Bind to this TLS channel when the server
                            // offers PLUS (libpq's channel_binding=prefer).
                            let plus_offered = mechanisms
                                .split(|b| *b == 0)
                                .any(|m| m == SCRAM_SHA_256_PLUS.as_bytes());
                            let binding = self
                                .stream
                                .tls()
                                .and_then(|t| t.binding.as_ref())
                                .map(|b| b.to_vec());
                            let choice = ClientChannelBinding::choose(binding, plus_offered);
                            let mechanism = choice.mechanism();
                            let state = Scram::start(credential, target, choice)?;
                            frontend::sasl_initial_response(
                                mechanism,
                                &state.first_message(),
                                &mut buf,
                            )
                            .map_err(io_proto)?;
                            scram = Some(state);
                            self.send(&buf).await?;
                        }
                        auth::SASL_CONTINUE => {
                            let state = scram
                                .as_mut()
                                .ok_or(ProtoError::Malformed("unexpected SASL continue"))?;
                            let reply = state.server_first(&body[4..])?;
                            frontend::sasl_response(&reply, &mut buf).map_err(io_proto)?;
                            self.send(&buf).await?;
                        }
                        auth::SASL_FINAL => {
                            let state = scram
                                .as_mut()
                                .ok_or(ProtoError::Malformed("unexpected SASL final"))?;
                            state.server_final(&body[4..])?;
                        }
                        other => {
                            return Err(ServerError::Auth(format!(
                                "unsupported server authentication method {other}"
                            )))
                        }
                    }
                }
                backend::PARAMETER_STATUS => {
                    let (name, value) = parse_parameter_status(&body)?;
                    self.vars.set(name, value);
                    self.login_params
                        .push((name.to_string(), value.to_string()));
                }
                backend::BACKEND_KEY_DATA => {
                    self.key = Some(CancelKey {
                        pid: read_i32(&body, 0)?,
                        secret: read_i32(&body, 4)?,
                    });
                }
                backend::ERROR_RESPONSE => {
                    let fields = parse_error_fields(&body)?;
                    return Err(ServerError::Refused {
                        code: fields.code.unwrap_or("08006").to_string(),
                        message: fields.message.unwrap_or("login failed").to_string(),
                    });
                }
                backend::READY_FOR_QUERY => return Ok(()),
                // NoticeResponse, NegotiateProtocolVersion: nothing to do.
                _ => {}
            }
        }
    }

    /// Run a query of Sluice's own and wait for ReadyForQuery. Parameter
    /// changes it causes are recorded; an error fails the call (the caller
    /// then discards the connection).
    pub async fn simple_query(&mut self, sql: &str) -> Result<(), ServerError> {
        let mut buf = BytesMut::new();
        frontend::query(sql, &mut buf).map_err(io_proto)?;
        self.send(&buf).await?;
        let mut failure = None;
        loop {
            let (tag, body) = self.recv().await?;
            match tag {
                backend::PARAMETER_STATUS => {
                    let (name, value) = parse_parameter_status(&body)?;
                    self.vars.set(name, value);
                }
                backend::ERROR_RESPONSE => {
                    let fields = parse_error_fields(&body)?;
                    failure = Some(ServerError::QueryFailed {
                        code: fields.code.unwrap_or("XX000").to_string(),
                        message: fields.message.unwrap_or("").to_string(),
                    });
                }
                backend::READY_FOR_QUERY => {
                    let status = body.first().copied();
                    return match failure {
                        Some(e) => Err(e),
                        None if status == Some(status::IDLE) => Ok(()),
                        None => Err(ServerError::QueryFailed {
                            code: "25001".into(),
                            message: "internal query left a transaction open".into(),
                        }),
                    };
                }
                // Row data, CommandComplete, notices: ignored.
                _ => {}
            }
        }
    }

    /// True if the server has sent something (a FATAL, EOF) while idle in
    /// the pool: such a connection must not be handed out.
    pub fn has_unsolicited_data(&mut self) -> bool {
        self.stream.has_unread_input()
    }

    /// Say goodbye, then wait (at most `CLOSE_WAIT`) until the server
    /// hangs up: a backend closes its socket only after it has left
    /// Postgres' process table, so once this returns the backend no
    /// longer counts against Postgres' connection limits. Errors do not
    /// matter any more.
    pub async fn terminate(mut self) {
        let mut buf = BytesMut::new();
        frontend::terminate(&mut buf);
        let goodbye = async {
            self.stream.write_all(&buf).await?;
            self.stream.flush().await
        };
        let _ = tokio::time::timeout(Duration::from_millis(200), goodbye).await;
        let mut sink = [0u8; 256];
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

fn read_i32(body: &[u8], at: usize) -> Result<i32, ProtoError> {
    body.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_be_bytes)
        .ok_or(ProtoError::Malformed("short message"))
}

fn io_proto(_: std::io::Error) -> ServerError {
    ServerError::Protocol(ProtoError::Malformed("message too large to encode"))
}

fn no_password(target: &ServerTarget, method: &str) -> ServerError {
    ServerError::Auth(format!(
        "server asks for {method} authentication but no password is known for user \"{}\"",
        target.user
    ))
}

/// Client side of SCRAM to the server: with a password, or by pass-through.
enum Scram {
    Password(Box<ScramSha256>),
    Keys(ScramKeyClient),
}

impl Scram {
    fn start(
        credential: &ServerCredential,
        target: &ServerTarget,
        binding: ClientChannelBinding,
    ) -> Result<Scram, ServerError> {
        match credential {
            ServerCredential::Password(p) => Ok(Scram::Password(Box::new(ScramSha256::new(
                p.as_bytes(),
                binding.postgres_protocol(),
            )))),
            ServerCredential::ScramKeys {
                client_key,
                server_key,
            } => Ok(Scram::Keys(
                ScramKeyClient::new(*client_key, *server_key, rand::random())
                    .with_channel_binding(binding),
            )),
            ServerCredential::ScramSecretWithoutKeys => Err(ServerError::Auth(
                "cannot do SCRAM authentication: password is SCRAM secret but client authentication did not provide SCRAM keys".into(),
            )),
            _ => Err(no_password(target, "SCRAM")),
        }
    }

    fn first_message(&self) -> Vec<u8> {
        match self {
            Scram::Password(s) => s.message().to_vec(),
            Scram::Keys(k) => k.client_first(),
        }
    }

    fn server_first(&mut self, data: &[u8]) -> Result<Vec<u8>, ServerError> {
        match self {
            Scram::Password(s) => {
                s.update(data)
                    .map_err(|e| ServerError::Auth(format!("SCRAM: {e}")))?;
                Ok(s.message().to_vec())
            }
            Scram::Keys(k) => k
                .server_first(data)
                .map_err(|e| ServerError::Auth(format!("SCRAM: {e}"))),
        }
    }

    fn server_final(&mut self, data: &[u8]) -> Result<(), ServerError> {
        match self {
            Scram::Password(s) => s
                .finish(data)
                .map_err(|e| ServerError::Auth(format!("SCRAM: {e}"))),
            Scram::Keys(k) => k
                .server_final(data)
                .map_err(|e| ServerError::Auth(format!("SCRAM: {e}"))),
        }
    }
}
