//! The store implementation shared by both engines. [`SqlStore`] is generic over the sqlx
//! database; each `impl` block carries `#[apply(engine_bounds!)]`, which adds the `where` clause
//! saying "this engine can run our queries and bind/read our column types" (Rust cannot bundle
//! such bounds into one trait name: only bounds on `Self` are implied).
//! SQL here must run unchanged on SQLite and PostgreSQL: `$n` parameters, `RETURNING`, integers
//! for timestamps, text for JSON.

/// Adds the bounds every engine-generic impl block needs, written once. Used as an attribute
/// (through `macro_rules_attribute`, so rustfmt still formats the block):
/// `#[apply(engine_bounds!)] impl<DB> SqlStore<DB> { … }`, or `… impl<DB> Trait for SqlStore<DB>`.
macro_rules! engine_bounds {
    ($(#[$attr:meta])* impl<DB> $($head:ident)+ <DB> { $($body:tt)* }) => {
        $(#[$attr])*
        impl<DB> $($head)+ <DB>
        where
            DB: Engine,
            for<'c> &'c mut DB::Connection: ::sqlx::Executor<'c, Database = DB>,
            for<'r> &'r str: ::sqlx::ColumnIndex<DB::Row>,
            usize: ::sqlx::ColumnIndex<DB::Row>,
            for<'q> i64: ::sqlx::Encode<'q, DB> + ::sqlx::Decode<'q, DB> + ::sqlx::Type<DB>,
            for<'q> Option<i64>: ::sqlx::Encode<'q, DB> + ::sqlx::Decode<'q, DB>,
            for<'q> String: ::sqlx::Encode<'q, DB> + ::sqlx::Decode<'q, DB> + ::sqlx::Type<DB>,
            for<'q> Option<String>: ::sqlx::Encode<'q, DB> + ::sqlx::Decode<'q, DB>,
        {
            $($body)*
        }
    };
}

/// SQL condition: the channel in column `$col` is one the viewer bound as parameter `$agent` may
/// see (`Viewer::agent`: `NULL` sees every channel; an agent sees shared channels and the private
/// ones they are a member of). Written once so every query applies the same rule.
macro_rules! visible_channel {
    ($col:literal, $agent:literal) => {
        concat!(
            "(",
            $agent,
            " IS NULL OR ",
            $col,
            " IN (SELECT vc.id FROM channels vc WHERE vc.visibility = 'shared' OR EXISTS (",
            "SELECT 1 FROM channel_members vm WHERE vm.channel_id = vc.id AND vm.user_id = ",
            $agent,
            ")))"
        )
    };
}

/// The message search of one engine: `$source` names the messages `m`, `$matching` is the
/// condition on the terms (`$2`), `$key` the id to page by, `$order` what to sort by (the key,
/// or `m.id + 0` to keep PostgreSQL off the primary key), `$window` a further condition.
macro_rules! search_messages {
    ($source:literal, $matching:literal, $key:literal, $order:literal, $window:literal) => {
        // The page of ids first, from the messages alone; their conversation and contact after:
        // joined before the limit, PostgreSQL would plan for every match (a merge join over
        // all conversations, 250 ms for ten hits).
        concat!(
            "SELECT m.id, m.conversation_id, m.channel_id, c.contact_id, ct.name, m.direction, m.type, m.text, m.sent_at
             FROM (SELECT m.id AS hit FROM ",
            $source,
            " WHERE ",
            $matching,
            " AND m.workspace_id = $1 AND m.revoked_at IS NULL AND ($3 IS NULL OR ",
            $key,
            " < $3) AND ",
            visible_channel!("m.channel_id", "$4"),
            $window,
            " ORDER BY ",
            $order,
            " DESC LIMIT $5) page
             JOIN messages m ON m.id = page.hit JOIN conversations c ON c.id = m.conversation_id
             JOIN contacts ct ON ct.id = c.contact_id
             ORDER BY m.id DESC"
        )
    };
}

/// The contact search of one engine, shaped like `contacts::LIST_CONTACTS` (the macro above
/// says what the parts are).
macro_rules! search_contacts {
    ($source:literal, $matching:literal, $key:literal, $order:literal, $window:literal) => {
        concat!(
            "SELECT ",
            contacts::contact_columns!(),
            " FROM ",
            $source,
            " WHERE ",
            $matching,
            " AND c.workspace_id = $1 AND ($2 IS NULL OR ",
            $key,
            " < $2)
               AND ($3 IS NULL OR EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = $3))",
            $window,
            " ORDER BY ",
            $order,
            " DESC LIMIT $4"
        )
    };
}

mod accounts;
mod assignment;
mod auto_close;
mod bots;
mod canned;
mod channel_moves;
mod channels;
mod consents;
pub(crate) mod contacts;
mod conversation_notes;
mod conversation_tags;
mod conversations;
mod dispatch;
mod duplicates;
pub(crate) mod events;
mod fee_charges;
mod fee_payments;
pub(crate) mod fee_pricing;
mod fee_reconcile;
mod fee_usage;
pub(crate) mod fee_watch;
mod fees;
mod health;
mod imports;
mod inbound;
mod inbox_views;
mod ledger;
pub(crate) mod locks;
mod merge;
pub(crate) mod notifications;
mod outbox;
mod planned_moves;
mod search;
mod sessions;
mod subscriptions;
mod teams;
mod template_updates;
mod templates;
mod users;
mod workflows;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use std::future::Future;
use std::pin::Pin;

use sqlx::migrate::Migrator;
use sqlx::{Database, IntoArguments, Pool, Transaction};

use crate::error::StoreResult;

/// What differs between the engines that the shared code needs to know.
pub trait Engine: Database<Arguments: IntoArguments<Self>> {
    /// `sqlite` or `postgres`.
    const ENGINE: &'static str;
    /// SQLite opens write transactions with `BEGIN IMMEDIATE`: a deferred transaction that later
    /// writes fails at once with `SQLITE_BUSY` instead of waiting for the writer lock.
    const BEGIN_WRITE: &'static str;
    /// The outbox as the target of a claim. SQLite must not use the `state` index there: it
    /// would walk every pending job of a deep queue instead of looking up the few claimed ids.
    const OUTBOX_BY_ID: &'static str;
    /// Appended to the claim's job selection: PostgreSQL locks the picked rows and skips those
    /// another dispatcher is claiming (SQLite has one writer at a time anyway).
    const SKIP_LOCKED: &'static str;
    /// Refreshes the planner's statistics after a bulk load (PostgreSQL plans from them: without
    /// it, a table that grew from empty is read in full for every lookup). `None` on SQLite.
    const ANALYZE_CONTACTS: Option<&'static str>;
    /// The same for the tables webhooks grow (messages, their statuses, conversations, senders).
    const ANALYZE_INBOUND: Option<&'static str>;
    /// How many messages the statistics say there are (`-1` or none if never analysed).
    const ESTIMATED_MESSAGES: Option<&'static str>;
    /// Run first in a bulk write transaction. PostgreSQL: the connections force custom plans
    /// (see `postgres.rs`), which also re-plans every foreign-key check of every inserted row;
    /// a bulk load lets the server cache those plans (its statistics are kept fresh by
    /// `ANALYZE_CONTACTS`).
    const BULK_WRITE_SETUP: Option<&'static str>;
    /// Run first in a webhook's transaction. PostgreSQL: as [`Engine::BULK_WRITE_SETUP`], and
    /// joins by nested loop only. The transaction's statements look rows up by key; the
    /// conversations' clock move (an `UPDATE` joined to a list of ids) was planned as a hash
    /// join over the whole table, which reads every conversation for each webhook group:
    /// 15 ms for 512 conversations out of 50,000 against 7 ms by key, and half again as long
    /// for 64 out of 5,000.
    const INBOUND_WRITE_SETUP: Option<&'static str>;
    /// Message search: the messages (`m`) matching the terms bound as `$2`, newest first, keyset
    /// on `$3`, the viewer's channels only (`$4`), `$5` rows. SQLite reads its FTS5 index in
    /// descending rowid order, lazily, so one query serves rare and common words alike.
    /// PostgreSQL's GIN index yields matches in no order: fetching them all is fast for a rare
    /// word and slow for a common one, and its planner cannot tell which a prefix is. So it
    /// first walks the newest messages (`SEARCH_MESSAGES_RECENT`, ids above `$6`), which finds a
    /// page of a common word at once, and only when that falls short asks the index for every
    /// match (`SEARCH_MESSAGES`, sorted afterwards).
    const SEARCH_MESSAGES: &'static str;
    const SEARCH_MESSAGES_RECENT: Option<&'static str>;
    /// Run (in a transaction of its own) before walking the newest rows: PostgreSQL would
    /// rather combine its GIN index with the id range, and for two common words read both
    /// words' every row (250 ms) to find what the walk finds in under one.
    const RECENT_SEARCH_SETUP: Option<&'static str>;
    /// Contact search: like `contacts::LIST_CONTACTS`, only contacts matching the terms (`$5`);
    /// the same two steps on PostgreSQL (ids above `$6` first).
    const SEARCH_CONTACTS: &'static str;
    const SEARCH_CONTACTS_RECENT: Option<&'static str>;
    /// Run (in a transaction of its own) before asking the index for every match. PostgreSQL
    /// guesses that a prefix matches 2 % of rows and would read the whole table rather than
    /// the index: it must take the index (a few ms where the table takes 300), alone.
    const INDEX_SEARCH_SETUP: Option<&'static str>;
    /// Written before a column in a condition that no index should serve. SQLite plans without
    /// statistics and may pick the wrong index (`+col` keeps it off); PostgreSQL plans from its
    /// statistics and is left alone.
    const UNINDEXED: &'static str;
    /// The terms in the engine's match syntax (each a word prefix, all required).
    fn match_query(terms: &[String]) -> String;
    /// `n` fresh contact ids, for multi-row inserts that must know each row's id. SQLite counts
    /// on from the largest id (the caller holds the one write lock); PostgreSQL takes them from
    /// the identity sequence.
    fn reserve_contact_ids(conn: &mut Self::Connection, n: i64) -> BoxFuture<'_, StoreResult<Vec<i64>>>;
    /// Inserts many contact rows (imports). SQLite: multi-row `VALUES`; PostgreSQL: one
    /// `UNNEST` of column arrays, far cheaper to plan than thousands of parameters.
    fn insert_contact_rows(conn: &mut Self::Connection, rows: Vec<ContactInsert>) -> BoxFuture<'_, StoreResult<()>>;
    /// The contacts of workspace `ws` whose phone (`by_email` false) or email is one of `values`.
    /// SQLite: `IN` lists of a few hundred values; PostgreSQL: one `= ANY($2)` with an array.
    fn contacts_with(
        conn: &mut Self::Connection,
        ws: i64,
        by_email: bool,
        values: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<Vec<contacts::ContactRow>>>;
    /// The senders known by one of `values` (WhatsApp ids or BSUIDs) in workspace `ws`:
    /// `(kind, value, contact id, contact name)`. SQLite: `IN` lists; PostgreSQL: one `= ANY($2)`
    /// with an array, one prepared statement whatever the batch's size.
    fn identities_with(
        conn: &mut Self::Connection,
        ws: i64,
        values: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<Vec<IdentityRow>>>;
    /// Inserts inbound messages (a duplicate `(channel, provider id)` is skipped); answers
    /// `(id, channel_id, provider_message_id)` of those inserted. SQLite: multi-row `VALUES`;
    /// PostgreSQL: one `UNNEST` (its connections plan every statement anew, and a 128-row
    /// `VALUES` has 2,048 parameters to plan).
    fn insert_message_rows(
        conn: &mut Self::Connection,
        rows: Vec<InboundMessageRow>,
    ) -> BoxFuture<'_, StoreResult<Vec<(i64, i64, String)>>>;
    /// The provider ids among `ids` already stored on `channel` (`inbound/keyed.rs`).
    fn stored_message_ids(
        conn: &mut Self::Connection,
        channel: i64,
        ids: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<Vec<String>>>;
    /// The conversations of `contacts` on `channel`: `(id, contact id, status)`.
    fn conversations_of(
        conn: &mut Self::Connection,
        channel: i64,
        contacts: Vec<i64>,
    ) -> BoxFuture<'_, StoreResult<Vec<(i64, i64, String)>>>;
    /// Reopens conversations and moves their clocks forward: `(id, newest message time, newest
    /// referral time)`; answers how many were updated.
    fn move_clocks(
        conn: &mut Self::Connection,
        moves: Vec<(i64, i64, Option<i64>)>,
        now: i64,
    ) -> BoxFuture<'_, StoreResult<u64>>;
    /// Appends events in order, all created at `created_at`: multi-row `VALUES` on SQLite, one
    /// `UNNEST` on PostgreSQL (a webhook group commit appends thousands).
    fn insert_event_rows(
        conn: &mut Self::Connection,
        rows: Vec<EventRow>,
        created_at: i64,
    ) -> BoxFuture<'_, StoreResult<()>>;
    /// Inserts many `(contact_id, workspace_id, tag)` rows, as above.
    fn insert_tag_rows(conn: &mut Self::Connection, rows: Vec<(i64, i64, String)>) -> BoxFuture<'_, StoreResult<()>>;
    /// Whether several transactions write at once (PostgreSQL), so that creating a row must
    /// lock its key and look again ([`locks`]). SQLite has one writer at a time.
    const CONCURRENT_WRITERS: bool;
    /// Waits for the transaction-scoped locks of `keys` ([`locks::lock_keys`]; SQLite: nothing).
    fn lock_keys(
        conn: &mut Self::Connection,
        class: locks::LockClass,
        keys: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<()>>;
    /// Waits for shared locks of `keys` ([`locks::share_keys`]; SQLite: nothing).
    fn share_keys(
        conn: &mut Self::Connection,
        class: locks::LockClass,
        keys: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<()>>;
    /// How many of the contacts `ids` exist ([`locks::count_contacts`]; SQLite, whose writers
    /// never overlap, takes them all as existing).
    fn count_contacts(conn: &mut Self::Connection, ids: Vec<i64>) -> BoxFuture<'_, StoreResult<usize>>;
    /// Locks conversation rows in id order ([`locks::lock_conversations`]; SQLite: nothing).
    fn lock_conversations(conn: &mut Self::Connection, ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>>;
    /// Rows changed by an `execute` (each engine has its own result type).
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// Runs the engine's migrations (generic code cannot name the `Migrate` bound sqlx needs).
    fn run_migrations<'a>(pool: &'a Pool<Self>, migrator: &'a Migrator) -> BoxFuture<'a, StoreResult<()>>;
}

const INSERT_MESSAGES: &str =
    "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, provider_message_id,
    type, text, content, context, referral, raw, target_provider_id, status, status_at, sent_at, created_at, search) ";
const MESSAGES_ON_CONFLICT: &str =
    " ON CONFLICT (channel_id, provider_message_id) DO NOTHING RETURNING id, channel_id, provider_message_id";

/// One inbound message row as the webhook pipeline inserts it (`direction` `in`, status
/// `received`, `status_at` = `sent_at`).
pub struct InboundMessageRow {
    pub workspace_id: i64,
    pub conversation_id: i64,
    pub channel_id: i64,
    pub provider_message_id: String,
    pub kind: String,
    pub text: Option<String>,
    pub content: String,
    pub context: Option<String>,
    pub referral: Option<String>,
    pub raw: String,
    pub target: Option<String>,
    pub sent_at: i64,
    pub created_at: i64,
    /// The text's words for search ([`message_search`]).
    pub search: Option<String>,
}

/// One event row as a transaction appends it (`events.rs` reads them).
pub struct EventRow {
    pub workspace_id: i64,
    pub kind: String,
    pub subject_id: Option<i64>,
    pub channel_id: Option<i64>,
    /// The business account an event without a channel is about (template events).
    pub waba_id: Option<String>,
    pub payload: String,
}

/// What a message is found by in search: its text's folded words (none without text).
pub(crate) fn message_search(text: Option<&str>) -> Option<String> {
    text.map(parley_core::search::search_words).filter(|w| !w.is_empty())
}

/// One contact row as the bulk insert and update write it.
pub struct ContactInsert {
    pub id: i64,
    pub workspace_id: i64,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub invalid_phone: Option<String>,
    pub invalid_email: Option<String>,
    pub fields: String,
    pub tags: String,
    pub search: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Engine for sqlx::Sqlite {
    const ENGINE: &'static str = "sqlite";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    // CROSS JOIN keeps the index first: SQLite would otherwise walk the table and run the
    // full-text query once per row.
    const SEARCH_MESSAGES: &'static str = search_messages!(
        "messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid",
        "messages_fts MATCH $2",
        "messages_fts.rowid",
        "messages_fts.rowid",
        ""
    );
    const SEARCH_MESSAGES_RECENT: Option<&'static str> = None;
    const SEARCH_CONTACTS: &'static str = search_contacts!(
        "contacts_fts CROSS JOIN contacts c ON c.id = contacts_fts.rowid",
        "contacts_fts MATCH $5",
        "contacts_fts.rowid",
        "contacts_fts.rowid",
        ""
    );
    const SEARCH_CONTACTS_RECENT: Option<&'static str> = None;
    const INDEX_SEARCH_SETUP: Option<&'static str> = None;
    const RECENT_SEARCH_SETUP: Option<&'static str> = None;
    const UNINDEXED: &'static str = "+";
    fn match_query(terms: &[String]) -> String {
        // Terms are letters and digits only (SearchTerms): quoting cannot be escaped from.
        terms.iter().map(|t| format!("\"{t}\"*")).collect::<Vec<_>>().join(" ")
    }
    const OUTBOX_BY_ID: &'static str = "outbox NOT INDEXED";
    const SKIP_LOCKED: &'static str = "";
    const ANALYZE_CONTACTS: Option<&'static str> = None;
    const ANALYZE_INBOUND: Option<&'static str> = None;
    const ESTIMATED_MESSAGES: Option<&'static str> = None;
    const BULK_WRITE_SETUP: Option<&'static str> = None;
    const INBOUND_WRITE_SETUP: Option<&'static str> = None;
    const CONCURRENT_WRITERS: bool = false;
    fn lock_keys(_: &mut Self::Connection, _: locks::LockClass, _: Vec<String>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async { Ok(()) })
    }
    fn share_keys(_: &mut Self::Connection, _: locks::LockClass, _: Vec<String>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async { Ok(()) })
    }
    fn count_contacts(_: &mut Self::Connection, ids: Vec<i64>) -> BoxFuture<'_, StoreResult<usize>> {
        Box::pin(async move { Ok(ids.len()) })
    }
    fn lock_conversations(_: &mut Self::Connection, _: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async { Ok(()) })
    }
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
    fn run_migrations<'a>(pool: &'a Pool<Self>, migrator: &'a Migrator) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { Ok(migrator.run(pool).await?) })
    }
    fn reserve_contact_ids(conn: &mut Self::Connection, n: i64) -> BoxFuture<'_, StoreResult<Vec<i64>>> {
        Box::pin(async move {
            let max: i64 =
                sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM contacts").fetch_one(&mut *conn).await?;
            Ok((max + 1..=max + n).collect())
        })
    }
    fn insert_contact_rows(conn: &mut Self::Connection, rows: Vec<ContactInsert>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            for chunk in pow2_chunks(&rows, 256) {
                let mut qb = sqlx::QueryBuilder::<Self>::new(
                    "INSERT INTO contacts (id, workspace_id, name, phone, email, fields, tags, search, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut row, c| {
                    row.push_bind(c.id)
                        .push_bind(c.workspace_id)
                        .push_bind(c.name.clone())
                        .push_bind(c.phone.clone())
                        .push_bind(c.email.clone())
                        .push_bind(c.fields.clone())
                        .push_bind(c.tags.clone())
                        .push_bind(c.search.clone())
                        .push_bind(c.created_at)
                        .push_bind(c.updated_at);
                });
                qb.build().execute(&mut *conn).await?;
            }
            Ok(())
        })
    }
    fn insert_event_rows(
        conn: &mut Self::Connection,
        rows: Vec<EventRow>,
        created_at: i64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            for chunk in pow2_chunks(&rows, 128) {
                let mut qb = sqlx::QueryBuilder::<Self>::new(
                    "INSERT INTO events (workspace_id, kind, subject_id, channel_id, waba_id, payload, created_at) ",
                );
                qb.push_values(chunk, |mut row, e| {
                    row.push_bind(e.workspace_id)
                        .push_bind(e.kind.clone())
                        .push_bind(e.subject_id)
                        .push_bind(e.channel_id)
                        .push_bind(e.waba_id.clone())
                        .push_bind(e.payload.clone())
                        .push_bind(created_at);
                });
                qb.build().execute(&mut *conn).await?;
            }
            Ok(())
        })
    }
    fn insert_message_rows(
        conn: &mut Self::Connection,
        rows: Vec<InboundMessageRow>,
    ) -> BoxFuture<'_, StoreResult<Vec<(i64, i64, String)>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(rows.len());
            for chunk in pow2_chunks(&rows, 128) {
                let mut qb = sqlx::QueryBuilder::<Self>::new(INSERT_MESSAGES);
                qb.push_values(chunk, |mut row, m| {
                    row.push_bind(m.workspace_id)
                        .push_bind(m.conversation_id)
                        .push_bind(m.channel_id)
                        .push_bind("in")
                        .push_bind(m.provider_message_id.clone())
                        .push_bind(m.kind.clone())
                        .push_bind(m.text.clone())
                        .push_bind(m.content.clone())
                        .push_bind(m.context.clone())
                        .push_bind(m.referral.clone())
                        .push_bind(m.raw.clone())
                        .push_bind(m.target.clone())
                        .push_bind("received")
                        .push_bind(m.sent_at)
                        .push_bind(m.sent_at)
                        .push_bind(m.created_at)
                        .push_bind(m.search.clone());
                });
                qb.push(MESSAGES_ON_CONFLICT);
                out.extend(qb.build_query_as::<(i64, i64, String)>().fetch_all(&mut *conn).await?);
            }
            Ok(out)
        })
    }
    fn contacts_with(
        conn: &mut Self::Connection,
        ws: i64,
        by_email: bool,
        values: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<Vec<contacts::ContactRow>>> {
        let head = concat!("SELECT ", contacts::contact_columns!(), " FROM contacts WHERE workspace_id = ");
        let column = if by_email { "email" } else { "phone" };
        Box::pin(sqlite_in_lists(conn, head, ws, column, values, 512))
    }
    fn identities_with(
        conn: &mut Self::Connection,
        ws: i64,
        values: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<Vec<IdentityRow>>> {
        Box::pin(sqlite_in_lists(conn, IDENTITIES_OF_WORKSPACE, ws, "ci.value", values, inbound::MAX_ROWS))
    }
    fn stored_message_ids(
        conn: &mut Self::Connection,
        channel: i64,
        ids: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<Vec<String>>> {
        Box::pin(inbound::keyed::sqlite_stored_ids(conn, channel, ids))
    }
    fn conversations_of(
        conn: &mut Self::Connection,
        channel: i64,
        contacts: Vec<i64>,
    ) -> BoxFuture<'_, StoreResult<Vec<(i64, i64, String)>>> {
        Box::pin(inbound::keyed::sqlite_conversations_of(conn, channel, contacts))
    }
    fn move_clocks(
        conn: &mut Self::Connection,
        moves: Vec<(i64, i64, Option<i64>)>,
        now: i64,
    ) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(inbound::keyed::sqlite_move_clocks(conn, moves, now))
    }
    fn insert_tag_rows(conn: &mut Self::Connection, rows: Vec<(i64, i64, String)>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            for chunk in pow2_chunks(&rows, 512) {
                let mut qb =
                    sqlx::QueryBuilder::<Self>::new("INSERT INTO contact_tags (contact_id, workspace_id, tag) ");
                qb.push_values(chunk, |mut row, (id, ws, tag)| {
                    row.push_bind(*id).push_bind(*ws).push_bind(tag.clone());
                });
                qb.build().execute(&mut *conn).await?;
            }
            Ok(())
        })
    }
}

