//! `/api/v1/conversations` and their messages: reading the inbox. Agents see the conversations
//! of shared channels and of the private channels they are a member of (the store applies it).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::Response;
use parley_core::contact::ContactRef;
use parley_core::conversation::{Conversation, ConversationStatus, MediaState, Message};
use parley_core::ids::{ChannelId, ConversationId, MessageId, TeamId, UserId};
use parley_store::{AssigneeFilter, ConversationQuery, MessageQuery, SortKey, TeamFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceExt;
use tower_http::services::ServeFile;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, PathId, list_limit};
use crate::media_response::{inline_type, media_headers, safe_filename};
use crate::state::AppState;
use crate::workers::media::media_path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations))
        .routes(routes!(open_counts))
        .routes(routes!(get_conversation))
        .routes(routes!(list_messages))
        .routes(routes!(conversation_activity))
        .routes(routes!(get_media))
        .routes(routes!(mark_read))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationParams {
    /// A contact id, `phone:<number>` or `email:<address>`.
    contact: Option<String>,
    channel: Option<i64>,
    /// `open`, `pending`, `snoozed` or `closed`.
    status: Option<String>,
    /// `me`, `none` (unassigned), `bots` (held by a bot) or a user id.
    assignee: Option<String>,
    /// Only conversations with this tag.
    tag: Option<String>,
    /// Only conversations whose contact has this tag.
    contact_tag: Option<String>,
    /// A team id, `none` (in no team) or `mine` (in a team I am a member of).
    team: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// A tag to filter on, checked like any tag; empty means no filter.
fn tag_filter(value: Option<&str>, field: &str) -> ApiResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => Ok(Some(parley_core::contact::check_tag(t).map_err(|e| ApiError::from(e).with_field(field))?)),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConversationPage {
    /// Each conversation with its `window`, and in lists its `contact`, `last_message` and
    /// `unread` count.
    #[schema(value_type = Vec<Object>)]
    items: Vec<ConversationView>,
    next_cursor: Option<String>,
}

/// A conversation as the API shows it: the stored one, whether the customer service window is
/// open now (by the server's clock), and in lists what the inbox shows beside it.
#[derive(Serialize)]
pub struct ConversationView {
    #[serde(flatten)]
    conversation: Conversation,
    window: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_message: Option<parley_store::LastMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unread: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
}

impl ConversationView {
    pub fn new(conversation: Conversation, now: parley_core::Timestamp) -> Self {
        let closes_at = conversation.window_closes_at();
        let open = parley_core::rules::window_open(conversation.last_inbound_at, now);
        let seconds_left = closes_at.filter(|_| open).map(|t| t.as_secs() - now.as_secs());
        let window =
            serde_json::json!({"open": open, "closes_at": closes_at.filter(|_| open), "seconds_left": seconds_left});
        ConversationView { conversation, window, contact: None, last_message: None, unread: None, tags: None }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A message as the API shows it: the stored message plus where its attachment is.
#[derive(Serialize, ToSchema)]
pub struct MessageView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    message: Message,
    /// `{state: pending|available|failed, url}` for messages with an attachment.
    #[schema(value_type = Option<Object>)]
    media: Option<Value>,
}

impl From<Message> for MessageView {
    fn from(message: Message) -> Self {
        let media = message.media.map(|state| {
            let url = (state == MediaState::Available).then(|| format!("/api/v1/messages/{}/media", message.id));
            serde_json::json!({"state": state.as_str(), "url": url})
        });
        MessageView { message, media }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    items: Vec<MessageView>,
    next_cursor: Option<String>,
}

fn limit(raw: Option<u32>) -> ApiResult<u32> {
    list_limit(raw, 50, 200)
}

fn cursor(raw: Option<&str>) -> ApiResult<Option<SortKey>> {
    match raw {
        None | Some("") => Ok(None),
        Some(c) => SortKey::parse(c).map(Some).ok_or_else(|| ApiError::bad_request("bad cursor").with_field("cursor")),
    }
}

/// List conversations, most recent activity first.
#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ConversationParams),
    responses((status = 200, body = ConversationPage), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_conversations(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ConversationParams>,
) -> ApiResult<Json<ConversationPage>> {
    let contact = match params.contact.as_deref() {
        Some(raw) => {
            let by = ContactRef::parse(raw, auth.region).map_err(|e| ApiError::from(e).with_field("contact"))?;
            match state.store.contact(auth.workspace_id, &by).await {
                Ok(c) => Some(c.id),
                // An unknown contact simply has no conversations.
                Err(parley_store::StoreError::NotFound) => {
                    return Ok(Json(ConversationPage { items: vec![], next_cursor: None }));
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => None,
    };
    let status = params
        .status
        .as_deref()
        .map(|s| {
            ConversationStatus::parse(s)
                .ok_or_else(|| ApiError::bad_request("status is open, pending, snoozed or closed").with_field("status"))
        })
        .transpose()?;
    let query = ConversationQuery {
        viewer: auth.viewer(),
        contact,
        channel: params.channel.map(ChannelId),
        status,
        assignee: match params.assignee.as_deref() {
            None | Some("") => None,
            Some("me") => Some(AssigneeFilter::User(auth.user_id)),
            Some("none") => Some(AssigneeFilter::Unassigned),
            Some("bots") => Some(AssigneeFilter::Bots),
            Some(id) => Some(AssigneeFilter::User(UserId(id.parse().map_err(|_| {
                ApiError::bad_request("assignee is me, none, bots or a user id").with_field("assignee")
            })?))),
        },
        tag: tag_filter(params.tag.as_deref(), "tag")?,
        contact_tag: tag_filter(params.contact_tag.as_deref(), "contact_tag")?,
        team: match params.team.as_deref() {
            None | Some("") => None,
            Some("none") => Some(TeamFilter::None),
            Some("mine") => Some(TeamFilter::MemberOf(auth.user_id)),
            Some(id) => Some(TeamFilter::Team(TeamId(
                id.parse().map_err(|_| ApiError::bad_request("team is mine, none or a team id").with_field("team"))?,
            ))),
        },
        limit: limit(params.limit)?,
        cursor: cursor(params.cursor.as_deref())?,
    };
    let page = state.store.conversations(auth.workspace_id, &query).await?;
    let ids: Vec<ConversationId> = page.items.iter().map(|c| c.id).collect();
    let mut summaries: std::collections::HashMap<ConversationId, parley_store::ConversationSummary> = state
        .store
        .conversation_summaries(auth.workspace_id, &ids)
        .await?
        .into_iter()
        .map(|s| (s.conversation_id, s))
        .collect();
    let now = state.clock.now();
    let items = page
        .items
        .into_iter()
        .map(|c| {
            let summary = summaries.remove(&c.id);
            let mut view = ConversationView::new(c, now);
            if let Some(s) = summary {
                view.contact =
                    Some(serde_json::json!({"id": s.contact_id, "name": s.contact_name, "phone": s.contact_phone}));
                view.last_message = s.last_message;
                view.unread = Some(s.unread);
                view.tags = Some(s.tags);
            }
            view
        })
        .collect();
    Ok(Json(ConversationPage { items, next_cursor: page.next_cursor }))
}

/// How many open conversations each inbox tab holds: assigned to me, unassigned, all that I
/// see. Each count stops at 1,000 (`capped_at`): the tab then says "999+".
#[utoipa::path(get, path = "/conversations/counts", tag = "conversations",
    responses((status = 200, body = Object, description = "`{mine, unassigned, all, capped_at}`")),
    security(("bearer" = [])))]
async fn open_counts(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let counts = state.store.open_counts(auth.workspace_id, auth.viewer(), auth.user_id).await?;
    Ok(Json(
        serde_json::json!({"mine": counts.mine, "unassigned": counts.unassigned, "all": counts.all, "bots": counts.bots,
        "capped_at": parley_store::OPEN_COUNT_CAP}),
    ))
}

/// Get a conversation.
#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_conversation(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<ConversationView>> {
    let conversation = state.store.conversation(auth.workspace_id, ConversationId(id), auth.viewer()).await?;
    Ok(Json(ConversationView::new(conversation, state.clock.now())))
}

/// Mark everything the customer wrote so far as read (for the whole team: the inbox's unread
/// counts).
#[utoipa::path(post, path = "/conversations/{id}/read", tag = "conversations", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn mark_read(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    let id = ConversationId(id);
    state.store.mark_conversation_read(auth.workspace_id, id, auth.viewer()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A conversation's messages in the order the customer sent them (provider time), oldest first.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = i64, Path), MessageParams),
    responses((status = 200, body = MessagePage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiQuery(params): ApiQuery<MessageParams>,
) -> ApiResult<Json<MessagePage>> {
    let query =
        MessageQuery { viewer: auth.viewer(), limit: limit(params.limit)?, cursor: cursor(params.cursor.as_deref())? };
    let page = state.store.messages(auth.workspace_id, ConversationId(id), &query).await?;
    Ok(Json(MessagePage {
        items: page.items.into_iter().map(MessageView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// What happened to the conversation, oldest first (the newest 500): assignments, team and
/// status changes (closing with its closing note, snoozes, automatic closes), tags added and
/// removed — each event with `by`, the user who did it (`null`: Parley itself). The inbox shows
/// them as lines between the messages.
#[utoipa::path(get, path = "/conversations/{id}/activity", tag = "conversations", params(("id" = i64, Path)),
    responses((status = 200, body = [Object]), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn conversation_activity(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Vec<parley_store::Event>>> {
    Ok(Json(state.store.conversation_activity(auth.workspace_id, ConversationId(id), auth.viewer(), 500).await?))
}

/// Download a message's attachment once Parley has fetched it.
#[utoipa::path(get, path = "/messages/{id}/media", tag = "conversations", params(("id" = i64, Path)),
    responses((status = 200, description = "the file"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not downloaded yet, or the download failed (`media_not_available`)")),
    security(("bearer" = [])))]
async fn get_media(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    request_headers: HeaderMap,
) -> ApiResult<Response> {
    let id = MessageId(id);
    let file = state.store.media_file(auth.workspace_id, id, auth.viewer()).await?;
    let Some(sha) = file.sha256.filter(|_| file.state == MediaState::Available) else {
        let why = file.last_error.map(|e| format!(" ({e})")).unwrap_or_default();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "media_not_available",
            format!("the attachment is {}{why}", file.state.as_str()),
        ));
    };
    // An attachment is offered under the customer's name for it (documents have one).
    let given_name = match file.mime_type.as_deref().and_then(inline_type) {
        Some(_) => None,
        None => state
            .store
            .message(auth.workspace_id, id, auth.viewer())
            .await?
            .content
            .media()
            .and_then(|m| m.filename.clone()),
    };
    let headers = media_headers(file.mime_type.as_deref(), || {
        safe_filename(given_name.as_deref(), id.get(), file.mime_type.as_deref())
    });
    // Streamed from the file, with range requests (audio and video seek in the browser) and
    // conditional requests answered by tower-http; the type and disposition are ours.
    let mut request = Request::new(Body::empty());
    for name in [header::RANGE, header::IF_RANGE, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE] {
        if let Some(value) = request_headers.get(&name) {
            request.headers_mut().insert(name, value.clone());
        }
    }
    let served = ServeFile::new(media_path(&state.media_dir, &sha)).oneshot(request).await;
    let mut response = match served {
        Ok(r) if r.status() != StatusCode::NOT_FOUND => r.map(Body::new),
        Ok(_) => {
            tracing::error!(sha, "stored media file missing");
            return Err(ApiError::internal());
        }
        Err(e) => {
            tracing::error!(error = %e, sha, "stored media file unreadable");
            return Err(ApiError::internal());
        }
    };
    response.headers_mut().extend(headers);
    Ok(response)
}
