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
    #[error("this is a {0:?} token; a {1:?} token is needed here")]
    WrongKind(TokenKind, TokenKind),
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
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).context("signing a token")?;
        Ok((token, claims.exp as Millis * 1000))
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

/// The signing secret: the configured one, or one generated on first start and kept (mode 0600) in
/// the data folder, so tokens stay valid across restarts.
pub fn load_or_create_secret(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        anyhow::ensure!(secret.len() >= 32, "MAKEROOM_JWT_SECRET must be at least 32 characters");
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt-secret");
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

    #[test]
    fn the_generated_secret_is_kept_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create_secret(None, dir.path()).expect("create");
        let again = load_or_create_secret(None, dir.path()).expect("reuse");
        assert_eq!(first, again);
        assert!(load_or_create_secret(Some("short"), dir.path()).is_err());
    }
}