impl Engine for sqlx::Postgres {
    const ENGINE: &'static str = "postgres";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const SEARCH_MESSAGES: &'static str =
        search_messages!("messages m", "m.search_vector @@ $2::tsquery", "m.id", "m.id + 0", "");
    // Messages' vectors hold Parley's words as lexemes (migration 0021), so the query is built
    // from the terms as they are, not through a text configuration.
    const SEARCH_MESSAGES_RECENT: Option<&'static str> =
        Some(search_messages!("messages m", "m.search_vector @@ $2::tsquery", "m.id", "m.id", " AND m.id > $6"));
    const SEARCH_CONTACTS: &'static str =
        search_contacts!("contacts c", "c.search_vector @@ to_tsquery('simple', $5)", "c.id", "c.id + 0", "");
    const SEARCH_CONTACTS_RECENT: Option<&'static str> = Some(search_contacts!(
        "contacts c",
        "c.search_vector @@ to_tsquery('simple', $5)",
        "c.id",
        "c.id",
        " AND c.id > $6"
    ));
    // Parallel workers and JIT compilation cost more to start than such a search takes.
    const INDEX_SEARCH_SETUP: Option<&'static str> = Some(
        "SELECT set_config('enable_seqscan', 'off', true), set_config('max_parallel_workers_per_gather', '0', true),
                set_config('jit', 'off', true)",
    );
    const RECENT_SEARCH_SETUP: Option<&'static str> = Some(
        "SELECT set_config('enable_bitmapscan', 'off', true), set_config('max_parallel_workers_per_gather', '0', true),
                set_config('jit', 'off', true)",
    );
    const UNINDEXED: &'static str = "";
    /// Each term a quoted prefix lexeme (`'chao':* & 'anh':*`): read as they are by `::tsquery`
    /// and by `to_tsquery('simple', …)` alike. Terms are letters and digits; quotes and
    /// backslashes are escaped all the same.
    fn match_query(terms: &[String]) -> String {
        terms
            .iter()
            .map(|t| format!("'{}':*", t.replace('\\', "\\\\").replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(" & ")
    }
    const OUTBOX_BY_ID: &'static str = "outbox";
    const SKIP_LOCKED: &'static str = " FOR UPDATE OF o SKIP LOCKED";
    const ANALYZE_CONTACTS: Option<&'static str> = Some("ANALYZE contacts, contact_tags");
    // The tables a webhook looks rows up in. Not events or statuses: they are only appended to
    // (read back by id), and analysing events, the largest, took most of the refresh's time.
    const ANALYZE_INBOUND: Option<&'static str> = Some("ANALYZE messages, conversations, contacts, contact_identities");
    const ESTIMATED_MESSAGES: Option<&'static str> =
        Some("SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE oid = to_regclass('messages')");
    const BULK_WRITE_SETUP: Option<&'static str> = Some("SET LOCAL plan_cache_mode = auto");
    const INBOUND_WRITE_SETUP: Option<&'static str> = Some(
        "SELECT set_config('plan_cache_mode', 'auto', true), set_config('enable_hashjoin', 'off', true),
                set_config('enable_mergejoin', 'off', true)",
    );
    const CONCURRENT_WRITERS: bool = true;
    fn lock_keys(
        conn: &mut Self::Connection,
        class: locks::LockClass,
        keys: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(locks::lock_keys(conn, class, keys))
    }
    fn share_keys(
        conn: &mut Self::Connection,
        class: locks::LockClass,
        keys: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(locks::share_keys(conn, class, keys))
    }
    fn count_contacts(conn: &mut Self::Connection, ids: Vec<i64>) -> BoxFuture<'_, StoreResult<usize>> {
        Box::pin(locks::count_contacts(conn, ids))
    }
    fn lock_conversations(conn: &mut Self::Connection, ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(locks::lock_conversations(conn, ids))
    }
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
    fn run_migrations<'a>(pool: &'a Pool<Self>, migrator: &'a Migrator) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { Ok(migrator.run(pool).await?) })
    }
    fn reserve_contact_ids(conn: &mut Self::Connection, n: i64) -> BoxFuture<'_, StoreResult<Vec<i64>>> {
        Box::pin(async move {
            // The sequence's name is looked up once (materialized), not once per row: that lookup
            // cost ten times the `nextval` itself.
            Ok(sqlx::query_scalar(
                "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('contacts', 'id')::regclass AS seq)
                 SELECT nextval(s.seq) FROM s, generate_series(1, $1)",
            )
            .bind(n)
            .fetch_all(&mut *conn)
            .await?)
        })
    }
    fn insert_contact_rows(conn: &mut Self::Connection, rows: Vec<ContactInsert>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            if rows.is_empty() {
                return Ok(());
            }
            let (mut ids, mut wss, mut names, mut phones, mut emails) = (
                Vec::new(),
                Vec::new(),
                Vec::<Option<String>>::new(),
                Vec::<Option<String>>::new(),
                Vec::<Option<String>>::new(),
            );
            let (mut fields, mut tags, mut search, mut created, mut updated) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for c in rows {
                ids.push(c.id);
                wss.push(c.workspace_id);
                names.push(c.name);
                phones.push(c.phone);
                emails.push(c.email);
                fields.push(c.fields);
                tags.push(c.tags);
                search.push(c.search);
                created.push(c.created_at);
                updated.push(c.updated_at);
            }
            sqlx::query(
                "INSERT INTO contacts (id, workspace_id, name, phone, email, fields, tags, search, created_at, updated_at)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
                                      $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::BIGINT[])",
            )
            .bind(ids)
            .bind(wss)
            .bind(names)
            .bind(phones)
            .bind(emails)
            .bind(fields)
            .bind(tags)
            .bind(search)
            .bind(created)
            .bind(updated)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }
    fn insert_event_rows(
        conn: &mut Self::Connection,
        rows: Vec<EventRow>,
        created_at: i64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            if rows.is_empty() {
                return Ok(());
            }
            let n = rows.len();
            let (mut ws, mut kinds, mut subjects, mut channels, mut wabas, mut payloads) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::<Option<i64>>::with_capacity(n),
                Vec::<Option<i64>>::with_capacity(n),
                Vec::<Option<String>>::with_capacity(n),
                Vec::with_capacity(n),
            );
            for e in rows {
                ws.push(e.workspace_id);
                kinds.push(e.kind);
                subjects.push(e.subject_id);
                channels.push(e.channel_id);
                wabas.push(e.waba_id);
                payloads.push(e.payload);
            }
            // WITH ORDINALITY and ORDER BY: ids follow push order, which readers rely on.
            sqlx::query(
                "INSERT INTO events (workspace_id, kind, subject_id, channel_id, waba_id, payload, created_at)
                 SELECT w, k, s, c, a, p, $7
                 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::TEXT[]) WITH ORDINALITY
                      AS u (w, k, s, c, a, p, i)
                 ORDER BY i",
            )
            .bind(ws)
            .bind(kinds)
            .bind(subjects)
            .bind(channels)
            .bind(wabas)
            .bind(payloads)
            .bind(created_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }
    fn insert_message_rows(
        conn: &mut Self::Connection,
        rows: Vec<InboundMessageRow>,
    ) -> BoxFuture<'_, StoreResult<Vec<(i64, i64, String)>>> {
        Box::pin(async move {
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let n = rows.len();
            let (mut ws, mut conv, mut ch, mut pid, mut kind) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            let (mut text, mut content, mut context, mut referral, mut raw, mut target, mut sent, mut created) = (
                Vec::<Option<String>>::with_capacity(n),
                Vec::with_capacity(n),
                Vec::<Option<String>>::with_capacity(n),
                Vec::<Option<String>>::with_capacity(n),
                Vec::with_capacity(n),
                Vec::<Option<String>>::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            let mut search = Vec::<Option<String>>::with_capacity(n);
            for m in rows {
                ws.push(m.workspace_id);
                conv.push(m.conversation_id);
                ch.push(m.channel_id);
                pid.push(m.provider_message_id);
                kind.push(m.kind);
                text.push(m.text);
                content.push(m.content);
                context.push(m.context);
                referral.push(m.referral);
                raw.push(m.raw);
                target.push(m.target);
                sent.push(m.sent_at);
                created.push(m.created_at);
                search.push(m.search);
            }
            Ok(sqlx::query_as(concat!(
                "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, provider_message_id, type, text,
                    content, context, referral, raw, target_provider_id, status, status_at, sent_at, created_at, search)
                 SELECT w, cv, ch, 'in', p, k, t, c, cx, r, rw, tg, 'received', s, s, cr, sr
                 FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[],
                             $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::BIGINT[], $13::BIGINT[], $14::TEXT[])
                      AS u (w, cv, ch, p, k, t, c, cx, r, rw, tg, s, cr, sr)",
                " ON CONFLICT (channel_id, provider_message_id) DO NOTHING RETURNING id, channel_id, provider_message_id"
            ))
            .bind(ws)
            .bind(conv)
            .bind(ch)
            .bind(pid)
            .bind(kind)
            .bind(text)
            .bind(content)
            .bind(context)
            .bind(referral)
            .bind(raw)
            .bind(target)
            .bind(sent)
            .bind(created)
            .bind(search)
            .fetch_all(&mut *conn)
            .await?)
        })
    }
    fn contacts_with(
        conn: &mut Self::Connection,
        ws: i64,
        by_email: bool,
        values: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<Vec<contacts::ContactRow>>> {
        Box::pin(async move {
            const BY_PHONE: &str = concat!(
                "SELECT ",
                contacts::contact_columns!(),
                " FROM contacts WHERE workspace_id = $1 AND phone = ANY($2)"
            );
            const BY_EMAIL: &str = concat!(
                "SELECT ",
                contacts::contact_columns!(),
                " FROM contacts WHERE workspace_id = $1 AND email = ANY($2)"
            );
            if values.is_empty() {
                return Ok(Vec::new());
            }
            let sql = if by_email { BY_EMAIL } else { BY_PHONE };
            Ok(sqlx::query_as(sql).bind(ws).bind(values).fetch_all(&mut *conn).await?)
        })
    }
    fn identities_with(
        conn: &mut Self::Connection,
        ws: i64,
        values: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<Vec<IdentityRow>>> {
        Box::pin(async move {
            if values.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!("{IDENTITIES_OF_WORKSPACE}$1 AND ci.value = ANY($2)");
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ws).bind(values).fetch_all(&mut *conn).await?)
        })
    }
    fn stored_message_ids(
        conn: &mut Self::Connection,
        channel: i64,
        ids: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<Vec<String>>> {
        Box::pin(inbound::keyed::pg_stored_ids(conn, channel, ids))
    }
    fn conversations_of(
        conn: &mut Self::Connection,
        channel: i64,
        contacts: Vec<i64>,
    ) -> BoxFuture<'_, StoreResult<Vec<(i64, i64, String)>>> {
        Box::pin(inbound::keyed::pg_conversations_of(conn, channel, contacts))
    }
    fn move_clocks(
        conn: &mut Self::Connection,
        moves: Vec<(i64, i64, Option<i64>)>,
        now: i64,
    ) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(inbound::keyed::pg_move_clocks(conn, moves, now))
    }
    fn insert_tag_rows(conn: &mut Self::Connection, rows: Vec<(i64, i64, String)>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            if rows.is_empty() {
                return Ok(());
            }
            let (mut ids, mut wss, mut tags) = (Vec::new(), Vec::new(), Vec::new());
            for (id, ws, tag) in rows {
                ids.push(id);
                wss.push(ws);
                tags.push(tag);
            }
            sqlx::query(
                "INSERT INTO contact_tags (contact_id, workspace_id, tag) SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[])",
            )
            .bind(ids)
            .bind(wss)
            .bind(tags)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }
}

