//! The server's one error type, and how each case maps to a stable protocol code and an HTTP status.

use crate::auth::TokenError;
use crate::domain::DomainError;
use crate::store::StoreError;
use actix_web::http::StatusCode;
use makeroom_protocol::{ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A refusal decided at the boundary (wrong request, limits), with its code.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String, retry_after_ms: Option<u64> },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A broken name from a client (joining, adding a display) is refused like any broken domain text.
impl From<makeroom_protocol::roster::NameError> for AppError {
    fn from(err: makeroom_protocol::roster::NameError) -> Self {
        AppError::Domain(err.into())
    }
}

impl AppError {
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::Refused { code, message: message.into(), retry_after_ms: None }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Domain(DomainError::Invalid(_)) => ErrorCode::BadRequest,
            AppError::Domain(DomainError::NotFound(_)) => ErrorCode::NotFound,
            AppError::Domain(DomainError::Conflict(_)) => ErrorCode::Conflict,
            AppError::Domain(DomainError::Forbidden(_)) => ErrorCode::Forbidden,
            AppError::Token(err) => err.code(),
            AppError::Store(StoreError::Conflict { .. }) => ErrorCode::Conflict,
            AppError::Store(StoreError::Unavailable(_)) => ErrorCode::Unavailable,
            AppError::Store(StoreError::Unexpected(_)) => ErrorCode::Internal,
            AppError::Refused { code, .. } => *code,
            // A store failure deep inside (catching up a log, loading a board) is still a store
            // failure: retryable, not a bug.
            AppError::Unexpected(err) => match err.downcast_ref::<StoreError>() {
                Some(StoreError::Unavailable(_)) => ErrorCode::Unavailable,
                Some(StoreError::Conflict { .. }) => ErrorCode::Conflict,
                _ => ErrorCode::Internal,
            },
        }
    }

    /// What the client is told. Internal details stay in the logs.
    pub fn body(&self) -> ErrorBody {
        let code = self.code();
        let message = match code {
            ErrorCode::Internal => "something went wrong on the server; it has been logged".to_string(),
            _ => self.to_string(),
        };
        let retry_after_ms = match self {
            AppError::Refused { retry_after_ms, .. } => *retry_after_ms,
            AppError::Store(StoreError::Unavailable(_)) => Some(1000),
            AppError::Unexpected(_) if code == ErrorCode::Unavailable => Some(1000),
            _ => None,
        };
        ErrorBody { code, message, retry_after_ms, reference: None }
    }

    pub fn status(&self) -> StatusCode {
        match self.code() {
            ErrorCode::BadRequest | ErrorCode::UnknownOp | ErrorCode::UnsupportedVersion => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized | ErrorCode::TokenExpired => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Logs what the client is not told.
    pub fn log_if_internal(&self, context: &str) {
        if self.code() == ErrorCode::Internal || self.code() == ErrorCode::Unavailable {
            tracing::error!(context, error = format!("{self:#}"), "request failed");
        }
    }
}

impl actix_web::ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.log_if_internal("http");
        actix_web::HttpResponse::build(self.status()).json(serde_json::json!({ "error": self.body() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_store_outage_wrapped_in_context_is_still_unavailable() {
        let outage: Result<(), StoreError> = Err(StoreError::Unavailable("Redis: connection refused".into()));
        let wrapped = AppError::from(outage.context("catching up the board").expect_err("fails"));
        assert_eq!(wrapped.code(), ErrorCode::Unavailable);
        assert_eq!(wrapped.body().retry_after_ms, Some(1000));
        let bug = AppError::from(anyhow::anyhow!("a bug"));
        assert_eq!(bug.code(), ErrorCode::Internal);
    }
}
