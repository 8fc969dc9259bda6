//! `/api/v1/events`: the workspace's event log, oldest first, read with a cursor; and
//! `/api/v1/events/stream`, the same log followed live as server-sent events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use parley_core::ids::{EventId, WorkspaceId};
use parley_store::{Event, Viewer};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Authenticated, Credential};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::event_log::before_hole;
use crate::extract::{ApiQuery, list_limit};
use crate::state::AppState;
use crate::streams::{OpenedAs, StreamSlot, may_continue};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(stream_events))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Return events after this id (0 or absent: from the start).
    after: Option<i64>,
    /// 1 to 1000; 100 by default.
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    id: i64,
    /// `contact.created`, `contact.updated`, `contact.deleted`, `contact.note_added`, …
    kind: String,
    subject_id: Option<i64>,
    payload: serde_json::Value,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    items: Vec<EventView>,
    /// Pass as `after` to continue; equals the request's `after` when nothing new.
    last_id: i64,
}

/// Read the event log.
#[utoipa::path(get, path = "/events", tag = "events", params(EventParams),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<EventParams>,
) -> ApiResult<Json<EventPage>> {
    let after = params.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_request("after must not be negative").with_field("after"));
    }
    let limit = list_limit(params.limit, 100, 1000)?;
    let events = state.store.events(auth.workspace_id, auth.viewer(), EventId(after), None, limit).await?;
    let last_id = events.last().map_or(after, |e| e.id.get());
    let items = events
        .into_iter()
        .map(|e| EventView {
            id: e.id.get(),
            kind: e.kind,
            subject_id: e.subject_id,
            payload: e.payload,
            created_at: e.created_at.to_rfc3339(),
        })
        .collect();
    Ok(Json(EventPage { items, last_id }))
}

/// How often a stream looks for new events (the log is the source: this works across several
/// server processes sharing a PostgreSQL database).
const POLL: Duration = Duration::from_millis(200);
/// How long a hole in the ids is waited for. On PostgreSQL an event can commit after one with a
/// higher id (ids are taken at insert): the stream stops before a hole until it fills, or until
/// this long has passed (a rolled-back transaction leaves a hole for good).
const HOLE_WAIT: Duration = Duration::from_secs(2);

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Start after this event id. A reconnecting client sends `Last-Event-ID` instead (browsers
    /// do it by themselves); with neither, the stream starts with the next new event.
    after: Option<i64>,
}

fn view(e: Event) -> EventView {
    EventView {
        id: e.id.get(),
        kind: e.kind,
        subject_id: e.subject_id,
        payload: e.payload,
        created_at: e.created_at.to_rfc3339(),
    }
}

/// Whether `kind` may be written as an SSE event name as it is: event kinds are dotted words
/// (`message.received`, `whatsapp.account_update`) of lowercase letters, digits and underscores.
fn is_safe_event_name(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= 128
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// One log entry as a server-sent event. Never panics on what the log holds (axum's writer
/// panics on a line break in an event name, and a stored kind from an older version could hold
/// one): a kind outside the alphabet goes out under the neutral name `event`, its data intact.
fn sse_event(e: Event) -> SseEvent {
    let name = if is_safe_event_name(&e.kind) { e.kind.clone() } else { "event".to_owned() };
    let id = e.id.get().to_string();
    SseEvent::default().id(id).event(name).json_data(view(e)).unwrap_or_else(|_| SseEvent::default().comment("?"))
}

/// What a stream holds between two polls.
struct Follow {
    state: AppState,
    ws: WorkspaceId,
    viewer: Viewer,
    /// The last event looked at (sent, or not for this viewer).
    cursor: i64,
    ready: VecDeque<Event>,
    /// Since when the stream waits before a hole in the ids.
    hole_since: Option<Instant>,
    closing: tokio::sync::watch::Receiver<bool>,
    /// What the stream checks again while it runs (see `streams.rs`).
    rights: Rights,
}

/// A stream's credential, who it was opened as, and when it must end.
struct Rights {
    credential: Credential,
    opened: OpenedAs,
    checked_at: Instant,
    /// The stream ends then, whatever happens (the client reconnects).
    ends_at: Instant,
    /// Set once the rights are gone: nothing more goes out.
    revoked: bool,
    /// Holds the stream's place in its user's count until the stream is dropped.
    _slot: StreamSlot,
}

impl Follow {
    /// The events after the cursor that may go out now: those before the first hole, unless the
    /// hole is old enough to be given up on.
    async fn poll(&mut self) -> Result<(), parley_store::StoreError> {
        // Holes are looked for among every workspace's ids (they are one sequence); then this
        // workspace's events up to the last id before a hole, as far as the viewer may see them.
        let ids = self.state.store.event_ids_after(EventId(self.cursor), 500).await?;
        let waited = self.hole_since.is_some_and(|t| t.elapsed() >= HOLE_WAIT);
        let (ready, held) = before_hole(self.cursor, &ids, waited);
        if held && waited {
            // Past the hole given up on, stopped before another: its own wait starts now.
            self.hole_since = Some(Instant::now());
        } else if held {
            self.hole_since.get_or_insert_with(Instant::now);
        } else {
            self.hole_since = None;
        }
        if ready == 0 {
            return Ok(());
        }
        let upto = ids[ready - 1];
        let events =
            self.state.store.events(self.ws, self.viewer, EventId(self.cursor), Some(EventId(upto)), 1000).await?;
        // Read after the batch, the rights are at least as new as its events: a batch holding
        // the caller's deactivation (or anything after it) is never sent.
        if !events.is_empty() && !self.rights_hold().await {
            return Ok(());
        }
        self.ready.extend(events);
        self.cursor = upto;
        Ok(())
    }

    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Follow)> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some((Ok(sse_event(e)), self));
            }
            if *self.closing.borrow() {
                return None;
            }
            if !self.may_go_on().await {
                return None;
            }
            if let Err(e) = self.poll().await {
                tracing::warn!(error = %e, "event stream cannot read the log; it retries");
            }
            if self.rights.revoked {
                return None;
            }
            if self.ready.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = self.closing.changed() => return None,
                }
            }
        }
    }
}