/// The store over one engine. SQLite has a one-connection writer pool and a reader pool;
/// PostgreSQL uses one pool for both.
pub struct SqlStore<DB: Database> {
    pub(crate) write: Pool<DB>,
    pub(crate) read: Pool<DB>,
    pub(crate) migrator: Migrator,
    /// SQLite: the lock file held for the store's lifetime (one server per file) and the
    /// background checkpointer, stopped with the store.
    pub(crate) _sqlite: Option<crate::sqlite::FileGuard>,
    /// Messages this process stored since it started, and the count at which the planner's
    /// statistics are refreshed next (see [`SqlStore::inbound_grew`]).
    pub(crate) inbound_rows: Arc<(AtomicU64, AtomicU64)>,
    /// Rate cards' lines by card id, read once: a card never changes once imported
    /// (`fee_pricing.rs`).
    pub(crate) rate_cards: fee_pricing::CardCache,
    /// SQLite: the inbound journal's own file (`inbound/journal.rs`); PostgreSQL keeps it in a
    /// table of the database (`None`).
    pub(crate) journal: Option<Pool<DB>>,
}

/// The first refresh of inbound statistics comes after this many stored messages; each next one
/// when the count doubled.
const FIRST_INBOUND_ANALYZE: u64 = 1_000;

impl<DB: Engine> SqlStore<DB> {
    pub(crate) fn new(
        write: Pool<DB>,
        read: Pool<DB>,
        migrator: Migrator,
        sqlite: Option<crate::sqlite::FileGuard>,
    ) -> Self {
        SqlStore {
            write,
            read,
            migrator,
            _sqlite: sqlite,
            inbound_rows: Arc::new((AtomicU64::new(0), AtomicU64::new(FIRST_INBOUND_ANALYZE))),
            rate_cards: fee_pricing::CardCache::default(),
            journal: None,
        }
    }

    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, DB>> {
        Ok(self.write.begin_with(DB::BEGIN_WRITE).await?)
    }
}

