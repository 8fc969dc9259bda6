//! Applying a webhook's events in one transaction (ARCHITECTURE.md "In"): the sender resolved to
//! a contact, the conversation opened or reopened, the message inserted under its unique
//! `(channel, provider_message_id)`, statuses moved forward only, events appended.

use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::contact::Contact;
use parley_core::ids::{ContactId, WorkspaceId};
use parley_core::message::{Content, DeliveryStatus, InboundEvent, InboundMessage, Sender, StatusUpdate};
use parley_core::whatsapp::{Bsuid, WaId, phone_candidates};
use serde_json::{Value, json};
use sqlx::{ColumnIndex, Decode, Encode, Executor, Type};

use super::events::NewEvent;
use super::{Engine, SqlStore};
use crate::error::StoreResult;
use crate::{InboundOutcome, RoutedEvent};

const WA_ID: &str = "wa_id";
const BSUID: &str = "bsuid";

/// Content types that point at another message instead of standing on their own.
pub(crate) fn target_of(content: &Content) -> Option<&str> {
    match content {
        Content::Reaction { message_id, .. } => Some(message_id),
        Content::Edit { original_message_id, .. } | Content::Revoke { original_message_id } => {
            Some(original_message_id)
        }
        _ => None,
    }
}

fn json_text<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    Ok(serde_json::to_string(v)?)
}