impl Follow {
    /// Whether the stream may go on: not past its lifetime, and its rights checked again when
    /// the last check is `recheck` old.
    async fn may_go_on(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.rights.ends_at {
            tracing::debug!(user = self.rights.opened.user_id.get(), "an event stream reached its lifetime");
            return false;
        }
        if now.duration_since(self.rights.checked_at) >= self.state.streams.recheck {
            return self.rights_hold().await;
        }
        !self.rights.revoked
    }

    /// Looks the credential up again: still there, same user, same role? A store error ends
    /// the stream too (the client reconnects through the door's checks).
    async fn rights_hold(&mut self) -> bool {
        self.rights.checked_at = Instant::now();
        let holds = match crate::auth::recheck(&self.state, &self.rights.credential).await {
            Ok(now) => may_continue(self.rights.opened, now.as_ref()),
            Err(e) => {
                tracing::warn!(error = %e, "an event stream cannot check its credential; it ends");
                false
            }
        };
        if !holds {
            tracing::info!(user = self.rights.opened.user_id.get(), "an event stream ends: its rights changed");
            self.rights.revoked = true;
        }
        holds
    }
}

/// Follow the event log live: `text/event-stream`, one SSE event per log entry (`id` is the
/// event id, `event` its kind, `data` the entry as `/events` shows it), a comment every 15 s to
/// keep the connection open. Reconnecting with `Last-Event-ID` resumes right after that event,
/// without gaps.
///
/// A stream follows its caller's rights: it ends within seconds once the token is revoked, the
/// session ended, the user deactivated or their role changed, and after an hour in any case
/// (reconnect with `Last-Event-ID`). A user holds at most 10 streams at once.
#[utoipa::path(get, path = "/events/stream", tag = "events", params(StreamParams),
    responses((status = 200, description = "server-sent events", content_type = "text/event-stream"),
        (status = 400, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "`too_many_streams`: close one of this user's streams first")),
    security(("bearer" = [])))]
async fn stream_events(
    State(state): State<AppState>,
    Authenticated { auth, credential }: Authenticated,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => {
            Some(v.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).filter(|id| *id >= 0).ok_or_else(|| {
                ApiError::bad_request("Last-Event-ID must be an event id").with_field("Last-Event-ID")
            })?)
        }
    };
    let cursor = match last_event_id.or(params.after) {
        Some(after) if after < 0 => return Err(ApiError::bad_request("after must not be negative").with_field("after")),
        Some(after) => after,
        None => state.store.last_event_id(auth.workspace_id).await?.get(),
    };
    let slot = state.streams.take_slot(auth.user_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            format!("this user holds {} event streams already: close one first", state.streams.per_user),
        )
    })?;
    let now = Instant::now();
    let rights = Rights {
        credential,
        opened: OpenedAs::from(&auth),
        checked_at: now,
        // A lifetime too long to add is no lifetime at all (a day is plenty of "forever").
        ends_at: now.checked_add(state.streams.max_lifetime).unwrap_or(now + Duration::from_secs(86_400)),
        revoked: false,
        _slot: slot,
    };
    let follow = Follow {
        closing: state.closing.subscribe(),
        state,
        ws: auth.workspace_id,
        viewer: auth.viewer(),
        cursor,
        ready: VecDeque::new(),
        hole_since: None,
        rights,
    };
    let stream = futures_util::stream::unfold(follow, Follow::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::{is_safe_event_name, sse_event};
    use parley_core::Timestamp;
    use parley_core::ids::EventId;
    use parley_store::Event;

    #[test]
    fn any_stored_kind_becomes_an_event_without_a_panic() {
        for kind in ["message.received", "whatsapp.account_update", "a\nevent: forged", "x\r", "", "évé", "a b"] {
            let event = Event {
                id: EventId(7),
                kind: kind.to_owned(),
                subject_id: None,
                payload: serde_json::json!({"text": "line\nbreak"}),
                created_at: Timestamp::from_secs(1),
            };
            let _ = sse_event(event);
            assert_eq!(is_safe_event_name(kind), kind.contains('.'), "{kind:?}");
        }
    }
}
