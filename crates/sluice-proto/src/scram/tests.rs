//! Known-answer tests from RFC 7677 §3, which need nonces the public
//! constructors (base64 of raw bytes) cannot produce.
#![allow(clippy::unwrap_used)]

use super::*;

const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc_secret() -> ScramSecret {
    let salt = b64_decode(SALT_B64.as_bytes()).unwrap();
    ScramSecret::from_password("pencil", &salt, 4096)
}

#[test]
fn rfc7677_server_exchange_is_byte_exact() {
    let mut server = ScramServer::with_nonce(rfc_secret(), SERVER_NONCE.to_string(), false);
    assert_eq!(server.client_first(CLIENT_FIRST).unwrap(), SERVER_FIRST);
    let (server_final, client_key) = server.client_final(CLIENT_FINAL).unwrap();
    assert_eq!(server_final, SERVER_FINAL);
    // The recovered ClientKey is the one derived from the password.
    let salted = hi(b"pencil", &b64_decode(SALT_B64.as_bytes()).unwrap(), 4096);
    assert_eq!(client_key, super::client_key(&salted));
}

#[test]
fn rfc7677_wrong_proof_is_rejected() {
    let mut server = ScramServer::with_nonce(rfc_secret(), SERVER_NONCE.to_string(), false);
    server.client_first(CLIENT_FIRST).unwrap();
    let mut tampered = CLIENT_FINAL.to_vec();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        server.client_final(&tampered),
        Err(ScramError::InvalidProof)
    );
}

#[test]
fn mock_exchange_fails_even_with_a_correct_proof() {
    // Same RFC exchange, but the server is doomed: the proof (valid for the
    // secret) must still be refused.
    let mut server = ScramServer::with_nonce(rfc_secret(), SERVER_NONCE.to_string(), true);
    assert_eq!(server.client_first(CLIENT_FIRST).unwrap(), SERVER_FIRST);
    assert_eq!(
        server.client_final(CLIENT_FINAL),
        Err(ScramError::InvalidProof)
    );
}

#[test]
fn key_client_proof_matches_rfc_arithmetic() {
    // The RFC's proof was made with user "user"; our client sends "n=", so
    // recompute the expected proof by hand from the RFC keys and compare.
    let salted = hi(b"pencil", &b64_decode(SALT_B64.as_bytes()).unwrap(), 4096);
    let ck = super::client_key(&salted);
    let sk = super::server_key(&salted);
    let mut client = ScramKeyClient::with_nonce(ck, sk, "rOprNGfwEbeRWgbNEkqO".to_string());
    assert_eq!(client.client_first(), b"n,,n=,r=rOprNGfwEbeRWgbNEkqO");
    let client_final = client.server_first(SERVER_FIRST).unwrap();
    let without_proof = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let auth = [
        b"n=,r=rOprNGfwEbeRWgbNEkqO".as_slice(),
        b",",
        SERVER_FIRST,
        b",",
        without_proof,
    ]
    .concat();
    let mut proof = ck;
    xor_into(&mut proof, &hmac(&sha256(&ck), &[&auth]));
    let expected = [
        without_proof.as_slice(),
        b",p=",
        b64_encode(&proof).as_bytes(),
    ]
    .concat();
    assert_eq!(client_final, expected);
    let verifier = format!("v={}", b64_encode(&hmac(&sk, &[&auth])));
    assert_eq!(client.server_final(verifier.as_bytes()), Ok(()));
}

#[test]
fn hmac_matches_rfc4231_case_1_and_long_keys() {
    // RFC 4231 test case 1 (short key) and case 6 (131-byte key, which must
    // be hashed first): checks the block-size key handling in hmac_keyed.
    let out = hmac(&[0x0b; 20], &[b"Hi There"]);
    assert_eq!(
        out,
        [
            0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53, 0x5c, 0xa8, 0xaf, 0xce, 0xaf, 0x0b,
            0xf1, 0x2b, 0x88, 0x1d, 0xc2, 0x00, 0xc9, 0x83, 0x3d, 0xa7, 0x26, 0xe9, 0x37, 0x6c,
            0x2e, 0x32, 0xcf, 0xf7
        ]
    );
    let out = hmac(
        &[0xaa; 131],
        &[
            b"Test Using Larger Than Block-Size Key - ",
            b"Hash Key First",
        ],
    );
    assert_eq!(
        out,
        [
            0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26, 0xaa, 0xcb, 0xf5,
            0xb7, 0x7f, 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14, 0x05, 0x46, 0x04, 0x0f,
            0x0e, 0xe3, 0x7f, 0x54
        ]
    );
    // And a 64-byte key, exactly one block, against the hmac crate's own path.
    let key = [0x5a; 64];
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    Mac::update(&mut mac, b"x");
    let reference: [u8; 32] = mac.finalize().into_bytes().into();
    assert_eq!(hmac(&key, &[b"x"]), reference);
}