/// A `LIMIT` in range: at least 1, at most `max`.
pub(crate) fn clamp_limit(limit: u32, max: u32) -> i64 {
    i64::from(limit.clamp(1, max))
}

/// A sender found by identity: kind, value, contact id, contact name.
pub(crate) type IdentityRow = (String, String, i64, Option<String>);

/// Senders by identity, up to the workspace's bound parameter: both kinds named, since the
/// unique index is (workspace, kind, value) — without the kind PostgreSQL read every identity of
/// the workspace (12 ms at 100,000).
const IDENTITIES_OF_WORKSPACE: &str = "SELECT ci.kind, ci.value, ci.contact_id, c.name FROM contact_identities ci
     JOIN contacts c ON c.id = ci.contact_id WHERE ci.kind IN ('wa_id', 'bsuid') AND ci.workspace_id = ";

/// SQLite's lookups by a list of values: `head` (ending in `workspace_id = `, or another key's
/// column) for `ws` and `column IN (…)`, one statement per power-of-two chunk of at most
/// `max_rows` values.
pub(crate) async fn sqlite_in_lists<R, V>(
    conn: &mut sqlx::SqliteConnection,
    head: &'static str,
    ws: i64,
    column: &'static str,
    values: Vec<V>,
    max_rows: usize,
) -> StoreResult<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    V: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Clone + Send + 'static,
{
    let mut out = Vec::new();
    for chunk in pow2_chunks(&values, max_rows) {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(head);
        qb.push_bind(ws).push(" AND ").push(column).push(" IN (");
        let mut list = qb.separated(", ");
        for v in chunk {
            list.push_bind(v.clone());
        }
        qb.push(")");
        out.extend(qb.build_query_as::<R>().fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// Cuts `items` into slices whose lengths are powers of two, at most `max_rows`: multi-row
/// statements then come in a handful of shapes, so their prepared statements are reused instead
/// of parsed and planned anew for every batch size (a large cost on PostgreSQL).
pub(crate) fn pow2_chunks<T>(items: &[T], max_rows: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let fit = rest.len().min(max_rows);
        let n = if fit.is_power_of_two() { fit } else { fit.next_power_of_two() / 2 };
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}
