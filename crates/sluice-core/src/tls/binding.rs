//! Channel binding data for SCRAM-SHA-256-PLUS: `tls-server-end-point`
//! (RFC 5929 §4), the only type PostgreSQL supports.
//!
//! The data is a hash of the TLS server certificate as sent (its DER), with
//! the hash taken from the certificate's own signature algorithm, so that
//! both ends of the connection compute it alike without negotiating: MD5
//! and SHA-1 are upgraded to SHA-256, SHA-224/256/384/512 are used as they
//! are. A signature without a single such hash (Ed25519, Ed448, SHA-3, an
//! unknown algorithm) gives no binding: PostgreSQL fails such logins with
//! "could not find digest for NID"; Sluice instead simply does not offer or
//! request PLUS on that connection, which a client or server on the other
//! end accepts.

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use x509_parser::signature_algorithm::SignatureAlgorithm;
use x509_parser::x509::AlgorithmIdentifier;

/// The hash functions `tls-server-end-point` can end up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// The `tls-server-end-point` binding data for the certificate `cert_der`
/// (the end-entity certificate exactly as sent in the TLS handshake), or
/// `None` if it does not parse, has trailing bytes, or its signature
/// algorithm names no usable hash. The caller computes this once per
/// certificate, not per login.
pub fn tls_server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    let (rest, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    // The peer hashes exactly the certificate it received; bytes after it
    // mean we were handed something else.
    if !rest.is_empty() {
        return None;
    }
    // The outer signatureAlgorithm, the one OpenSSL (and so PostgreSQL and
    // libpq) reads.
    let hash = signature_hash(&cert.signature_algorithm)?;
    Some(match hash {
        Hash::Sha224 => Sha224::digest(cert_der).to_vec(),
        Hash::Sha256 => Sha256::digest(cert_der).to_vec(),
        Hash::Sha384 => Sha384::digest(cert_der).to_vec(),
        Hash::Sha512 => Sha512::digest(cert_der).to_vec(),
    })
}

/// The binding hash for a signature algorithm, by OID.
fn signature_hash(alg: &AlgorithmIdentifier<'_>) -> Option<Hash> {
    let oid = alg.algorithm.to_id_string();
    Some(match oid.as_str() {
        // RSA PKCS#1 v1.5: md5WithRSAEncryption, sha1WithRSAEncryption and
        // its old OIW twin (RFC 5929 upgrades both to SHA-256).
        "1.2.840.113549.1.1.4" | "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => Hash::Sha256,
        "1.2.840.113549.1.1.14" => Hash::Sha224,
        "1.2.840.113549.1.1.11" => Hash::Sha256,
        "1.2.840.113549.1.1.12" => Hash::Sha384,
        "1.2.840.113549.1.1.13" => Hash::Sha512,
        // RSASSA-PSS names its hash in the parameters.
        "1.2.840.113549.1.1.10" => return pss_hash(alg),
        // ECDSA with SHA-1, SHA-224 … SHA-512.
        "1.2.840.10045.4.1" => Hash::Sha256,
        "1.2.840.10045.4.3.1" => Hash::Sha224,
        "1.2.840.10045.4.3.2" => Hash::Sha256,
        "1.2.840.10045.4.3.3" => Hash::Sha384,
        "1.2.840.10045.4.3.4" => Hash::Sha512,
        // DSA with SHA-1, SHA-224 … SHA-512.
        "1.2.840.10040.4.3" => Hash::Sha256,
        "2.16.840.1.101.3.4.3.1" => Hash::Sha224,
        "2.16.840.1.101.3.4.3.2" => Hash::Sha256,
        "2.16.840.1.101.3.4.3.3" => Hash::Sha384,
        "2.16.840.1.101.3.4.3.4" => Hash::Sha512,
        _ => return None,
    })
}

