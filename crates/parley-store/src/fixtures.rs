//! Benchmark data: a workspace with a million contacts, conversations and ten million messages,
//! generated inside the database (`INSERT … SELECT` over a numbers table), far faster than
//! through the API. Names and messages come from small word lists whose folded search words are
//! computed here by the same functions the store uses, so searches behave as on real data.
//! Used by `parley bench inbox`; never by the server.

use std::sync::Arc;

use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::channel::{Provider, Visibility};
use parley_core::ids::{ChannelId, TeamId, UserId, WorkspaceId};
use parley_core::search::search_words;
use parley_core::{E164, Email};
use sqlx::{ColumnIndex, Decode, Encode, Executor, Type};

use crate::error::{StoreError, StoreResult};
use crate::sql::{Engine, SqlStore};
use crate::{Accounts, Channels, DatabaseUrl, NewChannel, NewToken, NewUser, Store, Teams, postgres, sqlite};

/// How much to generate.
#[derive(Clone, Debug)]
pub struct InboxSpec {
    pub contacts: i64,
    /// At most `contacts` (one conversation per contact and channel).
    pub conversations: i64,
    /// Spread evenly over the conversations.
    pub messages: i64,
    pub agents: i64,
    /// The owner's and each agent's API token (hashes; the caller keeps the secrets).
    pub owner_token: NewToken,
    pub agent_tokens: Vec<NewToken>,
    /// Both channels' sealed secrets (the webhook benchmark signs with their app secret).
    pub sealed_secrets: String,
    /// Store the contacts' phones as an old import left them (`00336…`), for re-cleaning to fix.
    pub phones_to_clean: bool,
    /// A WhatsApp fees account on the channels' WABA with this many ledger entries (0: none).
    pub ledger_entries: i64,
}

/// What was made, for the queries that measure it.
#[derive(Clone, Debug)]
pub struct InboxFixture {
    pub workspace: WorkspaceId,
    pub owner: UserId,
    pub agents: Vec<UserId>,
    /// The shared channel, then the private one (half of the agents are members).
    pub channels: [ChannelId; 2],
    pub teams: [TeamId; 2],
    /// The fees account, when `ledger_entries` asked for one.
    pub fee_account: Option<i64>,
}

pub const FIRST_NAMES: &[&str] = &[
    "Ana",
    "Bảo",
    "Lan",
    "Minh",
    "Thảo",
    "Văn",
    "Đức",
    "Hoa",
    "Linh",
    "Nam",
    "Julie",
    "Pierre",
    "Marie",
    "Jean",
    "Luc",
    "Sophie",
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Élodie",
    "François",
    "Hélène",
    "Mai",
    "Quang",
];
pub const LAST_NAMES: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Martin", "Bernard", "Dubois",
    "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Smith", "Garcia", "Silva", "Kumar", "Okafor",
    "Tanaka", "Müller", "Rossi", "Kowalski", "Haddad", "Cohen",
];
/// What customers and agents write (no `"` or `\`: they go into JSON as they are).
pub const SENTENCES: &[&str] = &[
    "Hello, is my order ready?",
    "Where is my parcel? It has not arrived yet.",
    "Can I change the delivery address please",
    "Thanks a lot, have a nice day!",
    "I would like a refund for the blue shirt",
    "Your order has shipped and arrives tomorrow",
    "Bonjour, ma commande est-elle partie ?",
    "Je voudrais annuler mon abonnement",
    "Merci beaucoup pour votre aide",
    "Le colis est arrivé abîmé, que faire ?",
    "Chào anh, đơn hàng của em đã giao chưa?",
    "Cho em hỏi giá sản phẩm này bao nhiêu",
    "Cảm ơn shop nhiều nha",
    "Em muốn đổi size áo được không ạ",
    "Please send me the invoice for last month",
    "The payment failed twice, can you check?",
    "What are your opening hours on Sunday",
    "I need help with my account password",
    "Do you ship to Canada and Mexico",
    "Great service, I will order again",
    "Our team will call you back within the hour",
    "Could you share a photo of the damaged item",
    "Your refund was processed today",
    "Est-ce que la taille M est disponible ?",
    "Livraison prévue jeudi entre 9h et 12h",
    "Shop ơi, khi nào có hàng lại vậy?",
    "Mã giảm giá không dùng được",
    "Is there a discount for students",
    "My subscription renews next week, how do I cancel",
    "We have received your message and will reply soon",
];

