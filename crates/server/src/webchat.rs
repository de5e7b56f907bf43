//! The web chat at `/`: one HTML page with its styles and script inside (no CDN, nothing else
//! to fetch), a client of `/v1/conversations` and the session file endpoints.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("../web/index.html");

/// What the page may do: talk to this server, show images from data URLs, run its own inline
/// script; HTML that a cell displayed is shown in sandboxed frames without scripts.
const CSP: &str = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'";

pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PAGE,
    )
}
