//! The mapping rules, one positive and one negative case each, and a
//! real in-memory handshake proving the provider offers what was asked.

use std::path::PathBuf;

use super::*;

fn client(protocols: &str, ciphers: &str, tls13: &str) -> LegText<'static> {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    LegText {
        leg: Leg::Client,
        protocols: leak(protocols),
        ciphers: leak(ciphers),
        tls13_ciphers: leak(tls13),
        ecdhcurve: "auto",
        dheparams: "auto",
    }
}

fn versions(text: &str) -> Result<Vec<ProtocolVersion>, String> {
    protocol_versions(text).map(|v| v.iter().map(|v| v.version).collect())
}

#[test]
fn protocol_lists_follow_libusual() {
    use ProtocolVersion::{TLSv1_2, TLSv1_3};
    assert_eq!(versions("secure"), Ok(vec![TLSv1_3, TLSv1_2]));
    assert_eq!(versions("default"), Ok(vec![TLSv1_3, TLSv1_2]));
    assert_eq!(versions("TLSv1.3"), Ok(vec![TLSv1_3]));
    assert_eq!(versions("tlsv1.2:tlsv1.3"), Ok(vec![TLSv1_3, TLSv1_2]));
    assert_eq!(
        versions("all,!tlsv1.0,!tlsv1.1"),
        Ok(vec![TLSv1_3, TLSv1_2])
    );
    assert_eq!(versions("secure !tlsv1.2"), Ok(vec![TLSv1_3]));
    // A list that starts by removing starts from all.
    assert_eq!(versions("!tlsv1.0,!tlsv1.1"), Ok(vec![TLSv1_3, TLSv1_2]));
    assert!(versions("!tlsv1.0").is_err(), "leaves TLS 1.1 on");
    for refused in ["all", "tlsv1.1,tlsv1.2", "tlsv1.0"] {
        let e = versions(refused).expect_err(refused);
        assert!(e.contains("TLS 1.2 and 1.3 only"), "{refused}: {e}");
    }
    assert!(versions("legacy")
        .expect_err("legacy")
        .contains("unknown protocol"));
    assert!(versions("secure,!tlsv1.2,!tlsv1.3")
        .expect_err("empty")
        .contains("no protocol"));
}

#[test]
fn cipher_names_in_openssl_or_iana_form() {
    let crypto = crypto(&client(
        "secure",
        "ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "",
    ))
    .expect("crypto");
    let names: Vec<_> = crypto
        .provider
        .cipher_suites
        .iter()
        .map(|s| cipher_name(*s))
        .collect();
    // 1.3 defaults first, then the two named 1.2 suites in order.
    assert_eq!(
        names,
        [
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_128_GCM_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384"
        ]
    );
    let only13 = crypto_names("secure", "default", "TLS_CHACHA20_POLY1305_SHA256");
    assert_eq!(only13[0], "TLS_CHACHA20_POLY1305_SHA256");
    assert!(!only13.contains(&"TLS_AES_128_GCM_SHA256"));
}

fn crypto_names(protocols: &str, ciphers: &str, tls13: &str) -> Vec<&'static str> {
    crypto(&client(protocols, ciphers, tls13))
        .expect("crypto")
        .provider
        .cipher_suites
        .iter()
        .map(|s| cipher_name(*s))
        .collect()
}

#[test]
fn ciphers_rustls_lacks_are_errors_naming_the_key() {
    for (ciphers, tls13, key) in [
        ("HIGH:!aNULL", "", "client_tls_ciphers"),
        ("DHE-RSA-AES256-GCM-SHA384", "", "client_tls_ciphers"),
        ("ECDHE-RSA-AES128-SHA", "", "client_tls_ciphers"),
        ("all", "", "client_tls_ciphers"),
        ("default", "TLS_AES_128_CCM_SHA256", "client_tls13_ciphers"),
        (
            "default",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "client_tls13_ciphers",
        ),
    ] {
        let e = crypto(&client("secure", ciphers, tls13)).expect_err(ciphers);
        assert_eq!(e.key, key, "{ciphers} / {tls13}: {e}");
    }
    // TLS 1.2 enabled but only 1.3 suites named.
    let e = crypto(&client("tlsv1.2", "TLS_AES_128_GCM_SHA256", "")).expect_err("no 1.2");
    assert_eq!(e.key, "client_tls_ciphers");
    assert!(e.message.contains("TLSv1.2"), "{e}");
}

