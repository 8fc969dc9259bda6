//! The inbound message pipeline, a batch at a time: drop what is already stored, resolve senders
//! to contacts, open or reopen conversations, insert the messages, queue media, then apply the
//! edits, revokes and notices.

use macro_rules_attribute::apply;
use std::collections::{HashMap, HashSet};

use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::contact::Contact;
use parley_core::ids::{ContactId, WorkspaceId};
use parley_core::message::{Content, InboundMessage, Sender};
use parley_core::whatsapp::phone_candidates;
use serde_json::{Value, json};
use sqlx::QueryBuilder;

use super::{BSUID, EventBuffer, WA_ID, json_text, statement_chunks, target_of};
use crate::InboundOutcome;
use crate::error::{StoreError, StoreResult};
use crate::sql::locks::LockClass;
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

/// A known contact: its id and whether it still has no name.
#[derive(Clone, Copy)]
struct Known {
    id: i64,
    nameless: bool,
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

/// A provider's metadata on a sender, as custom field values (`Sender::contact_fields`).
type ContactFields = Vec<(String, Value)>;

fn profile_name(from: &Sender) -> Option<String> {
    from.profile_name
        .clone()
        .or_else(|| from.username.clone())
        .map(|n| n.trim().chars().take(200).collect::<String>())
        .filter(|n| !n.is_empty())
}

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
            for chunk in statement_chunks(&ids) {
                let mut qb = QueryBuilder::<DB>::new("SELECT provider_message_id FROM messages WHERE channel_id = ");
                qb.push_bind(channel).push(" AND provider_message_id IN (");
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind((*id).to_owned());
                }
                qb.push(")");
                let found: Vec<String> = qb.build_query_scalar().fetch_all(&mut *conn).await?;
                known.extend(found.into_iter().map(|id| (channel, id)));
            }
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

    /// Contact id per arrival: by WhatsApp identity, then by phone number (with the Brazil,
    /// Mexico and Argentina quirks), else a new contact. Records identities not known yet.
    async fn resolve_senders(
        conn: &mut DB::Connection,
        fresh: &[Arrival<'_>],
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<Vec<i64>> {
        let mut values: HashMap<WorkspaceId, HashSet<&str>> = HashMap::new();
        for a in fresh {
            values.entry(a.channel.workspace_id).or_default().extend(identities(&a.m.from).into_iter().map(|(_, v)| v));
        }
        // Nothing is written for a contact before its lock is held and it is known to exist: a
        // merge folding it away commits first, and the senders are looked up again (PostgreSQL;
        // see `sql/locks.rs`). Each round needs a merge committed during the previous one.
        let mut rounds = 0;
        let (mut by_identity, mut by_phone) = loop {
            let by_identity = Self::find_senders(conn, fresh, &values).await?;
            let by_phone = Self::contacts_by_phone(conn, fresh, &by_identity).await?;
            let found: Vec<i64> = by_identity.values().chain(by_phone.values()).map(|k| k.id).collect();
            if Self::hold_contacts(conn, &found).await? {
                break (by_identity, by_phone);
            }
            rounds += 1;
            if rounds == 5 {
                return Err(StoreError::Contention("the senders' contacts kept being merged".into()));
            }
        };

        let mut contacts = Vec::with_capacity(fresh.len());
        let mut new_identities: Vec<(WorkspaceId, i64, &str, String)> = Vec::new();
        // Contacts whose empty fields the provider's metadata fills: (workspace, contact, fields).
        let mut to_fill: Vec<(WorkspaceId, i64, &ContactFields)> = Vec::new();
        for a in fresh {
            let ws = a.channel.workspace_id;
            let from = &a.m.from;
            let found = identities(from)
                .into_iter()
                .find_map(|(k, v)| by_identity.get(&(ws, k, v.to_owned())).copied())
                .or_else(|| {
                    let candidates = from.wa_id.as_ref().map(phone_candidates).unwrap_or_default();
                    candidates.iter().find_map(|p| by_phone.get(&(ws, p.as_str().to_owned())).copied())
                });
            let known = match found {
                Some(k) if k.nameless => match profile_name(from) {
                    Some(name) => {
                        Self::fill_empty_name(conn, ws, k.id, &name, now, events).await?;
                        Known { id: k.id, nameless: false }
                    }
                    None => k,
                },
                Some(k) => k,
                None => {
                    let (id, phone) = Self::new_contact(conn, ws, from, now, events).await?;
                    let known = Known { id, nameless: profile_name(from).is_none() };
                    // Another id of the same number later in this batch finds this contact.
                    if let Some(phone) = phone {
                        by_phone.insert((ws, phone), known);
                    }
                    known
                }
            };
            if !from.contact_fields.is_empty() {
                to_fill.push((ws, known.id, &from.contact_fields));
            }
            for (kind, value) in identities(from) {
                let key = (ws, kind, value.to_owned());
                if !by_identity.contains_key(&key) {
                    new_identities.push((ws, known.id, kind, value.to_owned()));
                }
                by_identity.insert(key, known);
            }
            contacts.push(known.id);
        }
        // In contact id order, as every transaction locks rows (no deadlock between two).
        to_fill.sort_by_key(|(_, id, _)| *id);
        for (ws, id, fields) in to_fill {
            Self::fill_empty_fields(conn, ws, id, fields, now, events).await?;
        }
        for chunk in statement_chunks(&new_identities) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO contact_identities (workspace_id, contact_id, kind, value, created_at) ",
            );
            qb.push_values(chunk, |mut row, (ws, contact, kind, value)| {
                row.push_bind(ws.get())
                    .push_bind(*contact)
                    .push_bind((*kind).to_owned())
                    .push_bind(value.clone())
                    .push_bind(now.as_micros());
            });
            // An identity already known (for this or another contact) is left as is.
            qb.push(" ON CONFLICT (workspace_id, kind, value) DO NOTHING");
            qb.build().execute(&mut *conn).await?;
        }
        Ok(contacts)
    }

    /// The contacts known by the senders' identities. On PostgreSQL, senders known by none are
    /// locked and looked up again (phase 1 of `sql/locks.rs`).
    async fn find_senders(
        conn: &mut DB::Connection,
        fresh: &[Arrival<'_>],
        values: &HashMap<WorkspaceId, HashSet<&str>>,
    ) -> StoreResult<HashMap<(WorkspaceId, &'static str, String), Known>> {
        let mut by_identity = HashMap::new();
        Self::find_identities(conn, values, &mut by_identity).await?;
        if DB::CONCURRENT_WRITERS {
            // Senders known by no identity may be created by a concurrent transaction too: wait
            // for it (their identities' locks), then look again (see `sql/locks.rs`).
            let known = |ws: WorkspaceId, from: &Sender| {
                identities(from).into_iter().any(|(k, v)| by_identity.contains_key(&(ws, k, v.to_owned())))
            };
            let mut unknown: HashMap<WorkspaceId, HashSet<&str>> = HashMap::new();
            for a in fresh.iter().filter(|a| !known(a.channel.workspace_id, &a.m.from)) {
                unknown
                    .entry(a.channel.workspace_id)
                    .or_default()
                    .extend(identities(&a.m.from).into_iter().map(|(_, v)| v));
            }
            if !unknown.is_empty() {
                let keys =
                    unknown.iter().flat_map(|(ws, vals)| vals.iter().map(move |v| format!("{ws}:{v}"))).collect();
                DB::lock_keys(conn, LockClass::NewSender, keys).await?;
                Self::find_identities(conn, &unknown, &mut by_identity).await?;
            }
        }
        Ok(by_identity)
    }

    /// Adds the contacts known by one of `values` (per workspace) to `by_identity`.
    async fn find_identities(
        conn: &mut DB::Connection,
        values: &HashMap<WorkspaceId, HashSet<&str>>,
        by_identity: &mut HashMap<(WorkspaceId, &'static str, String), Known>,
    ) -> StoreResult<()> {
        for (ws, vals) in values {
            let vals: Vec<&str> = vals.iter().copied().collect();
            for chunk in statement_chunks(&vals) {
                let mut qb = QueryBuilder::<DB>::new(
                    "SELECT ci.kind, ci.value, ci.contact_id, c.name FROM contact_identities ci JOIN contacts c ON c.id = ci.contact_id
                     WHERE ci.workspace_id = ",
                );
                // Both kinds named: the unique index is (workspace, kind, value), and without the
                // kind PostgreSQL read every identity of the workspace (12 ms at 100,000).
                qb.push_bind(ws.get())
                    .push(" AND ci.kind IN (")
                    .push_bind(WA_ID.to_owned())
                    .push(", ")
                    .push_bind(BSUID.to_owned())
                    .push(") AND ci.value IN (");
                let mut list = qb.separated(", ");
                for v in chunk {
                    list.push_bind((*v).to_owned());
                }
                qb.push(")");
                let rows: Vec<(String, String, i64, Option<String>)> =
                    qb.build_query_as().fetch_all(&mut *conn).await?;
                for (kind, value, id, name) in rows {
                    let kind = if kind == WA_ID { WA_ID } else { BSUID };
                    by_identity.insert((*ws, kind, value), Known { id, nameless: name.is_none() });
                }
            }
        }
        Ok(())
    }

    /// Contacts whose phone is one of the candidates of senders not known by identity.
    async fn contacts_by_phone(
        conn: &mut DB::Connection,
        fresh: &[Arrival<'_>],
        by_identity: &HashMap<(WorkspaceId, &str, String), Known>,
    ) -> StoreResult<HashMap<(WorkspaceId, String), Known>> {
        let mut wanted: HashMap<WorkspaceId, HashSet<String>> = HashMap::new();
        for a in fresh {
            let ws = a.channel.workspace_id;
            let known =
                identities(&a.m.from).into_iter().any(|(k, v)| by_identity.contains_key(&(ws, k, v.to_owned())));
            if let (false, Some(wa)) = (known, &a.m.from.wa_id) {
                wanted.entry(ws).or_default().extend(phone_candidates(wa).into_iter().map(|p| p.into_string()));
            }
        }
        let mut out = HashMap::new();
        for (ws, phones) in wanted {
            let phones: Vec<String> = phones.into_iter().collect();
            for chunk in statement_chunks(&phones) {
                let mut qb = QueryBuilder::<DB>::new("SELECT id, phone, name FROM contacts WHERE workspace_id = ");
                qb.push_bind(ws.get()).push(" AND phone IN (");
                let mut list = qb.separated(", ");
                for p in chunk {
                    list.push_bind(p.clone());
                }
                qb.push(")");
                let rows: Vec<(i64, String, Option<String>)> = qb.build_query_as().fetch_all(&mut *conn).await?;
                for (id, phone, name) in rows {
                    // Duplicates (until merged) may share the number: the oldest answers.
                    let key = (ws, phone);
                    if out.get(&key).is_none_or(|k: &Known| k.id > id) {
                        out.insert(key, Known { id, nameless: name.is_none() });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Creates the sender's contact; returns its id and phone.
    async fn new_contact(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        from: &Sender,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<(i64, Option<String>)> {
        let mut contact = Contact {
            id: ContactId(0),
            workspace_id: ws,
            name: profile_name(from),
            phone: from.wa_id.as_ref().and_then(|w| phone_candidates(w).into_iter().next()),
            email: None,
            invalid_phone: None,
            invalid_email: None,
            fields: Default::default(),
            tags: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        Self::insert_contact(conn, &mut contact).await?;
        events.push(ws, "contact.created", Some(contact.id.get()), None, &json!(contact));
        Ok((contact.id.get(), contact.phone.map(|p| p.into_string())))
    }

    /// The WhatsApp profile name fills a contact that has none; a name someone typed wins.
    async fn fill_empty_name(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        id: i64,
        name: &str,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        let mut contact = Self::find_contact(conn, ws, &parley_core::contact::ContactRef::Id(ContactId(id))).await?;
        if contact.name.is_some() {
            return Ok(());
        }
        contact.name = Some(name.to_owned());
        contact.updated_at = now;
        sqlx::query("UPDATE contacts SET name = $1, search = $2, updated_at = $3 WHERE id = $4")
            .bind(contact.name.clone())
            .bind(crate::sql::contacts::search_text(&contact))
            .bind(now.as_micros())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        let mut payload = json!(contact);
        payload["changed"] = json!(["name"]);
        events.push(ws, "contact.updated", Some(id), None, &payload);
        Ok(())
    }

    /// What the provider's channel keeps on the sender (MessageBird's contact metadata) fills
    /// the contact's empty custom fields; a value the team set wins.
    async fn fill_empty_fields(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        id: i64,
        fields: &[(String, Value)],
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        // The row locked before it is read (a write that changes nothing, on both engines): a
        // team member's edit committed meanwhile is read, never overwritten.
        sqlx::query("UPDATE contacts SET updated_at = updated_at WHERE id = $1").bind(id).execute(&mut *conn).await?;
        let before = Self::find_contact(conn, ws, &parley_core::contact::ContactRef::Id(ContactId(id))).await?;
        let mut contact = before.clone();
        // Never past a contact's cap on custom fields: the metadata is a courtesy.
        for (key, value) in fields {
            if contact.fields.len() >= parley_core::contact::MAX_FIELDS {
                break;
            }
            contact.fields.entry(key.clone()).or_insert_with(|| value.clone());
        }
        if contact.fields == before.fields {
            return Ok(());
        }
        contact.updated_at = now;
        sqlx::query("UPDATE contacts SET fields = $1, search = $2, updated_at = $3 WHERE id = $4")
            .bind(serde_json::to_string(&contact.fields)?)
            .bind(crate::sql::contacts::search_text(&contact))
            .bind(now.as_micros())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        let mut payload = json!(contact);
        payload["changed"] = json!(crate::sql::contacts::changed(&before, &contact));
        events.push(ws, "contact.updated", Some(id), None, &payload);
        Ok(())
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
        if DB::CONCURRENT_WRITERS {
            // A pair without a conversation may be opened by a concurrent transaction too: wait
            // for it (the pair's lock), then look again (see `sql/locks.rs`).
            let missing: Vec<(i64, i64)> = pairs.keys().filter(|p| !existing.contains_key(p)).copied().collect();
            if !missing.is_empty() {
                let keys = missing.iter().map(|(channel, contact)| format!("{channel}:{contact}")).collect();
                DB::lock_keys(conn, LockClass::NewConversation, keys).await?;
                existing.extend(Self::find_conversations(conn, missing.into_iter()).await?);
            }
        }
        let mut ids: HashMap<(i64, i64), i64> = HashMap::new();
        let mut touched: Vec<(i64, i64, Option<i64>)> = Vec::new();
        let mut opened: Vec<(&Channel, i64)> = Vec::new();
        for ((channel_id, contact), (channel, at, referral)) in pairs {
            let ws = channel.workspace_id;
            let id = match existing.get(&(channel_id, contact)) {
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO conversations (workspace_id, channel_id, contact_id, status, last_message_at, last_inbound_at,
                            last_referral_at, created_at, updated_at)
                         VALUES ($1, $2, $3, 'open', $4, $4, $5, $6, $6) RETURNING id",
                    )
                    .bind(ws.get())
                    .bind(channel_id)
                    .bind(contact)
                    .bind(at)
                    .bind(referral)
                    .bind(now.as_micros())
                    .fetch_one(&mut *conn)
                    .await?;
                    let payload = json!({"conversation_id": id, "contact_id": contact, "channel_id": channel_id});
                    events.push(ws, "conversation.opened", Some(id), Some(channel), &payload);
                    opened.push((channel, id));
                    id
                }
                Some((id, status)) => {
                    touched.push((*id, at, referral));
                    if status != "open" {
                        let payload = json!({"conversation_id": id, "contact_id": contact, "channel_id": channel_id, "previous_status": status});
                        events.push(ws, "conversation.reopened", Some(*id), Some(channel), &payload);
                    }
                    *id
                }
            };
            ids.insert((channel_id, contact), id);
        }
        if !opened.is_empty() {
            Self::auto_assign(conn, &opened, now, events).await?;
        }
        let ids = fresh.iter().zip(contacts).map(|(a, c)| ids[&(a.channel.id.get(), *c)]).collect();
        Ok((ids, ClockMoves(touched)))
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
            for chunk in statement_chunks(&list) {
                let mut qb =
                    QueryBuilder::<DB>::new("SELECT id, contact_id, status FROM conversations WHERE channel_id = ");
                qb.push_bind(channel).push(" AND contact_id IN (");
                let mut sep = qb.separated(", ");
                for c in chunk {
                    sep.push_bind(*c);
                }
                qb.push(")");
                let rows: Vec<(i64, i64, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
                existing.extend(rows.into_iter().map(|(id, contact, status)| ((channel, contact), (id, status))));
            }
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
        // Reopen and move the clocks of every existing conversation in one statement per chunk.
        // Provider times, not arrival order: a late delivery of an older message moves nothing
        // back. The maxima are taken in SQL so that concurrent deliveries cannot undo each other.
        // The rows are locked first, in id order (an UPDATE joined to a list locks them in
        // whatever order its plan reads them), so that concurrent writers cannot deadlock.
        touched.sort_unstable();
        DB::lock_conversations(conn, touched.iter().map(|t| t.0).collect()).await?;
        for chunk in statement_chunks(&touched) {
            let mut qb = QueryBuilder::<DB>::new("WITH v (id, at, referral) AS (");
            qb.push_values(chunk, |mut row, (id, at, referral)| {
                row.push_bind(*id).push_bind(*at).push_bind(*referral);
            });
            qb.push(
                ") UPDATE conversations SET status = 'open', snoozed_until = NULL,
                    last_message_at = CASE WHEN conversations.last_message_at < v.at THEN v.at ELSE conversations.last_message_at END,
                    last_inbound_at = CASE WHEN conversations.last_inbound_at IS NULL OR conversations.last_inbound_at < v.at
                                           THEN v.at ELSE conversations.last_inbound_at END,
                    last_referral_at = CASE WHEN v.referral IS NOT NULL
                                             AND (conversations.last_referral_at IS NULL OR conversations.last_referral_at < v.referral)
                                            THEN v.referral ELSE conversations.last_referral_at END,
                    updated_at = ",
            );
            qb.push_bind(now.as_micros()).push(" FROM v WHERE conversations.id = v.id");
            let done = DB::rows_affected(&qb.build().execute(&mut *conn).await?);
            // A conversation deleted since it was read must not receive messages (PostgreSQL
            // keeps no foreign key on them, migration 0022): the webhook goes again, and then
            // opens a new one.
            if done != chunk.len() as u64 {
                return Err(StoreError::Contention("a conversation was deleted meanwhile".into()));
            }
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
