//! Senders to contacts, a batch at a time: found by WhatsApp identity, then by phone number;
//! the senders known to nobody become new contacts, created together (one statement per chunk,
//! not one per contact: a batch of first messages from thousands of new customers spent most of
//! its time creating them one by one); their identities recorded; the provider's profile name and
//! metadata filling what the contact lacks.

use macro_rules_attribute::apply;
use std::collections::{BTreeMap, HashMap, HashSet};

use parley_core::Timestamp;
use parley_core::contact::Contact;
use parley_core::ids::{ContactId, WorkspaceId};
use parley_core::message::Sender;
use parley_core::whatsapp::phone_candidates;
use serde_json::{Value, json};
use sqlx::QueryBuilder;

use super::messages::Arrival;
use super::{BSUID, EventBuffer, WA_ID, statement_chunks};
use crate::error::{StoreError, StoreResult};
use crate::sql::locks::LockClass;
use crate::sql::{Engine, SqlStore};

/// How a batch meets a concurrent transaction making the same new senders (PostgreSQL).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arbiter {
    /// No lock: the identities' unique key tells, when the batch records them, whether another
    /// transaction made one of these senders first. Batches of first messages from different
    /// customers, the common case, never wait for each other: under the bucketed locks, two
    /// batches of 100 new senders almost always shared a bucket and ran one after the other.
    UniqueKey,
    /// The senders' identities locked before they are looked up again (`sql/locks.rs`).
    Locks,
}

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

/// What one batch fills in on one contact: the first profile name that came with it (when the
/// contact had none), and the provider's metadata of each of its messages.
struct Fill<'a> {
    ws: WorkspaceId,
    name: Option<String>,
    fields: Vec<&'a ContactFields>,
}

impl Fill<'_> {
    fn on(ws: WorkspaceId) -> Self {
        Fill { ws, name: None, fields: Vec::new() }
    }
}

