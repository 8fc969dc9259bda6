//! Limits on live event streams (`/api/v1/events/stream`): how many one user may hold open, how
//! long one lasts, and how often it checks that its caller still has the rights it was opened
//! with.
//!
//! A stream outlives the request that authenticated it, so a check at the door is not enough:
//! a user deactivated, logged out, demoted or whose token was revoked would go on receiving
//! the workspace's events. The stream looks at its credential again every `recheck` and before
//! every batch it sends, and ends when the credential is gone or the role changed (the viewer
//! filter was computed from the old role; ending is simpler and safer than switching filters,
//! and a browser's EventSource reconnects by itself with `Last-Event-ID`, under the new rights).
//!
//! The count of open streams is per server process: several servers sharing a PostgreSQL
//! database each allow `per_user`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_core::account::Role;
use parley_core::ids::{UserId, WorkspaceId};

use crate::auth::Auth;

/// Settings of live streams and the count of those open.
#[derive(Clone)]
pub struct StreamLimits {
    /// Streams one user may hold open at once (each inbox tab holds one).
    pub per_user: usize,
    /// How long a stream lasts before the server ends it (the client reconnects).
    pub max_lifetime: Duration,
    /// How often an idle stream checks its credential and role again.
    pub recheck: Duration,
    open: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            per_user: 10,
            max_lifetime: Duration::from_secs(3600),
            recheck: Duration::from_secs(2),
            open: Arc::default(),
        }
    }
}

impl StreamLimits {
    /// A place for one more stream of `user`; `None` when they hold `per_user` already. The
    /// place is given back when the slot is dropped (the stream ended or its client left).
    pub fn take_slot(&self, user: UserId) -> Option<StreamSlot> {
        let mut open = self.open.lock().expect("open streams");
        let count = open.entry(user).or_insert(0);
        if *count >= self.per_user {
            return None;
        }
        *count += 1;
        Some(StreamSlot { open: self.open.clone(), user })
    }

    /// How many streams `user` holds open on this server.
    pub fn open_for(&self, user: UserId) -> usize {
        self.open.lock().expect("open streams").get(&user).copied().unwrap_or(0)
    }
}

/// One open stream's place in the count.
pub struct StreamSlot {
    open: Arc<Mutex<HashMap<UserId, usize>>>,
    user: UserId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("open streams");
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// Who a stream was opened for: what its viewer filter was computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenedAs {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
}

impl From<&Auth> for OpenedAs {
    fn from(auth: &Auth) -> Self {
        OpenedAs { workspace_id: auth.workspace_id, user_id: auth.user_id, role: auth.role }
    }
}

/// Whether a stream opened as `opened` may go on, given who its credential stands for `now`
/// (`None`: nobody any more). Any change of role ends it, a promotion too: the new role's
/// filter comes with the reconnect.
pub fn may_continue(opened: OpenedAs, now: Option<&Auth>) -> bool {
    now.is_some_and(|auth| OpenedAs::from(auth) == opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(user: i64, role: Role) -> Auth {
        Auth { workspace_id: WorkspaceId(1), user_id: UserId(user), role, region: None }
    }

    #[test]
    fn a_stream_goes_on_only_while_its_credential_holds_with_the_same_role() {
        let opened = OpenedAs::from(&auth(7, Role::Manager));
        assert!(may_continue(opened, Some(&auth(7, Role::Manager))));
        assert!(!may_continue(opened, None), "revoked, logged out, expired or deactivated");
        assert!(!may_continue(opened, Some(&auth(7, Role::Agent))), "demoted");
        assert!(!may_continue(opened, Some(&auth(7, Role::Owner))), "promoted: reconnect with the new filter");
        assert!(!may_continue(opened, Some(&auth(8, Role::Manager))), "another user");
    }

    #[test]
    fn each_user_holds_at_most_per_user_streams_and_slots_come_back() {
        let limits = StreamLimits { per_user: 2, ..StreamLimits::default() };
        let (ana, bob) = (UserId(1), UserId(2));
        let a1 = limits.take_slot(ana).expect("first");
        let a2 = limits.take_slot(ana).expect("second");
        assert!(limits.take_slot(ana).is_none(), "third refused");
        let b1 = limits.take_slot(bob).expect("another user counts apart");
        drop(a1);
        assert_eq!(limits.open_for(ana), 1);
        let a3 = limits.take_slot(ana).expect("a place came back");
        drop((a2, a3, b1));
        assert_eq!((limits.open_for(ana), limits.open_for(bob)), (0, 0));
        assert!(limits.open.lock().unwrap().is_empty(), "no entry left behind");
    }
}
