//! Administrative actions shared by the CLI (`parley admin …`) and tests.

use parley_core::Timestamp;
use parley_core::account::{Role, check_name, check_password};
use parley_core::contact::check_email;
use parley_store::{Bootstrapped, NewUser, Store};

use crate::auth::issue_token;
use crate::error::ApiError;
use crate::password::hash_password;

/// A new workspace with its owner and first API token, whose secret is returned once.
pub struct BootstrapOutput {
    pub created: Bootstrapped,
    pub token: String,
}

/// Creates a workspace named `workspace` owned by `email` with `password`.
pub async fn bootstrap(
    store: &dyn Store,
    workspace: &str,
    email: &str,
    password: String,
    now: Timestamp,
) -> Result<BootstrapOutput, ApiError> {
    let name = check_name("workspace", workspace)?;
    let email = check_email("email", email)?;
    check_password(&password)?;
    let owner_name = email.as_str().split('@').next().unwrap_or("owner").to_owned();
    let owner =
        NewUser { email, name: owner_name, role: Role::Owner, password_hash: Some(hash_password(password).await?) };
    let issued = issue_token("bootstrap".into());
    let created = store.bootstrap(&name, owner, issued.record, now).await?;
    Ok(BootstrapOutput { created, token: issued.secret })
}
