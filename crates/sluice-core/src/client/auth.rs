//! Client authentication against the userlist, per `auth_type`.
//!
//! Unknown users go through the same exchange as known ones (a mock
//! challenge that always fails) so the reply never tells an attacker
//! which of user or password was wrong. A successful SCRAM login against
//! a real stored secret yields the keys for SCRAM pass-through to the
//! server.

use bytes::BytesMut;
use sluice_config::{AuthType, Secret};
use sluice_proto::backend;
use sluice_proto::fields::{parse_password_message, parse_sasl_initial_response};
use sluice_proto::md5auth::{md5_secret, verify_md5_response};
use sluice_proto::scram::{ScramError, ScramSecret, ScramServer};
use sluice_proto::tags::frontend;
use subtle::ConstantTimeEq;

use super::io::{read_message, send, ClientError};
use crate::errors::PoolerError;
use crate::server::ServerCredential;
use crate::settings::Settings;
use crate::stream::Stream;

/// Largest authentication message we accept from a client.
const MAX_AUTH_MESSAGE: usize = 8 * 1024;

#[derive(Debug)]
pub enum AuthResult {
    Accepted {
        /// Keys for logging in to the server without a password.
        pass_through: Option<ServerCredential>,
    },
    /// Rejected, with PgBouncer's text for the method (it never says
    /// whether the user or the password was wrong).
    Rejected(&'static str),
}

const PASSWORD_FAILED: &str = "password authentication failed";
const SASL_FAILED: &str = "SASL authentication failed";
const TRUST_FAILED: &str = "\"trust\" authentication failed";

enum Method {
    Cleartext,
    Md5,
    Scram,
}

/// Run the exchange `auth_type` asks for.
pub async fn authenticate(
    stream: &mut Stream,
    user: &str,
    settings: &Settings,
    mock_seed: &[u8],
) -> Result<AuthResult, ClientError> {
    let general = &settings.config.general;
    let secret = settings.userlist.get(user);
    let method = match general.auth_type {
        AuthType::Any => return Ok(accepted(None)),
        AuthType::Trust => {
            // PgBouncer's trust still wants the user in auth_file, when
            // there is one.
            let known = general.auth_file.is_none() || secret.is_some();
            return Ok(if known {
                accepted(None)
            } else {
                AuthResult::Rejected(TRUST_FAILED)
            });
        }
        AuthType::Plain => Method::Cleartext,
        AuthType::Md5 => match secret {
            Some(Secret::Scram(_)) => Method::Scram,
            _ => Method::Md5,
        },
        AuthType::ScramSha256 => Method::Scram,
        AuthType::Cert => return certificate_login(stream, user).map(|()| accepted(None)),
        AuthType::Hba => return Err(PoolerError::AuthTypeUnsupported.into()),
    };
    let mut buf = BytesMut::new();
    match method {
        Method::Cleartext => {
            backend::authentication_cleartext(&mut buf);
            send(stream, &mut buf).await?;
            let msg = read_message(stream, MAX_AUTH_MESSAGE, frontend::PASSWORD).await?;
            let password = parse_password_message(&msg.body).map_err(ClientError::protocol)?;
            Ok(match secret {
                Some(s) if verify_cleartext(user, s, password) => accepted(None),
                _ => AuthResult::Rejected(PASSWORD_FAILED),
            })
        }
        Method::Md5 => {
            let salt: [u8; 4] = rand::random();
            backend::authentication_md5(salt, &mut buf);
            send(stream, &mut buf).await?;
            let msg = read_message(stream, MAX_AUTH_MESSAGE, frontend::PASSWORD).await?;
            let response = parse_password_message(&msg.body).map_err(ClientError::protocol)?;
            let stored = match secret {
                Some(Secret::Plain(p)) => Some(md5_secret(user, p)),
                Some(Secret::Md5(m)) => Some(m.clone()),
                _ => None,
            };
            Ok(match stored {
                Some(stored) if verify_md5_response(&stored, salt, response) => accepted(None),
                _ => AuthResult::Rejected(PASSWORD_FAILED),
            })
        }
        Method::Scram => {
            // The ServerKey of a real stored secret goes with the recovered
            // ClientKey for pass-through.
            let (server, real_server_key) = match secret {
                Some(Secret::Scram(text)) => match ScramSecret::parse(text) {
                    Some(parsed) => {
                        let server_key = parsed.server_key;
                        (ScramServer::new(parsed, rand::random()), Some(server_key))
                    }
                    None => (ScramServer::mock(user, mock_seed, rand::random()), None),
                },
                Some(Secret::Plain(p)) => {
                    let salt: [u8; 16] = rand::random();
                    let derived =
                        ScramSecret::from_password(p, &salt, general.scram_iterations.max(1));
                    (ScramServer::new(derived, rand::random()), None)
                }
                _ => (ScramServer::mock(user, mock_seed, rand::random()), None),
            };
            // Over TLS, offer SCRAM-SHA-256-PLUS bound to our certificate
            // (mock exchanges too, so they look the same).
            let binding = stream
                .tls()
                .and_then(|t| t.binding.as_ref())
                .map(|b| b.to_vec());
            let server = server.with_channel_binding(binding);
            scram_exchange(stream, server, real_server_key).await
        }
    }
}

/// `auth_type = cert`: the verified client certificate's CN must be the
/// user name (PgBouncer's checks and texts, in its order). No password
/// is asked, so the server leg needs a password or a trusting server.
fn certificate_login(stream: &Stream, user: &str) -> Result<(), ClientError> {
    let tls = stream.tls().ok_or(PoolerError::TlsConnectionRequired)?;
    let name = tls
        .peer_common_name
        .as_deref()
        .ok_or(PoolerError::TlsCertificateRequired)?;
    tracing::debug!("TLS cert login: CN={name}");
    if name != user {
        tracing::info!("TLS certificate name mismatch: CN={name} user={user}");
        return Err(PoolerError::TlsCertificateNameMismatch.into());
    }
    Ok(())
}

fn accepted(pass_through: Option<ServerCredential>) -> AuthResult {
    AuthResult::Accepted { pass_through }
}

fn verify_cleartext(user: &str, secret: &Secret, password: &str) -> bool {
    match secret {
        Secret::Plain(p) => bool::from(p.as_bytes().ct_eq(password.as_bytes())),
        Secret::Md5(m) => bool::from(m.as_bytes().ct_eq(md5_secret(user, password).as_bytes())),
        Secret::Scram(text) => match ScramSecret::parse(text) {
            Some(stored) => {
                let derived = ScramSecret::from_password(password, &stored.salt, stored.iterations);
                bool::from(derived.stored_key.ct_eq(&stored.stored_key))
            }
            None => false,
        },
    }
}

async fn scram_exchange(
    stream: &mut Stream,
    mut server: ScramServer,
    real_server_key: Option<[u8; 32]>,
) -> Result<AuthResult, ClientError> {
    let mut buf = BytesMut::new();
    backend::authentication_sasl(server.mechanisms(), &mut buf);
    send(stream, &mut buf).await?;

    let msg = read_message(stream, MAX_AUTH_MESSAGE, frontend::PASSWORD).await?;
    let (mechanism, data) =
        parse_sasl_initial_response(&msg.body).map_err(ClientError::protocol)?;
    let server_first = server
        .client_first_for(mechanism, data)
        .map_err(scram_protocol)?;
    backend::authentication_sasl_continue(&server_first, &mut buf);
    send(stream, &mut buf).await?;

    let msg = read_message(stream, MAX_AUTH_MESSAGE, frontend::PASSWORD).await?;
    match server.client_final(&msg.body) {
        Ok((server_final, client_key)) => {
            backend::authentication_sasl_final(&server_final, &mut buf);
            send(stream, &mut buf).await?;
            let pass_through = real_server_key.map(|server_key| ServerCredential::ScramKeys {
                client_key,
                server_key,
            });
            Ok(accepted(pass_through))
        }
        Err(ScramError::InvalidProof) => Ok(AuthResult::Rejected(SASL_FAILED)),
        Err(e) => Err(scram_protocol(e)),
    }
}

/// A failed exchange, with PostgreSQL's SQLSTATE and text for it.
fn scram_protocol(e: ScramError) -> ClientError {
    match e {
        ScramError::InvalidMechanism => PoolerError::InvalidSaslMechanism.into(),
        other => ClientError::fatal(other.sqlstate(), other.to_string()),
    }
}
