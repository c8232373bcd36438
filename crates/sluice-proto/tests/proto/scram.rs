use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use sha2::{Digest, Sha256};
use sluice_proto::scram::*;
use sluice_proto::SqlState;

/// "pencil" with RFC 7677's salt, computed independently with Python's
/// `hashlib.pbkdf2_hmac` and `hmac` in PostgreSQL's rolpassword format.
const PENCIL_SECRET: &str = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
/// Its ClientKey, from the same computation.
const PENCIL_CLIENT_KEY: &str = "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos=";

pub fn secret(password: &str) -> ScramSecret {
    ScramSecret::from_password(password, b"0123456789abcdef", 4096)
}

/// Run a full exchange with postgres-protocol's client; returns the ClientKey.
pub fn pg_client_exchange(
    secret: ScramSecret,
    password: &str,
    binding: ChannelBinding,
) -> Result<[u8; 32], ScramError> {
    let mut server = ScramServer::new(secret, [9; 18]);
    let mut client = ScramSha256::new(password.as_bytes(), binding);
    let server_first = server.client_first(client.message())?;
    client
        .update(&server_first)
        .expect("client accepts our server-first");
    let (server_final, client_key) = server.client_final(client.message())?;
    client
        .finish(&server_final)
        .expect("client verifies our server-final");
    Ok(client_key)
}

#[test]
fn secret_known_answer() {
    let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let derived = ScramSecret::from_password("pencil", &salt, 4096);
    assert_eq!(derived.to_string(), PENCIL_SECRET);
    assert_eq!(ScramSecret::parse(PENCIL_SECRET), Some(derived));
}

#[test]
fn secret_matches_postgres_protocol() {
    for password in ["", "hunter2", "pässwörd", "a\u{7}b", "\u{FFFF}x"] {
        let theirs = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let parsed = ScramSecret::parse(&theirs).expect("their secret parses");
        assert_eq!(parsed.to_string(), theirs, "Display round trip");
        let ours = ScramSecret::from_password(password, &parsed.salt, parsed.iterations);
        assert_eq!(ours, parsed, "password {password:?}");
    }
}

#[test]
fn saslprep_is_applied() {
    // U+00A0 maps to a space, U+00AD (soft hyphen) to nothing.
    assert_eq!(secret("pass\u{A0}word"), secret("pass word"));
    assert_eq!(secret("pass\u{AD}word"), secret("password"));
    assert_ne!(secret("Password"), secret("password"));
    // A prohibited character (ASCII BEL): raw bytes are used, not an error.
    assert_ne!(secret("a\u{7}b"), secret("ab"));
}

#[test]
fn secret_parse_rejects_other_shapes() {
    let good = secret("x").to_string();
    assert!(ScramSecret::parse(&good).is_some());
    let b64_31 = STANDARD.encode([1u8; 31]);
    let b64_32 = STANDARD.encode([1u8; 32]);
    let b64_33 = STANDARD.encode([1u8; 33]);
    let bad = [
        String::new(),
        "md5c98cbfeb6a347a47eb8e96cfb4c4b890".to_string(),
        "plain password".to_string(),
        good.replace("SCRAM-SHA-256$", "SCRAM-SHA-1$"),
        good.replace("$4096:", "$0:"),
        good.replace("$4096:", "$+4096:"),
        good.replace("$4096:", "$-1:"),
        good.replace("$4096:", "$:"),
        good.replace("$4096:", "$99999999999:"),
        good.replace("$4096:", "$4096"),
        format!("SCRAM-SHA-256$4096:!!!${b64_32}:{b64_32}"),
        format!("SCRAM-SHA-256$4096:${b64_32}:{b64_32}"),
        format!("SCRAM-SHA-256$4096:c2FsdA==${b64_31}:{b64_32}"),
        format!("SCRAM-SHA-256$4096:c2FsdA==${b64_32}:{b64_33}"),
        format!("SCRAM-SHA-256$4096:c2FsdA==${b64_32}"),
        format!("SCRAM-SHA-256$4096:c2FsdA==${b64_32}:{b64_32}$extra"),
    ];
    for s in bad {
        assert_eq!(ScramSecret::parse(&s), None, "{s:?}");
    }
    let ok = format!("SCRAM-SHA-256$1:c2FsdA==${b64_32}:{b64_32}");
    let parsed = ScramSecret::parse(&ok).unwrap();
    assert_eq!(
        (parsed.iterations, parsed.salt.as_slice()),
        (1, &b"salt"[..])
    );
    assert_eq!(parsed.to_string(), ok);
}

