//! Every error Sluice sends a client in its own name, in one catalogue:
//! SQLSTATE, severity and text side by side, so a text cannot drift from
//! PgBouncer's in one call site and not another, and README's table of
//! deliberate SQLSTATE differences has one place to check against.
//!
//! Texts are PgBouncer 1.25's where PgBouncer has the error (clients and
//! tools match on them); codes are the ones Postgres uses for the same
//! condition where PgBouncer sends a generic 08P01 (README, "Differences").
//! A server's own ErrorResponse is never rebuilt from here: it is
//! forwarded as the server sent it.

use std::borrow::Cow;

use sluice_proto::{PgError, Severity, SqlState};

/// An error of the pooler's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolerError {
    // Login.
    ClientLoginTimeout,
    NoUsername,
    UnsupportedStartupParameter(String),
    InvalidSaslMechanism,
    AuthTypeUnsupported,
    NoSuchDatabase(String),
    DatabaseDisabled(String),
    TooManyClients,
    PoolerShuttingDown,
    NotAllowed,
    /// Plaintext login while `client_tls_sslmode` requires TLS.
    TlsRequired,
    /// `auth_type = cert` over a plaintext connection.
    TlsConnectionRequired,
    /// `auth_type = cert` and the client sent no certificate.
    TlsCertificateRequired,
    /// `auth_type = cert` and the certificate's CN is not the user.
    TlsCertificateNameMismatch,
    /// Bytes arrived after SSLRequest before our answer (injection).
    UnencryptedAfterSslRequest,
    /// The client sent another message than the login step expects.
    UnexpectedMessage {
        expected: u8,
        got: u8,
    },
    // Serving.
    ClientIdleTimeout,
    IdleTransactionTimeout,
    QueryTimeout,
    QueryWaitTimeout,
    ServerShuttingDown,
    ServerConnCrashed,
    InvalidServerParameter,
    ServerSentNoParameters,
    StatementModeTransaction,
    WrongPasswordType,
    /// `server_login_retry` holds this failure's (shortened) text.
    LoginFailing(String),
    PreparedStatementExists(String),
    // Admin console.
    IncompleteQuery,
    BadPacket,
    ReloadFailed,
    /// A console command refused, in PgBouncer's words (08P01 ERROR).
    Console(String),
    /// SHOW HELP's answer: a NOTICE (00000) whose detail lists the commands.
    ConsoleUsage,
    /// KILL ended the client's session.
    DatabaseRemoved,
    /// KILL_CLIENT ended the client's session.
    AdminForcedDisconnect,
    /// Client authentication failed; the text is the auth method's own
    /// (`password authentication failed for user "…"`), shared by every
    /// way of failing so nothing tells a wrong user from a wrong password.
    AuthRejected(&'static str),
    /// A server could not be reached or logged in to (not a refusal the
    /// server itself sent, which is forwarded as sent).
    ServerUnavailable(String),
    /// Console `SET` of a client-side parameter (PgBouncer ignores them).
    SetIgnored,
}

impl PoolerError {
    pub fn sqlstate(&self) -> SqlState {
        use PoolerError::*;
        match self {
            NoUsername => SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            AuthTypeUnsupported => SqlState::FEATURE_NOT_SUPPORTED,
            NoSuchDatabase(_) => SqlState::INVALID_CATALOG_NAME,
            TooManyClients => SqlState::TOO_MANY_CONNECTIONS,
            PoolerShuttingDown | ServerShuttingDown => SqlState::ADMIN_SHUTDOWN,
            IdleTransactionTimeout => SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
            ServerConnCrashed | ServerSentNoParameters => SqlState::CONNECTION_FAILURE,
            PreparedStatementExists(_) => SqlState::DUPLICATE_PREPARED_STATEMENT,
            ReloadFailed => SqlState::CONFIG_FILE_ERROR,
            ConsoleUsage | SetIgnored => SqlState::SUCCESSFUL_COMPLETION,
            AuthRejected(_) => SqlState::INVALID_PASSWORD,
            ServerUnavailable(_) => SqlState::CONNECTION_FAILURE,
            ClientLoginTimeout
            | UnsupportedStartupParameter(_)
            | InvalidSaslMechanism
            | DatabaseDisabled(_)
            | NotAllowed
            | UnencryptedAfterSslRequest
            | TlsRequired
            | TlsConnectionRequired
            | TlsCertificateRequired
            | TlsCertificateNameMismatch
            | UnexpectedMessage { .. }
            | ClientIdleTimeout
            | QueryTimeout
            | QueryWaitTimeout
            | InvalidServerParameter
            | StatementModeTransaction
            | WrongPasswordType
            | LoginFailing(_)
            | IncompleteQuery
            | BadPacket
            | Console(_)
            | DatabaseRemoved
            | AdminForcedDisconnect => SqlState::PROTOCOL_VIOLATION,
        }
    }