/// Makes the workspace (owner, agents, two channels, two teams) through the store, then the
/// contacts, conversations, tags and messages in the database. `progress(what, done, total)`
/// is called after each chunk.
pub async fn create_inbox(
    url: &DatabaseUrl,
    schema: Option<&str>,
    spec: &InboxSpec,
    progress: &(dyn Fn(&str, i64, i64) + Sync),
) -> StoreResult<(Arc<dyn Store>, InboxFixture)> {
    if spec.conversations > spec.contacts || spec.agents < 2 || spec.agent_tokens.len() as i64 != spec.agents {
        return Err(StoreError::Config(
            "a fixture needs at most one conversation per contact, two agents or more, a token each".into(),
        ));
    }
    match url {
        DatabaseUrl::Sqlite(path) => {
            let store = sqlite::open(path).await?;
            let fixture = fill(&store, spec, progress).await?;
            Ok((Arc::new(store), fixture))
        }
        DatabaseUrl::Postgres(u) => {
            let store = postgres::open(u, schema).await?;
            let fixture = fill(&store, spec, progress).await?;
            Ok((Arc::new(store), fixture))
        }
    }
}

const CHUNK: i64 = 100_000;
const T0: i64 = 1_700_000_000_000_000;

async fn fill<DB>(
    store: &SqlStore<DB>,
    spec: &InboxSpec,
    progress: &(dyn Fn(&str, i64, i64) + Sync),
) -> StoreResult<InboxFixture>
where
    DB: Engine,
    SqlStore<DB>: Store,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB>,
{
    store.migrate().await?;
    let now = Timestamp::from_micros(T0);
    let user = |email: &str, name: &str, role| -> StoreResult<NewUser> {
        Ok(NewUser {
            email: Email::parse(email).map_err(|e| StoreError::Config(e.to_string()))?,
            name: name.into(),
            role,
            password_hash: None,
        })
    };
    let boot = store
        .bootstrap("Bench", user("owner@bench.example", "Owner", Role::Owner)?, spec.owner_token.clone(), now)
        .await?;
    let ws = boot.workspace.id;
    let mut agents = Vec::new();
    for (i, token) in spec.agent_tokens.iter().enumerate() {
        let agent = store
            .create_user(ws, user(&format!("agent{i}@bench.example"), &format!("Agent {i}"), Role::Agent)?, now)
            .await?;
        store.create_token(ws, agent.id, token.clone(), now).await?;
        agents.push(agent.id);
    }
    let mut channels = Vec::new();
    for (i, visibility) in [Visibility::Shared, Visibility::Private].into_iter().enumerate() {
        let channel = NewChannel {
            provider: Provider::Meta,
            name: format!("Number {}", i + 1),
            phone_number_id: format!("PN-BENCH-{i}"),
            waba_id: "WABA-BENCH".into(),
            display_phone_number: format!("1555000111{i}"),
            graph_base_url: "http://127.0.0.1:9".into(),
            sealed_secrets: spec.sealed_secrets.clone(),
            webhook_key: format!("bench-{i}"),
            visibility,
            throughput: 80,
        };
        channels.push(store.create_channel(ws, channel, now).await?.id);
    }
    // Half of the agents (the even ones) are members of the private channel; its conversations
    // go to them only, as assignment requires.
    let members: Vec<UserId> = agents.iter().copied().step_by(2).collect();
    store.set_channel_members(ws, channels[1], &members, now).await?;
    let mut teams = Vec::new();
    for (i, name) in ["Sales", "Support"].into_iter().enumerate() {
        let team = store.create_team(ws, name, now).await?;
        let in_team: Vec<UserId> = agents.iter().copied().skip(i).step_by(2).collect();
        store.set_team_members(ws, team.id, &in_team).await?;
        teams.push(team.id);
    }
    let fixture = InboxFixture {
        workspace: ws,
        owner: boot.owner.id,
        agents: agents.clone(),
        channels: [channels[0], channels[1]],
        teams: [teams[0], teams[1]],
        fee_account: None,
    };

    let mut conn = store.write.acquire().await?;
    word_tables::<DB>(&mut conn, &agents).await?;
    let contacts = format!(
        "INSERT INTO contacts (id, workspace_id, name, phone, email, search, created_at, updated_at)
         SELECT n.i + $1, $2, f.display || ' ' || l.display,
                '{prefix}' || CAST(10000000 + n.i + $1 AS TEXT),
                lower(f.folded) || '.' || lower(l.folded) || CAST(n.i + $1 AS TEXT) || '@example.com',
                f.folded || ' ' || l.folded || ' ' || f.folded || ' ' || l.folded || CAST(n.i + $1 AS TEXT) || ' example com 336'
                    || CAST(10000000 + n.i + $1 AS TEXT) || ' 6' || CAST(10000000 + n.i + $1 AS TEXT),
                {T0} + n.i + $1, {T0} + n.i + $1
         FROM bench_numbers n
         JOIN bench_first f ON f.k = (n.i + $1) % {first}
         JOIN bench_last l ON l.k = ((n.i + $1) / {first}) % {last}
         WHERE n.i <= $3",
        first = FIRST_NAMES.len(),
        last = LAST_NAMES.len(),
        prefix = if spec.phones_to_clean { "00336" } else { "+336" },
    );
    chunked::<DB>(&mut conn, "contacts", spec.contacts, &contacts, ws, progress).await?;
    // Each contact's WhatsApp id (its phone's digits), as a webhook would have recorded it.
    let identities = format!(
        "INSERT INTO contact_identities (workspace_id, contact_id, kind, value, created_at)
         SELECT $2, n.i + $1, 'wa_id', '336' || CAST(10000000 + n.i + $1 AS TEXT), {T0} + n.i + $1
         FROM bench_numbers n WHERE n.i <= $3"
    );
    chunked::<DB>(&mut conn, "WhatsApp ids", spec.contacts, &identities, ws, progress).await?;
    let per = (spec.messages / spec.conversations.max(1)).max(1);
    let conversations = format!(
        "INSERT INTO conversations (id, workspace_id, channel_id, contact_id, status, assignee_id, team_id,
            last_message_at, last_inbound_at, snoozed_until, read_upto, created_at, updated_at)
         SELECT c, $2, CASE WHEN c % 2 = 0 THEN {shared} ELSE {private} END, c,
                CASE WHEN c % 10 < 6 THEN 'open' WHEN c % 10 = 6 THEN 'pending' WHEN c % 10 = 7 THEN 'snoozed' ELSE 'closed' END,
                CASE WHEN c % 4 = 0 THEN NULL ELSE a.user_id END,
                CASE WHEN c % 3 = 0 THEN {sales} WHEN c % 3 = 1 THEN {support} ELSE NULL END,
                {T0} + c * 60000000 + {last_k} * 1000000, {T0} + c * 60000000 + {last_in} * 1000000,
                CASE WHEN c % 10 = 7 THEN {T0} * 2 ELSE NULL END,
                CASE WHEN c % 10 = 0 THEN 0 ELSE c * {per} END,
                {T0} + c * 60000000, {T0} + c * 60000000
         FROM (SELECT n.i + $1 AS c FROM bench_numbers n WHERE n.i <= $3) s
         JOIN bench_agents a ON a.k = CASE WHEN c % 2 = 1 AND (c / 4) % {agents} % 2 = 1
                                           THEN (c / 4) % {agents} - 1 ELSE (c / 4) % {agents} END",
        shared = fixture.channels[0],
        private = fixture.channels[1],
        sales = fixture.teams[0],
        support = fixture.teams[1],
        last_k = per - 1,
        last_in = (0..per).rev().find(|k| k % 3 != 2).unwrap_or(0),
        agents = agents.len(),
    );
    chunked::<DB>(&mut conn, "conversations", spec.conversations, &conversations, ws, progress).await?;
    let tags = "INSERT INTO conversation_tags (conversation_id, tag, workspace_id)
         SELECT n.i + $1, CASE WHEN (n.i + $1) % 20 = 0 THEN 'vip' ELSE 'refund' END, $2
         FROM bench_numbers n WHERE n.i <= $3 AND ((n.i + $1) % 20 = 0 OR (n.i + $1) % 7 = 0)";
    chunked::<DB>(&mut conn, "conversation tags", spec.conversations, tags, ws, progress).await?;
    let messages = format!(
        "INSERT INTO messages (id, workspace_id, conversation_id, channel_id, direction, provider_message_id, type, text,
            content, status, status_rank, status_at, sent_at, created_at, search)
         SELECT j, $2, conv, CASE WHEN conv % 2 = 0 THEN {shared} ELSE {private} END,
                CASE WHEN s.k % 3 = 2 THEN 'out' ELSE 'in' END, 'wamid.BENCH' || CAST(j AS TEXT), 'text',
                w.display || ' #' || CAST((j * 7919) % 1000003 AS TEXT),
                '{{\"type\":\"text\",\"body\":\"' || w.display || ' #' || CAST((j * 7919) % 1000003 AS TEXT) || '\"}}',
                CASE WHEN s.k % 3 = 2 THEN 'read' ELSE 'received' END, CASE WHEN s.k % 3 = 2 THEN 7 ELSE 0 END,
                {T0} + conv * 60000000 + s.k * 1000000, {T0} + conv * 60000000 + s.k * 1000000,
                {T0} + conv * 60000000 + s.k * 1000000,
                w.folded || ' ' || CAST((j * 7919) % 1000003 AS TEXT)
         FROM (SELECT n.i + $1 AS j, (n.i + $1 - 1) / {per} + 1 AS conv, (n.i + $1 - 1) % {per} AS k
               FROM bench_numbers n WHERE n.i <= $3) s
         JOIN bench_sentences w ON w.k = (s.j * 7) % {sentences}",
        shared = fixture.channels[0],
        private = fixture.channels[1],
        sentences = SENTENCES.len(),
    );
    chunked::<DB>(&mut conn, "messages", spec.conversations * per, &messages, ws, progress).await?;
    let mut fixture = fixture;
    if spec.ledger_entries > 0 {
        fixture.fee_account = Some(ledger::<DB>(&mut conn, ws, spec.ledger_entries, progress).await?);
    }
    for table in ["bench_numbers", "bench_first", "bench_last", "bench_sentences", "bench_agents"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}"))).execute(&mut *conn).await?;
    }
    if DB::ENGINE == "postgres" {
        // Rows were written with their ids: the identity sequences continue after them.
        for table in ["contacts", "conversations", "messages"] {
            let sql = format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
        }
        sqlx::query("ANALYZE").execute(&mut *conn).await?;
    }
    Ok(fixture)
}

