//! `AppError`: every way a request can fail, with its status and stable code. Handlers return
//! it; [`crate::web::context`] renders it as an HTML page, an htmx fragment or the JSON error
//! shape, by request kind. Internal errors are logged once there and never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No (valid) session or token.
    #[error("authentication required")]
    Unauthenticated,
    /// A bearer token that matches nothing.
    #[error("invalid API token")]
    InvalidToken,
    /// Authenticated but not allowed; `code` is e.g. `forbidden`, `wrong_role`, `csrf_failed`.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_s: i64 },
    #[error("{0}")]
    Unavailable(String),
    /// An external database or cluster the action needs is not configured.
    #[error("target `{0}` is not configured")]
    TargetNotConfigured(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl AppError {
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated | AppError::InvalidToken => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::TargetNotConfigured(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable snake_case code of the JSON error shape.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::InvalidToken => "invalid_token",
            AppError::Forbidden { code, .. }
            | AppError::BadRequest { code, .. }
            | AppError::Conflict { code, .. } => code,
            AppError::NotFound => "not_found",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Unavailable(_) => "unavailable",
            AppError::TargetNotConfigured(_) => "target_not_configured",
            AppError::Internal(_) => "internal",
        }
    }

    /// Text safe to show: never the internal cause.
    pub fn public_message(&self) -> Option<String> {
        match self {
            AppError::Forbidden { message, .. }
            | AppError::BadRequest { message, .. }
            | AppError::Conflict { message, .. }
            | AppError::TooManyRequests { message, .. } => Some(message.clone()),
            AppError::Unavailable(m) => Some(m.clone()),
            AppError::TargetNotConfigured(t) => Some(format!(
                "target `{t}` is not configured: set [targets.{t}] url = \"mysql://user:password@host:3306/database\" in the configuration (or LHC_OPS_TARGETS__{}__URL)",
                t.to_ascii_uppercase()
            )),
            _ => None,
        }
    }
}

/// What the rendering layer needs to turn a failed response into a page, fragment or JSON.
#[derive(Clone, Debug)]
pub struct ErrorReport {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Option<String>,
    pub retry_after_s: Option<i64>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(e) = &self {
            tracing::error!(error.message = %format!("{e:#}"), "internal error while serving a request");
        }
        let report = ErrorReport {
            status: self.status_code(),
            code: self.code(),
            message: self.public_message(),
            retry_after_s: match &self {
                AppError::TooManyRequests { retry_after_s, .. } => Some(*retry_after_s),
                _ => None,
            },
        };
        // The JSON shape is the fallback body; the context layer re-renders pages and fragments.
        let message = report.message.clone().unwrap_or_else(|| match &self {
            AppError::Internal(_) => "internal error; the cause has been logged".to_string(),
            other => other.to_string(),
        });
        let body = serde_json::json!({"error": {"code": report.code, "message": message}});
        let mut resp = (report.status, axum::Json(body)).into_response();
        resp.extensions_mut().insert(report);
        resp
    }
}

pub type AppResult<T> = Result<T, AppError>;