    /// ERROR leaves the session open; FATAL closes it.
    pub fn severity(&self) -> Severity {
        use PoolerError::*;
        match self {
            PreparedStatementExists(_) | ReloadFailed | Console(_) => Severity::Error,
            ConsoleUsage | SetIgnored => Severity::Notice,
            _ => Severity::Fatal,
        }
    }

    pub fn message(&self) -> Cow<'static, str> {
        use PoolerError::*;
        Cow::Borrowed(match self {
            ClientLoginTimeout => "client_login_timeout",
            NoUsername => "no username supplied",
            UnsupportedStartupParameter(name) => {
                return format!("unsupported startup parameter: {name}").into()
            }
            InvalidSaslMechanism => "client selected an invalid SASL authentication mechanism",
            AuthTypeUnsupported => "auth_type hba is not supported by Sluice yet",
            NoSuchDatabase(db) => return format!("no such database: {db}").into(),
            DatabaseDisabled(db) => return format!("database \"{db}\" is disabled").into(),
            TooManyClients => "no more connections allowed (max_client_conn)",
            PoolerShuttingDown => "pooler is shutting down",
            NotAllowed => "not allowed",
            TlsRequired => "SSL required",
            TlsConnectionRequired => "TLS connection required",
            TlsCertificateRequired => "TLS client certificate required",
            // PgBouncer logs "TLS certificate name mismatch" and tells the
            // client only this.
            TlsCertificateNameMismatch => "certificate authentication failed",
            UnencryptedAfterSslRequest => "received unencrypted data after SSL request",
            UnexpectedMessage { expected, got } => {
                return format!(
                    "expected message type '{}', got '{}'",
                    char::from(*expected),
                    char::from(*got).escape_default()
                )
                .into()
            }
            ClientIdleTimeout => "client_idle_timeout",
            IdleTransactionTimeout => "idle transaction timeout",
            QueryTimeout => "query timeout",
            QueryWaitTimeout => "query_wait_timeout",
            ServerShuttingDown => "server shutting down",
            ServerConnCrashed => "server conn crashed?",
            InvalidServerParameter => "invalid server parameter",
            ServerSentNoParameters => "server sent no parameters",
            StatementModeTransaction => "transaction blocks not allowed in statement pooling mode",
            WrongPasswordType => "server login failed: wrong password type",
            LoginFailing(cached) => {
                return format!(
                    "server login has been failing, cached error: {cached} (server_login_retry)"
                )
                .into()
            }
            PreparedStatementExists(name) => {
                return format!("prepared statement \"{name}\" already exists").into()
            }
            IncompleteQuery => "incomplete query",
            BadPacket => "bad packet",
            ReloadFailed => "RELOAD failed, see logs for additional details",
            Console(text) => return text.clone().into(),
            ConsoleUsage => "Console usage",
            SetIgnored => "SET ignored",
            AuthRejected(text) => text,
            ServerUnavailable(text) => return text.clone().into(),
            DatabaseRemoved => "database removed",
            AdminForcedDisconnect => "admin forced disconnect",
        })
    }

    /// The ErrorResponse fields a client gets.
    pub fn to_pg(&self) -> PgError {
        PgError::new(self.severity(), self.sqlstate(), self.message())
    }
}

impl From<PoolerError> for PgError {
    fn from(e: PoolerError) -> PgError {
        e.to_pg()
    }
}

impl std::fmt::Display for PoolerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_codes_are_pgbouncers_or_documented() {
        let cases = [
            (PoolerError::QueryWaitTimeout, "08P01", "query_wait_timeout"),
            (
                PoolerError::ServerConnCrashed,
                "08006",
                "server conn crashed?",
            ),
            (
                PoolerError::TooManyClients,
                "53300",
                "no more connections allowed (max_client_conn)",
            ),
            (
                PoolerError::NoSuchDatabase("x".into()),
                "3D000",
                "no such database: x",
            ),
            (
                PoolerError::IdleTransactionTimeout,
                "25P03",
                "idle transaction timeout",
            ),
            (
                PoolerError::DatabaseDisabled("d".into()),
                "08P01",
                "database \"d\" is disabled",
            ),
        ];
        for (error, code, text) in cases {
            let pg = error.to_pg();
            assert_eq!(pg.code.code(), code, "{error:?}");
            assert_eq!(pg.message, text);
            assert_eq!(pg.severity, Severity::Fatal);
        }
        assert_eq!(
            PoolerError::Console("no such database: q".into()).severity(),
            Severity::Error
        );
        assert_eq!(
            PoolerError::UnexpectedMessage {
                expected: b'p',
                got: b'Q'
            }
            .message(),
            "expected message type 'p', got 'Q'"
        );
    }
}
