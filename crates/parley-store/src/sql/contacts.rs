//! Contacts, their tags and notes.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::contact::{Contact, ContactPatch, ContactRef, NewContact, Note};
use parley_core::ids::{ContactId, NoteId, UserId, WorkspaceId};
use parley_core::search::{SearchTerms, contact_search_text};
use parley_core::{E164, Email, Timestamp};
use serde_json::json;
use sqlx::FromRow;

use super::events::NewEvent;
use super::search::search_tx;
use super::{Engine, SqlStore, clamp_limit};
use crate::error::{StoreError, StoreResult};
use crate::{ContactQuery, Contacts, Page};

macro_rules! contact_columns {
    () => {
        "id, workspace_id, name, phone, email, invalid_phone, invalid_email, fields, tags, created_at, updated_at"
    };
}
pub(crate) use contact_columns;
const MAX_PAGE: u32 = 200;

/// The contacts of a workspace, newest first: `$2` keyset, `$3` tag, `$4` rows. A search is
/// `Engine::SEARCH_CONTACTS`, with its terms as `$5`.
const LIST_CONTACTS: &str = concat!(
    "SELECT ",
    contact_columns!(),
    " FROM contacts c
     WHERE c.workspace_id = $1 AND ($2 IS NULL OR c.id < $2)
       AND ($3 IS NULL OR EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = $3))
     ORDER BY c.id DESC LIMIT $4"
);

/// `LIST_CONTACTS` of one email address (`$5`).
const CONTACTS_WITH_EMAIL: &str = concat!(
    "SELECT ",
    contact_columns!(),
    " FROM contacts c
     WHERE c.workspace_id = $1 AND c.email = $5 AND ($2 IS NULL OR c.id < $2)
       AND ($3 IS NULL OR EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = $3))
     ORDER BY c.id DESC LIMIT $4"
);

