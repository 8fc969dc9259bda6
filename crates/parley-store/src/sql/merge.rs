//! Merging two contacts of one person, in one transaction: everything of the secondary moves
//! to the primary, the secondary's id keeps resolving to the primary, and the merge is recorded.
//!
//! What moves: WhatsApp identities, notes, opt-ins, tags (union), custom fields and empty
//! name/phone/email (the primary's values win unless the request overrides them), conversations
//! (a conversation on a channel where the primary has one too is folded into it, messages and
//! outbox jobs included), the business-initiated ledger, redirects that pointed at the
//! secondary. Flags that protect the customer (blocked, identity changed) carry over. The
//! secondary as it was is kept in the merge record; nothing is lost. Any failure rolls all of it
//! back.

use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::contact::Contact;
use parley_core::ids::{ContactId, UserId, WorkspaceId};
use parley_core::validation::Invalid;
use serde_json::{Map, Value, json};

use super::contacts::search_text;
use super::events::NewEvent;
use super::locks::LockClass;
use super::{Engine, SqlStore};
use crate::error::StoreResult;
use crate::{MergeRecord, MergeRequest, Merged};

/// id, primary, secondary, merged_by, secondary snapshot, moved, created_at.
type MergeRow = (i64, i64, i64, Option<i64>, String, String, i64);

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    pub(crate) async fn merge_in(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        request: MergeRequest,
        now: Timestamp,
    ) -> StoreResult<Merged> {
        let (mut primary, secondary) = Self::find_pair_held(conn, ws, &request).await?;
        if primary.id == secondary.id {
            return Err(Invalid::new("same_contact", None, "a contact cannot be merged into itself").into());
        }
        let mut moved = Self::move_records(conn, primary.id.get(), secondary.id.get(), now).await?;
        moved.insert("tags".to_owned(), json!(secondary.tags.iter().filter(|t| !primary.tags.contains(t)).count()));
        let filled = primary.absorb(&secondary)?;
        moved.insert("filled".to_owned(), json!(filled));
        request.overrides.apply(&mut primary)?;
        primary.updated_at = now;
        Self::write_merged(conn, ws, &primary, secondary.id, now).await?;

        let merge = Self::record_merge(conn, ws, &primary, &secondary, request.by, Value::Object(moved), now).await?;
        let contact = Self::find_contact(conn, ws, &parley_core::contact::ContactRef::Id(primary.id)).await?;
        Self::append_event(
            conn,
            ws,
            NewEvent::new("contact.merged", primary.id.get(), &json!({"contact": contact, "merge": merge})),
            now,
        )
        .await?;
        Self::suggest_duplicates(conn, ws, std::slice::from_ref(&contact), now).await?;
        Ok(Merged { contact, merge })
    }

    /// Moves everything that belongs to the secondary `s` to the primary `p`; answers how much
    /// of each kind moved (the merge record's `moved`).
    async fn move_records(
        conn: &mut DB::Connection,
        p: i64,
        s: i64,
        now: Timestamp,
    ) -> StoreResult<Map<String, Value>> {
        let mut moved = Map::new();
        for (kind, sql) in [
            ("identities", "UPDATE contact_identities SET contact_id = $1 WHERE contact_id = $2"),
            ("notes", "UPDATE contact_notes SET contact_id = $1 WHERE contact_id = $2"),
            ("opt_ins", "UPDATE opt_ins SET contact_id = $1 WHERE contact_id = $2"),
            ("business_initiated", "UPDATE business_initiated SET contact_id = $1 WHERE contact_id = $2"),
            ("redirects", "UPDATE contact_redirects SET to_id = $1 WHERE to_id = $2"),
        ] {
            let done = sqlx::query(sql).bind(p).bind(s).execute(&mut *conn).await?;
            moved.insert(kind.to_owned(), json!(DB::rows_affected(&done)));
        }
        let (conversations, folded, messages) = Self::move_conversations(conn, p, s, now).await?;
        moved.insert("conversations".to_owned(), json!(conversations));
        moved.insert("conversations_folded".to_owned(), json!(folded));
        moved.insert("messages".to_owned(), json!(messages));
        let done = sqlx::query("UPDATE outbox SET contact_id = $1 WHERE contact_id = $2")
            .bind(p)
            .bind(s)
            .execute(&mut *conn)
            .await?;
        moved.insert("outbox".to_owned(), json!(DB::rows_affected(&done)));
        Ok(moved)
    }

    /// Writes the primary as merged (with the secondary's protective flags), then removes the
    /// secondary, whose id resolves to the primary from now on.
    async fn write_merged(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        primary: &Contact,
        secondary: ContactId,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE contacts SET name = $1, phone = $2, email = $3, fields = $4, tags = $5, search = $6, updated_at = $7,
                invalid_phone = COALESCE(invalid_phone, (SELECT invalid_phone FROM contacts WHERE id = $10)),
                invalid_email = COALESCE(invalid_email, (SELECT invalid_email FROM contacts WHERE id = $10)),
                blocked_at = COALESCE(blocked_at, (SELECT blocked_at FROM contacts WHERE id = $10)),
                identity_changed_at = COALESCE(identity_changed_at, (SELECT identity_changed_at FROM contacts WHERE id = $10))
             WHERE workspace_id = $8 AND id = $9",
        )
        .bind(primary.name.clone())
        .bind(primary.phone.as_ref().map(|x| x.as_str().to_owned()))
        .bind(primary.email.as_ref().map(|x| x.as_str().to_owned()))
        .bind(serde_json::to_string(&primary.fields)?)
        .bind(serde_json::to_string(&primary.tags)?)
        .bind(search_text(primary))
        .bind(now.as_micros())
        .bind(ws.get())
        .bind(primary.id.get())
        .bind(secondary.get())
        .execute(&mut *conn)
        .await?;
        Self::write_tags(conn, ws, primary).await?;
        sqlx::query("DELETE FROM contacts WHERE workspace_id = $1 AND id = $2")
            .bind(ws.get())
            .bind(secondary.get())
            .execute(&mut *conn)
            .await?;
        sqlx::query("INSERT INTO contact_redirects (workspace_id, from_id, to_id) VALUES ($1, $2, $3)")
            .bind(ws.get())
            .bind(secondary.get())
            .bind(primary.id.get())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Keeps the merge in the primary's history, with the secondary as it was.
    async fn record_merge(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        primary: &Contact,
        secondary: &Contact,
        by: Option<UserId>,
        moved: Value,
        now: Timestamp,
    ) -> StoreResult<MergeRecord> {
        let snapshot = json!(secondary);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO contact_merges (workspace_id, primary_id, secondary_id, merged_by, secondary, moved, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(ws.get())
        .bind(primary.id.get())
        .bind(secondary.id.get())
        .bind(by.map(UserId::get))
        .bind(snapshot.to_string())
        .bind(moved.to_string())
        .bind(now.as_micros())
        .fetch_one(&mut *conn)
        .await?;
        Ok(MergeRecord {
            id,
            primary_id: primary.id,
            secondary_id: secondary.id,
            merged_by: by,
            secondary: snapshot,
            moved,
            created_at: now,
        })
    }

    /// The two contacts of a merge, read after their [`LockClass::Contact`] locks are held: a
    /// webhook writing for either has committed, and the next waits for the merge (PostgreSQL;
    /// see `sql/locks.rs`). A contact merged away before its lock was taken resolves to another
    /// id: that one is locked too and both are read again.
    async fn find_pair_held(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        request: &MergeRequest,
    ) -> StoreResult<(Contact, Contact)> {
        let mut held: Vec<i64> = Vec::new();
        loop {
            let primary = Self::find_contact(conn, ws, &request.primary).await?;
            let secondary = Self::find_contact(conn, ws, &request.secondary).await?;
            let ids = [primary.id.get(), secondary.id.get()];
            if !DB::CONCURRENT_WRITERS || ids.iter().all(|id| held.contains(id)) {
                return Ok((primary, secondary));
            }
            let keys = ids.iter().filter(|id| !held.contains(id)).map(i64::to_string).collect();
            DB::lock_keys(conn, LockClass::Contact, keys).await?;
            held.extend(ids);
        }
    }

    /// Holds shared [`LockClass::Contact`] locks of `ids` for a webhook about to write for them;
    /// false when one of them no longer exists (merged or deleted since it was looked up).
    pub(crate) async fn hold_contacts(conn: &mut DB::Connection, ids: &[i64]) -> StoreResult<bool> {
        if !DB::CONCURRENT_WRITERS || ids.is_empty() {
            return Ok(true);
        }
        let ids: Vec<i64> = ids.iter().copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        // Shared: webhooks only need to keep merges out, not each other.
        DB::share_keys(conn, LockClass::Contact, ids.iter().map(i64::to_string).collect()).await?;
        let wanted = ids.len();
        Ok(DB::count_contacts(conn, ids).await? == wanted)
    }

    /// Moves the secondary's conversations; one on a channel where the primary already has a
    /// conversation is folded into it. Answers (moved, folded, messages moved between threads).
    async fn move_conversations(
        conn: &mut DB::Connection,
        p: i64,
        s: i64,
        now: Timestamp,
    ) -> StoreResult<(u64, u64, u64)> {
        let theirs: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, channel_id FROM conversations WHERE contact_id = $1 ORDER BY id")
                .bind(s)
                .fetch_all(&mut *conn)
                .await?;
        let (mut moved, mut folded, mut messages) = (0, 0, 0);
        for (conversation, channel) in theirs {
            let ours: Option<i64> =
                sqlx::query_scalar("SELECT id FROM conversations WHERE contact_id = $1 AND channel_id = $2")
                    .bind(p)
                    .bind(channel)
                    .fetch_optional(&mut *conn)
                    .await?;
            let Some(ours) = ours else {
                sqlx::query("UPDATE conversations SET contact_id = $1, updated_at = $2 WHERE id = $3")
                    .bind(p)
                    .bind(now.as_micros())
                    .bind(conversation)
                    .execute(&mut *conn)
                    .await?;
                moved += 1;
                continue;
            };
            let done = sqlx::query("UPDATE messages SET conversation_id = $1 WHERE conversation_id = $2")
                .bind(ours)
                .bind(conversation)
                .execute(&mut *conn)
                .await?;
            messages += DB::rows_affected(&done);
            sqlx::query("UPDATE conversation_notes SET conversation_id = $1 WHERE conversation_id = $2")
                .bind(ours)
                .bind(conversation)
                .execute(&mut *conn)
                .await?;
            sqlx::query("UPDATE outbox SET conversation_id = $1 WHERE conversation_id = $2")
                .bind(ours)
                .bind(conversation)
                .execute(&mut *conn)
                .await?;
            // The folded thread keeps the latest of each time (the service window, the free
            // entry point and the activity order all follow the customer, not the record).
            sqlx::query(
                "UPDATE conversations SET
                    last_message_at = (SELECT MAX(last_message_at) FROM conversations WHERE id IN ($1, $2)),
                    last_inbound_at = (SELECT MAX(last_inbound_at) FROM conversations WHERE id IN ($1, $2)),
                    last_referral_at = (SELECT MAX(last_referral_at) FROM conversations WHERE id IN ($1, $2)),
                    entry_point_opened_at = (SELECT MAX(entry_point_opened_at) FROM conversations WHERE id IN ($1, $2)),
                    updated_at = $3
                 WHERE id = $1",
            )
            .bind(ours)
            .bind(conversation)
            .bind(now.as_micros())
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM conversations WHERE id = $1").bind(conversation).execute(&mut *conn).await?;
            folded += 1;
        }
        Ok((moved, folded, messages))
    }

    /// Merges into `contact` (and into contacts later merged into it), newest first.
    pub(crate) async fn merges_into(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        contact: ContactId,
    ) -> StoreResult<Vec<MergeRecord>> {
        let rows: Vec<MergeRow> = sqlx::query_as(
            "SELECT id, primary_id, secondary_id, merged_by, secondary, moved, created_at FROM contact_merges
             WHERE workspace_id = $1
               AND (primary_id = $2 OR primary_id IN (SELECT from_id FROM contact_redirects WHERE workspace_id = $1 AND to_id = $2))
             ORDER BY id DESC",
        )
        .bind(ws.get())
        .bind(contact.get())
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .map(|(id, primary, secondary, by, snapshot, moved, at)| {
                Ok(MergeRecord {
                    id,
                    primary_id: ContactId(primary),
                    secondary_id: ContactId(secondary),
                    merged_by: by.map(UserId),
                    secondary: serde_json::from_str(&snapshot)?,
                    moved: serde_json::from_str(&moved)?,
                    created_at: Timestamp::from_micros(at),
                })
            })
            .collect()
    }
}
