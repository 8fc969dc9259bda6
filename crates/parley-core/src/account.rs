//! Workspaces, users and their roles (PRODUCT.md §3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::email::Email;
use crate::ids::{UserId, WorkspaceId};
use crate::phone::{Region, parse_region};
use crate::time::Timestamp;
use crate::validation::Invalid;

/// What a user may do in a workspace. Owners do everything; managers run the team (users, tokens,
/// channels) but cannot create or change owners; agents work conversations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Manager,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Agent => "agent",
        }
    }

    /// Owners and managers administer the workspace: users, tokens, settings.
    pub fn can_administer(self) -> bool {
        matches!(self, Role::Owner | Role::Manager)
    }

    /// Whether a user with this role may create (or change someone into) a user of `other` role.
    pub fn can_grant(self, other: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Manager => other != Role::Owner,
            Role::Agent => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s {
            "owner" => Ok(Role::Owner),
            "manager" => Ok(Role::Manager),
            "agent" => Ok(Role::Agent),
            _ => Err(Invalid::request("role", "role must be owner, manager or agent")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// Two-letter region used to read national-format phone numbers; `None` means numbers must
    /// carry their country code (the default).
    pub default_region: Option<String>,
    /// Templates need a recorded opt-in (or an inbound message) first. On by default.
    pub require_opt_in: bool,
    pub created_at: Timestamp,
}

impl Workspace {
    pub fn region(&self) -> Option<Region> {
        self.default_region.as_deref().and_then(parse_region)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub workspace_id: WorkspaceId,
    pub email: Email,
    pub name: String,
    pub role: Role,
    /// The web inbox's language (`en`, `fr`, `vi`); `None`: the browser's.
    pub locale: Option<String>,
    pub created_at: Timestamp,
    /// Set while the user may not log in or use a token (their history stays theirs).
    pub deactivated_at: Option<Timestamp>,
    /// A bot: assignable, acts through its API token, never logs in.
    pub bot: bool,
    /// Mail this user when a teammate mentions them in a note (when the server has `[mail]`).
    pub mail_mentions: bool,
}

/// Why a change to a user is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserChangeRefused {
    /// Not the caller's to change (403).
    Forbidden(&'static str),
    /// Not a change anyone may make (422).
    Invalid(Invalid),
}

/// Who may change a user's role or deactivate them: owners and managers; a manager never an
/// owner, nor anyone into an owner; nobody deactivates themself (someone else must, so a
/// workspace is never left without a way in). The store adds the last rule that needs the
/// other users: a workspace keeps one active owner.
pub fn check_user_change(
    actor_role: Role,
    actor: UserId,
    target_role: Role,
    target: UserId,
    new_role: Option<Role>,
    active: Option<bool>,
) -> Result<(), UserChangeRefused> {
    if !actor_role.can_administer() {
        return Err(UserChangeRefused::Forbidden("only owners and managers change users"));
    }
    if !actor_role.can_grant(target_role) || new_role.is_some_and(|r| !actor_role.can_grant(r)) {
        return Err(UserChangeRefused::Forbidden("only an owner changes an owner or makes one"));
    }
    if actor == target && active == Some(false) {
        return Err(UserChangeRefused::Invalid(Invalid::new(
            "cannot_deactivate_self",
            Some("active".to_owned()),
            "you cannot deactivate yourself: ask another owner or manager",
        )));
    }
    Ok(())
}

pub const MIN_PASSWORD_CHARS: usize = 10;
const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password: long enough to resist guessing, short enough not to be a DoS on argon2.
pub fn check_password(password: &str) -> Result<(), Invalid> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Invalid::new(
            "weak_password",
            Some("password".into()),
            format!("a password needs at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Invalid::request("password", format!("a password is at most {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

/// A display name (workspace, user, token): trimmed, 1 to 200 characters, no control characters.
pub fn check_name(field: &str, name: &str) -> Result<String, Invalid> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Invalid::request(field, "must not be empty"));
    }
    if trimmed.chars().count() > 200 {
        return Err(Invalid::request(field, "must be at most 200 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Invalid::request(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Validates a workspace default region (`FR`, `vn`) into its stored upper-case form.
pub fn check_region(code: &str) -> Result<String, Invalid> {
    parse_region(code).map(|r| r.as_region_str().to_string()).ok_or_else(|| {
        Invalid::request(
            "default_region",
            format!("{code:?} is not a two-letter region code with phone numbering rules"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants() {
        assert!(Role::Owner.can_grant(Role::Owner));
        assert!(Role::Manager.can_grant(Role::Manager));
        assert!(Role::Manager.can_grant(Role::Agent));
        assert!(!Role::Manager.can_grant(Role::Owner));
        assert!(!Role::Agent.can_grant(Role::Agent));
        assert!(Role::Manager.can_administer());
        assert!(!Role::Agent.can_administer());
    }

    #[test]
    fn who_may_change_a_user() {
        use Role::*;
        let (me, other) = (UserId(1), UserId(2));
        let check = |actor, target, new_role, active| check_user_change(actor, me, target, other, new_role, active);
        assert_eq!(check(Owner, Owner, Some(Agent), None), Ok(()));
        assert_eq!(check(Manager, Agent, Some(Manager), Some(false)), Ok(()));
        assert!(matches!(check(Manager, Owner, None, Some(false)), Err(UserChangeRefused::Forbidden(_))));
        assert!(matches!(check(Manager, Agent, Some(Owner), None), Err(UserChangeRefused::Forbidden(_))));
        assert!(matches!(check(Agent, Agent, None, Some(true)), Err(UserChangeRefused::Forbidden(_))));
        let own = check_user_change(Owner, me, Owner, me, None, Some(false));
        assert!(matches!(own, Err(UserChangeRefused::Invalid(ref i)) if i.code == "cannot_deactivate_self"));
        assert_eq!(check_user_change(Manager, me, Manager, me, Some(Agent), None), Ok(()), "stepping down is allowed");
    }

    #[test]
    fn roles_parse() {
        assert_eq!("agent".parse::<Role>().unwrap(), Role::Agent);
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn passwords() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough password").is_ok());
        assert!(check_password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(check_name("name", "  Acme  ").unwrap(), "Acme");
        assert!(check_name("name", "   ").is_err());
        assert!(check_name("name", "a\u{0007}b").is_err());
        assert!(check_name("name", &"a".repeat(201)).is_err());
    }

    #[test]
    fn regions() {
        assert_eq!(check_region("fr").unwrap(), "FR");
        assert!(check_region("XX").is_err());
    }
}
