//! `--auth jwt`: bearer tokens are JWTs signed by an identity provider (Clerk, Auth0, ...),
//! verified against the public keys of its JWKS URL. `sub` is the user (see
//! [`valid_user_id`]).
//!
//! Only RS256 and ES256 are accepted; the algorithm comes from the token's header but must be
//! the one its key (found by `kid`) is for, so `none`, HS256 "signed" with a public key, and
//! algorithm confusion are refused. `exp` is required; `exp`, `nbf` and `iat` get 30 s of
//! leeway. A token may live at most [`JwtConfig::max_lifetime`] (from its `iat`, or from now
//! without one), and may not be issued in the future. `iss` is checked when configured.
//!
//! A provider signs tokens for all its applications with the same keys, so a token must also
//! be for this one: its `aud` is the configured audience, or its `azp` one of the configured
//! authorized parties (Clerk's session tokens have no `aud`), or both. Configuration refuses
//! neither unless the operator explicitly accepts any audience. Optionally `sid` must be
//! present (session tokens only).
//!
//! The keys are fetched at start (a failure stops the start), re-fetched periodically, and
//! re-fetched when a token names an unknown `kid` (a rotation), at most once per interval,
//! concurrent misses sharing one fetch. A failed fetch keeps the keys already known.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, Validation};
use serde::Deserialize;
use tokio::time::Instant;

use viva_engine::core::UserId;

use super::{User, valid_user_id};

/// Seconds of clock skew allowed on `exp` and `nbf`.
const LEEWAY_S: u64 = 30;
/// Longest token looked at (real ones are around 1 KiB).
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// What `--auth jwt` checks tokens against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// Where the identity provider publishes its public keys (`https://`; configuration allows
    /// `http://` to loopback hosts only).
    pub jwks_url: String,
    /// Required `iss`, if set.
    pub issuer: Option<String>,
    /// Required `aud` (one of the token's audiences), if set.
    pub audience: Option<String>,
    /// If not empty, the token's `azp` (authorized party) must be one of these.
    pub authorized_parties: Vec<String>,
    /// Whether a token must carry a `sid` (a session token, not a long-lived API token).
    pub require_session: bool,
    /// The longest life a token may have, from `iat` to `exp` (or from now, without `iat`).
    pub max_lifetime: Duration,
    /// How often the keys are re-fetched anyway.
    pub refresh_every: Duration,
    /// Least time between two re-fetches caused by unknown `kid`s.
    pub min_kid_refresh: Duration,
    /// How long one fetch may take.
    pub fetch_timeout: Duration,
}

impl JwtConfig {
    /// Defaults for `url`: no audience or authorized party (any is accepted), tokens of at most
    /// 24 h, re-fetch every 10 min, on an unknown `kid` at most every 30 s.
    pub fn new(jwks_url: impl Into<String>) -> Self {
        Self {
            jwks_url: jwks_url.into(),
            issuer: None,
            audience: None,
            authorized_parties: Vec::new(),
            require_session: false,
            max_lifetime: Duration::from_secs(24 * 3600),
            refresh_every: Duration::from_secs(600),
            min_kid_refresh: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
        }
    }

    /// Whether tokens must be for this application (an audience or authorized parties set).
    pub fn binds_audience(&self) -> bool {
        self.audience.is_some() || !self.authorized_parties.is_empty()
    }

    /// The checks on a verified token's claims that `Validation` has no option for, at `now`
    /// (seconds since the epoch).
    fn accepts(&self, claims: &Claims, now: u64) -> bool {
        // A token that lives for years, once stolen, is an account stolen for years; and an
        // `iat` in the future would stretch the bound.
        let (now, leeway) = (now as f64, LEEWAY_S as f64);
        let longest = self.max_lifetime.as_secs_f64() + leeway;
        let lifetime_ok = match claims.iat {
            Some(iat) => iat <= now + leeway && claims.exp - iat <= longest,
            None => claims.exp - now <= longest,
        };
        let party_ok = self.authorized_parties.is_empty()
            || claims.azp.as_ref().is_some_and(|azp| self.authorized_parties.contains(azp));
        let session_ok = !self.require_session || claims.sid.as_ref().is_some_and(|sid| !sid.is_empty());
        lifetime_ok && party_ok && session_ok
    }
}

