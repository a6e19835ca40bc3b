//! The request-context layer, run once per request before routing:
//! 1. works out the request kind (API, htmx fragment, page) and the UI language;
//! 2. resolves the caller from `Authorization: Bearer` or the session cookie;
//! 3. enforces CSRF on every state-changing request authenticated by a session cookie;
//! 4. after the handler, renders an [`ErrorReport`] as JSON, an htmx fragment or a full page.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::auth::extract::Identity;
use crate::auth::service;
use crate::error::{AppError, ErrorReport};
use crate::state::AppState;
use crate::web::i18n::Lang;
use crate::web::page::{ErrorPage, PageCtx, render};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "lhc_session";
/// Name of the language cookie.
pub const LANG_COOKIE: &str = "lhc_lang";
/// Header htmx sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Form field forms send the CSRF token in (PINNED).
pub const CSRF_FIELD: &str = "csrf_token";
/// Largest form body the CSRF check buffers.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// How the response should be shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Api,
    Fragment,
    Page,
}

/// Everything later layers and extractors need to know about the request.
#[derive(Clone, Debug)]
pub struct RequestCtx {
    pub kind: RequestKind,
    pub lang: Lang,
    pub identity: Option<Identity>,
    /// A bearer token was sent and matched nothing.
    pub bad_token: bool,
    pub path: String,
    /// The peer address (for throttling and audit).
    pub address: String,
}

fn request_kind(path: &str, headers: &HeaderMap) -> RequestKind {
    if path.starts_with("/api/") {
        RequestKind::Api
    } else if headers.get("hx-request").is_some_and(|v| v == "true") {
        RequestKind::Fragment
    } else {
        RequestKind::Page
    }
}

/// `?lang=` wins (and is remembered in a cookie), then the cookie, then zh-CN.
fn language(query: Option<&str>, jar: &CookieJar) -> (Lang, Option<Lang>) {
    let from_query = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| Lang::parse(&v))
    });
    if let Some(l) = from_query {
        return (l, Some(l));
    }
    let from_cookie = jar.get(LANG_COOKIE).and_then(|c| Lang::parse(c.value()));
    (from_cookie.unwrap_or_default(), None)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The peer's IP address (from the listener, or the mock tests install).
fn peer_address(req: &Request) -> String {
    let ext = req.extensions();
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| ext.get::<MockConnectInfo<SocketAddr>>().map(|m| m.0))
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware itself.
pub async fn request_context(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let kind = request_kind(&path, req.headers());
    let jar = CookieJar::from_headers(req.headers());
    let (lang, remember_lang) = language(req.uri().query(), &jar);
    let address = peer_address(&req);
    let mut ctx = RequestCtx {
        kind,
        lang,
        identity: None,
        bad_token: false,
        path,
        address,
    };

    let policy = app.session_policy();
    let resolved = match bearer(req.headers()) {
        Some(token) => service::resolve_token(&app.store, token)
            .await
            .map(|u| match u {
                Some(user) => Some(Identity {
                    user,
                    session: None,
                }),
                None => {
                    ctx.bad_token = true;
                    None
                }
            }),
        None => match jar.get(SESSION_COOKIE) {
            Some(c) => service::resolve_session(&app.store, policy, c.value())
                .await
                .map(|s| {
                    s.map(|s| Identity {
                        user: s.user.clone(),
                        session: Some(s),
                    })
                }),
            None => Ok(None),
        },
    };
    let resp = match resolved {
        Err(e) => render_error(&app, &ctx, AppError::from(e).into_response()),
        Ok(identity) => {
            ctx.identity = identity;
            match check_csrf(&ctx, req).await {
                Err(e) => render_error(&app, &ctx, e.into_response()),
                Ok(mut req) => {
                    req.extensions_mut().insert(ctx.clone());
                    let resp = next.run(req).await;
                    render_error(&app, &ctx, resp)
                }
            }
        }
    };
    with_lang_cookie(resp, remember_lang)
}

