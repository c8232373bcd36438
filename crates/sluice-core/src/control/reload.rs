//! Reload: the files again (SIGHUP, the console's RELOAD), new settings
//! (`Sluice::reload`), or one key (the console's `SET key = value`).
//! Connected clients keep their sessions; pools pick up new limits at
//! once and close servers whose target changed when they come back.
//!
//! `load_settings` lives here, not in sluice-config, because what it
//! returns is the runtime's [`Settings`] (config plus userlist), which the
//! binary's startup and every reload build the same way.

use std::path::Path;
use std::sync::Arc;

use sluice_config::{Userlist, Warning};

use super::refuse;
use crate::errors::PoolerError;
use crate::server::ServerCredential;
use crate::settings::Settings;
use crate::shared::{server_credential, Shared};

/// Read a config file and the userlist it names. The config's non-fatal
/// warnings come back for the caller to report (the binary prints them
/// before logging is set up; a reload logs them).
pub fn load_settings(path: &Path) -> Result<(Settings, Vec<Warning>), String> {
    let loaded = sluice_config::load(path).map_err(|e| e.to_string())?;
    let userlist = match &loaded.config.general.auth_file {
        Some(file) => Userlist::load(file).map_err(|e| e.to_string())?,
        None => Userlist::default(),
    };
    // TLS files are read here, so a bad certificate fails the whole load
    // and RELOAD keeps the settings (and certificates) it had.
    let settings = Settings::from_loaded(&loaded, userlist).map_err(|e| e.to_string())?;
    Ok((settings, loaded.warnings))
}

/// Swap in new settings and re-derive every pool's limits, target and
/// credential.
pub fn apply(shared: &Shared, settings: Settings) {
    let _serial = shared.control.changing();
    apply_locked(shared, settings);
}

/// `apply` for a caller that holds [`super::Control::changing`].
fn apply_locked(shared: &Shared, settings: Settings) {
    let settings = Arc::new(settings);
    shared.replace_settings(settings.clone());
    for pool in shared.pools() {
        let Some(db) = settings.database(&pool.key.database) else {
            // Database removed: its servers close as they come back.
            pool.retire_all();
            continue;
        };
        let client_user = pool.key.user.clone();
        let target = settings.server_target(&db, &client_user);
        let limits = settings.pool_limits(&db, &target.user);
        let credential = server_credential(&settings, &target.password, &target.user);
        if !matches!(credential, ServerCredential::ScramSecretWithoutKeys) {
            pool.set_credential(credential);
        }
        pool.reconfigure(target, limits);
    }
}

/// Read `path` again and apply it; on failure the old settings stay.
/// Returns the new config's warnings for the caller to report.
pub fn reload_from_files(shared: &Shared, path: &Path) -> Result<Vec<Warning>, String> {
    let (settings, warnings) = load_settings(path)?;
    apply(shared, settings);
    Ok(warnings)
}

/// The console's RELOAD: the config file the running settings came from.
pub fn reload(shared: &Shared) -> Result<(), PoolerError> {
    let source = shared.settings().config.source.clone();
    match reload_from_files(shared, &source) {
        Ok(warnings) => {
            for warning in &warnings {
                tracing::warn!("{warning}");
            }
            tracing::info!("RELOAD: configuration reloaded");
            Ok(())
        }
        Err(e) => {
            tracing::error!("RELOAD failed: {e}");
            Err(PoolerError::ReloadFailed)
        }
    }
}

/// `SET key = value`: change one `[pgbouncer]` key that may change at run
/// time (sluice-config's key table decides which), as a reload would.
pub fn set(shared: &Shared, key: &str, value: &str) -> Result<(), PoolerError> {
    // Held from read to write, so two SETs (or a SET and a RELOAD) cannot
    // lose each other's change.
    let _serial = shared.control.changing();
    let mut settings = (*shared.settings()).clone();
    if let Err(e) = sluice_config::set_at_run_time(&mut settings.config, key, value) {
        tracing::error!("SET {key} = {value} failed: {e}");
        return Err(refuse("SET failed"));
    }
    if key.to_ascii_lowercase().contains("_tls") {
        // New files or modes are read now, for connections made from here
        // on; if they do not load, nothing changes (PgBouncer's words).
        match crate::tls::TlsSettings::load(&settings.config.general) {
            Ok(tls) => settings.tls = tls,
            Err(e) => {
                tracing::error!(
                    "TLS settings could not be applied, still using old configuration: {e}"
                );
                return Err(refuse("SET failed"));
            }
        }
    }
    apply_locked(shared, settings);
    tracing::info!("SET {key} = {value}");
    Ok(())
}
