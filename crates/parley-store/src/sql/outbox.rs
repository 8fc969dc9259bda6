//! Outbound sends: judging and queueing a send in one transaction (facts gathered, the rule
//! asked, message and outbox job stored together), and agents' retries. The dispatcher's side of
//! the outbox lives in `dispatch.rs`.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::conversation::{Conversation, Message};
use parley_core::idempotency::{request_fingerprint, scoped_key};
use parley_core::ids::{ChannelId, ContactId, MessageId, WorkspaceId};
use parley_core::message::{Content, DeliveryStatus, ProviderError};
use parley_core::outbound::OutboundMessage;
use parley_core::rules::{Allowed, Refusal};
use serde_json::json;
use sqlx::QueryBuilder;

use super::inbound::EventBuffer;
use super::locks::LockClass;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{
    Decide, JobOutcome, Outbox, OutboxCounts, OutboxJob, SendFacts, SendOutcome, SendRequest, TemplateRecord, Viewer,
};

const DAY_MICROS: i64 = 24 * 3600 * 1_000_000;

/// Where and how one message of a send is queued.
struct Queued<'a> {
    at: Timestamp,
    conversation: i64,
    contact: ContactId,
    recipient: &'a str,
    /// The request's idempotency key (`#i` after it for the i-th message but the first).
    key: Option<String>,
    /// The request's fingerprint, on the first message.
    fingerprint: Option<String>,
}

