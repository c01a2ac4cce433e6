//! Tokens: issuing and verifying the JWTs (HS256) that say who a connection is.
//!
//! Two kinds: short-lived *access* tokens, presented by connections and HTTP calls, and longer-lived
//! *refresh* tokens, kept by a phone (or inside an organiser's or display's link) and traded at
//! `POST /api/token` for a fresh access token. Trading checks the roster, so a removed participant
//! gets no new token. Tokens are never logged.

use crate::clock::now_secs;
use crate::ids::new_secret_hex;
use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use makeroom_protocol::{ErrorCode, Millis, Role};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The participant id (organisers and displays have one too).
    pub sub: String,
    /// The event id.
    pub evt: String,
    pub role: Role,
    pub name: String,
    pub typ: TokenKind,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no token was given")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
    #[error("this is {} token; {} token is needed here", .0.described(), .1.described())]
    WrongKind(TokenKind, TokenKind),
}

impl TokenKind {
    /// As a sentence names it: "an access token", "a refresh token".
    fn described(self) -> &'static str {
        match self {
            TokenKind::Access => "an access",
            TokenKind::Refresh => "a refresh",
        }
    }
}

impl TokenError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::Expired => ErrorCode::TokenExpired,
            _ => ErrorCode::Unauthorized,
        }
    }
}

/// Who a token is for, without the token bookkeeping.
pub struct Subject<'a> {
    pub participant: &'a str,
    pub event: &'a str,
    pub role: Role,
    pub name: &'a str,
}

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl_secs: u64,
    organiser_access_ttl_secs: u64,
    refresh_ttl_secs: u64,
}

impl Tokens {
    pub fn new(secret: &[u8], access_ttl_secs: u64, refresh_ttl_secs: u64) -> Self {
        hs256::install();
        let mut validation = Validation::new(Algorithm::HS256);
        // The server checks against its own clock; clients' clocks never enter into it.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl_secs: access_ttl_secs.max(1),
            organiser_access_ttl_secs: access_ttl_secs.max(1),
            refresh_ttl_secs: refresh_ttl_secs.max(1),
        }
    }

    /// Gives organisers' access tokens their own, usually shorter, lifetime: an organiser's laptop
    /// left open on hotel wifi holds power over the whole event.
    pub fn with_organiser_access_ttl(mut self, secs: Option<u64>) -> Self {
        if let Some(secs) = secs {
            self.organiser_access_ttl_secs = secs.max(1);
        }
        self
    }

    /// Signs a token of `kind` for `subject`; returns it with its expiry in milliseconds since the
    /// epoch (the protocol's unit; the JWT itself holds seconds).
    pub fn issue(&self, subject: &Subject, kind: TokenKind) -> anyhow::Result<(String, Millis)> {
        let now = now_secs();
        let ttl = match kind {
            TokenKind::Access if subject.role == Role::Organiser => self.organiser_access_ttl_secs,
            TokenKind::Access => self.access_ttl_secs,
            TokenKind::Refresh => self.refresh_ttl_secs,
        };
        let claims = Claims {
            sub: subject.participant.to_string(),
            evt: subject.event.to_string(),
            role: subject.role,
            name: subject.name.to_string(),
            typ: kind,
            iat: now,
            exp: now + ttl,
        };
        Ok((self.sign(&claims)?, claims.exp as Millis * 1000))
    }

    /// Signs `claims` as they are (`issue` is the usual way; this one is for tests and tools that need
    /// odd claims, such as expired ones).
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).context("signing a token")
    }

    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|err| match err
            .kind()
        {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        // `exp` is checked with a one-second granularity by the library; be exact at the boundary.
        if data.claims.exp <= now_secs() {
            return Err(TokenError::Expired);
        }
        if data.claims.typ != kind {
            return Err(TokenError::WrongKind(data.claims.typ, kind));
        }
        Ok(data.claims)
    }
}

