//! Inbound messages that change other rows: edits and revokes (in either order with the message
//! they change) and system notices (a changed number marks the contact).

use macro_rules_attribute::apply;
use std::collections::HashSet;

use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::ids::WorkspaceId;
use parley_core::message::{Content, InboundMessage};
use parley_core::whatsapp::{Bsuid, WaId};
use serde_json::json;
use sqlx::QueryBuilder;

use super::{BSUID, EventBuffer, WA_ID, json_text, statement_chunks};
use crate::error::StoreResult;
use crate::sql::{Engine, SqlStore};

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Applies an edit to the message it changes (if we have it; otherwise when it arrives).
    pub(super) async fn apply_edit(
        conn: &mut DB::Connection,
        channel: &Channel,
        original: &str,
        new: &Content,
        at: Timestamp,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        let updated: Option<i64> = sqlx::query_scalar(
            "UPDATE messages SET previous_content = content, text = $1, content = $2, edited_at = $3, search = $6
             WHERE channel_id = $4 AND provider_message_id = $5 AND (edited_at IS NULL OR edited_at <= $3) RETURNING id",
        )
        .bind(new.text().map(str::to_owned))
        .bind(json_text(new)?)
        .bind(at.as_micros())
        .bind(channel.id.get())
        .bind(original.to_owned())
        .bind(crate::sql::message_search(new.search_text()))
        .fetch_optional(&mut *conn)
        .await?;
        match updated {
            Some(id) => {
                let payload = json!({"message_id": id, "edited_at": at, "text": new.text()});
                events.push(channel.workspace_id, "message.updated", Some(id), Some(channel), &payload);
                Ok(())
            }
            None => Self::remember_pending(conn, channel, original, now).await,
        }
    }

    pub(super) async fn apply_revoke(
        conn: &mut DB::Connection,
        channel: &Channel,
        original: &str,
        at: Timestamp,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        let updated: Option<i64> = sqlx::query_scalar(
            "UPDATE messages SET revoked_at = $1 WHERE channel_id = $2 AND provider_message_id = $3 AND revoked_at IS NULL RETURNING id",
        )
        .bind(at.as_micros())
        .bind(channel.id.get())
        .bind(original.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        match updated {
            Some(id) => {
                let payload = json!({"message_id": id, "revoked_at": at});
                events.push(channel.workspace_id, "message.updated", Some(id), Some(channel), &payload);
                Ok(())
            }
            None => Self::remember_pending(conn, channel, original, now).await,
        }
    }

    /// Notes that a change waits for a message we do not have yet.
    async fn remember_pending(
        conn: &mut DB::Connection,
        channel: &Channel,
        original: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pending_changes (channel_id, target_provider_id, created_at)
             SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM messages WHERE channel_id = $1 AND provider_message_id = $2)
             ON CONFLICT (channel_id, target_provider_id) DO NOTHING",
        )
        .bind(channel.id.get())
        .bind(original.to_owned())
        .bind(now.as_micros())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Edits and revokes stored before the messages they change (`originals`, just inserted):
    /// applied now. Those that arrived in this same batch apply themselves.
    pub(super) async fn apply_earlier_changes(
        conn: &mut DB::Connection,
        channel: &Channel,
        originals: &[&str],
        inserted_here: &HashSet<(i64, &str)>,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        // Usually nothing waits: one cheap query instead of a lookup per message.
        let waiting: Option<i64> = sqlx::query_scalar(
            "SELECT channel_id FROM pending_changes WHERE channel_id = $1 AND created_at > $2 LIMIT 1",
        )
        .bind(channel.id.get())
        .bind(now.plus_secs(-7 * 24 * 3600).as_micros())
        .fetch_optional(&mut *conn)
        .await?;
        if waiting.is_none() {
            return Ok(());
        }
        for chunk in statement_chunks(originals) {
            let mut qb = QueryBuilder::<DB>::new(
                "SELECT provider_message_id, target_provider_id, type, content, sent_at FROM messages
                 WHERE type IN ('edit', 'revoke') AND channel_id = ",
            );
            qb.push_bind(channel.id.get()).push(" AND target_provider_id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind((*id).to_owned());
            }
            qb.push(") ORDER BY sent_at, id");
            let changes: Vec<(String, String, String, String, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
            let mut done = QueryBuilder::<DB>::new("DELETE FROM pending_changes WHERE channel_id = ");
            done.push_bind(channel.id.get()).push(" AND target_provider_id IN (");
            let mut list = done.separated(", ");
            for id in chunk {
                list.push_bind((*id).to_owned());
            }
            done.push(")");
            done.build().execute(&mut *conn).await?;
            for (change_id, target, kind, content, at) in changes {
                if inserted_here.contains(&(channel.id.get(), change_id.as_str())) {
                    continue;
                }
                let at = Timestamp::from_micros(at);
                match (kind.as_str(), serde_json::from_str::<Content>(&content)?) {
                    ("edit", Content::Edit { message, .. }) => {
                        Self::apply_edit(conn, channel, &target, &message, at, now, events).await?
                    }
                    ("revoke", _) => Self::apply_revoke(conn, channel, &target, at, now, events).await?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// System notices: a changed number marks the contact until an agent acknowledges it, and
    /// the new id finds the same contact from now on.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_system(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        contact: i64,
        kind: &str,
        new_wa_id: Option<&str>,
        new_user_id: Option<&str>,
        m: &InboundMessage,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        let (identity_kind, value) = match kind {
            "user_changed_number" | "customer_changed_number" | "customer_identity_changed" => {
                sqlx::query("UPDATE contacts SET identity_changed_at = $1, updated_at = $2 WHERE id = $3")
                    .bind(m.sent_at.as_micros())
                    .bind(now.as_micros())
                    .bind(contact)
                    .execute(&mut *conn)
                    .await?;
                let payload = json!({
                    "contact_id": contact, "kind": kind, "old_wa_id": m.from.wa_id, "new_wa_id": new_wa_id, "at": m.sent_at,
                });
                events.push(ws, "contact.identity_changed", Some(contact), None, &payload);
                (WA_ID, new_wa_id.and_then(|w| WaId::parse(w).ok()).map(|w| w.as_str().to_owned()))
            }
            "user_changed_user_id" => {
                (BSUID, new_user_id.and_then(|b| Bsuid::parse(b).ok()).map(|b| b.as_str().to_owned()))
            }
            _ => return Ok(()),
        };
        if let Some(value) = value {
            sqlx::query(
                "INSERT INTO contact_identities (workspace_id, contact_id, kind, value, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (workspace_id, kind, value) DO NOTHING",
            )
            .bind(ws.get())
            .bind(contact)
            .bind(identity_kind.to_owned())
            .bind(value)
            .bind(now.as_micros())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