/// Passes the request on when it needs no CSRF token or carries the right one. Form bodies are
/// buffered to read `csrf_token` and handed on unchanged.
async fn check_csrf(ctx: &RequestCtx, req: Request) -> Result<Request, AppError> {
    let Some(session) = ctx.identity.as_ref().and_then(|i| i.session.as_ref()) else {
        return Ok(req);
    };
    if !state_changing(req.method()) || ctx.path == "/login" {
        return Ok(req);
    }
    let expected = session.csrf_token.as_bytes();
    let matches = |given: &[u8]| {
        given.len() == expected.len() && bool::from(subtle::ConstantTimeEq::ct_eq(given, expected))
    };
    if let Some(h) = req.headers().get(CSRF_HEADER) {
        return if matches(h.as_bytes()) {
            Ok(req)
        } else {
            Err(csrf_failed())
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(csrf_failed());
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| AppError::bad_request("body_too_large", "form body is larger than 1 MiB"))?;
    let ok =
        url::form_urlencoded::parse(&bytes).any(|(k, v)| k == CSRF_FIELD && matches(v.as_bytes()));
    if !ok {
        return Err(csrf_failed());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn csrf_failed() -> AppError {
    AppError::forbidden(
        "csrf_failed",
        "missing or wrong CSRF token; reload the page and try again",
    )
}

/// Re-renders failed responses for the request kind; other responses pass unchanged.
fn render_error(app: &AppState, ctx: &RequestCtx, resp: Response) -> Response {
    let Some(report) = resp.extensions().get::<ErrorReport>().cloned() else {
        return resp;
    };
    let t = ctx.lang.catalog();
    let message = report
        .message
        .clone()
        .unwrap_or_else(|| t.t(&format!("error.{}", report.code)).to_string());
    let mut out = match ctx.kind {
        RequestKind::Api => {
            let body = serde_json::json!({"error": {"code": report.code, "message": message}});
            (report.status, axum::Json(body)).into_response()
        }
        RequestKind::Page if report.status == StatusCode::UNAUTHORIZED => {
            let next =
                url::form_urlencoded::byte_serialize(ctx.path.as_bytes()).collect::<String>();
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
        RequestKind::Fragment if report.status == StatusCode::UNAUTHORIZED => {
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.headers_mut()
                .insert("hx-redirect", HeaderValue::from_static("/login"));
            r
        }
        RequestKind::Fragment => {
            let page = ErrorPage::new(PageCtx::new(app, ctx), report.status, report.code, message);
            (report.status, render(&page.fragment())).into_response()
        }
        RequestKind::Page => {
            let page = ErrorPage::new(PageCtx::new(app, ctx), report.status, report.code, message);
            (report.status, render(&page)).into_response()
        }
    };
    if let Some(s) = report.retry_after_s
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        out.headers_mut().insert(header::RETRY_AFTER, v);
    }
    out
}

fn with_lang_cookie(mut resp: Response, lang: Option<Lang>) -> Response {
    if let Some(l) = lang {
        let c = Cookie::build((LANG_COOKIE, l.tag()))
            .path("/")
            .same_site(SameSite::Lax)
            .max_age(time::Duration::days(365))
            .build();
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// The `Set-Cookie` value that starts a session.
pub fn session_cookie(value: &str, secure: bool) -> HeaderValue {
    let c = Cookie::build((SESSION_COOKIE, value.to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build();
    HeaderValue::from_str(&c.to_string()).expect("hex cookie values are valid header text")
}

/// The `Set-Cookie` value that ends a session.
pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    let c = Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&c.to_string()).expect("static cookie text is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_languages_are_detected() {
        let mut h = HeaderMap::new();
        assert_eq!(request_kind("/api/v1/me", &h), RequestKind::Api);
        assert_eq!(request_kind("/audit", &h), RequestKind::Page);
        h.insert("hx-request", HeaderValue::from_static("true"));
        assert_eq!(request_kind("/audit", &h), RequestKind::Fragment);
        let jar = CookieJar::new();
        assert_eq!(language(None, &jar), (Lang::ZhCn, None));
        assert_eq!(
            language(Some("a=1&lang=en"), &jar),
            (Lang::En, Some(Lang::En))
        );
        let jar = jar.add(Cookie::new(LANG_COOKIE, "en"));
        assert_eq!(language(Some("lang=bogus"), &jar), (Lang::En, None));
    }

    #[test]
    fn bearer_tokens_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer lhc_abc"),
        );
        assert_eq!(bearer(&h), Some("lhc_abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(bearer(&h), None);
    }
}