/// Why the keys could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// No HTTP client could be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    /// The request failed or answered an error status.
    #[error("cannot fetch the JWKS: {0}")]
    Fetch(#[from] reqwest::Error),
    /// The document is over the size limit.
    #[error("the JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// The document is not a JWKS.
    #[error("the JWKS is not valid JSON of the form {{\"keys\": [...]}}: {0}")]
    Parse(#[from] serde_json::Error),
    /// No key in it can verify RS256 or ES256 tokens.
    #[error("the JWKS has no usable key (RSA ≥ {MIN_RSA_BITS} bits for RS256 or P-256 for ES256, with a `kid`)")]
    NoUsableKey,
}

/// A public key from the JWKS and the one algorithm it verifies.
struct Key {
    alg: Algorithm,
    decoding: DecodingKey,
}

type Keys = HashMap<String, Arc<Key>>;

/// Verifies JWTs against an identity provider's JWKS, kept fresh.
pub struct JwtVerifier {
    config: JwtConfig,
    http: reqwest::Client,
    /// Swapped whole on each successful fetch; never held across an `.await`.
    keys: RwLock<Arc<Keys>>,
    /// When an unknown `kid` last caused a fetch. An async lock on purpose: callers missing a
    /// `kid` at the same time wait for the one fetch instead of each starting their own.
    kid_refresh: tokio::sync::Mutex<Option<Instant>>,
    /// Completed fetches, successful or not (for tests and logs).
    fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self.current().keys().cloned().collect();
        f.debug_struct("JwtVerifier").field("config", &self.config).field("kids", &kids).finish()
    }
}

/// The claims read from a verified token (`Validation` checks `exp`, `nbf`, `iss` and `aud`).
/// Times are NumericDates: seconds since the epoch, possibly with a fraction.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: f64,
    iat: Option<f64>,
    azp: Option<String>,
    sid: Option<String>,
}

impl JwtVerifier {
    /// Fetches the keys once (an error if that fails or yields no usable key), then keeps them
    /// fresh from a background task that ends when the verifier is dropped.
    pub async fn new(config: JwtConfig) -> Result<Arc<Self>, JwksError> {
        // reqwest is built with rustls but no crypto provider; ring is the workspace's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            // Not downgraded to http:// by a redirect.
            .https_only(reqwest::Url::parse(&config.jwks_url).is_ok_and(|url| url.scheme() == "https"))
            .timeout(config.fetch_timeout)
            .connect_timeout(config.fetch_timeout)
            .build()
            .map_err(JwksError::Client)?;
        let verifier = Arc::new(Self {
            config,
            http,
            keys: RwLock::default(),
            kid_refresh: tokio::sync::Mutex::new(None),
            fetches: std::sync::atomic::AtomicU64::new(0),
        });
        let keys = verifier.fetch().await?;
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        tracing::info!(url = %verifier.config.jwks_url, kids = ?keys.keys().collect::<Vec<_>>(), "JWKS loaded");
        *verifier.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
        tokio::spawn(refresh_periodically(Arc::downgrade(&verifier), verifier.config.refresh_every));
        Ok(verifier)
    }

    /// The user a token names, if it is valid now.
    pub async fn verify(&self, token: &str) -> Option<User> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return None;
        }
        let kid = header.kid?;
        let key = match self.current().get(&kid) {
            Some(key) => key.clone(),
            None => self.refresh_for(&kid).await?,
        };
        if key.alg != header.alg {
            return None;
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation(key.alg)).ok()?.claims;
        if !self.config.accepts(&claims, jsonwebtoken::get_current_timestamp()) {
            return None;
        }
        let sub = claims.sub?;
        valid_user_id(&sub).then(|| User(UserId::new(sub)))
    }

    /// JWKS fetches so far, successful or not.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(issuer) = &self.config.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.config.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // Bound by `azp` instead (see `accepts`), or any audience accepted on purpose.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }

    fn current(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The key `kid` after a re-fetch, unless one happened less than `min_kid_refresh` ago
    /// (anyone can send a token with a made-up `kid`).
    async fn refresh_for(&self, kid: &str) -> Option<Arc<Key>> {
        let mut last = self.kid_refresh.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(key) = self.current().get(kid) {
            return Some(key.clone());
        }
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < self.config.min_kid_refresh) {
            return None;
        }
        *last = Some(now);
        tracing::info!(kid, "unknown key id; re-fetching the JWKS");
        self.refresh().await;
        self.current().get(kid).cloned()
    }

    /// Re-fetches the keys; on failure keeps the old ones.
    async fn refresh(&self) {
        match self.fetch().await {
            Ok(keys) => *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys),
            Err(error) => {
                tracing::warn!(%error, url = %self.config.jwks_url, "JWKS refresh failed; keeping the old keys")
            }
        }
    }

    async fn fetch(&self) -> Result<Keys, JwksError> {
        let result = self.fetch_once().await;
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        result
    }

    async fn fetch_once(&self) -> Result<Keys, JwksError> {
        let mut response = self.http.get(&self.config.jwks_url).send().await?.error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }

    /// A verifier with the keys of the JWKS document `jwks`, never fetched again: for the fuzz
    /// targets, which need no runtime and no server.
    #[cfg(feature = "fuzzing")]
    pub fn with_keys(config: JwtConfig, jwks: &[u8]) -> Result<Self, JwksError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Self {
            // An unknown `kid` never causes a fetch: the last one was "just now", for ever.
            config: JwtConfig { min_kid_refresh: Duration::MAX, ..config },
            http: reqwest::Client::builder().build().map_err(JwksError::Client)?,
            keys: RwLock::new(Arc::new(parse_jwks(jwks)?)),
            kid_refresh: tokio::sync::Mutex::new(Some(Instant::now())),
            fetches: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

/// The usable keys of a JWKS document. Keys are parsed one by one: a key this gateway cannot
/// use (an encryption key, an algorithm the parser does not know) is skipped, not a reason to
/// refuse them all.
fn parse_jwks(body: &[u8]) -> Result<Keys, JwksError> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document = serde_json::from_slice(body)?;
    Ok(document.keys.into_iter().filter_map(usable_key).collect())
}