impl<DB> SqlStore<DB>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB>,
{
    pub(crate) async fn apply_inbound_events(
        &self,
        events: &[RoutedEvent<'_>],
        now: Timestamp,
    ) -> StoreResult<InboundOutcome> {
        let mut tx = self.begin_write().await?;
        let mut out = InboundOutcome::default();
        for routed in events {
            let channel = routed.channel;
            match routed.event {
                InboundEvent::Message(m) => Self::apply_message(&mut tx, channel, m, now, &mut out).await?,
                InboundEvent::Status(s) => Self::apply_status(&mut tx, channel, s, now, &mut out).await?,
                InboundEvent::UserPreference { wa_id, bsuid, category, value, at, raw } => {
                    let identity =
                        wa_id.as_ref().map(|w| (WA_ID, w.as_str())).or(bsuid.as_ref().map(|b| (BSUID, b.as_str())));
                    if let Some((kind, id)) = identity {
                        sqlx::query(
                            "INSERT INTO user_preferences (workspace_id, channel_id, identity_kind, identity_value, category, value, at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7)
                             ON CONFLICT (channel_id, identity_kind, identity_value, category)
                             DO UPDATE SET value = excluded.value, at = excluded.at WHERE user_preferences.at <= excluded.at",
                        )
                        .bind(channel.workspace_id.get())
                        .bind(channel.id.get())
                        .bind(kind.to_owned())
                        .bind(id.to_owned())
                        .bind(category.clone())
                        .bind(value.clone())
                        .bind(at.as_micros())
                        .execute(&mut *tx)
                        .await?;
                    }
                    let event = NewEvent {
                        kind: "contact.marketing_preference",
                        subject_id: None,
                        channel_id: Some(channel.id),
                        payload: raw,
                    };
                    Self::append_event(&mut tx, channel.workspace_id, event, now).await?;
                    out.others += 1;
                }
                InboundEvent::Other { field, value } => {
                    let kind = format!("whatsapp.{field}");
                    let event =
                        NewEvent { kind: &kind, subject_id: None, channel_id: Some(channel.id), payload: value };
                    Self::append_event(&mut tx, channel.workspace_id, event, now).await?;
                    out.others += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn apply_message(
        conn: &mut DB::Connection,
        channel: &Channel,
        m: &InboundMessage,
        now: Timestamp,
        out: &mut InboundOutcome,
    ) -> StoreResult<()> {
        let ws = channel.workspace_id;
        // A redelivery changes nothing: not the contact, not the conversation's status.
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT id FROM messages WHERE channel_id = $1 AND provider_message_id = $2")
                .bind(channel.id.get())
                .bind(m.provider_message_id.clone())
                .fetch_optional(&mut *conn)
                .await?;
        if seen.is_some() {
            out.duplicates += 1;
            return Ok(());
        }
        let contact_id = Self::resolve_sender(conn, ws, &m.from, now).await?;
        let conversation_id = Self::touch_conversation(conn, channel, contact_id, m, now).await?;

        let content = &m.content;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, provider_message_id, type, text,
                content, context, referral, raw, target_provider_id, status, status_at, sent_at, created_at)
             VALUES ($1, $2, $3, 'in', $4, $5, $6, $7, $8, $9, $10, $11, 'received', $12, $12, $13)
             ON CONFLICT (channel_id, provider_message_id) DO NOTHING RETURNING id",
        )
        .bind(ws.get())
        .bind(conversation_id)
        .bind(channel.id.get())
        .bind(m.provider_message_id.clone())
        .bind(content.type_name().to_owned())
        .bind(content.text().map(str::to_owned))
        .bind(json_text(content)?)
        .bind(m.context.as_ref().map(json_text).transpose()?)
        .bind(m.referral.as_ref().map(Value::to_string))
        .bind(m.raw.to_string())
        .bind(target_of(content).map(str::to_owned))
        .bind(m.sent_at.as_micros())
        .bind(now.as_micros())
        .fetch_optional(&mut *conn)
        .await?;
        // Lost a race with a concurrent delivery of the same message (PostgreSQL): a duplicate.
        let Some(message_id) = inserted else {
            out.duplicates += 1;
            return Ok(());
        };
        out.messages += 1;

        if let Some(media) = content.media().and_then(|md| md.id.clone().map(|id| (id, md.mime_type.clone()))) {
            sqlx::query(
                "INSERT INTO media (workspace_id, channel_id, message_id, provider_media_id, mime_type, state, next_attempt_at,
                    created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6)",
            )
            .bind(ws.get())
            .bind(channel.id.get())
            .bind(message_id)
            .bind(media.0)
            .bind(media.1)
            .bind(now.as_micros())
            .execute(&mut *conn)
            .await?;
        }

        let payload = json!({
            "message_id": message_id, "conversation_id": conversation_id, "contact_id": contact_id,
            "provider_message_id": m.provider_message_id, "type": content.type_name(), "text": content.text(),
            "sent_at": m.sent_at,
        });
        Self::append_event(
            conn,
            ws,
            NewEvent::new("message.received", message_id, &payload).on_channel(channel.id),
            now,
        )
        .await?;

        match content {
            Content::Edit { original_message_id, message } => {
                Self::apply_edit(conn, channel, original_message_id, message, m.sent_at, now).await?;
            }
            Content::Revoke { original_message_id } => {
                Self::apply_revoke(conn, channel, original_message_id, m.sent_at, now).await?;
            }
            Content::Reaction { .. } => {}
            Content::System { kind, new_wa_id, new_user_id, .. } => {
                Self::apply_system(conn, ws, contact_id, kind, new_wa_id.as_deref(), new_user_id.as_deref(), m, now)
                    .await?;
            }
            _ => Self::apply_earlier_changes(conn, channel, &m.provider_message_id, now).await?,
        }
        Ok(())
    }

    /// Finds the contact a sender is: by WhatsApp identity, then by phone number (with the
    /// Brazil/Mexico/Argentina quirks), else a new contact. Records the identities either way.
    async fn resolve_sender(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        from: &Sender,
        now: Timestamp,
    ) -> StoreResult<i64> {
        let mut found = None;
        for (kind, value) in identities(from) {
            found = Self::contact_by_identity(conn, ws, kind, value).await?;
            if found.is_some() {
                break;
            }
        }
        let candidates = from.wa_id.as_ref().map(phone_candidates).unwrap_or_default();
        if found.is_none() {
            for phone in &candidates {
                found = sqlx::query_scalar("SELECT id FROM contacts WHERE workspace_id = $1 AND phone = $2")
                    .bind(ws.get())
                    .bind(phone.as_str().to_owned())
                    .fetch_optional(&mut *conn)
                    .await?;
                if found.is_some() {
                    break;
                }
            }
        }
        let profile_name = from.profile_name.clone().or_else(|| from.username.clone()).filter(|n| !n.trim().is_empty());
        let contact_id = match found {
            Some(id) => {
                if let Some(name) = profile_name {
                    Self::fill_empty_name(conn, ws, id, &name, now).await?;
                }
                id
            }
            None => {
                let mut contact = Contact {
                    id: ContactId(0),
                    workspace_id: ws,
                    name: profile_name.map(|n| n.trim().chars().take(200).collect()),
                    phone: candidates.into_iter().next(),
                    email: None,
                    fields: Default::default(),
                    tags: Vec::new(),
                    created_at: now,
                    updated_at: now,
                };
                Self::insert_contact(conn, &mut contact).await?;
                Self::append_event(conn, ws, NewEvent::new("contact.created", contact.id.get(), &json!(contact)), now)
                    .await?;
                contact.id.get()
            }
        };
        for (kind, value) in identities(from) {
            Self::add_identity(conn, ws, contact_id, kind, value, now).await?;
        }
        Ok(contact_id)
    }

    async fn contact_by_identity(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        kind: &str,
        value: &str,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT contact_id FROM contact_identities WHERE workspace_id = $1 AND kind = $2 AND value = $3",
        )
        .bind(ws.get())
        .bind(kind.to_owned())
        .bind(value.to_owned())
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Records an identity; one already known (for this or another contact) is left as is.
    async fn add_identity(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        contact: i64,
        kind: &str,
        value: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO contact_identities (workspace_id, contact_id, kind, value, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (workspace_id, kind, value) DO NOTHING",
        )
        .bind(ws.get())
        .bind(contact)
        .bind(kind.to_owned())
        .bind(value.to_owned())
        .bind(now.as_micros())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The WhatsApp profile name fills a contact that has none; a name someone typed wins.
    async fn fill_empty_name(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        id: i64,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut contact = Self::find_contact(conn, ws, &parley_core::contact::ContactRef::Id(ContactId(id))).await?;
        if contact.name.is_some() {
            return Ok(());
        }
        contact.name = Some(name.trim().chars().take(200).collect());
        contact.updated_at = now;
        sqlx::query("UPDATE contacts SET name = $1, search = $2, updated_at = $3 WHERE id = $4")
            .bind(contact.name.clone())
            .bind(super::contacts::search_text(&contact))
            .bind(now.as_micros())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Self::append_event(conn, ws, NewEvent::new("contact.updated", id, &json!(contact)), now).await
    }

    /// Opens the contact × channel conversation or reopens it, and moves its clocks forward.
    async fn touch_conversation(
        conn: &mut DB::Connection,
        channel: &Channel,
        contact: i64,
        m: &InboundMessage,
        now: Timestamp,
    ) -> StoreResult<i64> {
        let ws = channel.workspace_id;
        let at = m.sent_at.as_micros();
        let referral_at = m.referral.as_ref().map(|_| at);
        let current: Option<ConversationClock> =
            sqlx::query_as("SELECT id, status FROM conversations WHERE channel_id = $1 AND contact_id = $2")
                .bind(channel.id.get())
                .bind(contact)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(ConversationClock { id, status }) = current else {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO conversations (workspace_id, channel_id, contact_id, status, last_message_at, last_inbound_at,
                    last_referral_at, created_at, updated_at)
                 VALUES ($1, $2, $3, 'open', $4, $4, $5, $6, $6) RETURNING id",
            )
            .bind(ws.get())
            .bind(channel.id.get())
            .bind(contact)
            .bind(at)
            .bind(referral_at)
            .bind(now.as_micros())
            .fetch_one(&mut *conn)
            .await?;
            let payload = json!({"conversation_id": id, "contact_id": contact, "channel_id": channel.id});
            Self::append_event(
                conn,
                ws,
                NewEvent::new("conversation.opened", id, &payload).on_channel(channel.id),
                now,
            )
            .await?;
            return Ok(id);
        };
        // Provider times, not arrival order: a late delivery of an older message moves nothing
        // back. The maxima are taken in SQL so that concurrent deliveries cannot undo each other.
        sqlx::query(
            "UPDATE conversations SET status = 'open',
                last_message_at = CASE WHEN last_message_at < $1 THEN $1 ELSE last_message_at END,
                last_inbound_at = CASE WHEN last_inbound_at IS NULL OR last_inbound_at < $1 THEN $1 ELSE last_inbound_at END,
                last_referral_at = CASE WHEN $2 IS NOT NULL AND (last_referral_at IS NULL OR last_referral_at < $2) THEN $2
                                        ELSE last_referral_at END,
                updated_at = $3
             WHERE id = $4",
        )
        .bind(at)
        .bind(referral_at)
        .bind(now.as_micros())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        if status != "open" {
            let payload = json!({"conversation_id": id, "contact_id": contact, "channel_id": channel.id, "previous_status": status});
            Self::append_event(
                conn,
                ws,
                NewEvent::new("conversation.reopened", id, &payload).on_channel(channel.id),
                now,
            )
            .await?;
        }
        Ok(id)
    }

    /// Applies an edit to the message it changes (if we have it; otherwise when it arrives).
    async fn apply_edit(
        conn: &mut DB::Connection,
        channel: &Channel,
        original: &str,
        new: &Content,
        at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()> {
        let updated: Option<i64> = sqlx::query_scalar(
            "UPDATE messages SET text = $1, content = $2, edited_at = $3
             WHERE channel_id = $4 AND provider_message_id = $5 AND (edited_at IS NULL OR edited_at <= $3) RETURNING id",
        )
        .bind(new.text().map(str::to_owned))
        .bind(json_text(new)?)
        .bind(at.as_micros())
        .bind(channel.id.get())
        .bind(original.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = updated {
            let payload = json!({"message_id": id, "edited_at": at, "text": new.text()});
            Self::append_event(
                conn,
                channel.workspace_id,
                NewEvent::new("message.updated", id, &payload).on_channel(channel.id),
                now,
            )
            .await?;
        }
        Ok(())
    }

    async fn apply_revoke(
        conn: &mut DB::Connection,
        channel: &Channel,
        original: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()> {
        let updated: Option<i64> = sqlx::query_scalar(
            "UPDATE messages SET revoked_at = $1 WHERE channel_id = $2 AND provider_message_id = $3 AND revoked_at IS NULL RETURNING id",
        )
        .bind(at.as_micros())
        .bind(channel.id.get())
        .bind(original.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = updated {
            let payload = json!({"message_id": id, "revoked_at": at});
            Self::append_event(
                conn,
                channel.workspace_id,
                NewEvent::new("message.updated", id, &payload).on_channel(channel.id),
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// An edit or revoke may arrive before the message it is about: apply those now.
    async fn apply_earlier_changes(
        conn: &mut DB::Connection,
        channel: &Channel,
        provider_id: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let changes: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT type, content, sent_at FROM messages
             WHERE channel_id = $1 AND target_provider_id = $2 AND type IN ('edit', 'revoke') ORDER BY sent_at, id",
        )
        .bind(channel.id.get())
        .bind(provider_id.to_owned())
        .fetch_all(&mut *conn)
        .await?;
        for (kind, content, at) in changes {
            let at = Timestamp::from_micros(at);
            match (kind.as_str(), serde_json::from_str::<Content>(&content)?) {
                ("edit", Content::Edit { message, .. }) => {
                    Self::apply_edit(conn, channel, provider_id, &message, at, now).await?
                }
                ("revoke", _) => Self::apply_revoke(conn, channel, provider_id, at, now).await?,
                _ => {}
            }
        }
        Ok(())
    }

    /// System notices: a changed number marks the contact until an agent acknowledges it.
    #[allow(clippy::too_many_arguments)]
    async fn apply_system(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        contact: i64,
        kind: &str,
        new_wa_id: Option<&str>,
        new_user_id: Option<&str>,
        m: &InboundMessage,
        now: Timestamp,
    ) -> StoreResult<()> {
        match kind {
            "user_changed_number" | "customer_changed_number" | "customer_identity_changed" => {
                sqlx::query("UPDATE contacts SET identity_changed_at = $1, updated_at = $2 WHERE id = $3")
                    .bind(m.sent_at.as_micros())
                    .bind(now.as_micros())
                    .bind(contact)
                    .execute(&mut *conn)
                    .await?;
                if let Some(new) = new_wa_id.and_then(|w| WaId::parse(w).ok()) {
                    Self::add_identity(conn, ws, contact, WA_ID, new.as_str(), now).await?;
                }
                let payload = json!({
                    "contact_id": contact, "kind": kind, "old_wa_id": m.from.wa_id, "new_wa_id": new_wa_id, "at": m.sent_at,
                });
                Self::append_event(conn, ws, NewEvent::new("contact.identity_changed", contact, &payload), now).await
            }
            "user_changed_user_id" => {
                if let Some(new) = new_user_id.and_then(|b| Bsuid::parse(b).ok()) {
                    Self::add_identity(conn, ws, contact, BSUID, new.as_str(), now).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn apply_status(
        conn: &mut DB::Connection,
        channel: &Channel,
        s: &StatusUpdate,
        now: Timestamp,
        out: &mut InboundOutcome,
    ) -> StoreResult<()> {
        let errors = (!s.errors.is_empty()).then(|| json_text(&s.errors)).transpose()?;
        let logged: Option<i64> = sqlx::query_scalar(
            "INSERT INTO message_statuses (channel_id, provider_message_id, status, status_at, errors, pricing, raw, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (channel_id, provider_message_id, status) DO NOTHING RETURNING id",
        )
        .bind(channel.id.get())
        .bind(s.provider_message_id.clone())
        .bind(s.status.as_str().to_owned())
        .bind(s.at.as_micros())
        .bind(errors)
        .bind(s.pricing.as_ref().map(Value::to_string))
        .bind(s.raw.to_string())
        .bind(now.as_micros())
        .fetch_optional(&mut *conn)
        .await?;
        if logged.is_none() {
            out.duplicates += 1;
            return Ok(());
        }
        out.statuses += 1;
        Self::apply_logged_status(conn, channel, s, now).await
    }

    /// Moves the message (if we have it yet) forward to `s.status`; records pricing once.
    pub(crate) async fn apply_logged_status(
        conn: &mut DB::Connection,
        channel: &Channel,
        s: &StatusUpdate,
        now: Timestamp,
    ) -> StoreResult<()> {
        let pricing = s.pricing.as_ref().map(Value::to_string);
        let error = s.errors.first().filter(|_| s.status == DeliveryStatus::Failed);
        // The rank test in the WHERE makes "only forward" atomic, even for concurrent webhooks;
        // the rank itself comes from the domain (DeliveryStatus::rank).
        let advanced: Option<i64> = sqlx::query_scalar(
            "UPDATE messages SET status = $1, status_rank = $2, status_at = $3, pricing = COALESCE(pricing, $4),
                error_code = COALESCE($5, error_code), error_title = COALESCE($6, error_title),
                error_details = COALESCE($7, error_details)
             WHERE channel_id = $8 AND provider_message_id = $9 AND status_rank < $2 RETURNING id",
        )
        .bind(s.status.as_str().to_owned())
        .bind(i64::from(s.status.rank()))
        .bind(s.at.as_micros())
        .bind(pricing.clone())
        .bind(error.map(|e| e.code))
        .bind(error.map(|e| e.title.clone()))
        .bind(error.and_then(|e| e.details.clone()))
        .bind(channel.id.get())
        .bind(s.provider_message_id.clone())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(id) = advanced else {
            // Old news (or no such message yet), but pricing may come on any status.
            sqlx::query("UPDATE messages SET pricing = COALESCE(pricing, $1) WHERE channel_id = $2 AND provider_message_id = $3")
                .bind(pricing)
                .bind(channel.id.get())
                .bind(s.provider_message_id.clone())
                .execute(&mut *conn)
                .await?;
            return Ok(());
        };
        let next = s.status;
        let payload = json!({"message_id": id, "status": next.as_str(), "at": s.at, "error": error});
        Self::append_event(
            conn,
            channel.workspace_id,
            NewEvent::new("message.status", id, &payload).on_channel(channel.id),
            now,
        )
        .await
    }
}

#[derive(sqlx::FromRow)]
struct ConversationClock {
    id: i64,
    status: String,
}

/// The identities a sender presents, most specific first.
fn identities(from: &Sender) -> Vec<(&'static str, &str)> {
    let mut out = Vec::with_capacity(2);
    if let Some(w) = &from.wa_id {
        out.push((WA_ID, w.as_str()));
    }
    if let Some(b) = &from.bsuid {
        out.push((BSUID, b.as_str()));
    }
    out
}
