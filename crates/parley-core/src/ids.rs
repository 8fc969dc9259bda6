//! Typed identifiers. Every row id is a 64-bit integer in the store; wrapping each kind in its own
//! type keeps a `ContactId` from being passed where a `UserId` is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A tenant: everything belongs to exactly one workspace.
    WorkspaceId,
    UserId,
    TokenId,
    ContactId,
    NoteId,
    /// Position in the ordered event log.
    EventId,
    ChannelId,
    ConversationId,
    MessageId,
    MediaId,
    TeamId,
);
