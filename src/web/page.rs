//! Page scaffolding shared by every template: the layout context (language, user, CSRF token,
//! navigation), the error page, and rendering.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};

use crate::auth::{Role, User};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::context::RequestCtx;
use crate::web::i18n::{Catalog, Lang};

/// One navigation link.
#[derive(Clone, Debug)]
pub struct NavItem {
    pub href: &'static str,
    pub key: &'static str,
    pub active: bool,
}

/// Navigation groups: (group key, links). Every page of DESIGN §5 is reachable from here.
const NAV: &[(&str, &[(&str, &str)])] = &[
    (
        "nav.group.overview",
        &[
            ("/", "nav.dashboard"),
            ("/health", "nav.health"),
            ("/incidents", "nav.incidents"),
        ],
    ),
    (
        "nav.group.repair",
        &[
            ("/triage", "nav.triage"),
            ("/mutex", "nav.mutex"),
            ("/plans", "nav.plans"),
            ("/changes", "nav.changes"),
        ],
    ),
    (
        "nav.group.federation",
        &[("/fed", "nav.fed"), ("/fed/clusters", "nav.fed_clusters")],
    ),
    (
        "nav.group.platform",
        &[
            ("/hub/migrations", "nav.hub_migrations"),
            ("/aks/build-config", "nav.aks_build_config"),
        ],
    ),
    (
        "nav.group.kb",
        &[
            ("/kb/error-codes", "nav.kb_error_codes"),
            ("/kb/logs", "nav.kb_logs"),
            ("/kb/glossary", "nav.kb_glossary"),
        ],
    ),
    (
        "nav.group.governance",
        &[("/audit", "nav.audit"), ("/admin/users", "nav.admin_users")],
    ),
];

/// A navigation group.
#[derive(Clone, Debug)]
pub struct NavGroup {
    pub key: &'static str,
    pub items: Vec<NavItem>,
}

/// What `_layout.html` needs.
#[derive(Clone, Debug)]
pub struct PageCtx {
    pub lang: Lang,
    pub catalog: &'static Catalog,
    pub user: Option<User>,
    /// The session's CSRF token; empty without a session.
    pub csrf: String,
    pub path: String,
    pub nav: Vec<NavGroup>,
    /// Break-glass changes whose retroactive review is overdue (shown on every page).
    pub overdue_reviews: usize,
}

impl PageCtx {
    pub fn new(_app: &AppState, ctx: &RequestCtx) -> PageCtx {
        let user = ctx.identity.as_ref().map(|i| i.user.clone());
        let csrf = ctx
            .identity
            .as_ref()
            .and_then(|i| i.session.as_ref())
            .map(|s| s.csrf_token.clone())
            .unwrap_or_default();
        let is_admin = user.as_ref().is_some_and(|u| u.role == Role::Admin);
        let nav = if user.is_none() {
            Vec::new()
        } else {
            NAV.iter()
                .map(|(key, links)| NavGroup {
                    key,
                    items: links
                        .iter()
                        .filter(|(href, _)| *href != "/admin/users" || is_admin)
                        .map(|(href, key)| NavItem {
                            href,
                            key,
                            active: is_active(href, &ctx.path),
                        })
                        .collect(),
                })
                .collect()
        };
        PageCtx {
            lang: ctx.lang,
            catalog: ctx.lang.catalog(),
            user,
            csrf,
            path: ctx.path.clone(),
            nav,
            overdue_reviews: 0,
        }
    }

