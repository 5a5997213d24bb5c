//! The page for each way the connect flow can end on authlink: [`stop_page`]'s table is the only
//! place the flow's statuses and their wording keys live; [`connected_page`] is the success page
//! of a link without a callback URL.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::Response,
};

use super::{View, escape, page};
use crate::service::connect::Stop;

/// The status and page of `stop`, in the view's language. The technical reason some stops carry
/// (from the provider or the configuration, in English) is shown under the translated text,
/// marked `lang="en"`.
pub fn stop_page(stop: Stop, view: &View) -> Response {
    const SIGN_IN: &str = "stop.sign_in.title";
    let bad = StatusCode::BAD_REQUEST;
    let (status, title, body, detail): (StatusCode, &str, &str, Option<String>) = match stop {
        Stop::LinkNotFound => (StatusCode::NOT_FOUND, "stop.not_found.title", "stop.not_found.body", None),
        Stop::LinkExpired => (StatusCode::GONE, "stop.expired.title", "stop.expired.body", None),
        Stop::LinkUsed => (StatusCode::GONE, "stop.used.title", "stop.used.body", None),
        Stop::CannotStart(reason) => (bad, "stop.cannot_start.title", "stop.cannot_start.body", Some(reason)),
        Stop::MissingState => (bad, SIGN_IN, "stop.missing_state.body", None),
        Stop::UnknownState => (bad, SIGN_IN, "stop.unknown_state.body", None),
        Stop::StateUsed => (bad, SIGN_IN, "stop.state_used.body", None),
        Stop::StateExpired => (bad, SIGN_IN, "stop.state_expired.body", None),
        Stop::ForeignBrowser => (bad, SIGN_IN, "stop.foreign_browser.body", None),
        Stop::ConnectionGone => (bad, SIGN_IN, "stop.connection_gone.body", None),
        Stop::WrongCallback => (bad, SIGN_IN, "stop.wrong_callback.body", None),
        Stop::BadAttempt(reason) => (bad, SIGN_IN, "stop.bad_attempt.body", Some(reason)),
        Stop::Failed(reason) => (bad, "stop.failed.title", "stop.failed.body", Some(reason)),
        Stop::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "stop.unavailable.title", "stop.unavailable.body", None),
        Stop::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "stop.internal.title", "stop.internal.body", None),
    };
    let title = view.t(title);
    let detail = detail
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            format!(
                "<p class=\"detail\">{}: <span lang=\"en\">{}</span></p>",
                escape(view.t("stop.detail")),
                escape(&d)
            )
        })
        .unwrap_or_default();
    let html = format!("<h1>{}</h1><p>{}</p>{detail}", escape(title), escape(view.t(body)));
    let mut response = page(status, view, title, &html);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(crate::error::RETRY_AFTER_SECS));
    }
    response
}

/// "Your {provider} account is connected": the end of a link without a callback URL to return to.
pub fn connected_page(view: &View, provider: &str) -> Response {
    page(
        StatusCode::OK,
        view,
        view.t("connected.title"),
        &format!(
            "<h1>{}</h1><p>{}</p>",
            view.html("connected.heading", &[("provider", &escape(provider))]),
            view.html("connected.body", &[])
        ),
    )
}
