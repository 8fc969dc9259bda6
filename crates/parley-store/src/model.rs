//! Values the store traits take and return that are not domain types of their own.

use parley_core::account::{Role, User, Workspace};
use parley_core::ids::{ContactId, EventId, TokenId, UserId, WorkspaceId};
use parley_core::{Email, Timestamp};
use serde::Serialize;

/// A user to create; the password is already hashed (argon2id) by the caller.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
}

/// An API token to create: only its hash and a short display prefix are stored.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: String,
    pub hash: String,
    pub prefix: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the token, to recognise it in a list.
    pub prefix: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// Who a presented token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenOwner {
    pub token_id: TokenId,
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    /// The workspace's default region for national phone numbers (saves a query per request).
    pub default_region: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Bootstrapped {
    pub workspace: Workspace,
    pub owner: User,
    pub token: ApiToken,
}

#[derive(Clone, Debug, Default)]
pub struct WorkspacePatch {
    pub name: Option<String>,
    /// `Some(None)` turns national-number input off.
    pub default_region: Option<Option<String>>,
}

/// A contact search. `before` is the keyset cursor: the last id of the previous page.
#[derive(Clone, Debug, Default)]
pub struct ContactQuery {
    pub q: Option<String>,
    pub tag: Option<String>,
    pub limit: u32,
    pub before: Option<ContactId>,
}

/// One page of a keyset-paginated list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One entry of the event log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub id: EventId,
    pub kind: String,
    pub subject_id: Option<i64>,
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
}
