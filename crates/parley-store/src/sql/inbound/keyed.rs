//! The webhook's statements over lists of keys, written per engine: SQLite binds each key
//! (`IN` lists and multi-row `VALUES`, one statement per power-of-two chunk); PostgreSQL binds
//! arrays, one statement whatever the list's length. A group of webhooks at 8 connections made
//! three statements of each kind per transaction out of power-of-two chunks (137 keys are
//! 128 + 8 + 1), a third of the transaction's statements.

use sqlx::{PgConnection, QueryBuilder, Sqlite, SqliteConnection};

use super::{MAX_ROWS, statement_chunks};
use crate::error::StoreResult;
use crate::sql::sqlite_in_lists;

/// Reopens a conversation and moves its clocks to `v.at` / `v.referral` when they are newer
/// (`v` names the list of moves). Provider times, not arrival order: a late delivery of an
/// older message moves nothing back; the maxima are taken in SQL so that concurrent deliveries
/// cannot undo each other. Ends before `updated_at`'s value.
macro_rules! move_clocks {
    () => {
        "UPDATE conversations SET status = 'open', snoozed_until = NULL,
    last_message_at = CASE WHEN conversations.last_message_at < v.at THEN v.at ELSE conversations.last_message_at END,
    last_inbound_at = CASE WHEN conversations.last_inbound_at IS NULL OR conversations.last_inbound_at < v.at
                           THEN v.at ELSE conversations.last_inbound_at END,
    last_referral_at = CASE WHEN v.referral IS NOT NULL
                             AND (conversations.last_referral_at IS NULL OR conversations.last_referral_at < v.referral)
                            THEN v.referral ELSE conversations.last_referral_at END,
    updated_at = "
    };
}

/// The provider ids among `ids` already stored on `channel`.
pub(crate) async fn sqlite_stored_ids(
    conn: &mut SqliteConnection,
    channel: i64,
    ids: Vec<String>,
) -> StoreResult<Vec<String>> {
    let head = "SELECT provider_message_id FROM messages WHERE channel_id = ";
    let found: Vec<(String,)> = sqlite_in_lists(conn, head, channel, "provider_message_id", ids, MAX_ROWS).await?;
    Ok(found.into_iter().map(|(id,)| id).collect())
}

pub(crate) async fn pg_stored_ids(conn: &mut PgConnection, channel: i64, ids: Vec<String>) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT provider_message_id FROM messages WHERE channel_id = $1 AND provider_message_id = ANY($2)",
    )
    .bind(channel)
    .bind(ids)
    .fetch_all(conn)
    .await?)
}

/// The conversations of `contacts` on `channel`: `(id, contact id, status)`.
pub(crate) async fn sqlite_conversations_of(
    conn: &mut SqliteConnection,
    channel: i64,
    contacts: Vec<i64>,
) -> StoreResult<Vec<(i64, i64, String)>> {
    let head = "SELECT id, contact_id, status FROM conversations WHERE channel_id = ";
    sqlite_in_lists(conn, head, channel, "contact_id", contacts, MAX_ROWS).await
}

pub(crate) async fn pg_conversations_of(
    conn: &mut PgConnection,
    channel: i64,
    contacts: Vec<i64>,
) -> StoreResult<Vec<(i64, i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, contact_id, status FROM conversations WHERE channel_id = $1 AND contact_id = ANY($2)",
    )
    .bind(channel)
    .bind(contacts)
    .fetch_all(conn)
    .await?)
}

/// Applies `(conversation id, newest message time, newest referral time)` moves (see
/// `move_clocks!`); answers how many conversations were updated.
pub(crate) async fn sqlite_move_clocks(
    conn: &mut SqliteConnection,
    moves: Vec<(i64, i64, Option<i64>)>,
    now: i64,
) -> StoreResult<u64> {
    let mut done = 0;
    for chunk in statement_chunks(&moves) {
        let mut qb = QueryBuilder::<Sqlite>::new("WITH v (id, at, referral) AS (");
        qb.push_values(chunk, |mut row, (id, at, referral)| {
            row.push_bind(*id).push_bind(*at).push_bind(*referral);
        });
        qb.push(") ").push(move_clocks!()).push_bind(now).push(" FROM v WHERE conversations.id = v.id");
        done += qb.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(done)
}

pub(crate) async fn pg_move_clocks(
    conn: &mut PgConnection,
    moves: Vec<(i64, i64, Option<i64>)>,
    now: i64,
) -> StoreResult<u64> {
    if moves.is_empty() {
        return Ok(0);
    }
    let (mut ids, mut ats, mut referrals) = (Vec::new(), Vec::new(), Vec::new());
    for (id, at, referral) in moves {
        ids.push(id);
        ats.push(at);
        referrals.push(referral);
    }
    const SQL: &str = concat!(
        move_clocks!(),
        "$4 FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[]) AS v (id, at, referral) WHERE conversations.id = v.id"
    );
    let done = sqlx::query(SQL).bind(ids).bind(ats).bind(referrals).bind(now).execute(conn).await?;
    Ok(done.rows_affected())
}
