//! Values of the contacts-at-scale traits ([`crate::ContactImports`], [`crate::ContactMerges`]):
//! imports and their batches, duplicate suggestions, merges, and re-cleaning reports.

use std::collections::HashSet;

use parley_core::Timestamp;
use parley_core::contact::{Contact, ContactPatch};
use parley_core::contacts_csv::{ImportOptions, ImportRow, RowProblem};
use parley_core::dedupe::DuplicateReason;
use parley_core::ids::{ContactId, UserId, WorkspaceId};
use serde::Serialize;

/// Where an import is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    Queued,
    Running,
    Done,
    Failed,
}

impl ImportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportState::Queued => "queued",
            ImportState::Running => "running",
            ImportState::Done => "done",
            ImportState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Done, Self::Failed].into_iter().find(|x| x.as_str() == s)
    }
}

/// An import as stored: what was asked, how far it got and what it did.
#[derive(Clone, Debug, Serialize)]
pub struct Import {
    pub id: i64,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub filename: String,
    /// The file being read (a server-side path): not shown.
    #[serde(skip)]
    pub path: String,
    pub options: ImportOptions,
    pub dry_run: bool,
    pub state: ImportState,
    pub bytes_total: i64,
    pub bytes_done: i64,
    /// Data rows read so far (each committed batch moves it).
    pub rows_done: i64,
    pub created: i64,
    pub updated: i64,
    /// Rows that matched a contact and changed nothing.
    pub unchanged: i64,
    /// Rows the mode leaves alone: already there (`add`) or no match (`update`).
    pub skipped: i64,
    pub rejected: i64,
    /// Columns of the file no field takes.
    pub ignored_columns: Vec<String>,
    pub error: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub struct NewImport {
    pub filename: String,
    pub path: String,
    pub options: ImportOptions,
    pub dry_run: bool,
    pub bytes_total: i64,
    pub created_by: Option<UserId>,
    /// The CLI imports in its own process: the import starts running, held until then (a
    /// server's worker leaves it alone unless the CLI dies and the hold runs out).
    pub held_until: Option<Timestamp>,
}

/// One batch of an import: the rows read and validated, the problems of those refused, and how
/// far into the file the batch ends. It commits whole, with the import's progress.
pub struct ImportBatch<'a> {
    pub import: &'a Import,
    pub rows: &'a [ImportRow],
    pub problems: &'a [RowProblem],
    /// Data rows consumed once this batch is in (good and refused).
    pub rows_done: i64,
    pub bytes_done: i64,
    /// Dry runs only: identifiers "created" by earlier batches, so later rows match them.
    pub dry_run_keys: Option<&'a mut HashSet<String>>,
    /// Update duplicate suggestions for this batch's contacts. Large imports leave it off and
    /// recompute suggestions in one pass at the end (much cheaper than a lookup per row).
    pub suggest: bool,
}

/// What one batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchCounts {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub rejected: i64,
}

/// Two contacts that look like one person.
#[derive(Clone, Debug, Serialize)]
pub struct MergeSuggestion {
    pub id: i64,
    pub contact_a: Contact,
    pub contact_b: Contact,
    pub reason: DuplicateReason,
    /// What both have: the number or the email.
    pub matched: String,
    pub created_at: Timestamp,
}

/// A merge to do: `secondary` goes into `primary`; `overrides` then applies to the result.
pub struct MergeRequest {
    pub primary: parley_core::contact::ContactRef,
    pub secondary: parley_core::contact::ContactRef,
    pub overrides: ContactPatch,
    pub by: Option<UserId>,
}

/// A merge done: the contact as it now is and the record kept in its history.
#[derive(Clone, Debug, Serialize)]
pub struct Merged {
    pub contact: Contact,
    pub merge: MergeRecord,
}

/// A merge in a contact's history: who, when, the secondary as it was, what moved.
#[derive(Clone, Debug, Serialize)]
pub struct MergeRecord {
    pub id: i64,
    pub primary_id: ContactId,
    pub secondary_id: ContactId,
    pub merged_by: Option<UserId>,
    /// The secondary contact just before the merge.
    pub secondary: serde_json::Value,
    /// Rows moved, by kind (`notes`, `identities`, `conversations`, `messages`, …).
    pub moved: serde_json::Value,
    pub created_at: Timestamp,
}

/// One value re-cleaning changed or could not make valid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NormalizeChange {
    pub contact_id: i64,
    /// `phone` or `email`.
    pub field: &'static str,
    pub before: String,
    /// The clean value, or `None` when it could not be made valid (kept as `invalid_phone` /
    /// `invalid_email`).
    pub after: Option<String>,
}

/// What re-cleaning found. The counts are exact; `changes` lists the first
/// [`NormalizeReport::CHANGES_LISTED`] changes only, so a report over millions of contacts stays
/// small (`changes_truncated` says when more were made).
#[derive(Clone, Debug, Default, Serialize)]
pub struct NormalizeReport {
    pub dry_run: bool,
    pub contacts_seen: u64,
    pub cleaned: u64,
    pub invalid: u64,
    pub changes: Vec<NormalizeChange>,
    pub changes_truncated: bool,
}

impl NormalizeReport {
    pub const CHANGES_LISTED: usize = 1000;

    /// Counts one change, listing it while there is room.
    pub fn record(&mut self, change: NormalizeChange) {
        if change.after.is_some() {
            self.cleaned += 1;
        } else {
            self.invalid += 1;
        }
        if self.changes.len() < Self::CHANGES_LISTED {
            self.changes.push(change);
        } else {
            self.changes_truncated = true;
        }
    }
}