/// The hash of an RSASSA-PSS signature: from its parameters, where an
/// absent hash means SHA-1 (RFC 4055), upgraded to SHA-256 like any SHA-1.
/// Parameters that do not parse give no binding.
fn pss_hash(alg: &AlgorithmIdentifier<'_>) -> Option<Hash> {
    let SignatureAlgorithm::RSASSA_PSS(params) = SignatureAlgorithm::try_from(alg).ok()? else {
        return None;
    };
    Some(match params.hash_algorithm_oid().to_id_string().as_str() {
        "1.3.14.3.2.26" | "2.16.840.1.101.3.4.2.1" => Hash::Sha256,
        "2.16.840.1.101.3.4.2.4" => Hash::Sha224,
        "2.16.840.1.101.3.4.2.2" => Hash::Sha384,
        "2.16.840.1.101.3.4.2.3" => Hash::Sha512,
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, SignatureAlgorithm as RcgenAlg};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    fn rcgen_cert(alg: &'static RcgenAlg) -> Vec<u8> {
        let key = KeyPair::generate_for(alg).unwrap();
        let params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn pem(text: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(text.as_bytes())
            .unwrap()
            .to_vec()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// Replace every occurrence of one DER-encoded OID by another of the
    /// same length. The binding code reads only the algorithm identifier,
    /// never the signature, so this makes certificates for algorithms
    /// nothing here can sign with (MD5, SHA-1 …) without shipping more
    /// fixed files.
    fn with_oid(der: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut out = der.to_vec();
        let mut found = 0;
        let mut i = 0;
        while i + from.len() <= out.len() {
            if out[i..i + from.len()] == *from {
                out[i..i + from.len()].copy_from_slice(to);
                found += 1;
                i += from.len();
            } else {
                i += 1;
            }
        }
        // Once in the TBS part, once as the outer signatureAlgorithm.
        assert_eq!(found, 2);
        out
    }

    // Fixed certificates made with OpenSSL 3.0 (`openssl req -x509 -newkey
    // rsa:1024 …`), because rcgen's ring backend cannot make RSA keys and
    // cannot sign RSA-PSS at all. Expected hashes are OpenSSL's own
    // `openssl x509 -fingerprint -sha256/-sha384` of each, so the tests do
    // not only check sha2 against itself.
    const RSA_SHA256: &str = r"
-----BEGIN CERTIFICATE-----
MIIB+jCCAWOgAwIBAgIUZiHoDzMli6llh/nsogqHvFYTpeQwDQYJKoZIhvcNAQEL
BQAwDjEMMAoGA1UEAwwDcnNhMCAXDTI2MTIwMzE2Mjc0MloYDzIxMjYxMTA5MTYy
NzQyWjAOMQwwCgYDVQQDDANyc2EwgZ8wDQYJKoZIhvcNAQEBBQADgY0AMIGJAoGB
ANIS7MXBh8ykFpywvyn2gip55uONQtYM2dD5K3M0A/PmtOo5oWqlg8CP0UfDcjlJ
rPrl/ZHGBL8d3VooHD/kzmyS69SRKoJyaNy7njl5p8T00GF5M8mkV852ghaaLfHv
6fVDAucL/adtzDLIuFVz/CTRDtXfxnshezEEvJe/EKp5AgMBAAGjUzBRMB0GA1Ud
DgQWBBTEfzK1ZoXVyvvA3XCjNhhfDDFAWjAfBgNVHSMEGDAWgBTEfzK1ZoXVyvvA
3XCjNhhfDDFAWjAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4GBADZc
SaXiKy+cTDnAnXBRmP6kVsNGi/W8di/BFlGWHjWbpI5Hj8m9iqNk/i6NHaPadSvs
vvnIDPQGKP7xsb/tdlFKH56Co7ump8f3sbUYnwuluCRupyTuFmYo2Z6AEYeou6Pe
Snmm/UplGbwBR2L4HaeB9JdOmXteFeREU0qw3uzb
-----END CERTIFICATE-----
";
    const RSA_SHA256_HASH: &str =
        "AB37B58F996D44591742AFA45B813AD176193C4C3D947A6C2150DE0D05448685";
    /// `-sha384 -sigopt rsa_padding_mode:pss`: SHA-384 in the parameters.
    const PSS_SHA384: &str = r"
-----BEGIN CERTIFICATE-----
MIICYjCCAZegAwIBAgIUSCSR+pYS/fn/n/qhFuScaB+67U0wQQYJKoZIhvcNAQEK
MDSgDzANBglghkgBZQMEAgIFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgIF
AKIDAgEgMA4xDDAKBgNVBAMMA3BzczAgFw0yNjEyMDMxNjI3NDJaGA8yMTI2MTEw
OTE2Mjc0MlowDjEMMAoGA1UEAwwDcHNzMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCB
iQKBgQDVspDiB9Iq153EvogqkKe4l6y5qoM/r8JjvCo/+v6xnP3W9tEVJ3y55X4o
S/9K6kjR/S5KpQqQI5DcG3Lx/Iqp07LgbKP/69kuyp5g8tlLnNynj1Wkymj5B9no
qFoyHr8qi8z/2lxyUVfEEUlMQhFhdbnXe7b+0DTx1U2mSJ3f1QIDAQABo1MwUTAd
BgNVHQ4EFgQUcRHlSzXjK6GgviLzK5UWj2jzUnEwHwYDVR0jBBgwFoAUcRHlSzXj
K6GgviLzK5UWj2jzUnEwDwYDVR0TAQH/BAUwAwEB/zBBBgkqhkiG9w0BAQowNKAP
MA0GCWCGSAFlAwQCAgUAoRwwGgYJKoZIhvcNAQEIMA0GCWCGSAFlAwQCAgUAogMC
ASADgYEAlQtv1CUWLgG/YWj3GA/KivlZkWPW5htIgDT1H2nZ+wCQGAKLimx779FQ
yH8e4KOP5xl4Yte3ALpPsjE0fzS3zAldmJmTtrgARQWV1JoF9Oe7Tj8v6V1evK7w
mDMx9GrGY8s297j+H6ZxM6SeoaRzxuyswGEe8BKDczTqs0YYU6U=
-----END CERTIFICATE-----
";
    const PSS_SHA384_HASH: &str = "6505053C7D95A6F1327856572F2247986461B60E7EC2C195D09EA9CE0B8D95D848C1EF8C75962BD6167EE0E9253ACB81";
    /// `-sha1 -sigopt rsa_padding_mode:pss`: empty parameters, so the
    /// default SHA-1, which must become SHA-256.
    const PSS_SHA1: &str = r"
-----BEGIN CERTIFICATE-----
MIIB/DCCAWWgAwIBAgIUM/3kb+oW3Fyr/JHTnUwQOwpLE9wwDQYJKoZIhvcNAQEK
MAAwDzENMAsGA1UEAwwEcHNzMTAgFw0yNjEyMDMxNjI3NDJaGA8yMTI2MTEwOTE2
Mjc0MlowDzENMAsGA1UEAwwEcHNzMTCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkC
gYEA2VOyQU/yNK/uAZ5UpZSgWGwN1U7k/2o/WsQDB2FB6jPcsCrVIEVnZYURbttJ
LUxwbKwtEn9bTGW0fo1U+ab1u1ap3QF194Ix5XrwnVcQ3tl0JjnxA7NwxKUuZPgC
bB4VdGFPgDk47+sbLpraYPWHEMQPq7RpmuM4yDPhUybxHBUCAwEAAaNTMFEwHQYD
VR0OBBYEFJeYVZ7psPLKqFLLC8bRV+gng+64MB8GA1UdIwQYMBaAFJeYVZ7psPLK
qFLLC8bRV+gng+64MA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQEKMAADgYEA
A3kGPGQHoq3BZclkqPmYZO0aXk+8Ob+6+E42JkhbGB3sX6dMOvAfgGhu7npoM6lj
+64jrJ1ogRb4j22TytXNO2ZNUuSpNzwwmLePff1p8NV/quLJkd6SThkUDRI6yCGl
89QPd6Q6s/vqZwD3jUsG0kFXHN5uCxxJ+7zMcJ8ZXNo=
-----END CERTIFICATE-----
";
    const PSS_SHA1_HASH: &str = "34DFE9544467A29B00E5B1C843582DDFD03A36630FF7B2E3669D55EE018399A3";

    /// DER of the OID 1.2.840.113549.1.1.<last> (PKCS#1 signatures).
    fn pkcs1_oid(last: u8) -> [u8; 11] {
        [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, last,
        ]
    }

    /// DER of the OID 1.2.840.10045.4.3.<last> (ECDSA with SHA-2).
    fn ecdsa_oid(last: u8) -> [u8; 10] {
        [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, last]
    }

    #[test]
    fn ecdsa_p256_sha256_binds_with_sha256() {
        let der = rcgen_cert(&rcgen::PKCS_ECDSA_P256_SHA256);
        let got = tls_server_end_point(&der).unwrap();
        assert_eq!(got, Sha256::digest(&der).to_vec());
        assert_eq!(got.len(), 32);
    }

    #[test]
    fn ecdsa_p384_sha384_binds_with_sha384() {
        let der = rcgen_cert(&rcgen::PKCS_ECDSA_P384_SHA384);
        let got = tls_server_end_point(&der).unwrap();
        assert_eq!(got, Sha384::digest(&der).to_vec());
        assert_eq!(got.len(), 48);
    }

    #[test]
    fn ecdsa_sha224_and_sha512_use_their_own_hash() {
        let der = rcgen_cert(&rcgen::PKCS_ECDSA_P256_SHA256);
        let sha512 = with_oid(&der, &ecdsa_oid(2), &ecdsa_oid(4));
        assert_eq!(
            tls_server_end_point(&sha512).unwrap(),
            Sha512::digest(&sha512).to_vec()
        );
        let sha224 = with_oid(&der, &ecdsa_oid(2), &ecdsa_oid(1));
        assert_eq!(
            tls_server_end_point(&sha224).unwrap(),
            Sha224::digest(&sha224).to_vec()
        );
    }

    #[test]
    fn ed25519_gives_no_binding() {
        let der = rcgen_cert(&rcgen::PKCS_ED25519);
        assert_eq!(tls_server_end_point(&der), None);
    }

    #[test]
    fn rsa_pkcs1_matches_openssl_fingerprint() {
        let der = pem(RSA_SHA256);
        assert_eq!(hex(&tls_server_end_point(&der).unwrap()), RSA_SHA256_HASH);
    }

    #[test]
    fn rsa_md5_and_sha1_are_upgraded_to_sha256_others_kept() {
        let der = pem(RSA_SHA256);
        let sha256 = pkcs1_oid(11);
        // md5WithRSAEncryption (…1.4) and sha1WithRSAEncryption (…1.5).
        for last in [4, 5] {
            let patched = with_oid(&der, &sha256, &pkcs1_oid(last));
            assert_eq!(
                tls_server_end_point(&patched).unwrap(),
                Sha256::digest(&patched).to_vec(),
                "1.2.840.113549.1.1.{last}"
            );
        }
        let sha384 = with_oid(&der, &sha256, &pkcs1_oid(12));
        assert_eq!(
            tls_server_end_point(&sha384).unwrap(),
            Sha384::digest(&sha384).to_vec()
        );
        let sha512 = with_oid(&der, &sha256, &pkcs1_oid(13));
        assert_eq!(
            tls_server_end_point(&sha512).unwrap(),
            Sha512::digest(&sha512).to_vec()
        );
        let sha224 = with_oid(&der, &sha256, &pkcs1_oid(14));
        assert_eq!(
            tls_server_end_point(&sha224).unwrap(),
            Sha224::digest(&sha224).to_vec()
        );
        // md2WithRSAEncryption: no usable hash (OpenSSL has no MD2 either).
        let md2 = with_oid(&der, &sha256, &pkcs1_oid(2));
        assert_eq!(tls_server_end_point(&md2), None);
    }

    #[test]
    fn rsa_pss_takes_the_hash_from_its_parameters() {
        let der = pem(PSS_SHA384);
        assert_eq!(hex(&tls_server_end_point(&der).unwrap()), PSS_SHA384_HASH);
        let der = pem(PSS_SHA1);
        assert_eq!(hex(&tls_server_end_point(&der).unwrap()), PSS_SHA1_HASH);
    }

    #[test]
    fn garbage_and_trailing_bytes_give_no_binding() {
        assert_eq!(tls_server_end_point(b""), None);
        assert_eq!(tls_server_end_point(b"not a certificate"), None);
        let mut der = rcgen_cert(&rcgen::PKCS_ECDSA_P256_SHA256);
        der.push(0);
        assert_eq!(tls_server_end_point(&der), None);
    }
}
