//! ScramKeyClient: pass-through login with keys instead of a password.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use postgres_protocol::authentication::sasl::ChannelBinding;
use sluice_proto::scram::*;

use crate::scram::{is_malformed, pg_client_exchange, secret};

#[test]
fn pass_through_key_client_authenticates_a_second_exchange() {
    let stored = secret("letmein");
    // First exchange: a real client with the password; Sluice learns ClientKey.
    let client_key =
        pg_client_exchange(stored.clone(), "letmein", ChannelBinding::unsupported()).unwrap();

    // Second exchange: Sluice, without the password, against a server
    // holding the same secret.
    let mut server = ScramServer::new(stored.clone(), [3; 18]);
    let mut client = ScramKeyClient::new(client_key, stored.server_key, [4; 18]);
    let first = client.client_first();
    assert!(first.starts_with(b"n,,n=,r="));
    assert_eq!(first.len(), "n,,n=,r=".len() + 24);
    let server_first = server.client_first(&first).unwrap();
    let client_final = client.server_first(&server_first).unwrap();
    let (server_final, key_again) = server.client_final(&client_final).unwrap();
    assert_eq!(key_again, client_key);
    assert_eq!(client.server_final(&server_final), Ok(()));
}

#[test]
fn key_client_with_wrong_keys_fails_on_the_right_side() {
    let stored = secret("letmein");
    let mut server = ScramServer::new(stored.clone(), [3; 18]);
    let mut client = ScramKeyClient::new([0x42; 32], stored.server_key, [4; 18]);
    let server_first = server.client_first(&client.client_first()).unwrap();
    let client_final = client.server_first(&server_first).unwrap();
    assert_eq!(
        server.client_final(&client_final),
        Err(ScramError::InvalidProof)
    );

    // Right ClientKey, but the "server" signs with another ServerKey.
    let key = pg_client_exchange(stored.clone(), "letmein", ChannelBinding::unsupported()).unwrap();
    let mut server = ScramServer::new(stored.clone(), [3; 18]);
    let mut client = ScramKeyClient::new(key, [0x42; 32], [4; 18]);
    let server_first = server.client_first(&client.client_first()).unwrap();
    let (server_final, _) = server
        .client_final(&client.server_first(&server_first).unwrap())
        .unwrap();
    assert_eq!(
        client.server_final(&server_final),
        Err(ScramError::InvalidServerSignature)
    );
}

/// A key client that has sent its first message, and its nonce.
fn key_client() -> (ScramKeyClient, String) {
    let client = ScramKeyClient::new([1; 32], [2; 32], [3; 18]);
    let first = String::from_utf8(client.client_first()).unwrap();
    let nonce = first.strip_prefix("n,,n=,r=").unwrap().to_string();
    (client, nonce)
}

#[test]
fn key_client_checks_server_first() {
    let (mut client, nonce) = key_client();
    let ok = format!("r={nonce}SERVER,s=c2FsdA==,i=4096");
    assert!(client.server_first(ok.as_bytes()).is_ok());
    assert_eq!(
        client.server_first(ok.as_bytes()),
        Err(ScramError::OutOfOrder)
    );

    let mismatch = [
        format!("r={nonce},s=c2FsdA==,i=4096"),
        format!("r=X{nonce}S,s=c2FsdA==,i=4096"),
        format!("r={}S,s=c2FsdA==,i=4096", &nonce[1..]),
        format!("r={nonce}S S,s=c2FsdA==,i=4096"),
    ];
    for m in mismatch {
        let (mut client, _) = key_client();
        assert_eq!(
            client.server_first(m.as_bytes()),
            Err(ScramError::NonceMismatch),
            "{m}"
        );
    }
    let malformed = [
        String::new(),
        format!("m=x,r={nonce}S,s=c2FsdA==,i=4096"),
        format!("s=c2FsdA==,r={nonce}S,i=4096"),
        format!("r={nonce}S,i=4096"),
        format!("r={nonce}S,s=,i=4096"),
        format!("r={nonce}S,s=!!,i=4096"),
        format!("r={nonce}S,s=c2FsdA=="),
        format!("r={nonce}S,s=c2FsdA==,i=0"),
        format!("r={nonce}S,s=c2FsdA==,i=-1"),
        format!("r={nonce}S,s=c2FsdA==,i=+5"),
        format!("r={nonce}S,s=c2FsdA==,i=abc"),
        format!("r={nonce}S,s=c2FsdA==,i="),
        format!("r={nonce}S,s=c2FsdA==,i=2147483648"),
        format!("r={nonce}S,s=c2FsdA==,i=99999999999999999999"),
        format!("r={nonce}S,s=c2FsdA==,i=4096,x=y"),
        format!("r={nonce}S,s=c2FsdA==,i=4096,"),
        format!("r={nonce}S,s=c2FsdA==,i=40\096"),
        format!("r={nonce}S,s={},i=4096", "A".repeat(20_000)),
    ];
    for m in malformed {
        let (mut client, _) = key_client();
        let got = client.server_first(m.as_bytes());
        assert!(is_malformed(got.clone()), "{m:.80}: {got:?}");
    }
}

#[test]
fn key_client_checks_server_final() {
    let (mut client, nonce) = key_client();
    client
        .server_first(format!("r={nonce}S,s=c2FsdA==,i=4096").as_bytes())
        .unwrap();
    assert_eq!(
        client.server_final(b"e=invalid-proof"),
        Err(ScramError::ServerRejected("invalid-proof".to_string()))
    );
    let wrong = format!("v={}", STANDARD.encode([0u8; 32]));
    assert_eq!(
        client.server_final(wrong.as_bytes()),
        Err(ScramError::InvalidServerSignature)
    );
    for bad in [
        "".to_string(),
        "v=".to_string(),
        "v=!!!".to_string(),
        format!("v={}", STANDARD.encode([0u8; 31])),
        format!("{wrong},x=y"),
        "x=abc".to_string(),
    ] {
        assert!(is_malformed(client.server_final(bad.as_bytes())), "{bad}");
    }
}
