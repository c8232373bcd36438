//! The one table of `[pgbouncer]` keys. Each entry names the key, its value
//! kind, PgBouncer's default text and whether RELOAD may change it; from that
//! single list the macro builds the ini setter, the SHOW CONFIG printer and
//! the TOML serde layer (`RawGeneral`, one documented `Option` field per key,
//! `deny_unknown_fields`). Keeping it in one place is what keeps the two
//! formats and SHOW CONFIG from drifting apart. The list is alphabetical
//! because PgBouncer prints SHOW CONFIG in table order.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::assemble::Origins;
use crate::general::{General, DEFAULT_AUTH_QUERY};
use crate::kinds::*;
use crate::model::{Config, SettingRow};
use crate::validate;

/// One `[pgbouncer]` key.
pub struct KeyDef {
    pub name: &'static str,
    /// PgBouncer's default text (empty where PgBouncer's is NULL).
    pub default: &'static str,
    /// May change while running: by RELOAD / SIGHUP and by the console's
    /// `SET key = value` alike (SHOW CONFIG's `changeable`). See the note
    /// above the table.
    pub changeable: bool,
    /// Listed by SHOW CONFIG (false for Sluice's own keys).
    pub show_config: bool,
    pub set: fn(&mut General, &str) -> Result<(), String>,
    pub show: fn(&General) -> String,
}

/// A key set in TOML, already converted to ini text.
pub struct RawEntry {
    pub key: &'static str,
    pub text: Result<String, String>,
    pub span: Range<usize>,
}

fn show_other<K: Kind>(g: &General, key: &str, default: &str) -> String {
    let raw = g.other.get(key).map(String::as_str).unwrap_or(default);
    K::parse(raw)
        .map(|v| K::show(&v))
        .unwrap_or_else(|_| raw.to_string())
}

