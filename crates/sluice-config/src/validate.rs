//! Checks that need more than one key: a value can be fine on its own and
//! still make the whole setup unusable (auth_type = hba with no hba file,
//! client TLS on with no certificate). These run after either reader has
//! built the model, so they apply to both formats alike, and they point at
//! the line where the deciding key was set.

use std::path::PathBuf;

use crate::assemble::Origins;
use crate::error::{ConfigError, Warning};
use crate::model::{AuthType, Config};

fn error(config: &Config, origins: &Origins, key: &str, message: String) -> ConfigError {
    match origins.get(key) {
        Some((file, line)) => ConfigError::key(file, Some(*line), key, message),
        None => ConfigError::key(&config.source, None, key, message),
    }
}

fn warning(config: &Config, origins: &Origins, key: &str, message: String) -> Warning {
    match origins.get(key) {
        Some((file, line)) => Warning::new(file, *line, message),
        None => Warning::new(&config.source, 0, message),
    }
}

pub fn check(
    config: &Config,
    origins: &Origins,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let g = &config.general;
    let missing =
        |p: &Option<PathBuf>| !matches!(p.as_deref(), Some(p) if !p.as_os_str().is_empty());

    if g.auth_type == AuthType::Hba && missing(&g.auth_hba_file) {
        return Err(error(
            config,
            origins,
            "auth_type",
            "auth_type = hba needs auth_hba_file".to_string(),
        ));
    }
    if g.auth_type == AuthType::Cert {
        for (name, file) in [
            ("client_tls_key_file", &g.client_tls_key_file),
            ("client_tls_cert_file", &g.client_tls_cert_file),
        ] {
            if missing(file) {
                return Err(error(
                    config,
                    origins,
                    "auth_type",
                    format!("auth_type = cert needs {name} (client TLS)"),
                ));
            }
        }
        // PgBouncer: "auth_type=cert requires client_tls_sslmode=verify-full";
        // without a verified certificate there is no name to log in as.
        if !g.client_tls_sslmode.starts_with("verify-") {
            return Err(error(
                config,
                origins,
                "auth_type",
                format!(
                    "auth_type = cert needs client_tls_sslmode = verify-ca or verify-full (it is {})",
                    g.client_tls_sslmode
                ),
            ));
        }
    }
    if g.client_tls_sslmode != "disable"
        && (missing(&g.client_tls_key_file) || missing(&g.client_tls_cert_file))
    {
        return Err(error(
            config,
            origins,
            "client_tls_sslmode",
            format!(
                "client_tls_sslmode = {} needs client_tls_key_file and client_tls_cert_file",
                g.client_tls_sslmode
            ),
        ));
    }
    if g.client_tls_sslmode.starts_with("verify-") && missing(&g.client_tls_ca_file) {
        // PgBouncer: "client_tls_sslmode requires client_tls_ca_file".
        return Err(error(
            config,
            origins,
            "client_tls_sslmode",
            format!(
                "client_tls_sslmode = {} needs client_tls_ca_file to verify client certificates",
                g.client_tls_sslmode
            ),
        ));
    }
    if missing(&g.server_tls_key_file) != missing(&g.server_tls_cert_file) {
        let key = if missing(&g.server_tls_key_file) {
            "server_tls_cert_file"
        } else {
            "server_tls_key_file"
        };
        return Err(error(
            config,
            origins,
            key,
            "server_tls_key_file and server_tls_cert_file must be set together".to_string(),
        ));
    }
    if let Some(auth_db) = &g.auth_dbname {
        if config.database(auth_db).is_none() && config.fallback_database.is_none() {
            warnings.push(warning(
                config,
                origins,
                "auth_dbname",
                format!("auth_dbname {auth_db:?} is not a [databases] entry; auth_query lookups will fail"),
            ));
        }
    }
    Ok(())
}