/// HS256 for jsonwebtoken, on the RustCrypto `hmac` and `sha2` crates: the only algorithm Makeroom
/// signs or accepts. jsonwebtoken's own backends bring far more (see the workspace Cargo.toml); this
/// provider makes the same signatures as its `rust_crypto` backend did, so tokens issued before it
/// keep verifying. Any other algorithm is refused (a token's header cannot choose one).
mod hs256 {
    use hmac::{Hmac, KeyInit, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
    use jsonwebtoken::errors::{ErrorKind, Result};
    use jsonwebtoken::signature::{Error as SignatureError, Signer, Verifier};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use sha2::Sha256;

    struct Hs256(Hmac<Sha256>);

    impl Hs256 {
        fn new(algorithm: &Algorithm, secret: &[u8]) -> Result<Self> {
            if *algorithm != Algorithm::HS256 {
                return Err(ErrorKind::InvalidAlgorithm.into());
            }
            Hmac::new_from_slice(secret).map(Hs256).map_err(|_| ErrorKind::InvalidKeyFormat.into())
        }

        fn mac(&self, message: &[u8]) -> Hmac<Sha256> {
            let mut mac = self.0.clone();
            mac.update(message);
            mac
        }
    }

    impl Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, SignatureError> {
            Ok(self.mac(message).finalize().into_bytes().to_vec())
        }
    }

    impl Verifier<Vec<u8>> for Hs256 {
        fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), SignatureError> {
            // `verify_slice` compares in constant time.
            self.mac(message).verify_slice(signature).map_err(|_| SignatureError::new())
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
        Ok(Box::new(Hs256::new(algorithm, key.as_bytes())?))
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
        Ok(Box::new(Hs256::new(algorithm, key.try_get_as_bytes()?)?))
    }

    static PROVIDER: CryptoProvider =
        CryptoProvider { signer_factory: signer, verifier_factory: verifier, key_utils: KeyUtils::new_unimplemented() };

    /// Makes this the process's provider. Idempotent: only the first call installs, and nothing else
    /// in the process installs one.
    pub fn install() {
        let _ = PROVIDER.install_default();
    }
}

/// The file in the data folder that keeps the generated signing secret.
pub const SECRET_FILE: &str = "jwt-secret";

/// The signing secret: the configured one, or one generated on first start and kept in the data
/// folder's `jwt-secret` (mode 0600), so tokens stay valid across restarts. Whoever reads that file
/// can sign tokens for anyone, so a file other users can read is refused rather than used.
pub fn load_or_create_secret(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        anyhow::ensure!(secret.len() >= 32, "MAKEROOM_JWT_SECRET must be at least 32 characters");
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(SECRET_FILE);
    check_private(&path)?;
    match std::fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= 32 => return Ok(secret.trim().as_bytes().to_vec()),
        Ok(_) => anyhow::bail!("{} is too short; delete it to generate a new one", path.display()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    }
    let secret = new_secret_hex();
    write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret.into_bytes())
}