/// A postpaid fees account on the fixture's WABA and `entries` ledger entries, three seconds
/// apart from `T0`: a bank transfer of 0.10 every tenth entry, charges of 0.0068 between them,
/// each with the balance after it, and the account's balance as the last one left it.
async fn ledger<DB>(
    conn: &mut DB::Connection,
    ws: WorkspaceId,
    entries: i64,
    progress: &(dyn Fn(&str, i64, i64) + Sync),
) -> StoreResult<i64>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
{
    // On the fixture's own connection (SQLite has one writer: the store's API would wait for it).
    let account: i64 = sqlx::query_scalar(
        "INSERT INTO fee_accounts (workspace_id, waba_id, currency, postpaid, credit_limit, balance, held, created_at,
            updated_at)
         VALUES ($1, 'WABA-BENCH', 'USD', 1, 1000000000000, 0, 0, $2, $2) RETURNING id",
    )
    .bind(ws.get())
    .bind(T0)
    .fetch_one(&mut *conn)
    .await?;
    // Entry j (from 1): a top-up when j % 10 = 1; the balance after it from the counts so far.
    let (top_up, charge) = (100_000, 6_800);
    let balance = |j: &str| format!("(({j} + 9) / 10) * {top_up} - ({j} - ({j} + 9) / 10) * {charge}");
    let sql = format!(
        "INSERT INTO ledger_entries (account_id, kind, amount, held_change, balance_after, held_after, market,
            category, pricing_type, pricing, created_at)
         SELECT {id}, CASE WHEN j % 10 = 1 THEN 'top_up' ELSE 'charge' END,
                CASE WHEN j % 10 = 1 THEN {top_up} ELSE -{charge} END, 0, {after}, 0,
                CASE WHEN j % 10 = 1 THEN NULL ELSE 'Brazil' END, CASE WHEN j % 10 = 1 THEN NULL ELSE 'utility' END,
                CASE WHEN j % 10 = 1 THEN NULL ELSE 'regular' END,
                CASE WHEN j % 10 = 1 THEN NULL ELSE '{{\"rate\":\"0.006800\"}}' END,
                {T0} + j * 3000000
         FROM (SELECT n.i + $1 AS j FROM bench_numbers n WHERE n.i <= $3 AND $2 = $2) s",
        id = account,
        after = balance("j"),
    );
    chunked::<DB>(conn, "ledger entries", entries, &sql, ws, progress).await?;
    // Computed here: on PostgreSQL the same expression over literals overflows 32-bit integers.
    let top_ups = (entries + 9) / 10;
    let last = top_ups * top_up - (entries - top_ups) * charge;
    let sql = format!("UPDATE fee_accounts SET balance = {last} WHERE id = {account}");
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
    Ok(account)
}

