//! `/api/v1/search`: one box that finds contacts (name, email, phone), messages and notes. Every
//! query word must start a word of what it finds (accents and case ignored); agents find only
//! messages and conversation notes of channels they may see.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::ids::MessageId;
use parley_core::search::SearchTerms;
use parley_store::{ContactQuery, MessageHit, NoteHit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, list_limit};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(search_messages))
}

const DEFAULT_LIMIT: u32 = 20;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to find: words (each matches the start of a word), or a phone number's digits.
    q: String,
    /// Hits of each kind, 1 to 100; 20 by default.
    limit: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageSearchParams {
    q: String,
    /// 1 to 100; 20 by default.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HitPage<T> {
    items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    /// Contacts, newest first; more with `GET /contacts?q=`.
    #[schema(value_type = Object)]
    contacts: HitPage<parley_core::contact::Contact>,
    /// Messages, newest first; more with `GET /search/messages`.
    #[schema(value_type = Object)]
    messages: HitPage<MessageHit>,
    /// Notes on conversations and contacts, newest first.
    #[schema(value_type = Vec<Object>)]
    notes: Vec<NoteHit>,
}

/// A query as the stores run it, or 422 `invalid_query` saying why not.
pub fn terms(q: &str) -> ApiResult<SearchTerms> {
    SearchTerms::parse(q)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", e.to_string()).with_field("q"))
}

fn limit(limit: Option<u32>) -> ApiResult<u32> {
    list_limit(limit, DEFAULT_LIMIT, 100)
}

/// Search contacts, messages and notes at once.
#[utoipa::path(get, path = "/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResults),
        (status = 422, body = ErrorBody, description = "`invalid_query`: nothing to search for, or too short")),
    security(("bearer" = [])))]
async fn search(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let terms = terms(&params.q)?;
    let limit = limit(params.limit)?;
    let ws = auth.workspace_id;
    let contacts =
        state.store.contacts(ws, &ContactQuery { q: Some(params.q.clone()), tag: None, limit, before: None }).await?;
    let messages = state.store.search_messages(ws, &terms, auth.viewer(), None, limit).await?;
    let notes = state.store.search_notes(ws, &terms, auth.viewer(), limit).await?;
    Ok(Json(SearchResults {
        contacts: HitPage { items: contacts.items, next_cursor: contacts.next_cursor },
        messages: HitPage { items: messages.items, next_cursor: messages.next_cursor },
        notes,
    }))
}

/// Search messages, newest first, a page at a time.
#[utoipa::path(get, path = "/search/messages", tag = "search", params(MessageSearchParams),
    responses((status = 200, body = Object),
        (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn search_messages(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<MessageSearchParams>,
) -> ApiResult<Json<HitPage<MessageHit>>> {
    let terms = terms(&params.q)?;
    let limit = limit(params.limit)?;
    let before = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(MessageId(
            c.parse::<i64>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| ApiError::bad_request("bad cursor").with_field("cursor"))?,
        )),
    };
    let page = state.store.search_messages(auth.workspace_id, &terms, auth.viewer(), before, limit).await?;
    Ok(Json(HitPage { items: page.items, next_cursor: page.next_cursor }))
}