macro_rules! settings {
    (@set other, $name:ident, $kind:ty) => {
        |g: &mut General, v: &str| -> Result<(), String> {
            <$kind as Kind>::parse(v)?;
            g.other.insert(stringify!($name).to_string(), v.to_string());
            Ok(())
        }
    };
    (@set $place:ident, $name:ident, $kind:ty) => {
        |g: &mut General, v: &str| -> Result<(), String> {
            g.$name = <$kind as Kind>::parse(v)?;
            Ok(())
        }
    };
    (@show other, $name:ident, $kind:ty, $default:expr) => {
        |g: &General| show_other::<$kind>(g, stringify!($name), $default)
    };
    (@show $place:ident, $name:ident, $kind:ty, $default:expr) => {
        |g: &General| <$kind as Kind>::show(&g.$name)
    };
    (@listed sluice) => { false };
    (@listed $place:ident) => { true };
    ($( $(#[doc = $doc:literal])* $name:ident : $kind:ty = $default:expr, $place:ident, $changeable:literal; )*) => {
        /// Every key, alphabetical.
        pub static KEYS: &[KeyDef] = &[ $( KeyDef {
            name: stringify!($name),
            default: $default,
            changeable: $changeable,
            show_config: settings!(@listed $place),
            set: settings!(@set $place, $name, $kind),
            show: settings!(@show $place, $name, $kind, $default),
        }, )* ];

        /// The `[sluice]` table of sluice.toml: the serde layer. Every field
        /// is optional; absent means PgBouncer's default. Durations take a
        /// number of seconds or a string with a unit ("10s", "500ms", "5min").
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawGeneral {
            $( $(#[doc = $doc])* #[serde(default)] pub $name: Option<Spanned<<$kind as Kind>::Toml>>, )*
        }

        impl RawGeneral {
            /// The keys that were set, in table order, as ini text.
            pub fn entries(&self) -> Vec<RawEntry> {
                let mut out = Vec::new();
                $( if let Some(v) = &self.$name {
                    out.push(RawEntry {
                        key: stringify!($name),
                        text: <$kind as Kind>::toml_text(v.get_ref()),
                        span: v.span(),
                    });
                } )*
                out
            }
        }
    };
}

// Which keys may change at run time: PgBouncer's rule, one flag for both
// ways in. PgBouncer marks restart-only keys CF_NO_RELOAD; RELOAD keeps
// their old value and console SET refuses them ("SET failed"), and every
// other key may be SET (reference/pgbouncer.md §1 "NR", §2.3 "SET").
// Sluice's console used to keep its own list of 55 keys and refused the
// 33 others PgBouncer accepts; now `set_at_run_time` reads this flag, so:
// - settable as in PgBouncer, applied like a RELOAD of that one line:
//   auth_file, auth_hba_file, auth_ident_file, auth_ldap_options,
//   logfile, conffile, peer_id, pool_idle_timeout, dns_max_ttl,
//   dns_nxdomain_ttl, dns_zone_check_period, syslog, syslog_facility,
//   syslog_ident, tcp_defer_accept, tcp_socket_buffer, and every
//   client_tls_* / server_tls_* key (TLS is set up again for new
//   connections, as by RELOAD). Sluice stores and shows them but, as
//   for RELOAD, does not act on some while running (the
//   log file and listener socket options are set up once at start; the
//   userlist is read again by RELOAD, not by SET auth_file, as in
//   PgBouncer);
// - refused, as in PgBouncer: the 14 CF_NO_RELOAD keys below (listen_addr,
//   listen_port, unix_socket_*, pidfile, user, pkt_buf, ...): they shape
//   sockets and the process, which exist once;
// - metrics_addr (Sluice's own) is restart-only too: its listener is
//   bound once at start, so a new value would be shown but not used.
settings! {
    /// Users allowed every admin console command (list). Default empty. Reloadable.
    admin_users: List = "", field, true;
    /// Append " - host:port" of the client to application_name (bool). Default false. Reloadable.
    application_name_add_host: Flag = "0", field, true;
    /// [databases] entry that runs auth_query. Default: the client's database. Reloadable.
    auth_dbname: OptText = "", field, true;
    /// userlist.txt with users and secrets. Default unset. Reloadable.
    auth_file: OptPath = "", field, true;
    /// pg_hba-style file for auth_type = "hba". Default unset. Reloadable.
    auth_hba_file: OptPath = "", field, true;
    /// pg_ident-style map file (not used by Sluice yet). Default unset. Reloadable.
    auth_ident_file: OptPath = "", other, true;
    /// LDAP options (not used by Sluice). Default unset. Reloadable.
    auth_ldap_options: OptText = "", other, true;
    /// Query returning (name, secret) for users not in auth_file; $1 is the user. Reloadable.
    auth_query: Text = DEFAULT_AUTH_QUERY, field, true;
    /// trust, any, plain, md5, scram-sha-256, cert or hba. Default "md5". Reloadable.
    auth_type: Auth = "md5", field, true;
    /// User that runs auth_query. Default unset. Reloadable.
    auth_user: OptText = "", field, true;
    /// Free pools made from "*" after this idle time. Default 3600s. Reloadable.
    autodb_idle_timeout: Time = "3600", field, true;
    /// Longest wait of a cancel request for a server. Default 10s. Reloadable.
    cancel_wait_timeout: Time = "10", field, true;
    /// Drop clients idle this long; 0 = off. Default 0. Reloadable.
    client_idle_timeout: Time = "0", field, true;
    /// Drop clients that have not logged in within this time. Default 60s. Reloadable.
    client_login_timeout: Time = "60", field, true;
    /// TLS 1.3 cipher suites for clients; empty = from client_tls_ciphers. Default empty. Reloadable.
    client_tls13_ciphers: Text = "", field, true;
    /// CA that verifies client certificates. Default unset. Reloadable.
    client_tls_ca_file: OptPath = "", field, true;
    /// Certificate presented to clients. Default unset. Reloadable.
    client_tls_cert_file: OptPath = "", field, true;
    /// Cipher list for TLS <= 1.2 towards clients. Default "default". Reloadable.
    client_tls_ciphers: Text = "default", field, true;
    /// DH parameters: auto or none (rustls has no finite-field DHE). Default "auto". Reloadable.
    client_tls_dheparams: Text = "auto", field, true;
    /// Key-exchange groups for clients (auto, or names like X25519:prime256v1). Default "auto". Reloadable.
    client_tls_ecdhcurve: Text = "auto", field, true;
    /// Private key for client TLS. Default unset. Reloadable.
    client_tls_key_file: OptPath = "", field, true;
    /// TLS protocol versions for clients. Default "secure". Reloadable.
    client_tls_protocols: Text = "secure", field, true;
    /// disable, allow, prefer, require, verify-ca or verify-full. Default "disable". Reloadable.
    client_tls_sslmode: SslMode = "disable", field, true;
    /// Config file path (informational). Default: the file loaded. Reloadable.
    conffile: Text = "", other, true;
    /// Server connections per (database, user) pool; 0 = unlimited. Default 20. Reloadable.
    default_pool_size: Int<usize> = "20", field, true;
    /// Reject the simple query protocol (bool). Default false. Restart.
    disable_pqexec: Flag = "0", field, false;
    /// DNS cache lifetime (not used by Sluice yet). Default 15s. Reloadable.
    dns_max_ttl: Time = "15", other, true;
    /// Negative DNS cache lifetime (not used by Sluice yet). Default 15s. Reloadable.
    dns_nxdomain_ttl: Time = "15", other, true;
    /// DNS zone serial poll period (not used by Sluice). Default 0. Reloadable.
    dns_zone_check_period: Time = "0", other, true;
    /// Drop clients idle in transaction this long; 0 = off. Default 0. Reloadable.
    idle_transaction_timeout: Time = "0", field, true;
    /// Startup parameters to accept and drop (list). Default empty. Reloadable.
    ignore_startup_parameters: List = "", field, true;
    /// Windows service name (not used). Default "pgbouncer". Restart.
    job_name: Text = "pgbouncer", other, false;
    /// TCP addresses to listen on, "*" = all (list). Default empty = no TCP. Restart.
    listen_addr: List = "", field, false;
    /// listen(2) backlog. Default 128. Restart.
    listen_backlog: Int<u32> = "128", field, false;
    /// Port for TCP and the Unix socket name. Default 6432. Restart.
    listen_port: Port = "6432", field, false;
    /// Log successful logins (bool). Default true. Reloadable.
    log_connections: Flag = "1", field, true;
    /// Log disconnections with the reason (bool). Default true. Reloadable.
    log_disconnections: Flag = "1", field, true;
    /// Log errors sent to clients by the pooler (bool). Default true. Reloadable.
    log_pooler_errors: Flag = "1", field, true;
    /// Log a stats line every stats_period (bool). Default true. Reloadable.
    log_stats: Flag = "1", field, true;
    /// Log file (stderr logging continues). Default unset. Reloadable.
    logfile: OptPath = "", field, true;
    /// NOTICE text sent after login. Default empty. Reloadable.
    login_notify_message: Text = "", field, true;
    /// Most client connections in total. Default 100. Reloadable.
    max_client_conn: Int<usize> = "100", field, true;
    /// Most client connections per database; 0 = unlimited. Default 0. Reloadable.
    max_db_client_connections: Int<usize> = "0", field, true;
    /// Most server connections per database; 0 = unlimited. Default 0. Reloadable.
    max_db_connections: Int<usize> = "0", field, true;
    /// Largest protocol message in bytes. Default 2147483647. Reloadable.
    max_packet_size: Int<usize> = "2147483647", field, true;
    /// Prepared statements tracked per server connection; 0 = off. Default 200. Reloadable.
    max_prepared_statements: Int<usize> = "200", field, true;
    /// Most client connections per user; 0 = unlimited. Default 0. Reloadable.
    max_user_client_connections: Int<usize> = "0", field, true;
    /// Most server connections per user; 0 = unlimited. Default 0. Reloadable.
    max_user_connections: Int<usize> = "0", field, true;
    /// Sluice only: Prometheus listener "host:port". Default unset = off. Restart.
    metrics_addr: OptText = "", sluice, false;
    /// Server connections kept open per pool. Default 0. Reloadable.
    min_pool_size: Int<usize> = "0", field, true;
    /// This process's peer id, 1..16383; 0 = peering off. Default 0. Reloadable.
    peer_id: PeerId = "0", field, true;
    /// PID file. Default unset. Restart.
    pidfile: OptPath = "", field, false;
    /// I/O buffer size in bytes. Default 4096. Restart.
    pkt_buf: Int<usize> = "4096", field, false;
    /// Free pools with no clients and no servers after this time (not used by Sluice yet). Default 0. Reloadable.
    pool_idle_timeout: Time = "0", other, true;
    /// session, transaction or statement. Default "session". Reloadable.
    pool_mode: Mode = "session", field, true;
    /// Cancel queries running longer than this; 0 = off. Default 0. Reloadable.
    query_timeout: Time = "0", field, true;
    /// NOTICE a waiting client after this many whole seconds; 0 = off. Default 5s. Reloadable.
    query_wait_notify: WholeSeconds = "5", field, true;
    /// Longest wait for a server before the client is dropped. Default 120s. Reloadable.
    query_wait_timeout: Time = "120", field, true;
    /// Extra server connections once a client waited reserve_pool_timeout. Default 0. Reloadable.
    reserve_pool_size: Int<usize> = "0", field, true;
    /// Wait before the reserve pool is used. Default 5s. Reloadable.
    reserve_pool_timeout: Time = "5", field, true;
    /// Custom resolv.conf (not used by Sluice). Default empty. Restart.
    resolv_conf: Text = "", other, false;
    /// Rounds of pkt_buf processing per socket before moving on; 0 = unlimited. Default 5. Reloadable.
    sbuf_loopcnt: Int<u32> = "5", field, true;
    /// SCRAM iterations for secrets derived from plain passwords. Default 4096. Reloadable.
    scram_iterations: Int<u32> = "4096", field, true;
    /// Reuse a released server without the check query within this time. Default 30s. Reloadable.
    server_check_delay: Time = "30", field, true;
    /// Liveness check; "<empty>" sends an empty query, "" disables. Default "<empty>". Reloadable.
    server_check_query: Text = "<empty>", field, true;
    /// Time limit to connect and log in to a server. Default 15s. Reloadable.
    server_connect_timeout: Time = "15", field, true;
    /// Session mode: close outdated servers at transaction end (bool). Default false. Reloadable.
    server_fast_close: Flag = "0", field, true;
    /// Close servers idle this long; 0 = off. Default 600s. Reloadable.
    server_idle_timeout: Time = "600", field, true;
    /// Close released servers older than this; 0 = use once. Default 3600s. Reloadable.
    server_lifetime: Time = "3600", field, true;
    /// Wait after a failed server login before trying again. Default 15s. Reloadable.
    server_login_retry: Time = "15", field, true;
    /// Query run when a server is released (session mode). Default "DISCARD ALL". Reloadable.
    server_reset_query: Text = "DISCARD ALL", field, true;
    /// Run server_reset_query in every pool mode (bool). Default false. Reloadable.
    server_reset_query_always: Flag = "0", field, true;
    /// Round-robin instead of LIFO reuse of idle servers (bool). Default false. Reloadable.
    server_round_robin: Flag = "0", field, true;
    /// TLS 1.3 cipher suites towards servers; empty = from server_tls_ciphers. Default empty. Reloadable.
    server_tls13_ciphers: Text = "", field, true;
    /// CA that verifies servers. Default unset. Reloadable.
    server_tls_ca_file: OptPath = "", field, true;
    /// Client certificate presented to servers. Default unset. Reloadable.
    server_tls_cert_file: OptPath = "", field, true;
    /// Cipher list for TLS <= 1.2 towards servers. Default "default". Reloadable.
    server_tls_ciphers: Text = "default", field, true;
    /// Private key of server_tls_cert_file. Default unset. Reloadable.
    server_tls_key_file: OptPath = "", field, true;
    /// TLS protocol versions towards servers. Default "secure". Reloadable.
    server_tls_protocols: Text = "secure", field, true;
    /// disable, allow, prefer, require, verify-ca or verify-full. Default "prefer". Reloadable.
    server_tls_sslmode: SslMode = "prefer", field, true;
    /// SO_REUSEPORT on listeners (bool). Default false. Restart.
    so_reuseport: Flag = "0", field, false;
    /// Stats averaging period, whole seconds. Default 60s. Reloadable.
    stats_period: WholeSeconds = "60", field, true;
    /// Users allowed read-only console access (list). Default empty. Reloadable.
    stats_users: List = "", field, true;
    /// Buffer-flush wait for SUSPEND. Default 10s. Reloadable.
    suspend_timeout: Time = "10", field, true;
    /// Log to syslog (not used by Sluice yet). Default false. Reloadable.
    syslog: Flag = "0", other, true;
    /// Syslog facility (not used by Sluice yet). Default "daemon". Reloadable.
    syslog_facility: Text = "daemon", other, true;
    /// Syslog ident (not used by Sluice yet). Default "pgbouncer". Reloadable.
    syslog_ident: Text = "pgbouncer", other, true;
    /// TCP_DEFER_ACCEPT on listeners. Default 1 on Linux, else 0. Reloadable.
    tcp_defer_accept: Int<u32> = if cfg!(any(target_os = "linux", target_os = "android")) { "1" } else { "0" }, field, true;
    /// OS TCP keepalive (bool). Default true. Reloadable.
    tcp_keepalive: Flag = "1", field, true;
    /// TCP_KEEPCNT; 0 = OS default. Default 0. Reloadable.
    tcp_keepcnt: Int<u32> = "0", field, true;
    /// TCP_KEEPIDLE in seconds; 0 = OS default. Default 0. Reloadable.
    tcp_keepidle: Int<u32> = "0", field, true;
    /// TCP_KEEPINTVL in seconds; 0 = OS default. Default 0. Reloadable.
    tcp_keepintvl: Int<u32> = "0", field, true;
    /// Socket buffer size in bytes; 0 = OS default. Default 0. Reloadable.
    tcp_socket_buffer: Int<u32> = "0", field, true;
    /// TCP_USER_TIMEOUT in milliseconds; 0 = OS default. Default 0. Reloadable.
    tcp_user_timeout: Int<u32> = "0", field, true;
    /// Extra reported parameters tracked per client (list). Default "IntervalStyle". Restart.
    track_extra_parameters: List = "IntervalStyle", field, false;
    /// Drop clients whose transaction is open this long; 0 = off. Default 0. Reloadable.
    transaction_timeout: Time = "0", field, true;
    /// Unix socket directory; "" disables. Default "/tmp". Restart.
    unix_socket_dir: Text = "/tmp", field, false;
    /// Group of the Unix socket. Default unset. Restart.
    unix_socket_group: OptText = "", field, false;
    /// Mode of the Unix socket (0777 is octal). Default 0777. Restart.
    unix_socket_mode: Int<u32> = "0777", field, false;
    /// Unix user to switch to. Default unset. Restart.
    user: OptText = "", field, false;
    /// Debug level 0..3. Default 0. Reloadable.
    verbose: Int<u8> = "0", field, true;
}

/// The definition of `key`, if it is a `[pgbouncer]` key (case-sensitive).
pub fn find(key: &str) -> Option<&'static KeyDef> {
    KEYS.binary_search_by(|k| k.name.cmp(key))
        .ok()
        .and_then(|i| KEYS.get(i))
}

/// The console's `SET key = value`: set one key of `config` through the
/// same setter a config file line uses, then check the whole result as a
/// load would. Refused for unknown keys and for keys that need a restart
/// (`changeable`); `config` is unchanged on error.
pub fn set_at_run_time(config: &mut Config, key: &str, value: &str) -> Result<(), String> {
    let def = find(key).ok_or_else(|| format!("unknown parameter: {key}"))?;
    if !def.changeable {
        return Err(format!("{key} cannot be changed at run time"));
    }
    // A config file cannot hold one either, so RELOAD and SHOW CONFIG
    // could not round-trip it.
    if value.contains(['\n', '\r']) {
        return Err("newline in value".into());
    }
    let mut candidate = config.clone();
    // Trimmed as the ini reader trims a value.
    (def.set)(&mut candidate.general, value.trim())?;
    validate::check(&candidate, &Origins::new(), &mut Vec::new()).map_err(|e| e.to_string())?;
    *config = candidate;
    Ok(())
}

/// SHOW CONFIG rows for `general`; `conffile` shows the loaded file unless set.
pub fn settings_table(general: &General, source: &Path) -> Vec<SettingRow> {
    KEYS.iter()
        .filter(|k| k.show_config)
        .map(|k| {
            let mut value = (k.show)(general);
            if k.name == "conffile" && !general.other.contains_key("conffile") {
                value = source.display().to_string();
            }
            SettingRow {
                key: k.name,
                value,
                default: k.default.to_string(),
                changeable: k.changeable,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in KEYS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} >= {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn pgbouncer_has_one_hundred_keys_on_linux() {
        // 101 in PgBouncer's table, minus the Windows-only service_name.
        assert_eq!(KEYS.iter().filter(|k| k.show_config).count(), 100);
        assert!(find("service_name").is_none());
        assert!(find("metrics_addr").is_some_and(|k| !k.show_config));
    }

    #[test]
    fn every_default_text_parses_to_general_default() {
        let defaults = General::default();
        for key in KEYS {
            let mut g = General::default();
            assert_eq!((key.set)(&mut g, key.default), Ok(()), "{}", key.name);
            g.other.clear();
            assert_eq!(
                g, defaults,
                "default text of {} disagrees with General::default",
                key.name
            );
        }
    }

    #[test]
    fn not_reloadable_keys_match_pgbouncer() {
        let fixed: Vec<&str> = KEYS
            .iter()
            .filter(|k| k.show_config && !k.changeable)
            .map(|k| k.name)
            .collect();
        assert_eq!(
            fixed,
            [
                "disable_pqexec",
                "job_name",
                "listen_addr",
                "listen_backlog",
                "listen_port",
                "pidfile",
                "pkt_buf",
                "resolv_conf",
                "so_reuseport",
                "track_extra_parameters",
                "unix_socket_dir",
                "unix_socket_group",
                "unix_socket_mode",
                "user",
            ]
        );
    }

    #[test]
    fn metrics_addr_needs_a_restart() {
        // Sluice's own key: the listener is bound once at start.
        assert!(find("metrics_addr").is_some_and(|k| !k.changeable));
    }

    #[test]
    fn set_uses_the_ini_reader() {
        let mut config = Config::default();
        set_at_run_time(&mut config, "default_pool_size", "7").expect("valid");
        assert_eq!(config.general.default_pool_size, 7);
        set_at_run_time(&mut config, "query_wait_timeout", "2.5").expect("valid");
        assert_eq!(
            config.general.query_wait_timeout,
            std::time::Duration::from_millis(2500)
        );
        assert!(set_at_run_time(&mut config, "default_pool_size", "lots").is_err());
        assert!(set_at_run_time(&mut config, "listen_port", "7000").is_err());
        assert!(set_at_run_time(&mut config, "no_such_key", "1").is_err());
    }

    #[test]
    fn set_follows_the_changeable_flag() {
        let mut config = Config::default();
        for key in KEYS {
            let result = set_at_run_time(&mut config, key.name, key.default);
            assert_eq!(result.is_ok(), key.changeable, "{}: {result:?}", key.name);
        }
        // Values of keys Sluice only stores land where SHOW CONFIG reads.
        set_at_run_time(&mut config, "dns_max_ttl", "30").expect("reloadable");
        assert_eq!(
            config.general.other.get("dns_max_ttl").map(String::as_str),
            Some("30")
        );
        set_at_run_time(&mut config, "logfile", "/tmp/sluice.log").expect("reloadable");
        assert!(set_at_run_time(&mut config, "server_lifetime", "1\n2").is_err());
        // The whole result is checked, and a refusal changes nothing.
        let before = config.clone();
        assert!(set_at_run_time(&mut config, "auth_type", "hba").is_err());
        assert_eq!(config, before);
    }

    #[test]
    fn default_table_prints_like_pgbouncer() {
        let rows = settings_table(
            &General::default(),
            Path::new("/etc/pgbouncer/pgbouncer.ini"),
        );
        let get = |k: &str| {
            rows.iter()
                .find(|r| r.key == k)
                .map(|r| (r.value.as_str(), r.default.as_str()))
        };
        assert_eq!(get("server_lifetime"), Some(("3600", "3600")));
        assert_eq!(get("unix_socket_mode"), Some(("511", "0777")));
        assert_eq!(get("auth_type"), Some(("md5", "md5")));
        assert_eq!(get("pool_mode"), Some(("session", "session")));
        assert_eq!(get("log_connections"), Some(("1", "1")));
        assert_eq!(get("auth_file"), Some(("", "")));
        assert_eq!(get("dns_max_ttl"), Some(("15", "15")));
        assert_eq!(get("syslog_ident"), Some(("pgbouncer", "pgbouncer")));
        assert_eq!(
            get("track_extra_parameters"),
            Some(("IntervalStyle", "IntervalStyle"))
        );
        assert_eq!(get("conffile"), Some(("/etc/pgbouncer/pgbouncer.ini", "")));
        assert!(get("metrics_addr").is_none());
        for row in &rows {
            if !["unix_socket_mode", "conffile"].contains(&row.key) {
                assert_eq!(row.value, row.default, "{}", row.key);
            }
        }
    }

    #[test]
    fn setters_store_typed_or_raw() {
        let mut g = General::default();
        let set = |g: &mut General, k: &str, v: &str| {
            (find(k).map(|d| d.set).unwrap_or(|_, _| Err("?".into())))(g, v)
        };
        assert_eq!(set(&mut g, "reserve_pool_timeout", "2.5"), Ok(()));
        assert_eq!(
            g.reserve_pool_timeout,
            std::time::Duration::from_millis(2500)
        );
        assert_eq!(set(&mut g, "dns_max_ttl", "30.0"), Ok(()));
        assert_eq!(g.other.get("dns_max_ttl").map(String::as_str), Some("30.0"));
        let rows = settings_table(&g, Path::new("x"));
        assert!(rows
            .iter()
            .any(|r| r.key == "dns_max_ttl" && r.value == "30"));
        assert!(rows
            .iter()
            .any(|r| r.key == "reserve_pool_timeout" && r.value == "2.5"));
        assert!(set(&mut g, "dns_max_ttl", "soon").is_err());
        assert!(set(&mut g, "listen_port", "0").is_err());
    }
}