fn profile_name(from: &Sender) -> Option<String> {
    from.profile_name
        .clone()
        .or_else(|| from.username.clone())
        .map(|n| n.trim().chars().take(200).collect::<String>())
        .filter(|n| !n.is_empty())
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Contact id per arrival: by WhatsApp identity, then by phone number (with the Brazil,
    /// Mexico and Argentina quirks), else a new contact. Records identities not known yet.
    ///
    /// On PostgreSQL a concurrent transaction may be making the same new senders. The batch
    /// first goes as if none were ([`Arbiter::UniqueKey`]); should another transaction have
    /// recorded one of its new identities meanwhile, the batch goes again under the senders'
    /// locks ([`Arbiter::Locks`]) and finds what the other made.
    pub(super) async fn resolve_senders(
        conn: &mut DB::Connection,
        fresh: &[Arrival<'_>],
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<Vec<i64>> {
        if DB::CONCURRENT_WRITERS {
            let mark = events.len();
            if let Some(contacts) = Self::resolve_senders_as(conn, fresh, now, events, Arbiter::UniqueKey).await? {
                return Ok(contacts);
            }
            events.truncate(mark);
        }
        Self::resolve_senders_as(conn, fresh, now, events, Arbiter::Locks)
            .await?
            .ok_or_else(|| StoreError::Corrupt("senders resolved under their locks met a concurrent writer".into()))
    }

    /// [`Self::resolve_senders`] with one way of meeting concurrent writers; `None` when the
    /// unique key found one (everything this call wrote undone).
    async fn resolve_senders_as(
        conn: &mut DB::Connection,
        fresh: &[Arrival<'_>],
        now: Timestamp,
        events: &mut EventBuffer,
        arbiter: Arbiter,
    ) -> StoreResult<Option<Vec<i64>>> {
        let mut values: HashMap<WorkspaceId, HashSet<&str>> = HashMap::new();
        for a in fresh {
            values.entry(a.channel.workspace_id).or_default().extend(identities(&a.m.from).into_iter().map(|(_, v)| v));
        }
        // Nothing is written for a contact before its lock is held and it is known to exist: a
        // merge folding it away commits first, and the senders are looked up again (PostgreSQL;
        // see `sql/locks.rs`). Each round needs a merge committed during the previous one.
        let mut rounds = 0;
        let (mut by_identity, mut by_phone) = loop {
            let by_identity = Self::find_senders(conn, fresh, &values, arbiter).await?;
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

        // Without locks, what is written from here on is undone should a concurrent writer have
        // recorded one of the identities this batch records (only a batch with an identity not
        // found above records any).
        let trial = DB::CONCURRENT_WRITERS
            && arbiter == Arbiter::UniqueKey
            && fresh.iter().any(|a| {
                let ws = a.channel.workspace_id;
                identities(&a.m.from).into_iter().any(|(k, v)| !by_identity.contains_key(&(ws, k, v.to_owned())))
            });
        if trial {
            sqlx::query("SAVEPOINT new_senders").execute(&mut *conn).await?;
        }

        // The senders known to nobody become contacts first, all together; the loop below takes
        // each at the arrival that made it.
        let mut created = Self::create_unknown_senders(conn, fresh, &by_identity, &by_phone, now, events).await?;

        let mut contacts = Vec::with_capacity(fresh.len());
        let mut new_identities: Vec<(WorkspaceId, i64, &str, String)> = Vec::new();
        // What the batch fills in on contacts (a profile name, the provider's metadata), by
        // contact id: written after the loop in id order, as every transaction locks rows.
        let mut fills: BTreeMap<i64, Fill<'_>> = BTreeMap::new();
        for (i, a) in fresh.iter().enumerate() {
            let ws = a.channel.workspace_id;
            let from = &a.m.from;
            let found = match created.remove(&i) {
                Some((new, phone)) => {
                    // Another id of the same number later in this batch finds this contact.
                    if let Some(phone) = phone {
                        by_phone.insert((ws, phone), new);
                    }
                    Some(new)
                }
                None => identities(from)
                    .into_iter()
                    .find_map(|(k, v)| by_identity.get(&(ws, k, v.to_owned())).copied())
                    .or_else(|| {
                        let candidates = from.wa_id.as_ref().map(phone_candidates).unwrap_or_default();
                        candidates.iter().find_map(|p| by_phone.get(&(ws, p.as_str().to_owned())).copied())
                    }),
            };
            let known = match found {
                Some(k) if k.nameless => match profile_name(from) {
                    Some(name) => {
                        fills.entry(k.id).or_insert_with(|| Fill::on(ws)).name.get_or_insert(name);
                        Known { id: k.id, nameless: false }
                    }
                    None => k,
                },
                Some(k) => k,
                None => return Err(StoreError::Corrupt("a sender was neither found nor created".into())),
            };
            if !from.contact_fields.is_empty() {
                fills.entry(known.id).or_insert_with(|| Fill::on(ws)).fields.push(&from.contact_fields);
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
        // In contact id order, one sweep, as every transaction locks rows (no deadlock between two).
        for (id, fill) in fills {
            if let Some(name) = &fill.name {
                Self::fill_empty_name(conn, fill.ws, id, name, now, events).await?;
            }
            for fields in fill.fields {
                Self::fill_empty_fields(conn, fill.ws, id, fields, now, events).await?;
            }
        }
        // In key order, as every writer inserts them: two transactions recording the same
        // identities wait for each other's commit in one direction only.
        new_identities.sort_by(|a, b| (a.0.get(), a.2, &a.3).cmp(&(b.0.get(), b.2, &b.3)));
        let mut recorded = 0;
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
            recorded += DB::rows_affected(&qb.build().execute(&mut *conn).await?);
        }
        if trial {
            if recorded < new_identities.len() as u64 {
                // A concurrent transaction recorded one first (and has committed: the insert
                // waited for it).
                sqlx::query("ROLLBACK TO SAVEPOINT new_senders").execute(&mut *conn).await?;
                sqlx::query("RELEASE SAVEPOINT new_senders").execute(&mut *conn).await?;
                return Ok(None);
            }
            sqlx::query("RELEASE SAVEPOINT new_senders").execute(&mut *conn).await?;
        }
        Ok(Some(contacts))
    }

    /// The contacts known by the senders' identities. On PostgreSQL under [`Arbiter::Locks`],
    /// senders known by none are locked and looked up again (phase 1 of `sql/locks.rs`).
    async fn find_senders(
        conn: &mut DB::Connection,
        fresh: &[Arrival<'_>],
        values: &HashMap<WorkspaceId, HashSet<&str>>,
        arbiter: Arbiter,
    ) -> StoreResult<HashMap<(WorkspaceId, &'static str, String), Known>> {
        let mut by_identity = HashMap::new();
        Self::find_identities(conn, values, &mut by_identity).await?;
        if DB::CONCURRENT_WRITERS && arbiter == Arbiter::Locks {
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
            let vals: Vec<String> = vals.iter().map(|v| (*v).to_owned()).collect();
            for (kind, value, id, name) in DB::identities_with(conn, ws.get(), vals).await? {
                let kind = if kind == WA_ID { WA_ID } else { BSUID };
                by_identity.insert((*ws, kind, value), Known { id, nameless: name.is_none() });
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

    /// Creates a contact for each arrival whose sender neither an identity nor a phone number
    /// finds, following the batch in order as [`Self::resolve_senders`] does: a sender found by
    /// an earlier arrival's identity, or by the phone of a contact created for an earlier
    /// arrival, is not new. Returns, by the index of the arrival that made it, each new contact
    /// and its phone; the resolving loop adds that phone to what it finds by when it reaches
    /// that arrival, as it did when it created contacts itself.
    async fn create_unknown_senders(
        conn: &mut DB::Connection,
        fresh: &[Arrival<'_>],
        by_identity: &HashMap<(WorkspaceId, &'static str, String), Known>,
        by_phone: &HashMap<(WorkspaceId, String), Known>,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<HashMap<usize, (Known, Option<String>)>> {
        let mut seen_identities: HashSet<(WorkspaceId, &str, &str)> = HashSet::new();
        let mut new_phones: HashSet<(WorkspaceId, String)> = HashSet::new();
        let mut new: Vec<(usize, Contact)> = Vec::new();
        for (i, a) in fresh.iter().enumerate() {
            let ws = a.channel.workspace_id;
            let from = &a.m.from;
            let known_identity = identities(from).into_iter().any(|(k, v)| {
                seen_identities.contains(&(ws, k, v)) || by_identity.contains_key(&(ws, k, v.to_owned()))
            });
            seen_identities.extend(identities(from).into_iter().map(|(k, v)| (ws, k, v)));
            if known_identity {
                continue;
            }
            // Phone candidates only for senders no identity found (reading them is most of the
            // Rust side's time per sender).
            let candidates = from.wa_id.as_ref().map(phone_candidates).unwrap_or_default();
            let known_phone = candidates.iter().any(|p| {
                let key = (ws, p.as_str().to_owned());
                by_phone.contains_key(&key) || new_phones.contains(&key)
            });
            if known_phone {
                continue;
            }
            let contact = Contact {
                id: ContactId(0),
                workspace_id: ws,
                name: profile_name(from),
                phone: candidates.into_iter().next(),
                email: None,
                invalid_phone: None,
                invalid_email: None,
                fields: Default::default(),
                tags: Vec::new(),
                created_at: now,
                updated_at: now,
            };
            if let Some(phone) = &contact.phone {
                // Another id of the same number later in this batch finds this contact.
                new_phones.insert((ws, phone.as_str().to_owned()));
            }
            new.push((i, contact));
        }
        // Per workspace, as imports create them: ids reserved, then multi-row inserts.
        new.sort_by_key(|(_, c)| c.workspace_id.get());
        for group in new.chunk_by_mut(|(_, a), (_, b)| a.workspace_id == b.workspace_id) {
            let ws = group[0].1.workspace_id;
            let mut contacts: Vec<Contact> = group.iter().map(|(_, c)| c.clone()).collect();
            Self::insert_new_contacts(conn, ws, &mut contacts).await?;
            for ((_, c), inserted) in group.iter_mut().zip(contacts) {
                c.id = inserted.id;
            }
        }
        let mut created = HashMap::with_capacity(new.len());
        for (i, contact) in new {
            let known = Known { id: contact.id.get(), nameless: contact.name.is_none() };
            events.push(contact.workspace_id, "contact.created", Some(known.id), None, &json!(contact));
            created.insert(i, (known, contact.phone.map(|p| p.into_string())));
        }
        Ok(created)
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
        let before = Self::find_contact(conn, ws, &parley_core::contact::ContactRef::Id(ContactId(id))).await?;
        if before.name.is_some() {
            return Ok(());
        }
        let mut contact = before.clone();
        contact.name = Some(name.to_owned());
        Self::save_filled(conn, &before, contact, Filled::Name, now, events).await
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
        Self::save_filled(conn, &before, contact, Filled::Fields, now, events).await
    }

    /// Writes what the batch filled in on a contact (the column, its search text, its time) and
    /// logs `contact.updated` with what changed.
    async fn save_filled(
        conn: &mut DB::Connection,
        before: &Contact,
        mut contact: Contact,
        filled: Filled,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        contact.updated_at = now;
        let (sql, value) = match filled {
            Filled::Name => {
                ("UPDATE contacts SET name = $1, search = $2, updated_at = $3 WHERE id = $4", contact.name.clone())
            }
            Filled::Fields => (
                "UPDATE contacts SET fields = $1, search = $2, updated_at = $3 WHERE id = $4",
                Some(serde_json::to_string(&contact.fields)?),
            ),
        };
        sqlx::query(sql)
            .bind(value)
            .bind(crate::sql::contacts::search_text(&contact))
            .bind(now.as_micros())
            .bind(contact.id.get())
            .execute(&mut *conn)
            .await?;
        let mut payload = json!(contact);
        payload["changed"] = json!(crate::sql::contacts::changed(before, &contact));
        events.push(contact.workspace_id, "contact.updated", Some(contact.id.get()), None, &payload);
        Ok(())
    }
}

/// The column a batch fills in on a contact that lacked it.
enum Filled {
    Name,
    Fields,
}
