//! Authorization extractors. The request-context layer resolves who is calling (session
//! cookie or bearer token) once per request; these extractors turn that into a decision, so
//! every handler states in its signature who may call it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::User;
use super::service::ActiveSession;
use crate::error::AppError;
use crate::web::context::RequestCtx;

/// The caller, authenticated.
#[derive(Clone, Debug)]
pub struct Identity {
    pub user: User,
    /// `Some` for a browser session, `None` for an API token.
    pub session: Option<ActiveSession>,
}

fn identity(parts: &Parts) -> Result<Identity, AppError> {
    let ctx = parts
        .extensions
        .get::<RequestCtx>()
        .ok_or(AppError::Unauthenticated)?;
    if ctx.bad_token {
        return Err(AppError::InvalidToken);
    }
    ctx.identity.clone().ok_or(AppError::Unauthenticated)
}

/// Any authenticated user (every role may read every page).
#[derive(Clone, Debug)]
pub struct Authenticated(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        identity(parts).map(Authenticated)
    }
}

/// Declares an extractor that admits only users whose role passes `$check`.
macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $check:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(pub Identity);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = AppError;
            async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
                let id = identity(parts)?;
                if id.user.role.$check() {
                    Ok($name(id))
                } else {
                    Err(AppError::forbidden(
                        "wrong_role",
                        format!("role `{}` may not {}", id.user.role, $what),
                    ))
                }
            }
        }
    };
}

role_extractor!(
    /// Operators and admins: wizards, probes, G1 operations, change requests.
    Operator, may_operate, "run operations"
);
role_extractor!(
    /// Approvers: approve or reject change requests.
    Approver, may_approve, "approve changes"
);
role_extractor!(
    /// Admins: users and settings.
    Admin, may_administer, "administer users and settings"
);

/// A browser session (for logout).
#[derive(Clone, Debug)]
pub struct Session(pub ActiveSession);

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        identity(parts)?.session.map(Session).ok_or_else(|| {
            AppError::bad_request("no_session", "this action needs a browser session")
        })
    }
}
