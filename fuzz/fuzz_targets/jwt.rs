//! JWT handling with `--auth jwt`: any token string is refused without a panic; and tokens
//! whose header and claims are anything at all but carry a genuine ES256 signature are
//! accepted only when the claims keep every rule (valid `sub`, unexpired, at most the
//! maximum lifetime, issued for this app by `aud` and `azp`, from the right issuer).
//! In the claims (and header), `EXP` and `IAT` stand for now + 60 s and now, so that seeds
//! stay valid over time.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::Value;
use viva_gateway::auth::jwt::{JwtConfig, JwtVerifier};

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "viva";
const PARTY: &str = "https://app.example";
const MAX_LIFETIME_S: f64 = 3600.0;
const LEEWAY_S: f64 = 30.0;

struct Fixture {
    key: SigningKey,
    verifier: JwtVerifier,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = SigningKey::from_slice(&[7; 32]).expect("a P-256 scalar");
    let point = key.verifying_key().to_encoded_point(false);
    let jwks = serde_json::json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
        "x": B64.encode(point.x().unwrap()), "y": B64.encode(point.y().unwrap()),
    }]});
    let config = JwtConfig {
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
        authorized_parties: vec![PARTY.into()],
        max_lifetime: Duration::from_secs_f64(MAX_LIFETIME_S),
        ..JwtConfig::new("https://idp.test/jwks")
    };
    let verifier = JwtVerifier::with_keys(config, jwks.to_string().as_bytes()).expect("the JWKS");
    Fixture { key, verifier }
});

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if mode & 1 == 0 {
        let user = futures::executor::block_on(fixture.verifier.verify(text));
        assert!(user.is_none(), "an unsigned token was taken: {text:?}");
        return;
    }
    // `header \n claims`, signed for real.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let text = text.replace("EXP", &(now + 60).to_string()).replace("IAT", &now.to_string());
    let (header, claims) = text.split_once('\n').unwrap_or((r#"{"alg":"ES256","kid":"k1"}"#, &text));
    let signed = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let signature: Signature = fixture.key.sign(signed.as_bytes());
    let token = format!("{signed}.{}", B64.encode(signature.to_bytes()));
    let Some(user) = futures::executor::block_on(fixture.verifier.verify(&token)) else { return };

    // Taken: every rule held.
    let claims: Value = serde_json::from_str(claims).expect("accepted claims are JSON");
    assert_eq!(claims["sub"].as_str(), Some(user.0.as_str()));
    assert!(viva_gateway::auth::valid_user_id(user.0.as_str()));
    assert_eq!(claims["iss"].as_str(), Some(ISSUER));
    assert_eq!(claims["azp"].as_str(), Some(PARTY));
    let aud_ok = match &claims["aud"] {
        Value::String(aud) => aud == AUDIENCE,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(AUDIENCE)),
        _ => false,
    };
    assert!(aud_ok, "aud {}", claims["aud"]);
    let now = now as f64;
    let exp = claims["exp"].as_f64().expect("exp is a number");
    assert!(exp + LEEWAY_S >= now, "expired: {exp}");
    let from = claims["iat"].as_f64().unwrap_or(now);
    assert!(from <= now + LEEWAY_S + 1.0, "issued in the future: {from}");
    assert!(exp - from <= MAX_LIFETIME_S + LEEWAY_S + 1.0, "lives too long: {from}..{exp}");
});
