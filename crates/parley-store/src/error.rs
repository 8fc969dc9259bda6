//! The store's error type. The server maps it to HTTP in one place.

use parley_core::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist in this workspace (other workspaces' rows look the same).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was hit; `field` names the identifier (`phone`, `email`, …).
    #[error("{field} is already used")]
    Conflict { field: &'static str },
    /// An idempotency key already named another request of the same sender.
    #[error("this idempotency key was used for another request")]
    IdempotencyKeyReused,
    /// A domain rule refused the change (checked inside the transaction).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The acting user may not make this change (checked inside the transaction that makes it).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A WhatsApp rule refused the send.
    #[error("{}", .0.message())]
    Refused(parley_core::rules::Refusal),
    /// The configuration cannot work (unknown URL scheme, data dir in use, …).
    #[error("{0}")]
    Config(String),
    /// Two transactions got in each other's way (deadlock, serialization failure, busy): the
    /// same work can simply be tried again.
    #[error("transaction conflict, try again: {0}")]
    Contention(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                // PostgreSQL names the constraint (`contacts_phone_unique`); SQLite names the
                // columns (`UNIQUE constraint failed: contacts.workspace_id, contacts.phone`).
                let text = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
                StoreError::Conflict { field: conflict_field(&text) }
            }
            // PostgreSQL deadlock / serialization failure; SQLite busy / locked.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("40P01" | "40001" | "5" | "6" | "517")) =>
            {
                StoreError::Contention(db.message().to_owned())
            }
            _ => StoreError::Database(e),
        }
    }
}

fn conflict_field(text: &str) -> &'static str {
    for field in [
        "phone_number_id",
        "webhook_key",
        "phone",
        "email",
        "token_hash",
        "wa_id",
        "shortcut",
        "effective_from",
        "waba_id",
        "reference",
        "name",
    ] {
        if text.contains(field) {
            return field;
        }
    }
    "id"
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_fields_from_both_engines() {
        assert_eq!(conflict_field("contacts_phone_unique"), "phone");
        assert_eq!(conflict_field("UNIQUE constraint failed: contacts.workspace_id, contacts.email"), "email");
        assert_eq!(conflict_field("UNIQUE constraint failed: teams.workspace_id, teams.name"), "name");
        assert_eq!(conflict_field("teams_name_unique"), "name");
        assert_eq!(
            conflict_field("UNIQUE constraint failed: canned_responses.workspace_id, canned_responses.shortcut"),
            "shortcut"
        );
        assert_eq!(conflict_field("something_else"), "id");
    }
}