    /// Catalogue lookup for templates: `{{ ctx.t("nav.health") }}`.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.catalog.t(key)
    }

    /// Catalogue lookup with one `{name}` placeholder filled.
    pub fn fmt1(&self, key: &str, name: &str, value: impl std::fmt::Display) -> String {
        self.catalog.fmt(key, &[(name, &value.to_string())])
    }

    /// Catalogue lookup with two placeholders filled.
    pub fn fmt2(
        &self,
        key: &str,
        a: &str,
        a_value: impl std::fmt::Display,
        b: &str,
        b_value: impl std::fmt::Display,
    ) -> String {
        self.catalog
            .fmt(key, &[(a, &a_value.to_string()), (b, &b_value.to_string())])
    }

    /// The current page in the other language.
    pub fn lang_switch_href(&self) -> String {
        format!("{}?lang={}", self.path, self.lang.other().tag())
    }

    pub fn role_label(&self, role: &Role) -> &str {
        self.catalog.t(match role {
            Role::Viewer => "role.viewer",
            Role::Operator => "role.operator",
            Role::Approver => "role.approver",
            Role::Admin => "role.admin",
        })
    }

    /// The label of a change state (`pending`, `in_doubt`, …).
    pub fn state_label<'a>(&'a self, state: &'a str) -> &'a str {
        self.catalog.t(match state {
            "pending" => "state.pending",
            "approved" => "state.approved",
            "rejected" => "state.rejected",
            "withdrawn" => "state.withdrawn",
            "expired" => "state.expired",
            "executing" => "state.executing",
            "executed" => "state.executed",
            "failed" => "state.failed",
            "in_doubt" => "state.in_doubt",
            other => other,
        })
    }

    /// The label of a health status (`up`, `degraded`, `down`, `unknown`).
    pub fn health_label<'a>(&'a self, status: &'a str) -> &'a str {
        self.catalog.t(match status {
            "up" => "health.status.up",
            "degraded" => "health.status.degraded",
            "down" => "health.status.down",
            _ => "health.status.unknown",
        })
    }

    /// The label of a break-glass review state.
    pub fn review_label(&self, review: &Option<crate::changes::model::Review>) -> &str {
        use crate::changes::model::Review;
        self.catalog.t(match review {
            Some(Review::Approved) => "review.approved",
            Some(Review::Rejected) => "review.rejected",
            _ => "review.pending",
        })
    }

    /// The label of an approval decision (`approve` / `reject`).
    pub fn decision_label(&self, decision: &str) -> &str {
        self.catalog.t(if decision == "reject" {
            "decision.reject"
        } else {
            "decision.approve"
        })
    }

    pub fn org_label(&self, org: &crate::auth::Org) -> &str {
        self.catalog.t(match org {
            crate::auth::Org::Site => "org.site",
            crate::auth::Org::Product => "org.product",
            crate::auth::Org::Customer => "org.customer",
        })
    }
}

fn is_active(href: &str, path: &str) -> bool {
    if href == "/" {
        path == "/"
    } else {
        path == href || path.starts_with(&format!("{href}/")) && href != "/fed"
    }
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, AppError> {
        let ctx = parts
            .extensions
            .get::<RequestCtx>()
            .ok_or(AppError::Unauthenticated)?;
        let mut page = PageCtx::new(app, ctx);
        if page.user.is_some() {
            let now = crate::store::now_ms();
            page.overdue_reviews =
                crate::store::changes::overdue_reviews(app.store.pool(), None, now)
                    .await?
                    .len();
        }
        Ok(page)
    }
}

/// Renders a template to an HTML response; a template error is an internal error.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            AppError::Internal(anyhow::anyhow!("template rendering failed: {e}")).into_response()
        }
    }
}

/// The full error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub ctx: PageCtx,
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

/// The same error as an htmx fragment (the `content` block of `error.html`).
#[derive(Template)]
#[template(path = "error.html", block = "content")]
pub struct ErrorFragment<'a> {
    pub ctx: &'a PageCtx,
    pub status: u16,
    pub code: &'static str,
    pub message: &'a str,
}

impl ErrorPage {
    pub fn new(ctx: PageCtx, status: StatusCode, code: &'static str, message: String) -> ErrorPage {
        ErrorPage {
            ctx,
            status: status.as_u16(),
            code,
            message,
        }
    }

    pub fn fragment(&self) -> ErrorFragment<'_> {
        ErrorFragment {
            ctx: &self.ctx,
            status: self.status,
            code: self.code,
            message: &self.message,
        }
    }
}

/// A time for display: ISO value for `<time datetime>`, and UTC text (the browser shows local).
#[derive(Clone, Debug)]
pub struct Moment {
    pub iso: String,
    pub utc: String,
}

impl Moment {
    pub fn from_ms(ms: i64) -> Moment {
        let iso = crate::store::format_ms(ms);
        let utc = format!("{} {} UTC", &iso[..10], &iso[11..19]);
        Moment { iso, utc }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nav_marks_the_current_section() {
        assert!(is_active("/", "/"));
        assert!(!is_active("/", "/health"));
        assert!(is_active("/changes", "/changes/12"));
        assert!(is_active("/fed/clusters", "/fed/clusters"));
        assert!(!is_active("/fed", "/fed/clusters"));
        assert_eq!(Moment::from_ms(0).utc, "1970-01-01 00:00:00 UTC");
    }
}
