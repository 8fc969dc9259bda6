//! The inbound message pipeline, a batch at a time: drop what is already stored, resolve senders
//! to contacts, open or reopen conversations, insert the messages, queue media, then apply the
//! edits, revokes and notices.

use macro_rules_attribute::apply;
use std::collections::{HashMap, HashSet};

use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::message::{Content, InboundMessage};
use serde_json::{Value, json};
use sqlx::QueryBuilder;

use super::{EventBuffer, json_text, statement_chunks, target_of};
use crate::InboundOutcome;
use crate::error::{StoreError, StoreResult};
use crate::sql::{Engine, InboundMessageRow, SqlStore, message_search};

/// A message as it arrives, with its channel.
pub(crate) struct Arrival<'a> {
    pub channel: &'a Channel,
    pub m: &'a InboundMessage,
}

/// What existing conversations owe for this batch's messages: reopened, and their clocks moved
/// to the newest message (`(conversation id, newest provider time, newest referral time)`).
/// Applied by [`SqlStore::move_conversation_clocks`] as the transaction's last write, so that
/// the conversation row locks, which every delivery from the same customers contends for, are
/// held only until the commit that follows (PostgreSQL runs several ingest transactions at once).
#[derive(Default)]
pub(crate) struct ClockMoves(Vec<(i64, i64, Option<i64>)>);

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    pub(crate) async fn apply_messages(
        conn: &mut DB::Connection,
        arrivals: Vec<Arrival<'_>>,
        now: Timestamp,
        out: &mut InboundOutcome,
        events: &mut EventBuffer,
    ) -> StoreResult<ClockMoves> {
        // A redelivery changes nothing: not the contact, not the conversation's status.
        let fresh = Self::drop_known(conn, arrivals, out).await?;
        if fresh.is_empty() {
            return Ok(ClockMoves::default());
        }
        let contacts = Self::resolve_senders(conn, &fresh, now, events).await?;
        let (conversations, clocks) = Self::find_or_open_conversations(conn, &fresh, &contacts, now, events).await?;
        let ids = Self::insert_messages(conn, &fresh, &conversations, now).await?;

        let mut media = Vec::new();
        let mut inserted_here: HashSet<(i64, &str)> = HashSet::new();
        for (i, a) in fresh.iter().enumerate() {
            let Some(id) = ids[i] else {
                // Lost a race with a concurrent delivery of the same message (PostgreSQL).
                out.duplicates += 1;
                continue;
            };
            out.messages += 1;
            inserted_here.insert((a.channel.id.get(), a.m.provider_message_id.as_str()));
            if let Some(md) = a.m.content.media().filter(|md| md.id.is_some()) {
                media.push((a.channel, id, md.id.clone().unwrap_or_default(), md.mime_type.clone()));
            }
            let payload = json!({
                "message_id": id, "conversation_id": conversations[i], "contact_id": contacts[i],
                "provider_message_id": a.m.provider_message_id, "type": a.m.content.type_name(), "text": a.m.content.text(),
                "sent_at": a.m.sent_at, "referral": a.m.referral,
            });
            events.push(a.channel.workspace_id, "message.received", Some(id), Some(a.channel), &payload);
        }
        Self::queue_media(conn, &media, now).await?;

        // Edits, revokes and notices change other rows; an original that arrives after its
        // edit or revoke gets them applied now.
        let mut originals: HashMap<i64, (&Channel, Vec<&str>)> = HashMap::new();
        for (i, a) in fresh.iter().enumerate() {
            if ids[i].is_none() {
                continue;
            }
            match &a.m.content {
                Content::Edit { original_message_id, message } => {
                    Self::apply_edit(conn, a.channel, original_message_id, message, a.m.sent_at, now, events).await?;
                }
                Content::Revoke { original_message_id } => {
                    Self::apply_revoke(conn, a.channel, original_message_id, a.m.sent_at, now, events).await?;
                }
                Content::Reaction { .. } => {}
                Content::System { kind, new_wa_id, new_user_id, .. } => {
                    Self::apply_system(
                        conn,
                        a.channel.workspace_id,
                        contacts[i],
                        kind,
                        new_wa_id.as_deref(),
                        new_user_id.as_deref(),
                        a.m,
                        now,
                        events,
                    )
                    .await?;
                }
                _ => originals
                    .entry(a.channel.id.get())
                    .or_insert((a.channel, Vec::new()))
                    .1
                    .push(&a.m.provider_message_id),
            }
        }
        for (channel, ids) in originals.into_values() {
            Self::apply_earlier_changes(conn, channel, &ids, &inserted_here, now, events).await?;
        }
        Ok(clocks)
    }

    /// The arrivals not stored yet, each once.
    async fn drop_known<'a>(
        conn: &mut DB::Connection,
        arrivals: Vec<Arrival<'a>>,
        out: &mut InboundOutcome,
    ) -> StoreResult<Vec<Arrival<'a>>> {
        let mut by_channel: HashMap<i64, Vec<&str>> = HashMap::new();
        for a in &arrivals {
            by_channel.entry(a.channel.id.get()).or_default().push(&a.m.provider_message_id);
        }
        let mut known: HashSet<(i64, String)> = HashSet::new();
        for (channel, ids) in by_channel {
            let ids = ids.into_iter().map(str::to_owned).collect();
            let found = DB::stored_message_ids(conn, channel, ids).await?;
            known.extend(found.into_iter().map(|id| (channel, id)));
        }
        let mut fresh = Vec::with_capacity(arrivals.len());
        for a in arrivals {
            // `insert` is false for a stored message and for a repeat inside this batch.
            if known.insert((a.channel.id.get(), a.m.provider_message_id.clone())) {
                fresh.push(a);
            } else {
                out.duplicates += 1;
            }
        }
        Ok(fresh)
    }

    /// Conversation id per arrival: opened for a new contact × channel pair; an existing one is
    /// found (without a lock) and owes the returned clock moves.
    async fn find_or_open_conversations(
        conn: &mut DB::Connection,
        fresh: &[Arrival<'_>],
        contacts: &[i64],
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<(Vec<i64>, ClockMoves)> {
        // Per (channel, contact): its channel, the newest message time, the newest referral.
        let mut pairs: HashMap<(i64, i64), (&Channel, i64, Option<i64>)> = HashMap::new();
        for (a, contact) in fresh.iter().zip(contacts) {
            let at = a.m.sent_at.as_micros();
            let referral = a.m.referral.as_ref().map(|_| at);
            let entry = pairs.entry((a.channel.id.get(), *contact)).or_insert((a.channel, at, referral));
            entry.1 = entry.1.max(at);
            entry.2 = entry.2.max(referral);
        }
        let mut existing = Self::find_conversations(conn, pairs.keys().copied()).await?;
        // (channel, contact, newest message time, newest referral time) of pairs without one, in
        // key order, as every writer inserts them: two transactions opening the same
        // conversations wait for each other's commit in one direction only.
        let mut to_open: Vec<(&Channel, i64, i64, Option<i64>)> = pairs
            .iter()
            .filter(|(pair, _)| !existing.contains_key(pair))
            .map(|(&(_, contact), &(channel, at, referral))| (channel, contact, at, referral))
            .collect();
        to_open.sort_unstable_by_key(|(channel, contact, _, _)| (channel.id.get(), *contact));
        let opened = Self::open_conversations(conn, &to_open, now, events).await?;
        // A pair a concurrent transaction opened first (PostgreSQL): its insert was skipped once
        // that transaction committed, and its conversation is found now, as an existing one.
        let taken: Vec<(i64, i64)> = to_open
            .iter()
            .map(|(channel, contact, _, _)| (channel.id.get(), *contact))
            .filter(|pair| !opened.contains_key(pair))
            .collect();
        if !taken.is_empty() {
            existing.extend(Self::find_conversations(conn, taken.into_iter()).await?);
        }
        let mut ids: HashMap<(i64, i64), i64> = HashMap::new();
        let mut touched: Vec<(i64, i64, Option<i64>)> = Vec::new();
        for (&(channel_id, contact), &(channel, at, referral)) in &pairs {
            let id = match (opened.get(&(channel_id, contact)), existing.get(&(channel_id, contact))) {
                (Some(&id), _) => id,
                (None, Some((id, status))) => {
                    touched.push((*id, at, referral));
                    if status != "open" {
                        let payload = json!({"conversation_id": id, "contact_id": contact, "channel_id": channel_id, "previous_status": status});
                        events.push(channel.workspace_id, "conversation.reopened", Some(*id), Some(channel), &payload);
                    }
                    *id
                }
                (None, None) => {
                    return Err(StoreError::Contention("a conversation opened meanwhile was deleted".into()));
                }
            };
            ids.insert((channel_id, contact), id);
        }
        if !opened.is_empty() {
            let opened: Vec<(&Channel, i64)> = to_open
                .iter()
                .filter_map(|(channel, contact, _, _)| Some((*channel, *opened.get(&(channel.id.get(), *contact))?)))
                .collect();
            Self::auto_assign(conn, &opened, now, events).await?;
        }
        let ids = fresh.iter().zip(contacts).map(|(a, c)| ids[&(a.channel.id.get(), *c)]).collect();
        Ok((ids, ClockMoves(touched)))
    }

    /// Opens conversations for the pairs `to_open`, in one statement per chunk (a batch of first
    /// messages from thousands of customers opened them one by one), each told apart by its
    /// pair. A pair a concurrent transaction opened is skipped (the insert waits for its commit).
    /// Answers the id of each conversation opened here, by `(channel, contact)`.
    async fn open_conversations(
        conn: &mut DB::Connection,
        to_open: &[(&Channel, i64, i64, Option<i64>)],
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<HashMap<(i64, i64), i64>> {
        let mut opened = HashMap::new();
        for chunk in statement_chunks(to_open) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO conversations (workspace_id, channel_id, contact_id, status, last_message_at, last_inbound_at,
                    last_referral_at, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut row, (channel, contact, at, referral)| {
                row.push_bind(channel.workspace_id.get())
                    .push_bind(channel.id.get())
                    .push_bind(*contact)
                    .push_bind("open".to_owned())
                    .push_bind(*at)
                    .push_bind(*at)
                    .push_bind(*referral)
                    .push_bind(now.as_micros())
                    .push_bind(now.as_micros());
            });
            qb.push(" ON CONFLICT (channel_id, contact_id) DO NOTHING RETURNING id, channel_id, contact_id");
            let returned: Vec<(i64, i64, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
            let returned: HashMap<(i64, i64), i64> =
                returned.into_iter().map(|(id, channel, contact)| ((channel, contact), id)).collect();
            // Events in the batch's order, not the statement's.
            for (channel, contact, _, _) in chunk {
                let Some(&id) = returned.get(&(channel.id.get(), *contact)) else { continue };
                let payload = json!({"conversation_id": id, "contact_id": contact, "channel_id": channel.id.get()});
                events.push(channel.workspace_id, "conversation.opened", Some(id), Some(channel), &payload);
            }
            opened.extend(returned);
        }
        Ok(opened)
    }

    /// The conversations of `(channel, contact)` pairs that have one: id and status per pair.
    async fn find_conversations(
        conn: &mut DB::Connection,
        pairs: impl Iterator<Item = (i64, i64)>,
    ) -> StoreResult<HashMap<(i64, i64), (i64, String)>> {
        let mut by_channel: HashMap<i64, Vec<i64>> = HashMap::new();
        for (channel, contact) in pairs {
            by_channel.entry(channel).or_default().push(contact);
        }
        let mut existing = HashMap::new();
        for (channel, list) in by_channel {
            let rows = DB::conversations_of(conn, channel, list).await?;
            existing.extend(rows.into_iter().map(|(id, contact, status)| ((channel, contact), (id, status))));
        }
        Ok(existing)
    }

    /// Reopens the batch's existing conversations and moves their clocks forward.
    pub(crate) async fn move_conversation_clocks(
        conn: &mut DB::Connection,
        clocks: ClockMoves,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut touched = clocks.0;
        // The rows are locked first, in id order (an UPDATE joined to a list locks them in
        // whatever order its plan reads them), so that concurrent writers cannot deadlock.
        touched.sort_unstable();
        DB::lock_conversations(conn, touched.iter().map(|t| t.0).collect()).await?;
        let wanted = touched.len() as u64;
        let done = DB::move_clocks(conn, touched, now.as_micros()).await?;
        // A conversation deleted since it was read must not receive messages (PostgreSQL keeps
        // no foreign key on them, migration 0022): the webhook goes again, and then opens a new
        // one.
        if done != wanted {
            return Err(StoreError::Contention("a conversation was deleted meanwhile".into()));
        }
        Ok(())
    }

    /// Inserts the messages; the id of each, or `None` where a concurrent delivery won.
    async fn insert_messages(
        conn: &mut DB::Connection,
        fresh: &[Arrival<'_>],
        conversations: &[i64],
        now: Timestamp,
    ) -> StoreResult<Vec<Option<i64>>> {
        let mut rows = Vec::with_capacity(fresh.len());
        for (a, conversation) in fresh.iter().zip(conversations) {
            let m = a.m;
            rows.push(InboundMessageRow {
                workspace_id: a.channel.workspace_id.get(),
                conversation_id: *conversation,
                channel_id: a.channel.id.get(),
                provider_message_id: m.provider_message_id.clone(),
                kind: m.content.type_name().to_owned(),
                text: m.content.text().map(str::to_owned),
                content: json_text(&m.content)?,
                context: m.context.as_ref().map(json_text).transpose()?,
                referral: m.referral.as_ref().map(Value::to_string),
                raw: m.raw.to_string(),
                target: target_of(&m.content).map(str::to_owned),
                sent_at: m.sent_at.as_micros(),
                created_at: now.as_micros(),
                search: message_search(m.content.search_text()),
            });
        }
        let done = DB::insert_message_rows(conn, rows).await?;
        let inserted: HashMap<(i64, String), i64> =
            done.into_iter().map(|(id, channel, pid)| ((channel, pid), id)).collect();
        Ok(fresh
            .iter()
            .map(|a| inserted.get(&(a.channel.id.get(), a.m.provider_message_id.clone())).copied())
            .collect())
    }

    async fn queue_media(
        conn: &mut DB::Connection,
        media: &[(&Channel, i64, String, Option<String>)],
        now: Timestamp,
    ) -> StoreResult<()> {
        for chunk in statement_chunks(media) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO media (workspace_id, channel_id, message_id, provider_media_id, mime_type, state, next_attempt_at,
                    created_at, updated_at, connection_key) ",
            );
            qb.push_values(chunk, |mut row, (channel, message, media_id, mime)| {
                row.push_bind(channel.workspace_id.get())
                    .push_bind(channel.id.get())
                    .push_bind(*message)
                    .push_bind(media_id.clone())
                    .push_bind(mime.clone())
                    .push_bind("pending".to_owned())
                    .push_bind(now.as_micros())
                    .push_bind(now.as_micros())
                    .push_bind(now.as_micros())
                    // The connection the message came through (a past one after a move).
                    .push_bind(channel.webhook_key.clone());
            });
            qb.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}