// Channel binding (SCRAM-SHA-256-PLUS, tls-server-end-point), checked
// against postgres-protocol's independent client and against our own key
// client. The binding data is opaque to SCRAM, so any bytes stand in for a
// certificate hash here.

mod channel_binding {
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    use super::super::*;

    const CERT_HASH: &[u8] = &[0xc3; 32];
    const OTHER_HASH: &[u8] = &[0x3c; 32];

    fn secret() -> ScramSecret {
        ScramSecret::from_password("pw", b"0123456789abcdef", 4096)
    }

    /// A server for `secret()` (or a mock one), offering PLUS with
    /// `binding` if given.
    fn server(binding: Option<&[u8]>, mock: bool) -> ScramServer {
        let server = if mock {
            ScramServer::mock("ghost", b"seed", [7; RAW_NONCE_LEN])
        } else {
            ScramServer::new(secret(), [7; RAW_NONCE_LEN])
        };
        server.with_channel_binding(binding.map(<[u8]>::to_vec))
    }

    /// A whole exchange with postgres-protocol's client naming `mechanism`;
    /// returns the recovered ClientKey once that client has also verified
    /// our server-final-message.
    fn pg_exchange(
        mut server: ScramServer,
        mechanism: &str,
        password: &str,
        binding: ChannelBinding,
    ) -> Result<[u8; 32], ScramError> {
        let mut client = ScramSha256::new(password.as_bytes(), binding);
        let first = server.client_first_for(mechanism, client.message())?;
        client.update(&first).unwrap();
        let (server_final, client_key) = server.client_final(client.message())?;
        client.finish(&server_final).unwrap();
        Ok(client_key)
    }

    fn pg_bound(data: &[u8]) -> ChannelBinding {
        ChannelBinding::tls_server_end_point(data.to_vec())
    }

    /// The ClientKey of "pw", from postgres-protocol's plain exchange.
    fn pw_client_key() -> [u8; 32] {
        pg_exchange(
            server(None, false),
            SCRAM_SHA_256,
            "pw",
            ChannelBinding::unsupported(),
        )
        .unwrap()
    }

    #[test]
    fn mechanisms_list_plus_first_only_with_binding() {
        assert_eq!(server(None, false).mechanisms(), [SCRAM_SHA_256]);
        assert_eq!(
            server(Some(CERT_HASH), false).mechanisms(),
            [SCRAM_SHA_256_PLUS, SCRAM_SHA_256]
        );
        // Empty data is no certificate hash: nothing to bind to.
        assert_eq!(server(Some(b""), false).mechanisms(), [SCRAM_SHA_256]);
    }

