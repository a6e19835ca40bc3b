//! Login, logout, `/api/v1/me` and user administration (`/admin/users`).

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::extract::{Admin, Authenticated, Session};
use super::service::{self, LoginOutcome, UserError};
use super::{Org, Role, User};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::users;
use crate::web::context::{RequestCtx, clear_session_cookie, session_cookie};
use crate::web::extract::{Form, Query};
use crate::web::page::{PageCtx, render};

#[derive(Template)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub ctx: PageCtx,
    pub next: String,
    pub username: String,
    /// Catalogue key of the error to show, if any.
    pub error_key: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    pub next: String,
}

/// Only local paths are followed after login (no open redirect).
fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.starts_with("/login");
    if ok { next.to_string() } else { "/".into() }
}

/// `GET /login`.
pub async fn show_login(ctx: PageCtx, Query(q): Query<NextQuery>) -> Response {
    if ctx.user.is_some() {
        return Redirect::to(&safe_next(&q.next)).into_response();
    }
    render(&LoginPage {
        ctx,
        next: safe_next(&q.next),
        username: String::new(),
        error_key: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub next: String,
}

/// `POST /login`: form fields `username`, `password` (PINNED), optional `next`.
pub async fn submit_login(
    State(app): State<AppState>,
    ctx: PageCtx,
    axum::Extension(req): axum::Extension<RequestCtx>,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let next = safe_next(&form.next);
    let outcome = service::login(
        &app.store,
        app.session_policy(),
        &form.username,
        &form.password,
        &req.address,
    )
    .await?;
    let page = |ctx, key, status: StatusCode| {
        let mut r = render(&LoginPage {
            ctx,
            next: next.clone(),
            username: form.username.clone(),
            error_key: Some(key),
        });
        *r.status_mut() = status;
        r
    };
    Ok(match outcome {
        LoginOutcome::LoggedIn { cookie_value, user } => {
            tracing::info!(user.name = %user.name, client.address = %req.address, "login succeeded");
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                session_cookie(&cookie_value, app.secure_cookies()),
            );
            r
        }
        LoginOutcome::BadCredentials => {
            tracing::info!(user.name = %form.username, client.address = %req.address, "login failed");
            page(ctx, "login.error.bad_credentials", StatusCode::UNAUTHORIZED)
        }
        LoginOutcome::Throttled { retry_after_s } => {
            tracing::warn!(user.name = %form.username, client.address = %req.address, "login throttled");
            let mut r = page(ctx, "login.error.throttled", StatusCode::TOO_MANY_REQUESTS);
            if let Ok(v) = retry_after_s.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    })
}

/// `POST /logout` (CSRF-checked like every state change).
pub async fn submit_logout(
    State(app): State<AppState>,
    Session(session): Session,
) -> AppResult<Response> {
    service::logout(&app.store, &session).await?;
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        clear_session_cookie(app.secure_cookies()),
    );
    Ok(r)
}

/// `GET /api/v1/me`.
pub async fn show_me(Authenticated(id): Authenticated) -> Json<User> {
    Json(id.user)
}

#[derive(Template)]
#[template(path = "auth/users.html")]
pub struct UsersPage {
    pub ctx: PageCtx,
    pub users: Vec<User>,
    pub roles: [Role; 4],
    pub orgs: [Org; 3],
    /// A message after a submission: (is_error, text).
    pub notice: Option<(bool, String)>,
    pub form: NewUserForm,
}

#[derive(Debug, Default, Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub emergency: Option<String>,
    #[serde(default)]
    pub password: String,
}

async fn users_page(
    app: &AppState,
    ctx: PageCtx,
    notice: Option<(bool, String)>,
    form: NewUserForm,
) -> AppResult<UsersPage> {
    let users = users::list(app.store.pool())
        .await?
        .into_iter()
        .map(|r| r.user)
        .collect();
    Ok(UsersPage {
        ctx,
        users,
        roles: Role::ALL,
        orgs: Org::ALL,
        notice,
        form,
    })
}

/// `GET /admin/users`.
pub async fn list_users(
    State(app): State<AppState>,
    _: Admin,
    ctx: PageCtx,
) -> AppResult<Response> {
    Ok(render(
        &users_page(&app, ctx, None, NewUserForm::default()).await?,
    ))
}

/// `POST /admin/users`: creates a user with the password the admin typed.
pub async fn create_user(
    State(app): State<AppState>,
    Admin(admin): Admin,
    ctx: PageCtx,
    Form(form): Form<NewUserForm>,
) -> AppResult<Response> {
    let t = ctx.catalog;
    let (Some(role), Some(org)) = (Role::parse(&form.role), Org::parse(&form.org)) else {
        let page = users_page(
            &app,
            ctx,
            Some((true, t.t("users.error.role_org").to_string())),
            form,
        )
        .await?;
        return Ok((StatusCode::BAD_REQUEST, render(&page)).into_response());
    };
    let emergency = form.emergency.is_some();
    match service::add_user(
        &app.store,
        &admin.user.name,
        form.name.trim(),
        role,
        org,
        emergency,
        &form.password,
    )
    .await
    {
        Ok(user) => {
            let msg = t.fmt("users.created", &[("name", &user.name)]);
            Ok(render(
                &users_page(&app, ctx, Some((false, msg)), NewUserForm::default()).await?,
            ))
        }
        Err(UserError::Store(e)) => Err(AppError::from(e)),
        Err(e) => {
            let status = if matches!(e, UserError::Exists(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let keep = NewUserForm {
                password: String::new(),
                ..form
            };
            let page = users_page(&app, ctx, Some((true, e.to_string())), keep).await?;
            Ok((status, render(&page)).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next("/audit?actor=x"), "/audit?actor=x");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "",
            "javascript:alert(1)",
            "/login",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad}");
        }
    }
}