/// The numbers 1..=CHUNK and the word lists with their folded forms.
async fn word_tables<DB>(conn: &mut DB::Connection, agents: &[UserId]) -> StoreResult<()>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    sqlx::query("CREATE TABLE bench_numbers (i BIGINT PRIMARY KEY)").execute(&mut *conn).await?;
    for start in (1..=CHUNK).step_by(1000) {
        let mut insert = sqlx::QueryBuilder::<DB>::new("INSERT INTO bench_numbers (i) ");
        insert.push_values(start..start + 1000, |mut row, i| {
            row.push_bind(i);
        });
        insert.build().execute(&mut *conn).await?;
    }
    for (table, words) in [("bench_first", FIRST_NAMES), ("bench_last", LAST_NAMES), ("bench_sentences", SENTENCES)] {
        let create =
            format!("CREATE TABLE {table} (k BIGINT PRIMARY KEY, display TEXT NOT NULL, folded TEXT NOT NULL)");
        sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut *conn).await?;
        let mut insert = sqlx::QueryBuilder::<DB>::new(format!("INSERT INTO {table} (k, display, folded) "));
        insert.push_values(words.iter().enumerate(), |mut row, (k, word)| {
            row.push_bind(k as i64).push_bind(word.to_string()).push_bind(search_words(word));
        });
        insert.build().execute(&mut *conn).await?;
    }
    sqlx::query("CREATE TABLE bench_agents (k BIGINT PRIMARY KEY, user_id BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let mut insert = sqlx::QueryBuilder::<DB>::new("INSERT INTO bench_agents (k, user_id) ");
    insert.push_values(agents.iter().enumerate(), |mut row, (k, user)| {
        row.push_bind(k as i64).push_bind(user.get());
    });
    insert.build().execute(&mut *conn).await?;
    Ok(())
}