#[test]
fn curves_and_dheparams() {
    let mut text = client("secure", "default", "");
    text.ecdhcurve = "prime256v1:X25519";
    let groups: Vec<_> = crypto(&text)
        .expect("curves")
        .provider
        .kx_groups
        .iter()
        .map(|g| group_name(g.name()))
        .collect();
    assert_eq!(groups, ["prime256v1", "X25519"]);
    for bad in ["none", "secp521r1", "brainpoolP256r1"] {
        text.ecdhcurve = bad;
        assert_eq!(crypto(&text).expect_err(bad).key, "client_tls_ecdhcurve");
    }
    text.ecdhcurve = "auto";
    for ok in ["auto", "none"] {
        text.dheparams = ok;
        assert!(crypto(&text).is_ok(), "{ok}");
    }
    text.dheparams = "legacy";
    assert_eq!(
        crypto(&text).expect_err("legacy").key,
        "client_tls_dheparams"
    );
}

/// A throwaway dir with files written into it.
struct Files(PathBuf);

impl Files {
    fn new(tag: &str) -> Files {
        let dir = std::env::temp_dir().join(format!(
            "sluice-tls-config-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        Files(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn self_signed(name: &str) -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("rcgen");
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

#[test]
fn key_must_belong_to_its_certificate() {
    let files = Files::new("pair");
    let (cert_a, key_a) = self_signed("a.example");
    let (_, key_b) = self_signed("b.example");
    let cert = files.write("a.crt", &cert_a);
    let key = files.write("a.key", &key_a);
    let other = files.write("b.key", &key_b);
    let provider = aws_lc_rs::default_provider();
    assert!(certified_key(&provider, "c", &cert, "k", &key).is_ok());
    let e = certified_key(&provider, "c", &cert, "k", &other).expect_err("mismatch");
    assert_eq!(e.key, "k");
    assert!(e.message.contains("does not belong"), "{e}");
}

#[test]
fn unreadable_or_empty_files_are_errors() {
    let files = Files::new("bad");
    let garbage = files.write("garbage.pem", "not a certificate\n");
    let e = load_roots("client_tls_ca_file", &garbage).expect_err("garbage");
    assert_eq!(e.key, "client_tls_ca_file");
    assert!(e.message.contains("no certificate"), "{e}");
    let missing = files.0.join("missing.pem");
    assert!(load_certs("client_tls_cert_file", &missing).is_err());
    assert!(load_private_key("client_tls_key_file", &garbage).is_err());
    let (cert, _) = self_signed("ca.example");
    let ca = files.write("ca.pem", &cert);
    assert_eq!(load_roots("client_tls_ca_file", &ca).expect("ca").len(), 1);
}

/// Drive a rustls client and server against each other in memory.
fn handshake(
    server: rustls::ServerConfig,
    client: rustls::ClientConfig,
) -> (ProtocolVersion, &'static str) {
    let mut s = rustls::ServerConnection::new(Arc::new(server)).expect("server");
    let name = rustls::pki_types::ServerName::try_from("tls.example").expect("name");
    let mut c = rustls::ClientConnection::new(Arc::new(client), name).expect("client");
    for _ in 0..10 {
        let mut wire = Vec::new();
        c.write_tls(&mut wire).expect("client write");
        s.read_tls(&mut wire.as_slice()).expect("server read");
        s.process_new_packets().expect("server process");
        let mut back = Vec::new();
        s.write_tls(&mut back).expect("server write");
        c.read_tls(&mut back.as_slice()).expect("client read");
        c.process_new_packets().expect("client process");
        if !c.is_handshaking() && !s.is_handshaking() {
            break;
        }
    }
    assert!(!s.is_handshaking(), "handshake did not finish");
    (
        s.protocol_version().expect("version"),
        cipher_name(s.negotiated_cipher_suite().expect("suite")),
    )
}

#[test]
fn the_provider_negotiates_exactly_what_was_asked() {
    let files = Files::new("hs");
    let (cert_pem, key_pem) = self_signed("tls.example");
    let cert = files.write("c.pem", &cert_pem);
    let key = files.write("k.pem", &key_pem);
    let asked = crypto(&client("tlsv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", "")).expect("crypto");
    let certified = certified_key(&asked.provider, "c", &cert, "k", &key).expect("certified key");
    let server = rustls::ServerConfig::builder_with_provider(asked.provider.clone())
        .with_protocol_versions(&asked.versions)
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    let mut roots = RootCertStore::empty();
    roots
        .add(load_certs("c", &cert).expect("cert")[0].clone())
        .expect("root");
    // The client offers everything rustls has; the server's choice shows.
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    assert_eq!(
        handshake(server, client),
        (ProtocolVersion::TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256")
    );
}
