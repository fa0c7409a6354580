//! Standard Webhooks signatures: `v1,<base64 of HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`,
//! one per secret (several while a key is rotated), separated by spaces. Secrets are written
//! `whsec_<base64 of the key bytes>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A secret that is not `whsec_` + base64 of at least 24 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret must be `whsec_` followed by the base64 of 24 to 64 random bytes")]
pub struct BadSecret;

impl Secret {
    /// Parses `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, BadSecret> {
        let key = text.trim().strip_prefix("whsec_").ok_or(BadSecret)?;
        let bytes = STANDARD.decode(key).map_err(|_| BadSecret)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(BadSecret);
        }
        Ok(Self(bytes))
    }

    /// Parses several secrets separated by spaces (the newest first, by habit).
    pub fn parse_list(text: &str) -> Result<Vec<Self>, BadSecret> {
        let secrets: Vec<Self> = text.split_whitespace().map(Self::parse).collect::<Result<_, _>>()?;
        if secrets.is_empty() { Err(BadSecret) } else { Ok(secrets) }
    }

    /// The signature of one message under this secret, base64.
    fn sign(&self, id: &str, timestamp_s: u64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_s.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// The `webhook-signature` header's value: one `v1,<signature>` per secret.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp_s: u64, body: &[u8]) -> String {
    let signatures: Vec<String> =
        secrets.iter().map(|secret| format!("v1,{}", secret.sign(id, timestamp_s, body))).collect();
    signatures.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks spec (and of its reference libraries' tests).
    #[test]
    fn signs_the_specs_example() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature_header(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn rotation_signs_with_every_secret() {
        let secrets =
            Secret::parse_list("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .unwrap();
        let header = signature_header(&secrets, "msg_1", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn refuses_what_is_not_a_secret() {
        for bad in ["", "secret", "whsec_", "whsec_!!!", "whsec_c2hvcnQ=", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
            assert_eq!(Secret::parse(bad), Err(BadSecret), "{bad:?}");
        }
        assert_eq!(Secret::parse_list("  "), Err(BadSecret));
    }
}