/// A send judged: what the rules saw and decided.
struct Judged {
    facts: SendFacts,
    decisions: Vec<Allowed>,
    /// A message is business-initiated to a recipient not counted yet in the rolling 24 h: the
    /// send takes a slot of the messaging limit.
    takes_a_slot: bool,
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Everything the send rules look at, read inside the caller's transaction.
    async fn send_facts(conn: &mut DB::Connection, req: &SendRequest<'_>, now: Timestamp) -> StoreResult<SendFacts> {
        let channel = Self::channel_in(conn, req.ws, req.channel).await?;
        if !Self::sees_channel(conn, channel.id, req.viewer).await? {
            return Err(StoreError::NotFound);
        }
        let contact = Self::find_contact(conn, req.ws, req.to).await?;
        let cid = contact.id.get();
        let conversation = Self::conversation_of(conn, channel.id, contact.id).await?;
        let wa_id: Option<String> = sqlx::query_scalar(
            "SELECT value FROM contact_identities WHERE contact_id = $1 AND kind = 'wa_id' ORDER BY id LIMIT 1",
        )
        .bind(cid)
        .fetch_optional(&mut *conn)
        .await?;
        let recipient = wa_id.clone().or_else(|| contact.phone.as_ref().map(|p| p.digits().to_owned()));
        let (require_opt_in, blocked_at, identity_changed_at): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT w.require_opt_in, c.blocked_at, c.identity_changed_at FROM contacts c JOIN workspaces w ON w.id = c.workspace_id
             WHERE c.id = $1",
        )
        .bind(cid)
        .fetch_one(&mut *conn)
        .await?;
        let consent: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM opt_ins WHERE contact_id = $1 AND revoked_at IS NULL AND (channel_id IS NULL OR channel_id = $2)
             UNION ALL SELECT CAST(1 AS BIGINT) FROM conversations WHERE contact_id = $1 AND last_inbound_at IS NOT NULL LIMIT 1",
        )
        .bind(cid)
        .bind(channel.id.get())
        .fetch_optional(&mut *conn)
        .await?;
        let stop: Option<String> = sqlx::query_scalar(
            "SELECT p.value FROM user_preferences p JOIN contact_identities i ON i.value = p.identity_value AND i.kind = p.identity_kind
             WHERE i.contact_id = $1 AND p.channel_id = $2 AND p.category = 'marketing_messages' ORDER BY p.at DESC LIMIT 1",
        )
        .bind(cid)
        .bind(channel.id.get())
        .fetch_optional(&mut *conn)
        .await?;
        let since = now.as_micros() - DAY_MICROS;
        let (recipients, counted): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(DISTINCT contact_id), CAST(COALESCE(MAX(CASE WHEN contact_id = $4 THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM business_initiated
             WHERE workspace_id = $1 AND waba_id = $2 AND at > $3",
        )
        .bind(req.ws.get())
        .bind(channel.waba_id.clone())
        .bind(since)
        .bind(cid)
        .fetch_one(&mut *conn)
        .await?;
        let mut templates = Vec::new();
        for (name, language) in req.messages.iter().filter_map(|m| m.template()) {
            let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
                "SELECT category, status, components, provider_template_id FROM templates
                 WHERE workspace_id = $1 AND waba_id = $2 AND name = $3 AND language = $4",
            )
            .bind(req.ws.get())
            .bind(channel.waba_id.clone())
            .bind(name.to_owned())
            .bind(language.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((category, status, components, provider_template_id)) = row {
                templates.push(TemplateRecord {
                    waba_id: channel.waba_id.clone(),
                    name: name.to_owned(),
                    language: language.to_owned(),
                    category,
                    status,
                    components: serde_json::from_str(&components)?,
                    provider_template_id,
                });
            }
        }
        Ok(SendFacts {
            recipient,
            conversation,
            opted_in: consent.is_some(),
            require_opt_in: require_opt_in != 0,
            marketing_opt_out: stop.as_deref() == Some("stop"),
            identity_unacknowledged: identity_changed_at.is_some(),
            blocked: blocked_at.is_some(),
            recipients_last_24h: recipients.max(0) as u64,
            recipient_counted: counted != 0,
            templates,
            channel,
            contact,
        })
    }

    /// The facts of a send and the rule's decision on each of its messages, or the first
    /// refusal (with the message's index). Reads only.
    async fn judge_send(
        conn: &mut DB::Connection,
        req: &SendRequest<'_>,
        decide: Decide<'_>,
        now: Timestamp,
    ) -> StoreResult<Result<Judged, (usize, Refusal)>> {
        let mut facts = Self::send_facts(conn, req, now).await?;
        let counted_before = facts.recipient_counted;
        let mut decisions = Vec::with_capacity(req.messages.len());
        for (index, message) in req.messages.iter().enumerate() {
            // Replies and reactions must point at a message of this conversation.
            let target = message.reply_to.as_deref().or(match &message.content {
                Content::Reaction { message_id, .. } => Some(message_id.as_str()),
                _ => None,
            });
            if let Some(target) = target {
                let known: Option<i64> = match &facts.conversation {
                    Some(c) => {
                        sqlx::query_scalar(
                            "SELECT id FROM messages WHERE conversation_id = $1 AND provider_message_id = $2",
                        )
                        .bind(c.id.get())
                        .bind(target.to_owned())
                        .fetch_optional(&mut *conn)
                        .await?
                    }
                    None => None,
                };
                if known.is_none() {
                    return Err(StoreError::Invalid(parley_core::Invalid::new(
                        "invalid_message",
                        Some("context.message_id".into()),
                        format!("{target:?} is not a message of this conversation"),
                    )));
                }
            }
            match decide(&facts, message) {
                Ok(allowed) => {
                    // The next message of this send costs no new budget.
                    facts.recipient_counted |= allowed.business_initiated;
                    decisions.push(allowed);
                }
                Err(refusal) => return Ok(Err((index, refusal))),
            }
        }
        let takes_a_slot = !counted_before && decisions.iter().any(|d: &Allowed| d.business_initiated);
        Ok(Ok(Judged { facts, decisions, takes_a_slot }))
    }

    async fn conversation_of(
        conn: &mut DB::Connection,
        channel: ChannelId,
        contact: ContactId,
    ) -> StoreResult<Option<Conversation>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM conversations WHERE channel_id = $1 AND contact_id = $2")
                .bind(channel.get())
                .bind(contact.get())
                .fetch_optional(&mut *conn)
                .await?;
        match id {
            Some(id) => Ok(Some(Self::conversation_by_id(conn, id).await?)),
            None => Ok(None),
        }
    }

    /// The messages already queued under this (scoped) idempotency key, in order, and the
    /// fingerprint of the request that queued them (none for keys stored before fingerprints).
    async fn replayed(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        key: &str,
    ) -> StoreResult<(Vec<Message>, Option<String>)> {
        // The first message carries the key, the others `key#1`, `key#2`… (exact matches only).
        let mut qb = QueryBuilder::<DB>::new(
            "SELECT id, idempotency_key, idempotency_fingerprint FROM messages WHERE workspace_id = ",
        );
        qb.push_bind(ws.get()).push(" AND idempotency_key IN (");
        let mut list = qb.separated(", ");
        list.push_bind(key.to_owned());
        for i in 1..=parley_core::outbound::MAX_ATTACHMENTS {
            list.push_bind(format!("{key}#{i}"));
        }
        qb.push(") ORDER BY id");
        let rows: Vec<(i64, String, Option<String>)> = qb.build_query_as().fetch_all(&mut *conn).await?;
        let fingerprint = rows.iter().find(|(_, k, _)| k == key).and_then(|(_, _, f)| f.clone());
        let mut out = Vec::with_capacity(rows.len());
        for (id, _, _) in rows {
            out.push(Self::message_by_id(conn, id).await?);
        }
        Ok((out, fingerprint))
    }

    /// A replay of an earlier send, checked like a read: not found when the sender no longer
    /// sees a channel the messages are on, refused when the key named another request.
    async fn replay(
        conn: &mut DB::Connection,
        req: &SendRequest<'_>,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<Option<Vec<Message>>> {
        let (earlier, first) = Self::replayed(conn, req.ws, key).await?;
        if earlier.is_empty() {
            return Ok(None);
        }
        for message in &earlier {
            if !Self::sees_channel(conn, message.channel_id, req.viewer).await? {
                return Err(StoreError::NotFound);
            }
        }
        if first.is_some_and(|first| first != fingerprint) {
            return Err(StoreError::IdempotencyKeyReused);
        }
        Ok(Some(earlier))
    }

    /// Marks a message with a new status, whatever its rank (retry resets it to queued).
    pub(crate) async fn set_message_status(
        conn: &mut DB::Connection,
        message: i64,
        status: DeliveryStatus,
        error: Option<&ProviderError>,
        now: Timestamp,
        only_forward: bool,
    ) -> StoreResult<bool> {
        let sql = if only_forward {
            "UPDATE messages SET status = $1, status_rank = $2, status_at = $3, error_code = COALESCE($4, error_code),
                error_title = COALESCE($5, error_title), error_details = COALESCE($6, error_details)
             WHERE id = $7 AND status_rank < $2"
        } else {
            "UPDATE messages SET status = $1, status_rank = $2, status_at = $3, error_code = $4, error_title = $5, error_details = $6
             WHERE id = $7"
        };
        let done = sqlx::query(sql)
            .bind(status.as_str().to_owned())
            .bind(i64::from(status.rank()))
            .bind(now.as_micros())
            .bind(error.map(|e| e.code))
            .bind(error.map(|e| e.title.clone()))
            .bind(error.and_then(|e| e.details.clone()))
            .bind(message)
            .execute(&mut *conn)
            .await?;
        let moved = DB::rows_affected(&done) > 0;
        if moved && status.is_final() {
            Self::fee_ready(conn, message).await?;
        }
        Ok(moved)
    }

    /// Judges a send; one that takes a slot of the messaging limit is judged again holding the
    /// account's lock. The count of recipients was first read without a lock (PostgreSQL reads
    /// at read committed): concurrent sends could all see the last slot free. Sends that take a
    /// slot wait for each other here, then judge again on a count that includes every send
    /// committed before; those that take none (replies inside the window, recipients already
    /// counted) do not wait. SQLite's single writer has serialised the whole transaction already.
    async fn judge_holding_a_slot(
        conn: &mut DB::Connection,
        req: &SendRequest<'_>,
        decide: Decide<'_>,
        now: Timestamp,
    ) -> StoreResult<Result<Judged, (usize, Refusal)>> {
        let judged = match Self::judge_send(conn, req, decide, now).await? {
            Ok(judged) if judged.takes_a_slot => judged,
            other => return Ok(other),
        };
        let key = format!("{}:{}", req.ws.get(), judged.facts.channel.waba_id);
        DB::lock_keys(conn, LockClass::MessagingLimit, vec![key]).await?;
        Self::judge_send(conn, req, decide, now).await
    }

    /// Writes a judged send: its messages, their outbox jobs, the slots and free entry point
    /// they take, and their events. Answers the messages as queued.
    async fn write_queued(
        conn: &mut DB::Connection,
        req: &SendRequest<'_>,
        judged: Judged,
        idempotency: Option<&(String, String)>,
        now: Timestamp,
    ) -> StoreResult<Vec<Message>> {
        let Judged { facts, decisions, .. } = judged;
        let recipient = facts.recipient.clone().ok_or(StoreError::Refused(Refusal::NoPhone))?;
        let channel = &facts.channel;
        let conversation = Self::ensure_conversation(conn, channel, facts.contact.id, now).await?;
        let mut events = EventBuffer::default();
        let mut ids = Vec::with_capacity(req.messages.len());
        for (i, (message, allowed)) in req.messages.iter().zip(&decisions).enumerate() {
            let queued = Queued {
                // Strictly increasing times keep the request's order in the thread.
                at: now.plus_micros(i as i64),
                conversation,
                contact: facts.contact.id,
                recipient: &recipient,
                key: idempotency.map(|(k, _)| if i == 0 { k.clone() } else { format!("{k}#{i}") }),
                fingerprint: idempotency.filter(|_| i == 0).map(|(_, f)| f.clone()),
            };
            let id = Self::insert_queued(conn, req, channel, message, allowed, &queued, now).await?;
            let payload = json!({"message_id": id, "conversation_id": conversation, "type": message.content.type_name(),
                "text": message.content.text(), "pricing": {"category": allowed.category, "type": allowed.pricing_type}});
            events.push(req.ws, "message.queued", Some(id), Some(channel), &payload);
            ids.push(id);
        }
        Self::flush_events(conn, events, now).await?;
        let mut messages = Vec::with_capacity(ids.len());
        for id in ids {
            messages.push(Self::message_by_id(conn, id).await?);
        }
        Ok(messages)
    }

    /// One queued message: its row, its outbox job, its uploaded file's copy, and what its
    /// decision takes (a slot of the messaging limit, the free entry point). Answers its id.
    async fn insert_queued(
        conn: &mut DB::Connection,
        req: &SendRequest<'_>,
        channel: &Channel,
        message: &OutboundMessage,
        allowed: &Allowed,
        queued: &Queued<'_>,
        now: Timestamp,
    ) -> StoreResult<i64> {
        let ws = req.ws;
        let context = message.reply_to.as_ref().map(|r| json!({"reply_to": r}).to_string());
        let pricing = json!({"category": allowed.category, "type": allowed.pricing_type}).to_string();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, type, text, content, context,
                target_provider_id, status, status_rank, status_at, sent_at, created_at, author_id, idempotency_key,
                pricing_estimate, search, idempotency_fingerprint)
             VALUES ($1, $2, $3, 'out', $4, $5, $6, $7, $8, 'queued', $9, $10, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
        )
        .bind(ws.get())
        .bind(queued.conversation)
        .bind(channel.id.get())
        .bind(message.content.type_name().to_owned())
        .bind(message.content.text().map(str::to_owned))
        .bind(serde_json::to_string(&message.content)?)
        .bind(context)
        .bind(super::inbound::target_of(&message.content).map(str::to_owned))
        .bind(i64::from(DeliveryStatus::Queued.rank()))
        .bind(queued.at.as_micros())
        .bind(now.as_micros())
        .bind(req.author.map(|a| a.get()))
        .bind(queued.key.clone())
        .bind(pricing)
        .bind(super::message_search(message.content.search_text()))
        .bind(queued.fingerprint.clone())
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO outbox (workspace_id, message_id, channel_id, conversation_id, contact_id, recipient, state,
                next_attempt_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $7)",
        )
        .bind(ws.get())
        .bind(id)
        .bind(channel.id.get())
        .bind(queued.conversation)
        .bind(queued.contact.get())
        .bind(queued.recipient.to_owned())
        .bind(now.as_micros())
        .execute(&mut *conn)
        .await?;
        if let Some(media_id) = message.content.media().and_then(|m| m.id.as_deref()) {
            // A file uploaded through Parley shows in the thread from Parley's own copy, as sent
            // (a media id from elsewhere has no copy here: nothing to show but its type).
            sqlx::query(
                "INSERT INTO media (workspace_id, channel_id, message_id, provider_media_id, mime_type, state,
                    next_attempt_at, sha256, size, created_at, updated_at)
                 SELECT workspace_id, channel_id, $1, provider_media_id, mime_type, 'available', $2, sha256, size, $2, $2
                 FROM uploads WHERE workspace_id = $3 AND channel_id = $4 AND provider_media_id = $5",
            )
            .bind(id)
            .bind(now.as_micros())
            .bind(ws.get())
            .bind(channel.id.get())
            .bind(media_id.to_owned())
            .execute(&mut *conn)
            .await?;
        }
        if allowed.business_initiated {
            sqlx::query("INSERT INTO business_initiated (workspace_id, waba_id, contact_id, message_id, at) VALUES ($1, $2, $3, $4, $5)")
                .bind(ws.get())
                .bind(channel.waba_id.clone())
                .bind(queued.contact.get())
                .bind(id)
                .bind(now.as_micros())
                .execute(&mut *conn)
                .await?;
        }
        if allowed.opens_free_entry_point {
            sqlx::query("UPDATE conversations SET entry_point_opened_at = $1 WHERE id = $2")
                .bind(now.as_micros())
                .bind(queued.conversation)
                .execute(&mut *conn)
                .await?;
        }
        Ok(id)
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Outbox for SqlStore<DB> {
    async fn queue_send(&self, req: SendRequest<'_>, decide: Decide<'_>, now: Timestamp) -> StoreResult<SendOutcome> {
        // Facts and writes in one write transaction, so that what was judged is what is written.
        let mut tx = self.begin_write().await?;
        // Keys are the sender's own (`scoped_key`): another user's `order-42` is another key.
        let idempotency = req.idempotency_key.filter(|_| !req.dry_run).map(|key| {
            (scoped_key(req.author, req.channel, key), request_fingerprint(req.channel, req.to, req.messages))
        });
        if let Some((key, fingerprint)) = &idempotency
            && let Some(earlier) = Self::replay(&mut tx, &req, key, fingerprint).await?
        {
            return Ok(SendOutcome::Replayed(earlier));
        }
        // Personalized from the contact as this transaction reads it, not as it was a moment ago.
        let personalized;
        let req = match req.personalize {
            Some(personalize) => {
                let contact = Self::find_contact(&mut tx, req.ws, req.to).await?;
                let mut messages = req.messages.to_vec();
                if let Err((index, refusal)) = personalize(&contact, &mut messages) {
                    return Ok(SendOutcome::Refused { index, refusal });
                }
                personalized = messages;
                SendRequest { messages: &personalized, personalize: None, ..req }
            }
            None => req,
        };
        let mut judged = match Self::judge_holding_a_slot(&mut tx, &req, decide, now).await? {
            Ok(judged) => judged,
            Err((index, refusal)) => return Ok(SendOutcome::Refused { index, refusal }),
        };
        // Priced where its WABA has a fee account (`fee_charges.rs`).
        let recipient = judged.facts.recipient.clone().unwrap_or_default();
        let waba = judged.facts.channel.waba_id.clone();
        let fees =
            Self::estimate_send(&mut tx, &self.rate_cards, req.ws, &waba, &recipient, &mut judged.decisions, now)
                .await?;
        if req.dry_run {
            if let Some(fees) = &fees
                && let Err(refusal) = fees.covered()
            {
                return Ok(SendOutcome::Refused { index: 0, refusal });
            }
            return Ok(SendOutcome::Allowed(judged.decisions));
        }
        let messages = Self::write_queued(&mut tx, &req, judged, idempotency.as_ref(), now).await?;
        if let Some(fees) = &fees {
            let ids: Vec<i64> = messages.iter().map(|m| m.id.get()).collect();
            if let Err(refusal) = Self::hold_send(&mut tx, fees, &ids, now).await? {
                // Dropped without a commit: nothing of the send is kept.
                return Ok(SendOutcome::Refused { index: 0, refusal });
            }
        }
        tx.commit().await?;
        Ok(SendOutcome::Queued(messages))
    }

    async fn due_channels(&self, now: Timestamp) -> StoreResult<Vec<ChannelId>> {
        self.channels_with_due_jobs(now).await
    }

    async fn claim_outbox(
        &self,
        channel: ChannelId,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxJob>> {
        self.claim_jobs(channel, now, lease_until, limit).await
    }

    async fn outbox_start(&self, jobs: &[i64], now: Timestamp) -> StoreResult<Vec<i64>> {
        self.start_jobs(jobs, now).await
    }

    async fn outbox_record(&self, outcomes: &[JobOutcome], now: Timestamp) -> StoreResult<()> {
        self.record_outcomes(outcomes, now).await
    }

    async fn expire_outbox_leases(&self, now: Timestamp) -> StoreResult<u64> {
        self.expire_leases(now).await
    }

    async fn outbox_counts(&self, ws: WorkspaceId, channel: ChannelId) -> StoreResult<OutboxCounts> {
        self.count_outbox(ws, channel).await
    }

    async fn requeue_message(&self, ws: WorkspaceId, message: MessageId, now: Timestamp) -> StoreResult<Message> {
        let mut tx = self.begin_write().await?;
        // Failed before the provider took it, outcome unknown, or taken and then reported failed
        // by WhatsApp (its status webhook: the job itself had ended as sent).
        let job: Option<i64> = sqlx::query_scalar(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $1, lease_until = NULL, updated_at = $1
             WHERE workspace_id = $2 AND message_id = $3
               AND (state IN ('unknown', 'failed')
                    OR (state = 'sent' AND EXISTS (SELECT 1 FROM messages m WHERE m.id = outbox.message_id AND m.status = 'failed')))
             RETURNING id",
        )
        .bind(now.as_micros())
        .bind(ws.get())
        .bind(message.get())
        .fetch_optional(&mut *tx)
        .await?;
        if job.is_none() {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM messages WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(message.get())
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match exists {
                None => StoreError::NotFound,
                Some(_) => StoreError::Invalid(parley_core::Invalid::new(
                    "not_retryable",
                    None,
                    "only a failed message, or one whose outcome is unknown, can be retried",
                )),
            });
        }
        Self::set_message_status(&mut tx, message.get(), DeliveryStatus::Queued, None, now, false).await?;
        Self::pend_again(&mut tx, message.get()).await?;
        let m = Self::message_by_id(&mut tx, message.get()).await?;
        let mut events = EventBuffer::default();
        let payload = json!({"message_id": message, "status": "queued", "retry": true});
        events.push_on_channel(ws, "message.status", Some(message.get()), m.channel_id, &payload);
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(m)
    }

    async fn message(&self, ws: WorkspaceId, id: MessageId, viewer: Viewer) -> StoreResult<Message> {
        let mut conn = self.read.acquire().await?;
        let seen: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT id FROM messages WHERE id = $1 AND workspace_id = $2 AND ",
            visible_channel!("channel_id", "$3")
        ))
        .bind(id.get())
        .bind(ws.get())
        .bind(viewer.agent())
        .fetch_optional(&mut *conn)
        .await?;
        if seen.is_none() {
            return Err(StoreError::NotFound);
        }
        Self::message_by_id(&mut conn, id.get()).await
    }
}