#[test]
fn interop_with_postgres_protocol_client() {
    let key = pg_client_exchange(secret("right"), "right", ChannelBinding::unsupported()).unwrap();
    // The recovered ClientKey hashes to the StoredKey.
    assert_eq!(
        <[u8; 32]>::from(Sha256::digest(key)),
        secret("right").stored_key
    );
    // "y,," (client could bind, server did not offer) is accepted too.
    pg_client_exchange(secret("right"), "right", ChannelBinding::unrequested()).unwrap();
    assert_eq!(
        pg_client_exchange(secret("right"), "wrong", ChannelBinding::unsupported()),
        Err(ScramError::InvalidProof)
    );
}

#[test]
fn recovered_client_key_is_the_real_one() {
    let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let parsed = ScramSecret::parse(PENCIL_SECRET).unwrap();
    assert_eq!(parsed.salt, salt);
    let key = pg_client_exchange(parsed, "pencil", ChannelBinding::unsupported()).unwrap();
    assert_eq!(STANDARD.encode(key), PENCIL_CLIENT_KEY);
}

#[test]
fn channel_binding_is_refused() {
    let mut server = ScramServer::new(secret("x"), [1; 18]);
    let client = ScramSha256::new(b"x", ChannelBinding::tls_server_end_point(vec![1, 2, 3]));
    assert_eq!(
        server.client_first(client.message()),
        Err(ScramError::UnsupportedChannelBinding)
    );
}

#[test]
fn server_nonce_is_client_nonce_plus_base64_of_raw_bytes() {
    let mut server = ScramServer::new(secret("x"), [0xfb; 18]);
    let first = server.client_first(b"n,,n=,r=abc").unwrap();
    let expected = format!(
        "r=abc{},s={},i=4096",
        STANDARD.encode([0xfb; 18]),
        STANDARD.encode(b"0123456789abcdef")
    );
    assert_eq!(String::from_utf8(first).unwrap(), expected);
}

