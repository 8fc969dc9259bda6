//! Full-text search: messages through each engine's index (`Engine::SEARCH_MESSAGES`), notes
//! by word-prefix `LIKE` over their folded words (a workspace has thousands of notes, not
//! millions of messages). Both match a term at the start of a word, the same on both engines.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{ChannelId, ContactId, ConversationId, MessageId, UserId, WorkspaceId};
use parley_core::search::{SearchTerms, escape_like};
use sqlx::{ColumnIndex, Decode, Executor, Type};

use super::{Engine, SqlStore, clamp_limit};
use crate::error::StoreResult;
use crate::{MessageHit, NoteHit, Page, Search, Viewer};

const MAX_PAGE: u32 = 100;

type MessageHitRow = (i64, i64, i64, i64, Option<String>, String, String, Option<String>, i64);
type NoteHitRow = (i64, Option<i64>, i64, Option<String>, Option<i64>, String, i64);

/// `(' ' || n.search) LIKE '% term%' ESCAPE '\'` for each term, numbered from `first`: every
/// term starts a word of the note.
fn word_prefix_conditions(terms: &SearchTerms, first: usize) -> String {
    (0..terms.terms().len()).map(|i| format!(" AND (' ' || n.search) LIKE ${} ESCAPE '\\'", first + i)).collect()
}

fn word_prefix_patterns(terms: &SearchTerms) -> impl Iterator<Item = String> + '_ {
    terms.terms().iter().map(|t| format!("% {}%", escape_like(t)))
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Search for SqlStore<DB> {
    async fn search_messages(
        &self,
        ws: WorkspaceId,
        terms: &SearchTerms,
        viewer: Viewer,
        before: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Page<MessageHit>> {
        let limit = clamp_limit(limit, MAX_PAGE);
        let matching = DB::match_query(terms.terms());
        let before = before.map(MessageId::get);
        let mut conn = self.read.acquire().await?;
        let mut rows: Vec<MessageHitRow> = Vec::new();
        if let Some(recent) = DB::SEARCH_MESSAGES_RECENT {
            let floor = recent_floor(&mut conn, "messages", before).await?;
            let mut tx = search_tx::<DB>(&mut conn, DB::RECENT_SEARCH_SETUP).await?;
            rows = sqlx::query_as(recent)
                .bind(ws.get())
                .bind(matching.clone())
                .bind(before)
                .bind(viewer.agent())
                .bind(limit + 1)
                .bind(floor)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        // The newest rows held a whole page (and one more): nothing older can come first.
        if rows.len() as i64 <= limit {
            let mut tx = search_tx::<DB>(&mut conn, DB::INDEX_SEARCH_SETUP).await?;
            rows = sqlx::query_as(DB::SEARCH_MESSAGES)
                .bind(ws.get())
                .bind(matching)
                .bind(before)
                .bind(viewer.agent())
                .bind(limit + 1)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        let mut items: Vec<MessageHit> = rows
            .into_iter()
            .map(|(id, conversation, channel, contact, contact_name, direction, kind, text, sent_at)| MessageHit {
                id: MessageId(id),
                conversation_id: ConversationId(conversation),
                channel_id: ChannelId(channel),
                contact_id: ContactId(contact),
                contact_name,
                direction,
                kind,
                text,
                sent_at: Timestamp::from_micros(sent_at),
            })
            .collect();
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|m| m.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn search_notes(
        &self,
        ws: WorkspaceId,
        terms: &SearchTerms,
        viewer: Viewer,
        limit: u32,
    ) -> StoreResult<Vec<NoteHit>> {
        let limit = clamp_limit(limit, MAX_PAGE);
        // Only placeholders are formatted in; the terms are bound.
        let on_conversations = format!(
            "SELECT n.id, n.conversation_id, c.contact_id, ct.name, n.author_id, n.body, n.created_at
             FROM conversation_notes n JOIN conversations c ON c.id = n.conversation_id
             JOIN contacts ct ON ct.id = c.contact_id
             WHERE n.workspace_id = $1 AND {visible}{conditions} ORDER BY n.id DESC LIMIT $3",
            visible = visible_channel!("c.channel_id", "$2"),
            conditions = word_prefix_conditions(terms, 4),
        );
        let mut query = sqlx::query_as::<DB, NoteHitRow>(sqlx::AssertSqlSafe(on_conversations))
            .bind(ws.get())
            .bind(viewer.agent())
            .bind(limit);
        for pattern in word_prefix_patterns(terms) {
            query = query.bind(pattern);
        }
        let mut hits: Vec<NoteHit> =
            query.fetch_all(&self.read).await?.into_iter().map(|r| note_hit("conversation", r)).collect();
        let on_contacts = format!(
            "SELECT n.id, NULL, n.contact_id, ct.name, n.author_id, n.body, n.created_at
             FROM contact_notes n JOIN contacts ct ON ct.id = n.contact_id
             WHERE n.workspace_id = $1{conditions} ORDER BY n.id DESC LIMIT $2",
            conditions = word_prefix_conditions(terms, 3),
        );
        let mut query = sqlx::query_as::<DB, NoteHitRow>(sqlx::AssertSqlSafe(on_contacts)).bind(ws.get()).bind(limit);
        for pattern in word_prefix_patterns(terms) {
            query = query.bind(pattern);
        }
        hits.extend(query.fetch_all(&self.read).await?.into_iter().map(|r| note_hit("contact", r)));
        hits.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        hits.truncate(limit as usize);
        Ok(hits)
    }
}

/// How many of the newest rows a search walks before asking the index for every match (see
/// `Engine::SEARCH_MESSAGES_RECENT`): a word in one row of 250 fills a page from them.
pub(crate) const RECENT_ROWS: i64 = 5_000;

/// The id above which the newest `RECENT_ROWS` of `table` are (below `before` when paging).
pub(crate) async fn recent_floor<DB>(
    conn: &mut DB::Connection,
    table: &'static str,
    before: Option<i64>,
) -> StoreResult<i64>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Decode<'q, DB> + Type<DB>,
{
    let sql = match table {
        "messages" => "SELECT COALESCE(MAX(id), 0) FROM messages",
        _ => "SELECT COALESCE(MAX(id), 0) FROM contacts",
    };
    let newest: i64 = sqlx::query_scalar(sql).fetch_one(&mut *conn).await?;
    Ok(before.map_or(newest, |b| b.min(newest + 1)) - RECENT_ROWS)
}

/// A read transaction for one step of a search, planned as `setup` says
/// (`Engine::RECENT_SEARCH_SETUP`, `Engine::INDEX_SEARCH_SETUP`).
pub(crate) async fn search_tx<'c, DB>(
    conn: &'c mut DB::Connection,
    setup: Option<&'static str>,
) -> StoreResult<sqlx::Transaction<'c, DB>>
where
    DB: Engine,
    for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
{
    let mut tx = sqlx::Connection::begin(conn).await?;
    if let Some(setup) = setup {
        sqlx::query(setup).execute(&mut *tx).await?;
    }
    Ok(tx)
}

fn note_hit(on: &'static str, row: NoteHitRow) -> NoteHit {
    let (id, conversation, contact, contact_name, author, body, created_at) = row;
    NoteHit {
        on,
        id,
        conversation_id: conversation.map(ConversationId),
        contact_id: ContactId(contact),
        contact_name,
        author_id: author.map(UserId),
        body,
        created_at: Timestamp::from_micros(created_at),
    }
}
