//! `/api/v1/contacts`: create, read, update, delete and search contacts; their tags and notes.
//! A contact is named in the path by its id, `phone:<any format>` or `email:<any case>`.
//!
//! Contacts are the workspace's one contact database: every member sees every contact, whatever
//! channels they may see (PRODUCT.md: visibility is of a channel's conversations). What a private
//! channel's conversations say (messages, notes on conversations) stays with its members.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::contact::{
    Contact, ContactInput, ContactPatch, ContactPatchInput, ContactRef, NewContact, Note, check_note, check_tag,
    check_tags,
};
use parley_core::ids::ContactId;
use parley_store::ContactQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, PathRef, list_limit};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_contact, list_contacts))
        .routes(routes!(get_contact, update_contact, delete_contact))
        .routes(routes!(add_tags))
        .routes(routes!(remove_tag))
        .routes(routes!(add_note, list_notes))
}

const DEFAULT_PAGE: u32 = 50;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Words that start words of the name or email (accents and case ignored), or the start of
    /// the phone's digits with or without the country code.
    q: Option<String>,
    /// Only contacts with this tag.
    tag: Option<String>,
    /// 1 to 200; 50 by default.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactPage {
    items: Vec<Contact>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsInput {
    tags: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    body: String,
}

/// The contact a path names (its form already checked by `PathRef`).
pub(crate) fn contact_ref(auth: &Auth, PathRef(raw): &PathRef) -> ApiResult<ContactRef> {
    Ok(ContactRef::parse(raw, auth.region)?)
}

/// Create a contact.
#[utoipa::path(post, path = "/contacts", tag = "contacts", request_body = ContactInput,
    responses(
        (status = 201, body = Contact),
        (status = 400, body = ErrorBody, description = "malformed body or unknown field (`invalid_request`)"),
        (status = 409, body = ErrorBody, description = "phone or email used by another contact (`identifier_taken`)"),
        (status = 422, body = ErrorBody, description = "`invalid_phone` or `invalid_email`"),
    ),
    security(("bearer" = [])))]
async fn create_contact(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<ContactInput>,
) -> ApiResult<(StatusCode, Json<Contact>)> {
    let contact = NewContact::from_input(input, auth.region)?;
    let created = state.store.create_contact(auth.workspace_id, contact, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Search and list contacts, newest first.
#[utoipa::path(get, path = "/contacts", tag = "contacts", params(ListParams),
    responses((status = 200, body = ContactPage), (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_query`")),
    security(("bearer" = [])))]
async fn list_contacts(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ContactPage>> {
    let before = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(ContactId(
            c.parse::<i64>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| ApiError::bad_request("bad cursor").with_field("cursor"))?,
        )),
    };
    let limit = list_limit(params.limit, DEFAULT_PAGE, 200)?;
    let tag = params.tag.as_deref().map(check_tag).transpose()?;
    let q = params.q.filter(|q| !q.trim().is_empty());
    if let Some(q) = &q {
        super::search::terms(q)?;
    }
    let query = ContactQuery { q, tag, limit, before };
    let page = state.store.contacts(auth.workspace_id, &query).await?;
    Ok(Json(ContactPage { items: page.items, next_cursor: page.next_cursor }))
}

/// Get a contact by id, `phone:<number>` or `email:<address>`.
#[utoipa::path(get, path = "/contacts/{ref}", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_contact(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
) -> ApiResult<Json<Contact>> {
    let by = contact_ref(&auth, &raw)?;
    Ok(Json(state.store.contact(auth.workspace_id, &by).await?))
}

/// Update a contact: absent fields are kept, `null` clears, `fields` merge, `tags` replace.
#[utoipa::path(patch, path = "/contacts/{ref}", tag = "contacts", request_body = ContactPatchInput,
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_contact(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
    ApiJson(input): ApiJson<ContactPatchInput>,
) -> ApiResult<Json<Contact>> {
    let by = contact_ref(&auth, &raw)?;
    let patch = ContactPatch::from_input(input, auth.region)?;
    Ok(Json(state.store.update_contact(auth.workspace_id, &by, &patch, state.clock.now()).await?))
}

/// Delete a contact with its notes and tags (owners and managers).
#[utoipa::path(delete, path = "/contacts/{ref}", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_contact(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let by = contact_ref(&auth, &raw)?;
    state.store.delete_contact(auth.workspace_id, &by, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add tags to a contact.
#[utoipa::path(post, path = "/contacts/{ref}/tags", tag = "contacts", request_body = TagsInput,
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_tags(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
    ApiJson(input): ApiJson<TagsInput>,
) -> ApiResult<Json<Contact>> {
    let by = contact_ref(&auth, &raw)?;
    let patch = ContactPatch { add_tags: check_tags(input.tags)?, ..ContactPatch::default() };
    Ok(Json(state.store.update_contact(auth.workspace_id, &by, &patch, state.clock.now()).await?))
}

/// Remove a tag from a contact.
#[utoipa::path(delete, path = "/contacts/{ref}/tags/{tag}", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`"), ("tag" = String, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn remove_tag(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((raw, tag)): ApiPath<(PathRef, String)>,
) -> ApiResult<Json<Contact>> {
    let by = contact_ref(&auth, &raw)?;
    let patch = ContactPatch { remove_tags: vec![check_tag(&tag)?], ..ContactPatch::default() };
    Ok(Json(state.store.update_contact(auth.workspace_id, &by, &patch, state.clock.now()).await?))
}

/// Add a note to a contact.
#[utoipa::path(post, path = "/contacts/{ref}/notes", tag = "contacts", request_body = NoteInput,
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 201, body = Note), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_note(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
    ApiJson(input): ApiJson<NoteInput>,
) -> ApiResult<(StatusCode, Json<Note>)> {
    let by = contact_ref(&auth, &raw)?;
    let body = check_note(&input.body)?;
    let note = state.store.add_note(auth.workspace_id, &by, Some(auth.user_id), &body, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// List a contact's notes, oldest first.
#[utoipa::path(get, path = "/contacts/{ref}/notes", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Vec<Note>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_notes(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
) -> ApiResult<Json<Vec<Note>>> {
    let by = contact_ref(&auth, &raw)?;
    Ok(Json(state.store.notes(auth.workspace_id, &by).await?))
}