#[test]
fn mock_exchange_looks_real_and_always_fails() {
    let seed = b"per-process seed";
    let mut server = ScramServer::mock("ghost", seed, [5; 18]);
    let mut client = ScramSha256::new(b"anything", ChannelBinding::unsupported());
    let first = server.client_first(client.message()).unwrap();
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(text.ends_with(",i=4096"), "{text}");
    client.update(&first).unwrap();
    assert_eq!(
        server.client_final(client.message()),
        Err(ScramError::InvalidProof)
    );

    // The salt is stable per user and seed, 16 bytes, and differs otherwise.
    let salt_of = |user: &str, seed: &[u8]| {
        let mut s = ScramServer::mock(user, seed, [5; 18]);
        let first = String::from_utf8(s.client_first(b"n,,n=,r=abc").unwrap()).unwrap();
        let salt = first
            .split(",s=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string();
        STANDARD.decode(salt).unwrap()
    };
    assert_eq!(salt_of("ghost", seed), salt_of("ghost", seed));
    assert_eq!(salt_of("ghost", seed).len(), 16);
    assert_ne!(salt_of("ghost", seed), salt_of("ghost2", seed));
    assert_ne!(salt_of("ghost", seed), salt_of("ghost", b"other seed"));
}

#[test]
fn client_first_errors() {
    let cases: &[(&[u8], ScramError)] = &[
        (b"", ScramError::Malformed("")),
        (b"n,,n=,r=ab\0c", ScramError::Malformed("")),
        (b"x,,n=,r=abc", ScramError::Malformed("")),
        (b"n", ScramError::Malformed("")),
        (b"n,", ScramError::Malformed("")),
        (b"n,,", ScramError::Malformed("")),
        (
            b"p=tls-server-end-point,,n=,r=abc",
            ScramError::UnsupportedChannelBinding,
        ),
        (b"n,a=admin,n=,r=abc", ScramError::Malformed("")),
        (b"n,,m=ext,n=,r=abc", ScramError::Malformed("")),
        (b"n,,r=abc", ScramError::Malformed("")),
        (b"n,,n=", ScramError::Malformed("")),
        (b"n,,n=,x=abc", ScramError::Malformed("")),
        (b"n,,n=,r=", ScramError::Malformed("")),
        (b"n,,n=,r=a b", ScramError::Malformed("")),
        (b"n,,n=,r=ab\x7f", ScramError::Malformed("")),
        (b"n,,n=,r=abc,", ScramError::Malformed("")),
        (b"n,,n=,r=abc,1=x", ScramError::Malformed("")),
        (b"n,,n=,r=abc,noequals", ScramError::Malformed("")),
    ];
    for (input, expected) in cases {
        let mut server = ScramServer::new(secret("x"), [1; 18]);
        let got = server.client_first(input);
        let same_kind = match (&got, expected) {
            (Err(ScramError::Malformed(_)), ScramError::Malformed(_)) => true,
            (Err(e), expected) => e == expected,
            (Ok(_), _) => false,
        };
        assert!(same_kind, "{:?}: {got:?}", String::from_utf8_lossy(input));
        // A failed exchange is over.
        assert_eq!(
            server.client_first(b"n,,n=,r=abc"),
            Err(ScramError::OutOfOrder)
        );
    }
    let mut server = ScramServer::new(secret("x"), [1; 18]);
    assert!(server.client_first(&vec![b'a'; 100_000]).is_err());
    // Accepted variants: a user name (ignored, even non-UTF-8) and extensions.
    for ok in [
        &b"n,,n=bob,r=abc"[..],
        b"y,,n=,r=abc",
        b"n,,n=\xff,r=abc,x=ext,y=",
        b"n,,n=,r=!~",
    ] {
        let mut server = ScramServer::new(secret("x"), [1; 18]);
        assert!(
            server.client_first(ok).is_ok(),
            "{:?}",
            String::from_utf8_lossy(ok)
        );
    }
}

/// Start an exchange and return the server plus the full nonce.
fn started(password: &str) -> (ScramServer, String) {
    let mut server = ScramServer::new(secret(password), [2; 18]);
    let first = String::from_utf8(server.client_first(b"n,,n=,r=clientnonce").unwrap()).unwrap();
    let nonce = first
        .strip_prefix("r=")
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    (server, nonce)
}

/// A correct client-final-message, optionally with extensions before the
/// proof, computed here from the password with the hmac/sha2 crates.
fn proof_message(password: &str, nonce: &str, cbind: &str, extensions: &str) -> Vec<u8> {
    let s = secret(password);
    let salted = {
        // Recompute the ClientKey by a route independent of the crate: PBKDF2
        // by hand with the hmac crate.
        let mut mac = Hmac::<Sha256>::new_from_slice(password.as_bytes()).unwrap();
        mac.update(&s.salt);
        mac.update(&[0, 0, 0, 1]);
        let mut u: [u8; 32] = mac.finalize().into_bytes().into();
        let mut out = u;
        for _ in 1..s.iterations {
            let mut mac = Hmac::<Sha256>::new_from_slice(password.as_bytes()).unwrap();
            mac.update(&u);
            u = mac.finalize().into_bytes().into();
            out.iter_mut().zip(u).for_each(|(o, x)| *o ^= x);
        }
        out
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&salted).unwrap();
    mac.update(b"Client Key");
    let client_key: [u8; 32] = mac.finalize().into_bytes().into();
    let server_first = format!("r={nonce},s={},i=4096", STANDARD.encode(&s.salt));
    let without_proof = format!("c={cbind},r={nonce}{extensions}");
    let auth = format!("n=,r=clientnonce,{server_first},{without_proof}");
    let mut mac = Hmac::<Sha256>::new_from_slice(&Sha256::digest(client_key)).unwrap();
    mac.update(auth.as_bytes());
    let signature: [u8; 32] = mac.finalize().into_bytes().into();
    let proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(a, b)| a ^ b)
        .collect();
    format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes()
}

#[test]
fn client_final_accepts_a_hand_made_proof_with_extensions() {
    let (mut server, nonce) = started("pw");
    let msg = proof_message("pw", &nonce, "biws", ",x=ext");
    let (server_final, _) = server.client_final(&msg).unwrap();
    assert!(server_final.starts_with(b"v="));
    assert_eq!(server.client_final(&msg), Err(ScramError::OutOfOrder));
}

/// Run client_final on a message made from the agreed nonce.
fn final_outcome(make: impl Fn(&str) -> Vec<u8>) -> Result<(Vec<u8>, [u8; 32]), ScramError> {
    let (mut server, nonce) = started("pw");
    let result = server.client_final(&make(&nonce));
    // Whatever happened, the exchange is over.
    assert_eq!(
        server.client_final(&make(&nonce)),
        Err(ScramError::OutOfOrder)
    );
    result
}