    #[test]
    fn postgres_protocol_client_binds_to_our_server() {
        let key = pg_exchange(
            server(Some(CERT_HASH), false),
            SCRAM_SHA_256_PLUS,
            "pw",
            pg_bound(CERT_HASH),
        )
        .unwrap();
        assert_eq!(key, pw_client_key());
        // A bound exchange still checks the password.
        assert_eq!(
            pg_exchange(
                server(Some(CERT_HASH), false),
                SCRAM_SHA_256_PLUS,
                "wrong",
                pg_bound(CERT_HASH),
            ),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn binding_to_another_certificate_fails_the_check() {
        // The client's TLS peer had another certificate: a man in the
        // middle relaying to us. Its proof is valid for what it signed, so
        // only the binding check can stop it.
        let err = pg_exchange(
            server(Some(CERT_HASH), false),
            SCRAM_SHA_256_PLUS,
            "pw",
            pg_bound(OTHER_HASH),
        )
        .unwrap_err();
        assert_eq!(err, ScramError::ChannelBindingMismatch);
        assert_eq!(err.to_string(), "SCRAM channel binding check failed");
        assert_eq!(
            err.sqlstate(),
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        );
    }

    #[test]
    fn y_while_plus_is_offered_is_a_downgrade() {
        let err = pg_exchange(
            server(Some(CERT_HASH), false),
            SCRAM_SHA_256,
            "pw",
            ChannelBinding::unrequested(),
        )
        .unwrap_err();
        assert_eq!(err, ScramError::ChannelBindingNegotiation);
        assert!(err
            .to_string()
            .starts_with("SCRAM channel binding negotiation error"));
        assert_eq!(
            err.sqlstate(),
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        );
    }

    #[test]
    fn y_and_n_without_plus_offered_and_n_with_it_succeed() {
        for binding in [ChannelBinding::unsupported(), ChannelBinding::unrequested()] {
            let key = pg_exchange(server(None, false), SCRAM_SHA_256, "pw", binding).unwrap();
            assert_eq!(key, pw_client_key());
        }
        // `n`: this client cannot bind, which PLUS on offer does not change.
        pg_exchange(
            server(Some(CERT_HASH), false),
            SCRAM_SHA_256,
            "pw",
            ChannelBinding::unsupported(),
        )
        .unwrap();
    }

    #[test]
    fn p_with_the_plain_mechanism_is_refused() {
        for offered in [None, Some(CERT_HASH)] {
            let err = pg_exchange(
                server(offered, false),
                SCRAM_SHA_256,
                "pw",
                pg_bound(CERT_HASH),
            )
            .unwrap_err();
            assert_eq!(err, ScramError::UnsupportedChannelBinding);
            assert_eq!(
                err.to_string(),
                "malformed SCRAM message: The client selected SCRAM-SHA-256 without channel \
                 binding, but the SCRAM message includes channel binding data."
            );
            assert_eq!(err.sqlstate(), SqlState::PROTOCOL_VIOLATION);
        }
    }

    #[test]
    fn plus_needs_binding_on_both_sides() {
        // Not offered (no TLS here): PLUS is not a mechanism we know.
        assert_eq!(
            pg_exchange(
                server(None, false),
                SCRAM_SHA_256_PLUS,
                "pw",
                pg_bound(CERT_HASH),
            ),
            Err(ScramError::InvalidMechanism)
        );
        assert_eq!(
            ScramError::InvalidMechanism.to_string(),
            "client selected an invalid SASL authentication mechanism"
        );
        // Offered, chosen, but the gs2 header does not bind.
        for binding in [ChannelBinding::unsupported(), ChannelBinding::unrequested()] {
            assert_eq!(
                pg_exchange(
                    server(Some(CERT_HASH), false),
                    SCRAM_SHA_256_PLUS,
                    "pw",
                    binding
                ),
                Err(ScramError::ChannelBindingRequired)
            );
        }
        assert_eq!(
            ScramError::ChannelBindingRequired.to_string(),
            "malformed SCRAM message: The client selected SCRAM-SHA-256-PLUS, but the SCRAM \
             message does not include channel binding data."
        );
        // Not a SCRAM mechanism at all.
        let mut s = server(Some(CERT_HASH), false);
        assert_eq!(
            s.client_first_for("SCRAM-SHA-1", b"n,,n=,r=abc"),
            Err(ScramError::InvalidMechanism)
        );
        // A refused mechanism ends the exchange too.
        assert_eq!(
            s.client_first_for(SCRAM_SHA_256, b"n,,n=,r=abc"),
            Err(ScramError::OutOfOrder)
        );
    }

    #[test]
    fn other_binding_types_are_named_sanitized() {
        let mut s = server(Some(CERT_HASH), false);
        let err = s
            .client_first_for(SCRAM_SHA_256_PLUS, b"p=tls-unique,,n=,r=abc")
            .unwrap_err();
        assert_eq!(
            err,
            ScramError::UnsupportedChannelBindingType("tls-unique".into())
        );
        assert_eq!(
            err.to_string(),
            "unsupported SCRAM channel-binding type \"tls-unique\""
        );
        assert_eq!(err.sqlstate(), SqlState::PROTOCOL_VIOLATION);
        let mut s = server(Some(CERT_HASH), false);
        let long = [&b"p=a b\x7f\xff"[..], &[b'x'; 40], b",,n=,r=abc"].concat();
        assert_eq!(
            s.client_first_for(SCRAM_SHA_256_PLUS, &long),
            Err(ScramError::UnsupportedChannelBindingType(format!(
                "a?b??{}",
                "x".repeat(25)
            )))
        );
        // `p` without `=` is no flag at all.
        let mut s = server(Some(CERT_HASH), false);
        assert!(matches!(
            s.client_first_for(SCRAM_SHA_256_PLUS, b"ptls,,n=,r=abc"),
            Err(ScramError::Malformed(_))
        ));
    }

    #[test]
    fn bound_first_message_strips_the_longer_gs2_header() {
        // The bare message (signed in the AuthMessage) must start after
        // "p=tls-server-end-point,,", not after three bytes as for "n,,".
        let mut s = ScramServer::with_nonce(secret(), "SRV".into(), false)
            .with_channel_binding(Some(CERT_HASH.to_vec()));
        let first = s
            .client_first_for(SCRAM_SHA_256_PLUS, b"p=tls-server-end-point,,n=,r=abc")
            .unwrap();
        assert!(first.starts_with(b"r=abcSRV,s="));
        let mut client =
            ScramKeyClient::with_nonce(pw_client_key(), secret().server_key, "abc".into())
                .with_channel_binding(ClientChannelBinding::TlsServerEndPoint(CERT_HASH.to_vec()));
        assert_eq!(client.client_first(), b"p=tls-server-end-point,,n=,r=abc");
        let fin = client.server_first(&first).unwrap();
        let (server_final, _) = s.client_final(&fin).unwrap();
        assert_eq!(client.server_final(&server_final), Ok(()));
    }

    #[test]
    fn c_must_repeat_the_first_flag_when_plus_is_offered() {
        // First `n`, then `c=base64("y,,")`: the first message's flag was
        // rewritten from `y` in transit (c= is signed, the flag is not).
        let tamper = |s: &mut ScramServer| {
            let mut client =
                ScramKeyClient::with_nonce(pw_client_key(), secret().server_key, "abc".into());
            let first = s.client_first(&client.client_first()).unwrap();
            let fin = client.server_first(&first).unwrap();
            let fin = String::from_utf8(fin)
                .unwrap()
                .replacen("c=biws", "c=eSws", 1);
            s.client_final(fin.as_bytes())
        };
        assert!(matches!(
            tamper(&mut server(Some(CERT_HASH), false)),
            Err(ScramError::Malformed(_))
        ));
        // Without PLUS on offer the two flags mean the same and, as before
        // channel binding, the swap only breaks the proof.
        assert_eq!(
            tamper(&mut server(None, false)),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn bound_c_must_carry_the_data() {
        // `p` first, but c= is only the header (binding data dropped), or
        // the plain `biws`: both fail the binding check.
        for c in [b64_encode(GS2_HEADER_PLUS), "biws".to_string()] {
            let mut s = server(Some(CERT_HASH), false);
            let mut client =
                ScramKeyClient::with_nonce(pw_client_key(), secret().server_key, "abc".into())
                    .with_channel_binding(ClientChannelBinding::TlsServerEndPoint(
                        CERT_HASH.to_vec(),
                    ));
            let first = s
                .client_first_for(SCRAM_SHA_256_PLUS, &client.client_first())
                .unwrap();
            let fin = String::from_utf8(client.server_first(&first).unwrap()).unwrap();
            let good = format!("c={}", bound_cbind(CERT_HASH));
            let fin = fin.replacen(&good, &format!("c={c}"), 1);
            assert_eq!(
                s.client_final(fin.as_bytes()),
                Err(ScramError::ChannelBindingMismatch),
                "{c}"
            );
        }
    }

    /// Our key client against our server: the outcome, as the client
    /// `choose`s from `client_data` and what the server offers.
    fn key_exchange(
        offered: Option<&[u8]>,
        client_data: Option<&[u8]>,
    ) -> Result<[u8; 32], ScramError> {
        let mut s = server(offered, false);
        let plus_offered = s.mechanisms().contains(&SCRAM_SHA_256_PLUS);
        let choice = ClientChannelBinding::choose(client_data.map(<[u8]>::to_vec), plus_offered);
        let mut client = ScramKeyClient::new(pw_client_key(), secret().server_key, [9; 18])
            .with_channel_binding(choice);
        let first = s.client_first_for(client.mechanism(), &client.client_first())?;
        let fin = client.server_first(&first)?;
        let (server_final, key) = s.client_final(&fin)?;
        client.server_final(&server_final)?;
        Ok(key)
    }

    #[test]
    fn key_client_binds_says_y_or_n_as_it_should() {
        // Both bind: PLUS.
        assert_eq!(
            key_exchange(Some(CERT_HASH), Some(CERT_HASH)),
            Ok(pw_client_key())
        );
        // Client on TLS, server offers no PLUS: `y`, accepted.
        assert_eq!(key_exchange(None, Some(CERT_HASH)), Ok(pw_client_key()));
        // Client without data: `n`, accepted whatever is offered.
        assert_eq!(key_exchange(Some(CERT_HASH), None), Ok(pw_client_key()));
        assert_eq!(key_exchange(None, None), Ok(pw_client_key()));
        // Client bound to another certificate than the server's.
        assert_eq!(
            key_exchange(Some(CERT_HASH), Some(OTHER_HASH)),
            Err(ScramError::ChannelBindingMismatch)
        );
    }

    #[test]
    fn key_client_y_against_a_plus_server_is_refused() {
        // What a stripped mechanism list leads to: the client saw no PLUS.
        let mut s = server(Some(CERT_HASH), false);
        let client = ScramKeyClient::new(pw_client_key(), secret().server_key, [9; 18])
            .with_channel_binding(ClientChannelBinding::choose(
                Some(CERT_HASH.to_vec()),
                false,
            ));
        assert_eq!(client.mechanism(), SCRAM_SHA_256);
        assert!(client.client_first().starts_with(b"y,,n=,r="));
        assert_eq!(
            s.client_first_for(client.mechanism(), &client.client_first()),
            Err(ScramError::ChannelBindingNegotiation)
        );
    }

    #[test]
    fn choice_maps_to_mechanism_header_and_postgres_protocol() {
        let cases = [
            (None, false, SCRAM_SHA_256, &b"n,,"[..]),
            (None, true, SCRAM_SHA_256, b"n,,"),
            (Some(vec![]), true, SCRAM_SHA_256, b"n,,"),
            (Some(CERT_HASH.to_vec()), false, SCRAM_SHA_256, b"y,,"),
            (
                Some(CERT_HASH.to_vec()),
                true,
                SCRAM_SHA_256_PLUS,
                b"p=tls-server-end-point,,",
            ),
        ];
        for (data, offered, mechanism, header) in cases {
            let choice = ClientChannelBinding::choose(data, offered);
            assert_eq!(choice.mechanism(), mechanism);
            let ours =
                ScramKeyClient::new([1; 32], [2; 32], [3; 18]).with_channel_binding(choice.clone());
            assert_eq!(ours.mechanism(), mechanism);
            assert!(ours.client_first().starts_with(header));
            // postgres-protocol's client gets the same gs2 header.
            let theirs = ScramSha256::new(b"pw", choice.postgres_protocol());
            assert!(theirs.message().starts_with(header), "{choice:?}");
        }
    }

    #[test]
    fn key_client_c_is_base64_of_header_and_data() {
        // Known answer on the RFC 7677 server-first-message.
        let server_first: &[u8] =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let mut client =
            ScramKeyClient::with_nonce([1; 32], [2; 32], "rOprNGfwEbeRWgbNEkqO".into())
                .with_channel_binding(ClientChannelBinding::TlsServerEndPoint(vec![0xde, 0xad]));
        let fin = client.server_first(server_first).unwrap();
        let c = fin
            .split(|b| *b == b',')
            .next()
            .unwrap()
            .strip_prefix(b"c=")
            .unwrap();
        assert_eq!(b64_decode(c).unwrap(), b"p=tls-server-end-point,,\xde\xad");
    }

    /// Every client behaviour a mock exchange must answer exactly as a real
    /// one does, except that the real one with the right password succeeds.
    #[test]
    fn mock_exchange_checks_binding_like_a_real_one() {
        type Case = (Option<&'static [u8]>, &'static str, fn() -> ChannelBinding);
        let cases: &[Case] = &[
            (Some(CERT_HASH), SCRAM_SHA_256_PLUS, || pg_bound(CERT_HASH)),
            (Some(CERT_HASH), SCRAM_SHA_256_PLUS, || pg_bound(OTHER_HASH)),
            (
                Some(CERT_HASH),
                SCRAM_SHA_256_PLUS,
                ChannelBinding::unsupported,
            ),
            (Some(CERT_HASH), SCRAM_SHA_256, ChannelBinding::unrequested),
            (Some(CERT_HASH), SCRAM_SHA_256, ChannelBinding::unsupported),
            (Some(CERT_HASH), SCRAM_SHA_256, || pg_bound(CERT_HASH)),
            (None, SCRAM_SHA_256_PLUS, || pg_bound(CERT_HASH)),
            (None, SCRAM_SHA_256, ChannelBinding::unrequested),
        ];
        for (offered, mechanism, binding) in cases {
            let real = pg_exchange(server(*offered, false), mechanism, "pw", binding());
            let mock = pg_exchange(server(*offered, true), mechanism, "pw", binding());
            let real = real.err().unwrap_or(ScramError::InvalidProof);
            assert_eq!(mock, Err(real), "{offered:?} {mechanism}");
            // And the mock lists the same mechanisms.
            assert_eq!(
                server(*offered, true).mechanisms(),
                server(*offered, false).mechanisms()
            );
        }
    }

    #[test]
    fn changing_the_offer_mid_exchange_ends_it() {
        let mut s = server(Some(CERT_HASH), false);
        s.client_first(b"n,,n=,r=abc").unwrap();
        let mut s = s.with_channel_binding(None);
        assert_eq!(
            s.client_final(b"c=biws,r=abc,p=x"),
            Err(ScramError::OutOfOrder)
        );
    }
}
