//! Expected values computed independently with Python's hashlib:
//! `"md5" + hashlib.md5((password + user).encode()).hexdigest()` and
//! `"md5" + hashlib.md5(secret[3:].encode() + salt).hexdigest()`.

use sluice_proto::md5auth::*;

const POSTGRES_SECRET: &str = "md53175bce1d3201d16594cebf9d7eb3f9d";
const FOO_SECRET: &str = "md5c98cbfeb6a347a47eb8e96cfb4c4b890";
const FOO_RESPONSE_1234: &str = "md5914a2a1e4b0853355a708919d7bb6c43";
const POSTGRES_RESPONSE_DEADBEEF: &str = "md58ee245854025535aedb7b15709315318";

#[test]
fn secret_known_answers() {
    assert_eq!(md5_secret("postgres", "postgres"), POSTGRES_SECRET);
    assert_eq!(md5_secret("foo", "foobar"), FOO_SECRET);
    assert_eq!(
        md5_secret("foo", "foobar"),
        postgres_protocol::password::md5(b"foobar", "foo")
    );
}

#[test]
fn response_known_answers() {
    assert_eq!(
        md5_response_from_secret(FOO_SECRET, [1, 2, 3, 4]).as_deref(),
        Some(FOO_RESPONSE_1234)
    );
    assert_eq!(
        md5_response_from_secret(POSTGRES_SECRET, [0xde, 0xad, 0xbe, 0xef]).as_deref(),
        Some(POSTGRES_RESPONSE_DEADBEEF)
    );
    // What a real client computes from the password.
    let client = postgres_protocol::authentication::md5_hash(b"foo", b"foobar", [1, 2, 3, 4]);
    assert_eq!(client, FOO_RESPONSE_1234);
    // An uppercase secret is the same secret.
    let upper = format!("md5{}", FOO_SECRET[3..].to_ascii_uppercase());
    assert_eq!(
        md5_response_from_secret(&upper, [1, 2, 3, 4]).as_deref(),
        Some(FOO_RESPONSE_1234)
    );
}

#[test]
fn response_needs_a_real_md5_secret() {
    for bad in [
        "",
        "md5",
        "foobar",
        "md5c98cbfeb6a347a47eb8e96cfb4c4b89",
        "md5c98cbfeb6a347a47eb8e96cfb4c4b8900",
        "md5c98cbfeb6a347a47eb8e96cfb4c4b89g",
        "MD5c98cbfeb6a347a47eb8e96cfb4c4b890",
        "SCRAM-SHA-256$4096:x$y:z",
    ] {
        assert_eq!(md5_response_from_secret(bad, [0; 4]), None, "{bad:?}");
        assert!(!verify_md5_response(bad, [0; 4], FOO_RESPONSE_1234));
    }
}

#[test]
fn verify() {
    assert!(verify_md5_response(
        FOO_SECRET,
        [1, 2, 3, 4],
        FOO_RESPONSE_1234
    ));
    assert!(
        !verify_md5_response(FOO_SECRET, [1, 2, 3, 5], FOO_RESPONSE_1234),
        "other salt"
    );
    assert!(
        !verify_md5_response(POSTGRES_SECRET, [1, 2, 3, 4], FOO_RESPONSE_1234),
        "other secret"
    );
    assert!(
        !verify_md5_response(FOO_SECRET, [1, 2, 3, 4], &FOO_RESPONSE_1234[..34]),
        "truncated"
    );
    assert!(!verify_md5_response(FOO_SECRET, [1, 2, 3, 4], ""), "empty");
    assert!(!verify_md5_response(
        FOO_SECRET,
        [1, 2, 3, 4],
        &FOO_RESPONSE_1234.to_uppercase()
    ));
    // A plain password must be turned into a secret first.
    assert!(!verify_md5_response(
        "foobar",
        [1, 2, 3, 4],
        FOO_RESPONSE_1234
    ));
    assert!(verify_md5_response(
        &md5_secret("foo", "foobar"),
        [1, 2, 3, 4],
        FOO_RESPONSE_1234
    ));
}
