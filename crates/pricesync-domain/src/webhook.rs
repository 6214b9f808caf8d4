//! How a webhook delivery is signed, and how a receiver checks it.
//!
//! Every delivery carries a `Pricesync-Signature` header of the form
//! `t=<unix seconds>,v1=<hex>`, where `<hex>` is the lowercase hex
//! HMAC-SHA256, keyed with the endpoint's secret, of the bytes
//! `<unix seconds>.<body>`. Signing the time with the body lets a receiver
//! refuse a replayed delivery: [`verify`] refuses a time further than its
//! tolerance from now. The sender ([`sign`]) and a receiver written in Rust
//! ([`verify`]) use these same functions; docs/webhooks.md shows the check
//! in other languages.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Pricesync-Signature";

/// How far from the receiver's clock a signed time may be, by default:
/// five minutes.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: `new_from_slice` cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Pricesync-Signature` header value for `body` sent at `timestamp`
/// (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let code = mac(secret, timestamp, body).finalize().into_bytes();
    let mut hex = String::with_capacity(code.len() * 2);
    for byte in code {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    format!("t={timestamp},v1={hex}")
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<unix seconds>,v1=<hex>`.
    #[error("the signature header is not of the form t=<unix seconds>,v1=<hex>")]
    Malformed,
    /// The signed time is too far from now: a replay, or a wrong clock.
    #[error("the signature is {0} s away from now, more than the tolerance")]
    Stale(u64),
    /// No `v1` code matches the body and the secret.
    #[error("the signature does not match the body and the secret")]
    Mismatch,
}

/// Checks `header` (the `Pricesync-Signature` value) against `body`, the
/// exact bytes received, and `secret`: the signed time must be within
/// `tolerance_secs` of `now` (unix seconds) and a `v1` code must match, in
/// constant time. Several `v1` codes may be present (a secret being
/// rotated); one match is enough.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut codes = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            Some(("v1", value)) => codes.push(decode_hex(value).ok_or(SignatureError::Malformed)?),
            // Other schemes are for other versions: ignored.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if codes.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let distance = now.abs_diff(timestamp);
    if distance > tolerance_secs {
        return Err(SignatureError::Stale(distance));
    }
    let expected = mac(secret, timestamp, body);
    if codes
        .iter()
        .any(|code| expected.clone().verify_slice(code).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| char::from(b).to_digit(16);
            u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_signature() {
        // HMAC-SHA256("secret", "1700000000.{}") as computed by
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret`.
        assert_eq!(
            sign(b"secret", 1_700_000_000, b"{}"),
            format!("t=1700000000,v1={}", OPENSSL_HEX)
        );
    }

    const OPENSSL_HEX: &str = "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163";

    #[test]
    fn a_signature_verifies_and_any_change_is_refused() {
        let header = sign(b"secret", 1_000, b"{\"a\":1}");
        assert_eq!(verify(b"secret", &header, b"{\"a\":1}", 1_010, 300), Ok(()));
        assert_eq!(
            verify(b"other", &header, b"{\"a\":1}", 1_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", &header, b"{\"a\":2}", 1_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", &header, b"{\"a\":1}", 1_301, 300),
            Err(SignatureError::Stale(301))
        );
        // The time is signed: moving it breaks the code.
        let moved = header.replacen("t=1000", "t=1005", 1);
        assert_eq!(
            verify(b"secret", &moved, b"{\"a\":1}", 1_010, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn one_matching_code_of_several_is_enough() {
        let good = sign(b"new", 50, b"x");
        let old = sign(b"old", 50, b"x");
        let old_code = old.split("v1=").nth(1).unwrap_or_default();
        let both = format!("{good},v1={old_code}");
        assert_eq!(verify(b"old", &both, b"x", 50, 0), Ok(()));
        assert_eq!(verify(b"new", &both, b"x", 50, 0), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1,v1=0g",
            "t=1,v1=abc",
            "junk",
        ] {
            assert_eq!(
                verify(b"s", header, b"", 1, 300),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }
}