pub fn is_malformed<T: std::fmt::Debug>(r: Result<T, ScramError>) -> bool {
    matches!(r, Err(ScramError::Malformed(_)))
}

#[test]
fn client_final_errors() {
    let good = |n: &str| proof_message("pw", n, "biws", "");
    let edit = |from: &'static str, to: &'static str| {
        move |n: &str| {
            String::from_utf8(proof_message("pw", n, "biws", ""))
                .unwrap()
                .replacen(from, to, 1)
                .into_bytes()
        }
    };
    assert!(final_outcome(good).is_ok());
    assert!(
        final_outcome(|n| proof_message("pw", n, "eSws", "")).is_ok(),
        "y,, header"
    );

    assert_eq!(
        final_outcome(|n| proof_message("other", n, "biws", "")),
        Err(ScramError::InvalidProof)
    );
    // Nonce: ours with the last char changed, a prefix of it, or another one.
    assert_eq!(
        final_outcome(|n| proof_message("pw", &format!("{}X", &n[..n.len() - 1]), "biws", "")),
        Err(ScramError::NonceMismatch)
    );
    assert_eq!(
        final_outcome(|n| proof_message("pw", &n[..11], "biws", "")),
        Err(ScramError::NonceMismatch)
    );
    // Channel binding data for "p=tls-server-end-point,," is refused as such.
    let p_header = STANDARD.encode("p=tls-server-end-point,,");
    assert_eq!(
        final_outcome(|n| proof_message("pw", n, &p_header, "")),
        Err(ScramError::UnsupportedChannelBinding)
    );
    assert!(is_malformed(final_outcome(|n| proof_message(
        "pw", n, "abcd", ""
    ))));
    assert!(is_malformed(final_outcome(|n| proof_message(
        "pw", n, "", ""
    ))));
    assert!(is_malformed(final_outcome(edit("c=biws,", ""))), "no c=");
    assert!(is_malformed(final_outcome(edit(",p=", ",x="))), "no proof");
    assert!(
        is_malformed(final_outcome(|n| [good(n), b",x=1".to_vec()].concat())),
        "after proof"
    );
    assert!(
        is_malformed(final_outcome(|n| [good(n), b",".to_vec()].concat())),
        "trailing comma"
    );
    assert!(is_malformed(final_outcome(|n| format!(
        "c=biws,r={n},p=!!!!"
    )
    .into_bytes())));
    let short = STANDARD.encode([0u8; 31]);
    assert!(is_malformed(final_outcome(|n| format!(
        "c=biws,r={n},p={short}"
    )
    .into_bytes())));
    assert!(is_malformed(final_outcome(|_| Vec::new())));
    assert!(is_malformed(final_outcome(
        |n| [good(n), b"\0".to_vec()].concat()
    )));
}

#[test]
fn out_of_order_calls() {
    let mut server = ScramServer::new(secret("x"), [1; 18]);
    assert_eq!(
        server.client_final(b"c=biws,r=a,p=b"),
        Err(ScramError::OutOfOrder)
    );
    // Any misstep ends the exchange: fail closed.
    assert_eq!(
        server.client_first(b"n,,n=,r=abc"),
        Err(ScramError::OutOfOrder)
    );
    let mut server = ScramServer::new(secret("x"), [1; 18]);
    assert!(server.client_first(b"n,,n=,r=abc").is_ok());
    assert_eq!(
        server.client_first(b"n,,n=,r=abc"),
        Err(ScramError::OutOfOrder)
    );

    let client = ScramKeyClient::new([1; 32], [2; 32], [3; 18]);
    assert_eq!(client.server_final(b"v=abc"), Err(ScramError::OutOfOrder));
}

#[test]
fn scram_error_sqlstates() {
    assert_eq!(
        ScramError::InvalidProof.sqlstate(),
        SqlState::INVALID_PASSWORD
    );
    assert_eq!(
        ScramError::NonceMismatch.sqlstate(),
        SqlState::PROTOCOL_VIOLATION
    );
    assert_eq!(
        ScramError::Malformed("x").sqlstate(),
        SqlState::PROTOCOL_VIOLATION
    );
    assert_eq!(
        ScramError::UnsupportedChannelBinding.sqlstate(),
        SqlState::PROTOCOL_VIOLATION
    );
}
