//! Static assets, compiled into the binary so the console runs from any directory: the
//! stylesheet, the small progressive-enhancement script, and vendored htmx with its licence.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// The vendored htmx version (npm package `htmx.org`).
pub const HTMX_VERSION: &str = "2.0.11";

/// (path under /static/, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "css/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/css/app.css"),
    ),
    (
        "js/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/js/app.js"),
    ),
    (
        "vendor/htmx-2.0.11.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/vendor/htmx-2.0.11.min.js"),
    ),
    (
        "vendor/htmx-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../static/vendor/htmx-LICENSE.txt"),
    ),
];

/// `GET /static/{*path}`.
pub async fn serve_static(Path(path): Path<String>) -> Result<Response, AppError> {
    let (_, mime, bytes) = FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .ok_or(AppError::NotFound)?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(resp)
}
