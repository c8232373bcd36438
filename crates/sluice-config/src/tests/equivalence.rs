//! The same setup written as pgbouncer.ini and as sluice.toml loads to the
//! same Config; the shipped examples load cleanly and list every key.

use std::path::PathBuf;

use super::*;
use crate::keys::KEYS;
use crate::{Secret, Userlist};

const INI: &str = r#"
[databases]
app = host=db1 port=5433 dbname=appdb user=owner password='p w' pool_size=5 min_pool_size=1 reserve_pool=2 max_db_connections=9 max_db_client_connections=90 pool_mode=transaction connect_query='SELECT 1' query_wait_timeout=7.5 server_lifetime=60 load_balance_hosts=disable client_encoding=UTF8 datestyle=ISO timezone=UTC application_name=web auth_user=au auth_query='SELECT $1' auth_dbname=app
"my-db" = host=/var/run/postgresql
* = host=fallback

[users]
bob = pool_mode=statement pool_size=3 reserve_pool_size=1 max_user_connections=4 max_user_client_connections=40 query_timeout=10 query_wait_timeout=5 idle_transaction_timeout=2.5 transaction_timeout=60 client_idle_timeout=600

[pgbouncer]
listen_addr = *
listen_port = 7432
unix_socket_dir =
unix_socket_mode = 0700
auth_type = scram-sha-256
auth_file = /etc/sluice/userlist.txt
auth_user = au
auth_dbname = app
admin_users = admin,root
stats_users = stats
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 25
server_lifetime = 1800
server_idle_timeout = 0.25
query_wait_timeout = 30
stats_period = 30
log_connections = 0
ignore_startup_parameters = extra_float_digits,options
track_extra_parameters = IntervalStyle,search_path
max_prepared_statements = 0
server_check_query = select 1
tcp_user_timeout = 5000
dns_max_ttl = 30
syslog = 1
metrics_addr = 0.0.0.0:9127
client_tls_sslmode = require
client_tls_key_file = /tls/key.pem
client_tls_cert_file = /tls/cert.pem
server_tls_sslmode = verify-full
server_tls_ca_file = /tls/ca.pem
"#;

const TOML: &str = r#"
[sluice]
listen_addr = ["*"]
listen_port = 7432
unix_socket_dir = ""
unix_socket_mode = 0o700
auth_type = "scram-sha-256"
auth_file = "/etc/sluice/userlist.txt"
auth_user = "au"
auth_dbname = "app"
admin_users = ["admin", "root"]
stats_users = ["stats"]
pool_mode = "transaction"
max_client_conn = 1000
default_pool_size = 25
server_lifetime = "30min"
server_idle_timeout = "250ms"
query_wait_timeout = 30
stats_period = "30s"
log_connections = false
ignore_startup_parameters = ["extra_float_digits", "options"]
track_extra_parameters = "IntervalStyle,search_path"
max_prepared_statements = 0
server_check_query = "select 1"
tcp_user_timeout = 5000
dns_max_ttl = 30
syslog = true
metrics_addr = "0.0.0.0:9127"
client_tls_sslmode = "require"
client_tls_key_file = "/tls/key.pem"
client_tls_cert_file = "/tls/cert.pem"
server_tls_sslmode = "verify-full"
server_tls_ca_file = "/tls/ca.pem"

[databases.app]
host = "db1"
port = 5433
dbname = "appdb"
user = "owner"
password = "p w"
pool_size = 5
min_pool_size = 1
reserve_pool_size = 2
max_db_connections = 9
max_db_client_connections = 90
pool_mode = "transaction"
connect_query = "SELECT 1"
query_wait_timeout = "7500ms"
server_lifetime = "1min"
load_balance_hosts = "disable"
client_encoding = "UTF8"
datestyle = "ISO"
timezone = "UTC"
application_name = "web"
auth_user = "au"
auth_query = "SELECT $1"
auth_dbname = "app"

[databases."my-db"]
host = "/var/run/postgresql"

[databases."*"]
host = "fallback"

[users.bob]
pool_mode = "statement"
pool_size = 3
reserve_pool_size = 1
max_user_connections = 4
max_user_client_connections = 40
query_timeout = "10s"
query_wait_timeout = 5
idle_transaction_timeout = 2.5
transaction_timeout = "1min"
client_idle_timeout = "10min"
"#;

#[test]
fn ini_and_toml_describe_the_same_config() {
    let from_ini = ini(INI);
    let from_toml = toml(TOML);
    assert!(from_ini.warnings.is_empty(), "{:?}", from_ini.warnings);
    assert!(from_toml.warnings.is_empty(), "{:?}", from_toml.warnings);
    // What SHOW CONFIG prints, then the whole model.
    assert_eq!(
        from_ini.config.settings_table().len(),
        from_toml.config.settings_table().len()
    );
    let shown = |c: &crate::Config| {
        let mut c = c.clone();
        c.source = PathBuf::new();
        c.settings_table()
    };
    assert_eq!(shown(&from_ini.config), shown(&from_toml.config));
    assert_eq!(
        normalized(from_ini.config.clone()),
        normalized(from_toml.config.clone())
    );
    // And it is not trivially equal to the defaults.
    assert_ne!(from_ini.config.general, crate::General::default());
    assert_eq!(from_ini.config.databases.len(), 2);
    assert_eq!(from_ini.config.users.len(), 1);
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config")
        .join(name)
}

#[test]
fn example_configs_load_cleanly_and_agree() {
    let from_ini = crate::load(&example("pgbouncer.ini")).unwrap_or_else(|e| panic!("{e}"));
    let from_toml = crate::load(&example("sluice.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(from_ini.warnings.is_empty(), "{:?}", from_ini.warnings);
    assert!(from_toml.warnings.is_empty(), "{:?}", from_toml.warnings);
    assert_eq!(
        normalized(from_ini.config.clone()),
        normalized(from_toml.config)
    );
    assert_eq!(from_ini.config.databases.len(), 1);
}

#[test]
fn example_configs_mention_every_key() {
    for file in ["pgbouncer.ini", "sluice.toml"] {
        let text = std::fs::read_to_string(example(file)).unwrap_or_default();
        for key in KEYS {
            let listed = text.lines().any(|l| {
                let l = l.trim_start_matches([';', '#', ' ']);
                l.strip_prefix(key.name)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            });
            assert!(listed, "{file} does not list {}", key.name);
        }
    }
}

#[test]
fn example_userlist_has_every_secret_kind() {
    let list = Userlist::load(&example("userlist.txt")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(list.len(), 4);
    assert!(matches!(list.get("alice"), Some(Secret::Plain(p)) if p == "secret1"));
    assert!(matches!(list.get("bob"), Some(Secret::Md5(_))));
    assert!(matches!(list.get("carol"), Some(Secret::Scram(_))));
    assert!(list.get("dave\"o").is_some());
}