/// Runs `sql` (`$1` offset, `$2` workspace, `$3` rows in this chunk) for `total` rows, a chunk
/// per transaction.
async fn chunked<DB>(
    conn: &mut DB::Connection,
    what: &str,
    total: i64,
    sql: &str,
    ws: WorkspaceId,
    progress: &(dyn Fn(&str, i64, i64) + Sync),
) -> StoreResult<()>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let mut done = 0;
    while done < total {
        let rows = CHUNK.min(total - done);
        sqlx::query(DB::BEGIN_WRITE).execute(&mut *conn).await?;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(done)
            .bind(ws.get())
            .bind(rows)
            .execute(&mut *conn)
            .await?;
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        done += rows;
        progress(what, done, total);
    }
    Ok(())
}

/// A contact's phone in the fixture (for lookups by number).
pub fn contact_phone(contact: i64) -> E164 {
    E164::from_stored(format!("+336{}", 10_000_000 + contact))
}

/// A contact's WhatsApp id in the fixture (what its webhooks carry in `from`).
pub fn contact_wa_id(contact: i64) -> String {
    format!("336{}", 10_000_000 + contact)
}

/// The webhook benchmark's durable ceiling: each webhook's raw body appended to a table, one
/// transaction per group of waiting webhooks, through the store's own connection settings. On
/// PostgreSQL the table is in the benchmark's schema; on SQLite in a file beside the benchmark's
/// database (a second process-wide writer on one file is refused by the store's lock), which
/// costs the same per commit.
pub struct RawSink(Sink);

enum Sink {
    Sqlite(SqlStore<sqlx::Sqlite>),
    Postgres(SqlStore<sqlx::Postgres>),
}

impl RawSink {
    pub async fn open(url: &DatabaseUrl, schema: Option<&str>) -> StoreResult<RawSink> {
        let sink = match url {
            DatabaseUrl::Sqlite(path) => Sink::Sqlite(sqlite::open(&path.with_file_name("durable-ceiling.db")).await?),
            DatabaseUrl::Postgres(u) => Sink::Postgres(postgres::open(u, schema).await?),
        };
        let table = |id: &str| {
            format!("CREATE TABLE IF NOT EXISTS bench_raw_webhooks (id {id} PRIMARY KEY, body TEXT NOT NULL)")
        };
        match &sink {
            Sink::Sqlite(store) => {
                sqlx::query(sqlx::AssertSqlSafe(table("INTEGER"))).execute(&store.write).await?;
            }
            Sink::Postgres(store) => {
                sqlx::query(sqlx::AssertSqlSafe(table("BIGSERIAL"))).execute(&store.write).await?;
            }
        }
        Ok(RawSink(sink))
    }

    /// Appends the bodies in one write transaction; answers after the commit.
    pub async fn append(&self, bodies: &[String]) -> StoreResult<()> {
        match &self.0 {
            Sink::Sqlite(store) => append_raw(store, bodies).await,
            Sink::Postgres(store) => append_raw(store, bodies).await,
        }
    }
}

async fn append_raw<DB>(store: &SqlStore<DB>, bodies: &[String]) -> StoreResult<()>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    let mut tx = store.begin_write().await?;
    for chunk in bodies.chunks(1_000) {
        let mut qb = sqlx::QueryBuilder::<DB>::new("INSERT INTO bench_raw_webhooks (body) ");
        qb.push_values(chunk, |mut row, body| {
            row.push_bind(body.clone());
        });
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