#[derive(FromRow)]
pub(crate) struct ContactRow {
    id: i64,
    workspace_id: i64,
    name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    invalid_phone: Option<String>,
    invalid_email: Option<String>,
    fields: String,
    tags: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;
    fn try_from(r: ContactRow) -> StoreResult<Self> {
        Ok(Contact {
            id: ContactId(r.id),
            workspace_id: WorkspaceId(r.workspace_id),
            name: r.name,
            phone: r.phone.map(E164::from_stored),
            email: r.email.map(Email::from_stored),
            invalid_phone: r.invalid_phone,
            invalid_email: r.invalid_email,
            fields: serde_json::from_str(&r.fields)?,
            tags: serde_json::from_str(&r.tags)?,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

#[derive(FromRow)]
struct NoteRow {
    id: i64,
    contact_id: i64,
    author_id: Option<i64>,
    body: String,
    created_at: i64,
}

impl From<NoteRow> for Note {
    fn from(r: NoteRow) -> Self {
        Note {
            id: NoteId(r.id),
            contact_id: ContactId(r.contact_id),
            author_id: r.author_id.map(UserId),
            body: r.body,
            created_at: Timestamp::from_micros(r.created_at),
        }
    }
}

pub(crate) fn search_text(c: &Contact) -> String {
    contact_search_text(c.name.as_deref(), c.email.as_ref().map(Email::as_str), c.phone.as_ref())
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Finds a contact by any of its references, within the caller's transaction.
    pub(crate) async fn find_contact(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        by: &ContactRef,
    ) -> StoreResult<Contact> {
        const BY_ID: &str =
            concat!("SELECT ", contact_columns!(), " FROM contacts WHERE workspace_id = $1 AND id = $2");
        // Duplicates may share a phone or an email (until merged): the oldest answers.
        const BY_PHONE: &str = concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE workspace_id = $1 AND phone = $2 ORDER BY id LIMIT 1"
        );
        const BY_EMAIL: &str = concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE workspace_id = $1 AND email = $2 ORDER BY id LIMIT 1"
        );
        // A merged contact's id resolves to the contact it went into.
        const BY_REDIRECT: &str = concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE workspace_id = $1
               AND id = (SELECT to_id FROM contact_redirects WHERE workspace_id = $1 AND from_id = $2)"
        );
        let query = match by {
            ContactRef::Id(id) => sqlx::query_as::<DB, ContactRow>(BY_ID).bind(ws.get()).bind(id.get()),
            ContactRef::Phone(phone) => sqlx::query_as(BY_PHONE).bind(ws.get()).bind(phone.as_str().to_owned()),
            ContactRef::Email(email) => sqlx::query_as(BY_EMAIL).bind(ws.get()).bind(email.as_str().to_owned()),
        };
        match (query.fetch_optional(&mut *conn).await?, by) {
            (Some(row), _) => row.try_into(),
            (None, ContactRef::Id(id)) => sqlx::query_as::<DB, ContactRow>(BY_REDIRECT)
                .bind(ws.get())
                .bind(id.get())
                .fetch_one(&mut *conn)
                .await?
                .try_into(),
            (None, _) => Err(StoreError::NotFound),
        }
    }

    /// Inserts `contact` (its id is set from the database) with its tags.
    pub(crate) async fn insert_contact(conn: &mut DB::Connection, contact: &mut Contact) -> StoreResult<()> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO contacts (workspace_id, name, phone, email, fields, tags, search, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(contact.workspace_id.get())
        .bind(contact.name.clone())
        .bind(contact.phone.as_ref().map(|p| p.as_str().to_owned()))
        .bind(contact.email.as_ref().map(|e| e.as_str().to_owned()))
        .bind(serde_json::to_string(&contact.fields)?)
        .bind(serde_json::to_string(&contact.tags)?)
        .bind(search_text(contact))
        .bind(contact.created_at.as_micros())
        .bind(contact.updated_at.as_micros())
        .fetch_one(&mut *conn)
        .await?;
        contact.id = ContactId(id);
        Self::insert_tags(conn, contact.workspace_id, contact).await
    }

    /// Refuses a phone or email another contact of the workspace already has (the columns are
    /// not unique, so that imports may add duplicates on purpose; the API does not).
    pub(crate) async fn ensure_unused(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        contact: &Contact,
        except: Option<ContactId>,
    ) -> StoreResult<()> {
        let except = except.map_or(0, ContactId::get);
        if let Some(phone) = &contact.phone {
            let taken: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM contacts WHERE workspace_id = $1 AND phone = $2 AND id <> $3 LIMIT 1",
            )
            .bind(ws.get())
            .bind(phone.as_str().to_owned())
            .bind(except)
            .fetch_optional(&mut *conn)
            .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict { field: "phone" });
            }
        }
        if let Some(email) = &contact.email {
            let taken: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM contacts WHERE workspace_id = $1 AND email = $2 AND id <> $3 LIMIT 1",
            )
            .bind(ws.get())
            .bind(email.as_str().to_owned())
            .bind(except)
            .fetch_optional(&mut *conn)
            .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict { field: "email" });
            }
        }
        Ok(())
    }

    /// Replaces the contact's tag rows with its tags.
    pub(crate) async fn write_tags(conn: &mut DB::Connection, ws: WorkspaceId, contact: &Contact) -> StoreResult<()> {
        sqlx::query("DELETE FROM contact_tags WHERE contact_id = $1")
            .bind(contact.id.get())
            .execute(&mut *conn)
            .await?;
        Self::insert_tags(conn, ws, contact).await
    }

    /// Writes a contact's values (not its tag rows) back to its row.
    pub(crate) async fn save_contact(conn: &mut DB::Connection, c: &Contact) -> StoreResult<()> {
        sqlx::query(
            "UPDATE contacts SET name = $1, phone = $2, email = $3, fields = $4, tags = $5, search = $6, updated_at = $7,
                invalid_phone = $8, invalid_email = $9
             WHERE workspace_id = $10 AND id = $11",
        )
        .bind(c.name.clone())
        .bind(c.phone.as_ref().map(|p| p.as_str().to_owned()))
        .bind(c.email.as_ref().map(|e| e.as_str().to_owned()))
        .bind(serde_json::to_string(&c.fields)?)
        .bind(serde_json::to_string(&c.tags)?)
        .bind(search_text(c))
        .bind(c.updated_at.as_micros())
        .bind(c.invalid_phone.clone())
        .bind(c.invalid_email.clone())
        .bind(c.workspace_id.get())
        .bind(c.id.get())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Adds the tag rows of a contact that has none yet.
    pub(crate) async fn insert_tags(conn: &mut DB::Connection, ws: WorkspaceId, contact: &Contact) -> StoreResult<()> {
        let rows = contact.tags.iter().map(|t| (contact.id.get(), ws.get(), t.clone())).collect();
        DB::insert_tag_rows(conn, rows).await
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Contacts for SqlStore<DB> {
    async fn create_contact(&self, ws: WorkspaceId, new: NewContact, now: Timestamp) -> StoreResult<Contact> {
        let mut contact = Contact {
            id: ContactId(0),
            workspace_id: ws,
            name: new.name,
            phone: new.phone,
            email: new.email,
            invalid_phone: None,
            invalid_email: None,
            fields: new.fields,
            tags: new.tags,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin_write().await?;
        Self::ensure_unused(&mut tx, ws, &contact, None).await?;
        Self::insert_contact(&mut tx, &mut contact).await?;
        Self::suggest_duplicates(&mut tx, ws, std::slice::from_ref(&contact), now).await?;
        let id = contact.id.get();
        Self::append_event(&mut tx, ws, NewEvent::new("contact.created", id, &json!(contact)), now).await?;
        tx.commit().await?;
        Ok(contact)
    }

    async fn contact(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Contact> {
        let mut conn = self.read.acquire().await?;
        Self::find_contact(&mut conn, ws, by).await
    }

    async fn update_contact(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        patch: &ContactPatch,
        now: Timestamp,
    ) -> StoreResult<Contact> {
        let mut tx = self.begin_write().await?;
        let mut contact = Self::find_contact(&mut tx, ws, by).await?;
        let before = contact.clone();
        let tags_before = contact.tags.clone();
        let identifiers_before = (contact.phone.clone(), contact.email.clone());
        patch.apply(&mut contact)?;
        contact.updated_at = now;
        let identifiers_changed = identifiers_before != (contact.phone.clone(), contact.email.clone());
        if identifiers_changed {
            Self::ensure_unused(&mut tx, ws, &contact, Some(contact.id)).await?;
        }
        Self::save_contact(&mut tx, &contact).await?;
        if contact.tags != tags_before {
            Self::write_tags(&mut tx, ws, &contact).await?;
        }
        if identifiers_changed {
            Self::suggest_duplicates(&mut tx, ws, std::slice::from_ref(&contact), now).await?;
        }
        let mut payload = json!(contact);
        payload["changed"] = json!(changed(&before, &contact));
        Self::append_event(&mut tx, ws, NewEvent::new("contact.updated", contact.id.get(), &payload), now).await?;
        tx.commit().await?;
        Ok(contact)
    }

    async fn delete_contact(&self, ws: WorkspaceId, by: &ContactRef, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let contact = Self::find_contact(&mut tx, ws, by).await?;
        sqlx::query("DELETE FROM contacts WHERE workspace_id = $1 AND id = $2")
            .bind(ws.get())
            .bind(contact.id.get())
            .execute(&mut *tx)
            .await?;
        let payload = json!({"id": contact.id});
        Self::append_event(&mut tx, ws, NewEvent::new("contact.deleted", contact.id.get(), &payload), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn contacts(&self, ws: WorkspaceId, query: &ContactQuery) -> StoreResult<Page<Contact>> {
        let limit = clamp_limit(query.limit, MAX_PAGE);
        // An empty query lists every contact; a whole email address is looked up in the email
        // index (its words, `example` and `com`, are in every other contact); anything else is
        // searched by words; a query with nothing to search for (only punctuation) finds nothing.
        enum Find {
            All,
            Email(String),
            Words(String),
        }
        let find = match query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            None => Find::All,
            Some(q) => match (Email::parse(q), SearchTerms::parse(q)) {
                (Ok(email), _) => Find::Email(email.as_str().to_owned()),
                (_, Ok(terms)) => Find::Words(DB::match_query(terms.terms())),
                (_, Err(_)) => return Ok(Page { items: Vec::new(), next_cursor: None }),
            },
        };
        let before = query.before.map(ContactId::get);
        let select = |sql: &'static str| {
            sqlx::query_as::<DB, ContactRow>(sql).bind(ws.get()).bind(before).bind(query.tag.clone()).bind(limit + 1)
        };
        let mut conn = self.read.acquire().await?;
        let rows: Vec<ContactRow> = match find {
            Find::All => select(LIST_CONTACTS).fetch_all(&mut *conn).await?,
            Find::Email(email) => select(CONTACTS_WITH_EMAIL).bind(email).fetch_all(&mut *conn).await?,
            Find::Words(matching) => {
                // PostgreSQL looks at the newest contacts first (see `Engine::SEARCH_MESSAGES`).
                let mut rows = Vec::new();
                if let Some(recent) = DB::SEARCH_CONTACTS_RECENT {
                    let floor = super::search::recent_floor::<DB>(&mut conn, "contacts", before).await?;
                    let mut tx = search_tx::<DB>(&mut conn, DB::RECENT_SEARCH_SETUP).await?;
                    rows = select(recent).bind(matching.clone()).bind(floor).fetch_all(&mut *tx).await?;
                    tx.commit().await?;
                }
                if rows.len() as i64 <= limit {
                    let mut tx = search_tx::<DB>(&mut conn, DB::INDEX_SEARCH_SETUP).await?;
                    rows = select(DB::SEARCH_CONTACTS).bind(matching).fetch_all(&mut *tx).await?;
                    tx.commit().await?;
                }
                rows
            }
        };
        let mut items = rows.into_iter().map(Contact::try_from).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|c| c.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn add_note(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        author: Option<UserId>,
        body: &str,
        now: Timestamp,
    ) -> StoreResult<Note> {
        let mut tx = self.begin_write().await?;
        let contact = Self::find_contact(&mut tx, ws, by).await?;
        let row: NoteRow = sqlx::query_as(
            "INSERT INTO contact_notes (workspace_id, contact_id, author_id, body, created_at, search)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, contact_id, author_id, body, created_at",
        )
        .bind(ws.get())
        .bind(contact.id.get())
        .bind(author.map(UserId::get))
        .bind(body.to_owned())
        .bind(now.as_micros())
        .bind(parley_core::search::search_words(body))
        .fetch_one(&mut *tx)
        .await?;
        let note = Note::from(row);
        Self::append_event(&mut tx, ws, NewEvent::new("contact.note_added", contact.id.get(), &json!(note)), now)
            .await?;
        tx.commit().await?;
        Ok(note)
    }

    async fn notes(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Vec<Note>> {
        let mut conn = self.read.acquire().await?;
        let contact = Self::find_contact(&mut conn, ws, by).await?;
        let rows: Vec<NoteRow> = sqlx::query_as(
            "SELECT id, contact_id, author_id, body, created_at FROM contact_notes
             WHERE workspace_id = $1 AND contact_id = $2 ORDER BY id",
        )
        .bind(ws.get())
        .bind(contact.id.get())
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(Note::from).collect())
    }
}

/// What an update changed, for the `contact.updated` event: `name`, `phone`, `email`, `tags`,
/// and `fields.<key>` for each custom field (workflows' "contact field updated" trigger).
pub(crate) fn changed(before: &Contact, after: &Contact) -> Vec<String> {
    let mut out = Vec::new();
    if before.name != after.name {
        out.push("name".to_owned());
    }
    if before.phone != after.phone {
        out.push("phone".to_owned());
    }
    if before.email != after.email {
        out.push("email".to_owned());
    }
    if before.tags != after.tags {
        out.push("tags".to_owned());
    }
    let keys: std::collections::BTreeSet<&String> = before.fields.keys().chain(after.fields.keys()).collect();
    out.extend(
        keys.into_iter().filter(|k| before.fields.get(*k) != after.fields.get(*k)).map(|k| format!("fields.{k}")),
    );
    out
}
