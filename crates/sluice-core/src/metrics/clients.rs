//! `pgbouncer_client_connections`: clients counted by database, user,
//! application_name and state. `application_name` is whatever the client
//! sent, so left as it is any client could mint new series at will (one
//! per connection with a fresh name) and grow every scrape and the
//! Prometheus that stores it without bound. Per (database, user) only the
//! most used names are kept; the rest are counted under [`OTHER`].

use std::collections::{BTreeMap, HashMap};

use crate::shared::Shared;

/// Distinct `application_name` values per (database, user), [`OTHER`]
/// included. Enough for the handful of applications a pool normally
/// serves, small enough that a scrape stays a few hundred series per pool
/// whatever clients send (times the three client states).
pub const MAX_APPLICATION_NAMES: usize = 20;

/// The label value the less used names are folded into.
pub const OTHER: &str = "other";

/// (database, user, application_name, state) → clients.
pub type Series = BTreeMap<(String, String, String, &'static str), usize>;

pub fn series(shared: &Shared) -> Series {
    let clients = shared.control.registry.clients();
    // Clients per name, per (database, user): what decides which names stay.
    let mut per_pool: HashMap<(&str, &str), HashMap<&str, usize>> = HashMap::new();
    for c in &clients {
        let i = &c.info;
        *per_pool
            .entry((&i.database, &i.user))
            .or_default()
            .entry(&i.application_name)
            .or_default() += 1;
    }
    let kept: HashMap<(&str, &str), Vec<&str>> = per_pool
        .into_iter()
        .map(|(pool, names)| (pool, kept_names(names)))
        .collect();
    let mut out = Series::new();
    for c in &clients {
        let i = &c.info;
        let app = match kept.get(&(i.database.as_str(), i.user.as_str())) {
            Some(names) if !names.contains(&i.application_name.as_str()) => OTHER,
            _ => &i.application_name,
        };
        let key = (
            i.database.clone(),
            i.user.clone(),
            app.to_string(),
            c.state().as_str(),
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

/// The names that keep their own series: all of them when they fit, else
/// the most used (ties by name, so scrapes agree) leaving room for OTHER.
fn kept_names(counts: HashMap<&str, usize>) -> Vec<&str> {
    let mut names: Vec<(&str, usize)> = counts.into_iter().collect();
    if names.len() > MAX_APPLICATION_NAMES {
        names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        names.truncate(MAX_APPLICATION_NAMES - 1);
    }
    names.into_iter().map(|(name, _)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::registry::ClientInfo;

    fn client(database: &str, user: &str, app: &str) -> ClientInfo {
        ClientInfo {
            user: user.into(),
            database: database.into(),
            pool_user: user.into(),
            addr: "127.0.0.1".into(),
            port: 5000,
            local_addr: "127.0.0.1".into(),
            local_port: 6432,
            application_name: app.into(),
            remote_pid: 0,
            tls: String::new(),
        }
    }

    #[test]
    fn a_thousand_application_names_make_a_bounded_number_of_series() {
        let shared = Shared::new(
            crate::Settings::new(Default::default(), Default::default()).expect("settings"),
        );
        let registry = &shared.control.registry;
        let mut handles = Vec::new();
        // Two busy applications, then a thousand that connect once each.
        for (n, app) in [(5, "web"), (3, "worker")] {
            for _ in 0..n {
                handles.push(registry.register(shared.next_id(), client("db", "u", app)));
            }
        }
        for i in 0..1000 {
            let app = format!("app-{i}");
            handles.push(registry.register(shared.next_id(), client("db", "u", &app)));
        }
        handles.push(registry.register(shared.next_id(), client("db2", "u", "solo")));

        let series = series(&shared);
        let apps = |db: &str| {
            let mut names: Vec<&str> = series
                .keys()
                .filter(|k| k.0 == db)
                .map(|k| k.2.as_str())
                .collect();
            names.dedup();
            names
        };
        assert_eq!(apps("db").len(), MAX_APPLICATION_NAMES);
        assert!(apps("db").contains(&"web") && apps("db").contains(&"worker"));
        assert_eq!(apps("db2"), ["solo"]);
        let count = |app: &str| series[&("db".into(), "u".into(), app.into(), "idle")];
        assert_eq!((count("web"), count("worker")), (5, 3));
        // Every client is still counted, the folded ones under OTHER.
        assert_eq!(count(OTHER), 1000 - (MAX_APPLICATION_NAMES - 3));
        assert_eq!(series.values().sum::<usize>(), 1009);

        let text = crate::metrics::render(&shared);
        let lines = text
            .lines()
            .filter(|l| l.starts_with("pgbouncer_client_connections{"))
            .count();
        assert_eq!(lines, MAX_APPLICATION_NAMES + 1, "{text}");
        drop(handles);
    }
}