/// Refuses a secret file that users other than its owner can read or write.
#[cfg(unix)]
fn check_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(metadata) => metadata.permissions().mode() & 0o777,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{path} holds the secret that signs every token, and users other than its owner may read it \
         (mode {mode:04o}); run `chmod 600 {path}` and start again (if others may have read it, delete \
         it instead: a new secret is made, and everyone signs in again with new links)",
        path = path.display(),
    );
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject<'static> {
        Subject { participant: "p_1", event: "e_1", role: Role::Participant, name: "Ada" }
    }

    #[test]
    fn a_token_verifies_only_as_its_own_kind() {
        let tokens = Tokens::new(&[7; 32], 60, 600);
        let (access, exp) = tokens.issue(&subject(), TokenKind::Access).expect("issue");
        let claims = tokens.verify(&access, TokenKind::Access).expect("verifies");
        assert_eq!((claims.sub.as_str(), claims.evt.as_str(), claims.exp as Millis * 1000), ("p_1", "e_1", exp));
        assert!(matches!(tokens.verify(&access, TokenKind::Refresh), Err(TokenError::WrongKind(..))));
    }

    #[test]
    fn forged_and_expired_tokens_are_refused_distinctly() {
        let tokens = Tokens::new(&[7; 32], 60, 600);
        let other = Tokens::new(&[8; 32], 60, 600);
        let (forged, _) = other.issue(&subject(), TokenKind::Access).expect("issue");
        assert_eq!(tokens.verify(&forged, TokenKind::Access), Err(TokenError::Invalid));
        assert_eq!(tokens.verify("not.a.jwt", TokenKind::Access), Err(TokenError::Invalid));
        assert_eq!(tokens.verify("", TokenKind::Access), Err(TokenError::Missing));
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "p_1".into(),
                evt: "e_1".into(),
                role: Role::Participant,
                name: "Ada".into(),
                typ: TokenKind::Access,
                iat: 1,
                exp: 2,
            },
            &EncodingKey::from_secret(&[7; 32]),
        )
        .expect("encode");
        assert_eq!(tokens.verify(&expired, TokenKind::Access), Err(TokenError::Expired));
        assert_eq!(TokenError::Expired.code(), ErrorCode::TokenExpired);
    }

    #[test]
    fn organisers_tokens_can_be_shorter_lived() {
        let tokens = Tokens::new(&[7; 32], 3600, 600).with_organiser_access_ttl(Some(300));
        let organiser = Subject { participant: "o_1", event: "e_1", role: Role::Organiser, name: "Host" };
        let (_, organiser_exp) = tokens.issue(&organiser, TokenKind::Access).expect("issue");
        let (_, participant_exp) = tokens.issue(&subject(), TokenKind::Access).expect("issue");
        assert!(participant_exp - organiser_exp >= 3_000_000, "{participant_exp} vs {organiser_exp}");
    }

    /// Tokens signed by the server before its HS256 provider changed (jsonwebtoken 11.1's
    /// `rust_crypto` backend, secret `[7; 32]`, expiring in 2100): they must keep verifying.
    const EARLIER_ACCESS: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwXzEiLCJldnQiOiJlXzEiLCJyb2xlIjoicGFydGljaXBhbnQiLCJuYW1lIjoiQWRhIiwidHlwIjoiYWNjZXNzIiwiaWF0IjoxNzY0NTQ3MjAwLCJleHAiOjQxMDI0NDQ4MDB9.8iaC9e_2xFWmKngYO51t4e5lnO0K4yH0BfAQtwgA7FI";
    const EARLIER_REFRESH: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwXzEiLCJldnQiOiJlXzEiLCJyb2xlIjoicGFydGljaXBhbnQiLCJuYW1lIjoiQWRhIiwidHlwIjoicmVmcmVzaCIsImlhdCI6MTc2NDU0NzIwMCwiZXhwIjo0MTAyNDQ0ODAwfQ.6CV8wQHmN3OOR6p3lF-11FS1mG5bRUPjBZbicaMbYhg";

    #[test]
    fn tokens_signed_before_the_provider_changed_still_verify_and_are_signed_alike() {
        let tokens = Tokens::new(&[7; 32], 60, 600);
        for (token, kind) in [(EARLIER_ACCESS, TokenKind::Access), (EARLIER_REFRESH, TokenKind::Refresh)] {
            let claims = tokens.verify(token, kind).expect("an earlier token verifies");
            assert_eq!((claims.sub.as_str(), claims.evt.as_str(), claims.name.as_str()), ("p_1", "e_1", "Ada"));
            assert_eq!((claims.iat, claims.exp), (1_764_547_200, 4_102_444_800));
            let again =
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&[7; 32]))
                    .expect("encode");
            assert_eq!(again, token, "the same claims are signed to the same bytes");
        }
    }

    #[test]
    fn only_hs256_is_accepted() {
        let tokens = Tokens::new(&[7; 32], 60, 600);
        let (access, _) = tokens.issue(&subject(), TokenKind::Access).expect("issue");
        let (_, claims_and_signature) = access.split_once('.').expect("a JWT");
        // The same claims and signature under headers naming HS512, `none` and RS256 (base64url of
        // `{"typ":"JWT","alg":"..."}`): a token's header cannot choose the algorithm.
        for header in [
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9",
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0",
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9",
        ] {
            let token = format!("{header}.{claims_and_signature}");
            assert_eq!(tokens.verify(&token, TokenKind::Access), Err(TokenError::Invalid), "{header}");
        }
        let other = jsonwebtoken::encode(&Header::new(Algorithm::HS384), &subject().participant, &tokens.encoding);
        assert!(other.is_err(), "signing with another algorithm is refused, not done as HS256");
    }

    #[test]
    fn a_wrong_kind_of_token_is_explained_in_words() {
        let message = TokenError::WrongKind(TokenKind::Refresh, TokenKind::Access).to_string();
        assert_eq!(message, "this is a refresh token; an access token is needed here");
    }

    #[cfg(unix)]
    #[test]
    fn the_generated_secret_is_private_and_a_readable_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        load_or_create_secret(None, dir.path()).expect("create");
        let path = dir.path().join(SECRET_FILE);
        let mode = std::fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let refused = load_or_create_secret(None, dir.path()).expect_err("refused").to_string();
        assert!(refused.contains("chmod 600") && refused.contains("0644"), "{refused}");
    }

    #[test]
    fn the_generated_secret_is_kept_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create_secret(None, dir.path()).expect("create");
        let again = load_or_create_secret(None, dir.path()).expect("reuse");
        assert_eq!(first, again);
        assert!(load_or_create_secret(Some("short"), dir.path()).is_err());
    }
}
