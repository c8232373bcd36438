//! Command line, as PgBouncer's: `sluice [-d] [-q] [-v] [-u USER] CONFIG`,
//! plus `sluice check CONFIG` to validate and print the effective settings.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use sluice_core::{Listeners, RunState, Settings, Sluice};

/// The PgBouncer release whose console and behaviour Sluice matches.
pub const PGBOUNCER_COMPAT: &str = "1.25.2";

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    about = "A PostgreSQL connection pooler that drops in where PgBouncer stands.",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Args {
    /// Run in the background (needs `pidfile` in the config).
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
    /// Do not log to stderr.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// More logging; repeat for more.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Switch to this OS user after binding the listeners.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Print the version and exit.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// A pgbouncer.ini or a sluice.toml.
    #[arg(required_unless_present = "version")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate CONFIG, print the effective settings, exit non-zero on errors.
    Check { config: PathBuf },
}

pub fn version_line() -> String {
    format!(
        "Sluice {} (PgBouncer {} compatible)",
        env!("CARGO_PKG_VERSION"),
        PGBOUNCER_COMPAT
    )
}

pub fn run(args: Args) -> Result<(), String> {
    if args.version {
        println!("{}", version_line());
        return Ok(());
    }
    if let Some(Command::Check { config }) = &args.command {
        return check(config);
    }
    let config_path = args.config.clone().ok_or("a config file is required")?;
    let settings = load_and_warn(&config_path)?;
    crate::process::run_server(args, config_path, settings)
}

/// The control plane's `load_settings`, with the warnings on stderr
/// (this runs before logging is set up).
fn load_and_warn(path: &Path) -> Result<Settings, String> {
    let (settings, warnings) = sluice_core::control::reload::load_settings(path)?;
    print_warnings(&warnings);
    Ok(settings)
}

pub fn print_warnings(warnings: &[sluice_config::Warning]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

fn check(path: &Path) -> Result<(), String> {
    let settings = load_and_warn(path)?;
    let config = &settings.config;
    println!(
        "# {} — effective settings of {}",
        version_line(),
        path.display()
    );
    println!("[pgbouncer]");
    for row in config.settings_table() {
        let marker = if row.value == row.default {
            ""
        } else {
            "   ; changed"
        };
        println!("{} = {}{marker}", row.key, row.value);
    }
    println!("\n[databases]");
    for db in config
        .databases
        .iter()
        .chain(config.fallback_database.iter())
    {
        println!(
            "{} = host={} port={} dbname={}{}",
            db.name,
            db.host.as_deref().unwrap_or("(unix socket)"),
            db.port,
            db.dbname.as_deref().unwrap_or(&db.name),
            db.user
                .as_deref()
                .map(|u| format!(" user={u}"))
                .unwrap_or_default()
        );
    }
    println!("\n[users]");
    for user in &config.users {
        println!("{} = {:?}", user.name, user);
    }
    println!("\n; auth_file users: {}", settings.userlist.len());
    // load_settings has read and checked the TLS files (certificates
    // parse, the key matches its certificate, CAs parse): say what loaded.
    let tls = &settings.tls;
    match &tls.client {
        Some(client) => println!(
            "; client TLS: {:?}, certificate and key loaded",
            client.mode
        ),
        None => println!("; client TLS: off"),
    }
    println!("; server TLS: {:?}", tls.server.mode);
    Ok(())
}

/// Bind, start, and serve until a shutdown completes.
pub async fn serve(
    settings: Settings,
    reload_from: PathBuf,
    user: Option<String>,
) -> Result<(), String> {
    let listeners = Listeners::bind(&settings.config.general)
        .await
        .map_err(|e| format!("could not bind listeners: {e}"))?;
    if let Some(user) = user {
        crate::process::switch_user(&user)?;
    }
    let sluice = Sluice::start(listeners, settings);
    tracing::info!("{} started", version_line());
    crate::process::handle_signals(&sluice, &reload_from).await;
    sluice.wait().await;
    tracing::info!("shutdown complete");
    Ok(())
}

/// What each signal means, as in PgBouncer ≥ 1.23.
pub fn shutdown_mode(signal: &str) -> RunState {
    match signal {
        "TERM" => RunState::WaitForClients,
        "INT" => RunState::WaitForServers,
        _ => RunState::Immediate,
    }
}
