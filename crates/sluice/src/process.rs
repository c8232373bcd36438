//! Process concerns: daemonizing, the pidfile, file-descriptor limits,
//! switching user, logging setup and Unix signals.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sluice_core::control::{self, RunState};
use sluice_core::{Settings, Sluice};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

use crate::cli::{self, Args};

pub fn run_server(args: Args, config_path: PathBuf, settings: Settings) -> Result<(), String> {
    let general = &settings.config.general;
    if args.daemon {
        if general.pidfile.is_none() {
            return Err("-d needs a pidfile in the config".into());
        }
        nix::unistd::daemon(true, false).map_err(|e| format!("daemon: {e}"))?;
    }
    init_logging(
        args.quiet || args.daemon,
        args.verbose.max(general.verbose),
        general.logfile.as_deref(),
    )?;
    raise_fd_limit();
    let pidfile = general.pidfile.clone();
    if let Some(path) = &pidfile {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| format!("cannot write pidfile {}: {e}", path.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    let result = runtime.block_on(cli::serve(settings, config_path, args.user));
    if let Some(path) = &pidfile {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn init_logging(quiet: bool, verbose: u8, logfile: Option<&Path>) -> Result<(), String> {
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match (logfile, quiet) {
        (Some(path), _) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open logfile {}: {e}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .init();
        }
        (None, true) => builder.with_writer(std::io::sink).init(),
        (None, false) => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

/// Thousands of clients need thousands of descriptors: take the hard limit.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Drop root after the listeners are bound (`-u USER`).
pub fn switch_user(name: &str) -> Result<(), String> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| format!("cannot look up user {name}: {e}"))?
        .ok_or_else(|| format!("no such user: {name}"))?;
    nix::unistd::setgid(user.gid).map_err(|e| format!("setgid: {e}"))?;
    nix::unistd::setuid(user.uid).map_err(|e| format!("setuid: {e}"))?;
    Ok(())
}

/// HUP reloads; USR1/USR2 pause/resume; TERM/INT/QUIT shut down (a
/// second TERM or INT is immediate). Returns once a shutdown has begun,
/// by signal or by the console's SHUTDOWN.
pub async fn handle_signals(sluice: &Sluice, config_path: &Path) {
    let (Ok(mut hup), Ok(mut term), Ok(mut int), Ok(mut quit), Ok(mut usr1), Ok(mut usr2)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::quit()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    let mut run_state = sluice.shared().run_state.subscribe();
    let name = loop {
        tokio::select! {
            _ = hup.recv() => reload(sluice, config_path),
            _ = usr1.recv() => {
                // PAUSE waits for servers to come back; don't block signals.
                let shared = sluice.shared().clone();
                tokio::spawn(async move {
                    if let Err(e) = control::pause::pause(&shared, None).await {
                        tracing::warn!("SIGUSR1: {e}");
                    }
                });
            }
            _ = usr2.recv() => {
                if let Err(e) = control::pause::resume(sluice.shared(), None) {
                    tracing::warn!("SIGUSR2: {e}");
                }
            }
            _ = term.recv() => break "TERM",
            _ = int.recv() => break "INT",
            _ = quit.recv() => break "QUIT",
            _ = control::until_state(&mut run_state, |s| *s != RunState::Running) => break "",
        }
    };
    let mode = if name.is_empty() {
        // The console's SHUTDOWN already set the mode.
        sluice.shared().run_state()
    } else {
        let mode = cli::shutdown_mode(name);
        tracing::info!("got SIG{name}, shutting down ({mode:?})");
        sluice.shutdown(mode);
        mode
    };
    if mode == RunState::Immediate {
        return;
    }
    // Keep listening for a second signal while clients drain.
    tokio::select! {
        _ = wait_drained(sluice) => return,
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = quit.recv() => {}
    }
    tracing::info!("second signal: immediate shutdown");
    sluice.shutdown(RunState::Immediate);
}

async fn wait_drained(sluice: &Sluice) {
    while sluice
        .shared()
        .clients
        .load(std::sync::atomic::Ordering::Acquire)
        > 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn reload(sluice: &Sluice, config_path: &Path) {
    match control::reload::reload_from_files(sluice.shared(), config_path) {
        Ok(warnings) => {
            cli::print_warnings(&warnings);
            tracing::info!("configuration reloaded from {}", config_path.display());
        }
        Err(e) => tracing::error!("RELOAD failed, keeping the old configuration: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::Listeners;
    use std::time::{Duration, Instant};

    fn send_signal(name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &std::process::id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGUSR1 is PAUSE and SIGUSR2 is RESUME, as in PgBouncer; the
    /// console's SHUTDOWN ends the signal loop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn usr1_pauses_and_usr2_resumes() {
        let settings = Settings::new(Default::default(), Default::default()).expect("settings");
        let sluice = Sluice::start(
            Listeners {
                tcp: Vec::new(),
                unix: None,
            },
            settings,
        );
        let shared = sluice.shared().clone();
        let signals = handle_signals(&sluice, Path::new("/nonexistent/pgbouncer.ini"));
        let body = async {
            // `biased` polled the signal loop first, so its handlers exist.
            tokio::task::yield_now().await;
            assert!(!shared.control.paused_all());
            send_signal("USR1");
            until("SIGUSR1 to pause", || shared.control.paused_all()).await;
            send_signal("USR2");
            until("SIGUSR2 to resume", || !shared.control.paused_all()).await;
            // A failed HUP reload keeps running with the old settings.
            send_signal("HUP");
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(shared.run_state(), RunState::Running);
            control::shutdown::shutdown(&shared, RunState::Immediate);
            std::future::pending::<()>().await;
        };
        tokio::select! {
            biased;
            _ = signals => {}
            _ = body => {}
        }
        assert_eq!(shared.run_state(), RunState::Immediate);
        sluice.wait().await;
    }
}