/// A JWK this gateway verifies tokens with: a signing key with a `kid`, RSA (≥ 2048 bits) for
/// RS256 or P-256 for ES256, whose own `alg`, if any, is that one.
fn usable_key(value: serde_json::Value) -> Option<(String, Arc<Key>)> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    let kid = jwk.common.key_id.clone()?;
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return None;
    }
    let (alg, key_alg) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        _ => return None,
    };
    if jwk.common.key_algorithm.is_some_and(|a| a != key_alg) {
        return None;
    }
    let decoding = DecodingKey::from_jwk(&jwk).ok()?;
    if let DecodingKeyKind::RsaModulusExponent { n, .. } = decoding.kind() {
        let bits = n.iter().position(|b| *b != 0).map_or(0, |first| (n.len() - first) * 8);
        if bits < MIN_RSA_BITS {
            tracing::warn!(kid, bits, "JWKS key skipped: RSA modulus too small");
            return None;
        }
    }
    Some((kid, Arc::new(Key { alg, decoding })))
}

async fn refresh_periodically(verifier: Weak<JwtVerifier>, every: Duration) {
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(verifier) = verifier.upgrade() else { return };
        verifier.refresh().await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn accepted(config: &JwtConfig, claims: serde_json::Value) -> bool {
        config.accepts(&serde_json::from_value(claims).unwrap(), NOW)
    }

    #[test]
    fn a_token_lives_at_most_the_max_lifetime_and_is_not_issued_in_the_future() {
        let config = JwtConfig { max_lifetime: Duration::from_secs(3600), ..JwtConfig::new("https://idp.test/jwks") };
        let cases = [
            (json!({ "iat": NOW, "exp": NOW + 3600 + 30 }), true),
            (json!({ "iat": NOW, "exp": NOW + 3600 + 31 }), false),
            (json!({ "iat": NOW - 3000, "exp": NOW + 630 }), true),
            (json!({ "iat": NOW - 3000, "exp": NOW + 631 }), false),
            (json!({ "iat": NOW + 30, "exp": NOW + 60 }), true),
            (json!({ "iat": NOW + 31, "exp": NOW + 60 }), false),
            // Without `iat`, counted from now.
            (json!({ "exp": NOW + 3630 }), true),
            (json!({ "exp": NOW + 3631 }), false),
            (json!({ "iat": NOW as f64 + 0.5, "exp": NOW as f64 + 3630.5 }), true),
            (json!({ "iat": NOW, "exp": 1e15 }), false),
        ];
        for (claims, ok) in cases {
            assert_eq!(accepted(&config, claims.clone()), ok, "{claims}");
        }
    }

    #[test]
    fn authorized_parties_and_sessions() {
        let token = |extra: serde_json::Value| {
            let mut claims = json!({ "iat": NOW, "exp": NOW + 60 });
            claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            claims
        };
        let any = JwtConfig::new("https://idp.test/jwks");
        assert!(accepted(&any, token(json!({}))));
        let parties = JwtConfig {
            authorized_parties: vec!["https://app.example.com".into(), "http://localhost:3000".into()],
            ..any.clone()
        };
        assert!(accepted(&parties, token(json!({ "azp": "https://app.example.com" }))));
        assert!(accepted(&parties, token(json!({ "azp": "http://localhost:3000" }))));
        for refused in
            [json!({ "azp": "https://evil.example" }), json!({ "azp": "https://app.example.com/" }), json!({})]
        {
            assert!(!accepted(&parties, token(refused.clone())), "{refused}");
        }
        let sessions = JwtConfig { require_session: true, ..any };
        assert!(accepted(&sessions, token(json!({ "sid": "sess_2abc" }))));
        assert!(!accepted(&sessions, token(json!({ "sid": "" }))));
        assert!(!accepted(&sessions, token(json!({}))));
    }
}
