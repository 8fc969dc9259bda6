//! The order in which concurrent writers lock, on PostgreSQL (several ingest transactions run at once
//! in one server, and several servers may share a database; SQLite has one writer and needs
//! none of this).
//!
//! A webhook transaction takes its locks in phases, each phase in one sorted sweep, so that two
//! transactions can wait for each other but never in a circle:
//! 1. the identities of senders not known yet. A batch first records them as if no one else
//!    were making the same senders, in key order: the identities' unique key makes a concurrent
//!    insert of the same identity wait for the other's commit. Should another transaction have
//!    recorded one, the batch undoes its senders (a savepoint), takes the identities' locks
//!    ([`LockClass::NewSender`]) and looks them up again: a transaction that created the
//!    contact meanwhile has committed, and its contact is found instead of made twice
//!    (`inbound/senders.rs`);
//! 2. the (channel, contact) pairs without a conversation, inserted in key order: a pair a
//!    concurrent transaction opened first is skipped once it commits (the unique key waits for
//!    it) and its conversation found; then, when new ones are assigned automatically, the
//!    workspace's [`LockClass::Assignment`] before the agents' loads are read;
//! 3. message rows for statuses, by channel and provider id (`inbound/mod.rs`);
//! 4. the conversation rows whose clocks move, in id order, last before the commit
//!    (`inbound/messages.rs`, `ClockMoves`).
//!
//! A send that takes a slot of the messaging limit (a business-initiated message to a recipient
//! not counted yet) takes [`LockClass::MessagingLimit`] of its account before any other lock: it
//! has only read until then, and nothing else takes that class, so it waits for no one who waits
//! for it (`outbox.rs`, `queue_send`).
//!
//! A change to a user takes [`LockClass::UserChange`] of the workspace first of all, before it
//! reads the roles its rules look at (`users.rs`): changes to users wait for each other, nothing
//! else takes that class.
//!
//! A status report and the record of a send's provider id meet on [`LockClass::ProviderMessage`]
//! of `channel:id`: Meta may report a failure before our record of the send's id has committed,
//! and neither transaction would see the other's row (the status is logged for a message not
//! known yet; the record looks for such logs before the status is committed). A webhook takes
//! these locks before logging its statuses (phase 3, after phases 1 and 2); the dispatcher's
//! recorder takes them before writing the ids, and takes no other class. Whichever comes second
//! sees what the first committed.
//!
//! A webhook and a merge meet on [`LockClass::Contact`] of each contact involved. A webhook
//! takes shared locks of the contacts its senders resolved to (webhooks never wait for each
//! other on them; exclusive, they serialised concurrent webhooks sharing any of 1,024 buckets
//! and cost a third of PostgreSQL's ingest) after phase 1 and before it writes
//! anything, then checks that they still exist: a merge that committed meanwhile moved their
//! identities, and the senders are looked up again. A merge takes the locks of its two contacts
//! before it reads what it moves, and no other class: a message written to the secondary's
//! conversation by a webhook it waited for is moved with the rest, never deleted with the
//! folded conversation (`merge.rs`).
//!
//! Two deliveries of one message in two transactions at once (Meta retries much later than
//! that) can still wait for each other on the messages' unique key, in batch order; should they
//! deadlock, PostgreSQL aborts one and the webhook is applied again.
//!
//! Phase 1, contacts, the messaging limit and user changes use transaction-scoped advisory
//! locks on a hash of the key, folded into [`BUCKETS`] per class: a transaction creating thousands of contacts holds at most that many
//! locks (PostgreSQL's lock table is shared and small), and two keys in one bucket merely wait
//! for each other. The schema is part of the hash, so that tests, each in a schema of its own in
//! one database, do not wait for each other's keys.

use sqlx::PgConnection;

use crate::error::StoreResult;

/// What a key names; each class has its own lock space.
#[derive(Clone, Copy)]
pub enum LockClass {
    /// `workspace:identity value` of a sender not known yet. (2 named `channel:contact` pairs
    /// without a conversation; their unique key serves now.)
    NewSender = 1,
    /// `workspace` whose new conversations are being assigned to agents.
    Assignment = 3,
    /// `workspace:waba` whose count of business-initiated recipients a send is about to grow.
    MessagingLimit = 4,
    /// `workspace` one of whose users is being changed (roles, activity).
    UserChange = 5,
    /// `channel:provider message id` whose status a webhook reports, or which a send's outcome
    /// records (see the module's note on statuses).
    ProviderMessage = 6,
    /// A contact id a webhook is about to write for (its conversation, messages, identities)
    /// or a merge is about to fold away (see the module's note on merges).
    Contact = 7,
    /// The one key `runs`: servers leasing workflow runs take it, so that no two lease runs of
    /// one conversation at once (`workflows.rs`, `claim_runs`); nothing else takes the class.
    WorkflowRuns = 8,
}

/// Buckets a class's keys are folded into.
const BUCKETS: i64 = 1024;

impl LockClass {
    /// How many buckets the class's keys fold into (a power of two). Contacts use few: webhooks
    /// share them, so only merges wait more often, while each webhook takes a few locks instead
    /// of one per sender — PostgreSQL's lock table, shared by every connection, was a third of
    /// ingest's cost with 1,024.
    fn buckets(self) -> i64 {
        match self {
            LockClass::Contact => 16,
            _ => BUCKETS,
        }
    }
}

/// Waits for the locks of `keys`, in bucket order; held until the transaction ends.
pub(crate) async fn lock_keys(conn: &mut PgConnection, class: LockClass, keys: Vec<String>) -> StoreResult<()> {
    take_keys(conn, "pg_advisory_xact_lock", class, keys).await
}

/// Waits for shared locks of `keys`: holders of shared locks never wait for each other, only
/// for (and hold back) an exclusive [`lock_keys`] of the same key. Webhooks share the
/// [`LockClass::Contact`] locks among themselves; a merge takes them exclusively.
pub(crate) async fn share_keys(conn: &mut PgConnection, class: LockClass, keys: Vec<String>) -> StoreResult<()> {
    take_keys(conn, "pg_advisory_xact_lock_shared", class, keys).await
}

async fn take_keys(conn: &mut PgConnection, function: &str, class: LockClass, keys: Vec<String>) -> StoreResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    // `OFFSET 0` keeps the sorted subquery a step of its own, so the locks are taken in its
    // order (the outer query adds no sort).
    let sql = format!(
        "SELECT {function}($1, b)
         FROM (SELECT DISTINCT (hashtextextended(current_schema() || ':' || k, 0) & $3)::INT4 AS b
               FROM UNNEST($2::TEXT[]) AS k ORDER BY 1 OFFSET 0) buckets"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(class as i32).bind(keys).bind(class.buckets() - 1).execute(conn).await?;
    Ok(())
}

/// How many of the contacts `ids` exist: one statement whatever their number (an `IN` list of
/// varying length is a new prepared statement each time).
pub(crate) async fn count_contacts(conn: &mut PgConnection, ids: Vec<i64>) -> StoreResult<usize> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE id = ANY($1)").bind(ids).fetch_one(conn).await?;
    Ok(n as usize)
}

/// Locks the conversation rows `ids` in id order (`ORDER BY` comes before `FOR UPDATE`).
pub(crate) async fn lock_conversations(conn: &mut PgConnection, ids: Vec<i64>) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}
