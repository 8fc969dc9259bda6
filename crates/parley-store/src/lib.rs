//! `parley-store` — Parley's storage. The traits below speak the domain ([`Contacts`],
//! [`Accounts`], [`Events`]); [`open`] picks the engine from the database URL (SQLite by default,
//! PostgreSQL with `postgres://…`) and returns a [`Store`].
//!
//! Layout:
//! - `sql/` — one implementation of the traits, generic over the sqlx engine: the SQL text is the
//!   same on both engines (`$n` parameters, `RETURNING`, `ON CONFLICT`), so it is written once.
//! - `sqlite.rs`, `postgres.rs` — what differs: connecting, pragmas, write transactions,
//!   migrations (`migrations/sqlite`, `migrations/postgres`, kept in lockstep).
//! - `tests/contract.rs` — one suite run against both engines (PostgreSQL when
//!   `PARLEY_TEST_DATABASE_URL` is set).
//!
//! Both engines live in this one crate (ARCHITECTURE.md sketched a crate per engine): the shared
//! generic implementation would otherwise need a fourth crate and orphan-rule workarounds.

mod error;
mod model;
mod open;
mod postgres;
mod sql;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;
use parley_core::account::{User, Workspace};
use parley_core::contact::{Contact, ContactPatch, ContactRef, NewContact, Note};
use parley_core::ids::{EventId, TokenId, UserId, WorkspaceId};
use parley_core::{Email, Timestamp};

pub use error::{StoreError, StoreResult};
pub use model::*;
pub use open::{DatabaseUrl, open, open_url};

/// Workspaces, users and API tokens.
#[async_trait]
pub trait Accounts {
    /// Creates a workspace with its first owner and API token, all or nothing.
    async fn bootstrap(
        &self,
        workspace_name: &str,
        owner: NewUser,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<Bootstrapped>;
    async fn workspace(&self, id: WorkspaceId) -> StoreResult<Workspace>;
    async fn update_workspace(&self, id: WorkspaceId, patch: WorkspacePatch, now: Timestamp) -> StoreResult<Workspace>;
    async fn create_user(&self, ws: WorkspaceId, user: NewUser, now: Timestamp) -> StoreResult<User>;
    async fn users(&self, ws: WorkspaceId) -> StoreResult<Vec<User>>;
    async fn user(&self, ws: WorkspaceId, id: UserId) -> StoreResult<User>;
    /// The user with this email and their password hash, for logging in.
    async fn user_for_login(&self, email: &Email) -> StoreResult<Option<(User, Option<String>)>>;
    async fn create_token(
        &self,
        ws: WorkspaceId,
        user: UserId,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<ApiToken>;
    async fn tokens(&self, ws: WorkspaceId) -> StoreResult<Vec<ApiToken>>;
    async fn revoke_token(&self, ws: WorkspaceId, id: TokenId, now: Timestamp) -> StoreResult<()>;
    /// Who holds the (unrevoked) token with this hash.
    async fn token_owner(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>>;
}

/// Contacts, their tags and notes. Every method is scoped to one workspace.
#[async_trait]
pub trait Contacts {
    async fn create_contact(&self, ws: WorkspaceId, contact: NewContact, now: Timestamp) -> StoreResult<Contact>;
    async fn contact(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Contact>;
    /// Applies `patch` to the contact in one write transaction (read, check, write).
    async fn update_contact(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        patch: &ContactPatch,
        now: Timestamp,
    ) -> StoreResult<Contact>;
    async fn delete_contact(&self, ws: WorkspaceId, by: &ContactRef, now: Timestamp) -> StoreResult<()>;
    /// Newest first, keyset-paginated.
    async fn contacts(&self, ws: WorkspaceId, query: &ContactQuery) -> StoreResult<Page<Contact>>;
    async fn add_note(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        author: Option<UserId>,
        body: &str,
        now: Timestamp,
    ) -> StoreResult<Note>;
    /// Oldest first.
    async fn notes(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Vec<Note>>;
}

/// The ordered event log that realtime, workflows and webhooks read.
#[async_trait]
pub trait Events {
    async fn events(&self, ws: WorkspaceId, after: EventId, limit: u32) -> StoreResult<Vec<Event>>;
}

/// Everything Parley stores. `open` returns one as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Accounts + Contacts + Events + Send + Sync {
    /// `sqlite` or `postgres`.
    fn engine(&self) -> &'static str;
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// Applies pending migrations; `open` already does this unless told not to.
    async fn migrate(&self) -> StoreResult<()>;
}
