//! `/incidents`: open incidents first, then recently resolved ones, each linked to its triage
//! wizard and to the component on `/health`; filter by state; the list refreshes itself (htmx).

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::incidents::{self, IncidentRow, IncidentState, ListFilter};
use super::routes::ListQuery;
use crate::auth::extract::Authenticated;
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::context::{RequestCtx, RequestKind};
use crate::web::extract::Query;
use crate::web::page::{Moment, PageCtx, render};

/// How many resolved incidents the unfiltered page shows under the open ones.
const RECENT_RESOLVED: i64 = 50;

/// One row of the incidents table.
pub struct IncidentView {
    pub id: i64,
    pub fingerprint: String,
    pub component: String,
    pub alertname: String,
    pub summary: String,
    pub state: &'static str,
    pub state_key: &'static str,
    pub since: Moment,
    pub ended: Option<Moment>,
    /// `/triage/<runbook>`, percent-encoded; `None` without a component.
    pub runbook_href: Option<String>,
    pub runbook: String,
    /// `/health`, with the component's anchor when the inventory knows it.
    pub health_href: String,
}

/// Percent-encodes one URL path segment (labels are free text).
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn view(app: &AppState, i: &IncidentRow) -> IncidentView {
    let known = app.health.inventory().iter().any(|c| c.name == i.component);
    IncidentView {
        id: i.id,
        fingerprint: i.fingerprint.clone(),
        component: i.component.clone(),
        alertname: i.alertname.clone(),
        summary: i.summary().to_string(),
        state: i.state.as_str(),
        state_key: state_key(i.state),
        since: Moment::from_ms(i.started_at),
        ended: i.ended_at.map(Moment::from_ms),
        runbook_href: i
            .runbook
            .as_deref()
            .map(|r| format!("/triage/{}", path_segment(r))),
        runbook: i.runbook.clone().unwrap_or_default(),
        health_href: if known {
            format!("/health#component-{}", path_segment(&i.component))
        } else {
            "/health".into()
        },
    }
}

/// One section of the page: open or resolved incidents.
pub struct Section {
    /// Element id of the table (`incidents-open`, `incidents-resolved`).
    pub id: &'static str,
    pub heading_key: &'static str,
    pub empty_key: &'static str,
    pub rows: Vec<IncidentView>,
}

/// One option of the state filter.
pub struct StateOption {
    pub value: &'static str,
    pub key: &'static str,
    pub selected: bool,
}

/// The catalogue key of a state's label.
fn state_key(s: IncidentState) -> &'static str {
    match s {
        IncidentState::Open => "incidents.state.open",
        IncidentState::Resolved => "incidents.state.resolved",
    }
}

#[derive(Template)]
#[template(path = "incidents/index.html")]
pub struct IncidentsPage {
    pub ctx: PageCtx,
    pub sections: Vec<Section>,
    /// The state filter (`""`, `open` or `resolved`), kept by the live refresh.
    pub state: &'static str,
    pub states: Vec<StateOption>,
    pub intake_enabled: bool,
}

#[derive(Template)]
#[template(path = "incidents/index.html", block = "list")]
pub struct IncidentsList<'a> {
    pub ctx: &'a PageCtx,
    pub sections: &'a [Section],
    pub state: &'static str,
}

/// `GET /incidents?state=open|resolved` (the `list` block for htmx refreshes).
pub async fn list_incidents(
    State(app): State<AppState>,
    _: Authenticated,
    ctx: PageCtx,
    axum::Extension(req): axum::Extension<RequestCtx>,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let filter = q.filter()?;
    let mut sections = Vec::new();
    for s in IncidentState::ALL {
        if filter.state.is_some_and(|f| f != s) {
            continue;
        }
        let (id, heading_key, empty_key, limit) = match s {
            IncidentState::Open => (
                "incidents-open",
                "incidents.open",
                "incidents.open_empty",
                500,
            ),
            IncidentState::Resolved => (
                "incidents-resolved",
                "incidents.resolved",
                "incidents.resolved_empty",
                if filter.state.is_some() {
                    filter.limit
                } else {
                    RECENT_RESOLVED
                },
            ),
        };
        let f = ListFilter {
            state: Some(s),
            limit,
        };
        let rows = incidents::list(app.store.pool(), &f).await?;
        sections.push(Section {
            id,
            heading_key,
            empty_key,
            rows: rows.iter().map(|i| view(&app, i)).collect(),
        });
    }
    let state = filter.state.map_or("", IncidentState::as_str);
    let page = IncidentsPage {
        sections,
        state,
        states: IncidentState::ALL
            .iter()
            .map(|s| StateOption {
                value: s.as_str(),
                key: state_key(*s),
                selected: filter.state == Some(*s),
            })
            .collect(),
        intake_enabled: !app.config.alerts.webhook_token.expose().is_empty(),
        ctx,
    };
    Ok(if req.kind == RequestKind::Fragment {
        render(&IncidentsList {
            ctx: &page.ctx,
            sections: &page.sections,
            state,
        })
    } else {
        render(&page)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_chosen_at_run_time_exist_in_both_catalogues() {
        let mut keys = vec![
            "incidents.open",
            "incidents.open_empty",
            "incidents.resolved",
            "incidents.resolved_empty",
        ];
        keys.extend(IncidentState::ALL.iter().map(|s| state_key(*s)));
        for lang in [crate::web::i18n::Lang::ZhCn, crate::web::i18n::Lang::En] {
            for key in &keys {
                assert!(lang.catalog().has(key), "{key} in {}", lang.tag());
            }
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("hub-port-5000"), "hub-port-5000");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("组件"), "%E7%BB%84%E4%BB%B6");
    }
}
