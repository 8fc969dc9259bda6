//! Contacts as CSV: what an import is asked to do ([`ImportOptions`]), how a file's columns map
//! to contact fields ([`Columns`]), how one row becomes an [`ImportRow`] or the reasons it is
//! refused ([`RowProblem`]), and how an export writes a row the import reads back unchanged.
//!
//! The file format both ways: `id`, `name`, `phone`, `email`, `tags` (comma-separated inside the
//! cell) and one column per custom field, named by its key; a key with a `:number` or `:boolean`
//! suffix carries a typed value (`age:number`), any other custom field is text. An empty cell is
//! "no value": an import never clears anything.
//!
//! Cells are safe to open in a spreadsheet: an export writes a cell that a spreadsheet would take
//! for a formula (`=HYPERLINK(…)` as a contact's name, `+33…`, `-5`) behind a `'`, which
//! spreadsheets read as "text"; an import takes that `'` away again, so a round trip is lossless
//! ([`neutralize_cell`], [`restore_cell`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::contact::{Contact, check_email, check_field_key, check_phone, check_tag};
use crate::email::Email;
use crate::ids::ContactId;
use crate::phone::{E164, Region};
use crate::validation::Invalid;

/// What happens to a row, given whether its identifier matches an existing contact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// New contacts only; a row matching an existing contact is skipped.
    Add,
    /// Existing contacts only; a row matching none is skipped.
    Update,
    /// Update the match, or add the row when there is none (the default).
    #[default]
    Upsert,
    /// Every row becomes a new contact, duplicates included (to be merged later).
    AddAll,
}

/// The column that says which existing contact a row is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Identifier {
    Id,
    #[default]
    Phone,
    Email,
}

impl Identifier {
    pub fn column(self) -> &'static str {
        match self {
            Identifier::Id => "id",
            Identifier::Phone => "phone",
            Identifier::Email => "email",
        }
    }
}

/// The file's character encoding. Bytes that are not valid in it refuse the row (never mangled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// Excel's "CSV" on Western Windows machines (a superset of Latin-1).
    #[serde(rename = "windows-1252", alias = "latin1", alias = "cp1252")]
    Windows1252,
}

/// Everything an import is asked to do besides the file itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ImportOptions {
    pub mode: ImportMode,
    pub identifier: Identifier,
    /// Column header → target (`name`, `phone`, `email`, `tags`, `id`, `fields.<key>` with an
    /// optional `:number`/`:boolean`), or `null` to ignore the column. Columns not listed map
    /// automatically when their header is a target's name.
    pub mapping: BTreeMap<String, Option<String>>,
    /// In the update modes, `false` only fills values the contact does not have yet.
    #[serde(default = "yes")]
    pub overwrite: bool,
    /// `,` `;` `\t` or `|`; guessed from the header line when absent.
    pub delimiter: Option<char>,
    pub encoding: Encoding,
}

fn yes() -> bool {
    true
}

impl ImportOptions {
    /// The delimiter as a byte, checked.
    pub fn delimiter_byte(&self) -> Result<Option<u8>, Invalid> {
        match self.delimiter {
            None => Ok(None),
            Some(c @ (',' | ';' | '\t' | '|')) => Ok(Some(c as u8)),
            Some(_) => Err(Invalid::request("delimiter", "the delimiter is one of , ; | or a tab")),
        }
    }
}

/// The type of a custom field's values in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldKind {
    Text,
    Number,
    Boolean,
}

/// Where a column's values go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Id,
    Name,
    Phone,
    Email,
    Tags,
    Field(String, FieldKind),
}

impl Target {
    /// Parses a mapping target: `name`, `fields.plan`, `fields.age:number`, … With `bare_keys`,
    /// a bare custom field key (`plan`, `age:number`) is accepted too (automatic mapping).
    fn parse(spec: &str, bare_keys: bool) -> Option<Target> {
        let spec = spec.trim();
        match spec.to_ascii_lowercase().as_str() {
            "id" => return Some(Target::Id),
            "name" => return Some(Target::Name),
            "phone" => return Some(Target::Phone),
            "email" => return Some(Target::Email),
            "tags" => return Some(Target::Tags),
            _ => {}
        }
        // Headers are matched without case (`Plan` is the `plan` field); explicit targets are not.
        let lowered = spec.to_ascii_lowercase();
        let field = match spec.strip_prefix("fields.") {
            Some(field) => field,
            None if bare_keys => lowered.as_str(),
            None => return None,
        };
        let (key, kind) = match field.split_once(':') {
            Some((key, "number")) => (key, FieldKind::Number),
            Some((key, "boolean")) => (key, FieldKind::Boolean),
            Some(_) => return None,
            None => (field, FieldKind::Text),
        };
        check_field_key(key).ok().map(|key| Target::Field(key, kind))
    }

    fn same_destination(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Field(a, _), Target::Field(b, _)) => a == b,
            _ => self == other,
        }
    }
}

/// The file's columns and where each goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    pub headers: Vec<String>,
    pub targets: Vec<Option<Target>>,
}

impl Columns {
    /// Maps `headers` (the file's first row) using `options`. Refuses a mapping that names a
    /// column the file does not have or an unknown target, two columns going to one place, and a
    /// file without the identifier's column (except when every row is added anyway).
    pub fn from_header(headers: &[String], options: &ImportOptions) -> Result<Columns, Invalid> {
        let headers: Vec<String> = headers.iter().map(|h| h.trim().to_owned()).collect();
        for column in options.mapping.keys() {
            if !headers.iter().any(|h| h == column.trim()) {
                return Err(Invalid::new(
                    "unknown_column",
                    Some(format!("mapping.{column}")),
                    format!("the file has no column \"{column}\" (its columns: {})", headers.join(", ")),
                ));
            }
        }
        let mut targets: Vec<Option<Target>> = Vec::with_capacity(headers.len());
        for header in &headers {
            let target = match options.mapping.iter().find(|(column, _)| column.trim() == header) {
                Some((_, None)) => None,
                Some((column, Some(spec))) => Some(Target::parse(spec, false).ok_or_else(|| {
                    Invalid::new(
                        "invalid_mapping",
                        Some(format!("mapping.{column}")),
                        format!("\"{spec}\" is not a target: use name, phone, email, tags, id or fields.<key>"),
                    )
                })?),
                None => Target::parse(header, true),
            };
            if let Some(t) = &target
                && targets.iter().flatten().any(|other| other.same_destination(t))
            {
                return Err(Invalid::new(
                    "invalid_mapping",
                    Some(format!("mapping.{header}")),
                    format!("two columns go to the same place as \"{header}\""),
                ));
            }
            targets.push(target);
        }
        let wanted = match options.identifier {
            Identifier::Id => Target::Id,
            Identifier::Phone => Target::Phone,
            Identifier::Email => Target::Email,
        };
        if options.mode != ImportMode::AddAll && !targets.iter().flatten().any(|t| *t == wanted) {
            return Err(Invalid::new(
                "missing_identifier",
                Some("identifier".to_owned()),
                format!("the identifier is {}, but no column maps to it", options.identifier.column()),
            ));
        }
        Ok(Columns { headers, targets })
    }

    /// Headers of the columns no field takes (reported, so nothing is dropped silently).
    pub fn ignored(&self) -> Vec<String> {
        self.headers.iter().zip(&self.targets).filter(|(_, t)| t.is_none()).map(|(h, _)| h.clone()).collect()
    }
}

/// One row, read and validated. Absent values stay `None`/empty: they change nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportRow {
    /// The line the row starts on (1 is the header).
    pub line: u64,
    pub id: Option<ContactId>,
    pub name: Option<String>,
    pub phone: Option<E164>,
    pub email: Option<Email>,
    pub fields: Map<String, Value>,
    pub tags: Vec<String>,
}

impl ImportRow {
    /// The row's value of the identifier, as the store compares it.
    pub fn key(&self, identifier: Identifier) -> Option<String> {
        match identifier {
            Identifier::Id => self.id.map(|id| id.get().to_string()),
            Identifier::Phone => self.phone.as_ref().map(|p| p.as_str().to_owned()),
            Identifier::Email => self.email.as_ref().map(|e| e.as_str().to_owned()),
        }
    }

    /// Whether a new contact can be made of it (PRODUCT.md: a name, a phone or an email).
    pub fn can_create(&self) -> bool {
        self.name.is_some() || self.phone.is_some() || self.email.is_some()
    }

    /// Writes the row onto `contact`; with `overwrite` false, only where the contact has no value.
    /// Tags are added, never removed. Returns whether anything changed.
    pub fn apply(&self, contact: &mut Contact, overwrite: bool) -> Result<bool, Invalid> {
        let mut changed = false;
        fn set<T: Clone + PartialEq>(slot: &mut Option<T>, value: &Option<T>, overwrite: bool, changed: &mut bool) {
            if let Some(v) = value
                && (overwrite || slot.is_none())
                && slot.as_ref() != Some(v)
            {
                *slot = Some(v.clone());
                *changed = true;
            }
        }
        set(&mut contact.name, &self.name, overwrite, &mut changed);
        set(&mut contact.phone, &self.phone, overwrite, &mut changed);
        set(&mut contact.email, &self.email, overwrite, &mut changed);
        // A valid value now replaces the one re-cleaning had to set aside.
        if contact.phone.is_some() && contact.invalid_phone.is_some() {
            contact.invalid_phone = None;
            changed = true;
        }
        if contact.email.is_some() && contact.invalid_email.is_some() {
            contact.invalid_email = None;
            changed = true;
        }
        for (key, value) in &self.fields {
            let slot = contact.fields.get(key);
            if (overwrite || slot.is_none()) && slot != Some(value) {
                contact.fields.insert(key.clone(), value.clone());
                changed = true;
            }
        }
        if contact.fields.len() > crate::contact::MAX_FIELDS {
            return Err(Invalid::request("fields", format!("at most {} fields", crate::contact::MAX_FIELDS)));
        }
        let mut tags: BTreeSet<String> = contact.tags.iter().cloned().collect();
        let count = tags.len();
        tags.extend(self.tags.iter().cloned());
        if tags.len() != count {
            if tags.len() > crate::contact::MAX_TAGS {
                return Err(Invalid::request("tags", format!("at most {} tags", crate::contact::MAX_TAGS)));
            }
            contact.tags = tags.into_iter().collect();
            changed = true;
        }
        Ok(changed)
    }
}

/// Why (part of) a row was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowProblem {
    pub line: u64,
    /// The column's header, when one cell is at fault.
    pub column: Option<String>,
    pub value: Option<String>,
    /// Stable code: `invalid_phone`, `invalid_email`, `invalid_value`, `bad_encoding`,
    /// `wrong_cell_count`, `no_identity`, `not_found`, …
    pub code: String,
    pub reason: String,
}

impl RowProblem {
    pub fn row(line: u64, code: &str, reason: impl Into<String>) -> Self {
        RowProblem { line, column: None, value: None, code: code.to_owned(), reason: reason.into() }
    }

    fn cell(line: u64, column: &str, value: &str, invalid: Invalid) -> Self {
        RowProblem {
            line,
            column: Some(column.to_owned()),
            value: Some(value.to_owned()),
            code: invalid.code.to_owned(),
            reason: invalid.message,
        }
    }
}

/// Reads one row's cells (already decoded). Every problem of the row is reported, not only the
/// first; a row with any problem is refused whole.
pub fn read_row(
    columns: &Columns,
    line: u64,
    cells: &[&str],
    region: Option<Region>,
) -> Result<ImportRow, Vec<RowProblem>> {
    if cells.len() != columns.headers.len() {
        return Err(vec![RowProblem::row(
            line,
            "wrong_cell_count",
            format!("the row has {} cells where the header has {}", cells.len(), columns.headers.len()),
        )]);
    }
    let mut row = ImportRow { line, ..ImportRow::default() };
    let mut problems = Vec::new();
    for ((header, target), raw) in columns.headers.iter().zip(&columns.targets).zip(cells) {
        let (Some(target), value) = (target, restore_cell(raw.trim())) else { continue };
        if value.is_empty() {
            continue;
        }
        let outcome = match target {
            Target::Id => match value.parse::<i64>() {
                Ok(id) if id > 0 => {
                    row.id = Some(ContactId(id));
                    Ok(())
                }
                _ => Err(Invalid::new("invalid_value", None, "a contact id is a positive whole number")),
            },
            Target::Name => check_name(value).map(|n| row.name = Some(n)),
            Target::Phone => check_phone(header, value, region).map(|p| row.phone = Some(p)),
            Target::Email => check_email(header, value).map(|e| row.email = Some(e)),
            Target::Tags => value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(check_tag)
                .collect::<Result<BTreeSet<String>, _>>()
                .map(|tags| row.tags = tags.into_iter().collect()),
            Target::Field(key, kind) => field_value(value, *kind).map(|v| {
                row.fields.insert(key.clone(), v);
            }),
        };
        if let Err(invalid) = outcome {
            problems.push(RowProblem::cell(line, header, raw, invalid));
        }
    }
    if row.tags.len() > crate::contact::MAX_TAGS {
        problems.push(RowProblem::row(line, "invalid_value", format!("at most {} tags", crate::contact::MAX_TAGS)));
    }
    if problems.is_empty() { Ok(row) } else { Err(problems) }
}

fn check_name(value: &str) -> Result<String, Invalid> {
    if value.chars().count() > crate::contact::MAX_NAME_CHARS {
        return Err(Invalid::new(
            "invalid_value",
            None,
            format!("a name is at most {} characters", crate::contact::MAX_NAME_CHARS),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::new("invalid_value", None, "a name must not contain control characters"));
    }
    Ok(value.to_owned())
}

fn field_value(value: &str, kind: FieldKind) -> Result<Value, Invalid> {
    match kind {
        FieldKind::Text if value.chars().count() > crate::contact::MAX_FIELD_VALUE_CHARS => Err(Invalid::new(
            "invalid_value",
            None,
            format!("a field value is at most {} characters", crate::contact::MAX_FIELD_VALUE_CHARS),
        )),
        FieldKind::Text => Ok(Value::String(value.to_owned())),
        FieldKind::Number => value
            .parse::<i64>()
            .map(Number::from)
            .ok()
            .or_else(|| value.parse::<f64>().ok().and_then(Number::from_f64))
            .map(Value::Number)
            .ok_or_else(|| Invalid::new("invalid_value", None, "not a number")),
        FieldKind::Boolean => match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(Invalid::new("invalid_value", None, "not a boolean (true or false)")),
        },
    }
}

/// Guesses the delimiter from the header line: the most frequent of `,` `;` tab `|` outside
/// quotes (`,` when none appears: a one-column file).
pub fn detect_delimiter(header_line: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for &b in header_line {
        if b == b'"' {
            quoted = !quoted;
        } else if b == b'\n' && !quoted {
            break;
        } else if !quoted && let Some(i) = candidates.iter().position(|&c| c == b) {
            counts[i] += 1;
        }
    }
    let best = (0..4).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    if counts[best] == 0 { b',' } else { candidates[best] }
}

/// The custom field columns an export needs for `contacts`: each key with the type all its
/// values share (`Text` when they differ: numbers are then written as text).
pub fn export_fields<'a>(contacts: impl IntoIterator<Item = &'a Contact>) -> Vec<(String, FieldKind)> {
    let mut kinds: BTreeMap<String, Option<FieldKind>> = BTreeMap::new();
    for contact in contacts {
        add_export_fields(&mut kinds, &contact.fields);
    }
    finish_export_fields(kinds)
}

/// [`export_fields`] one contact at a time (exports stream).
pub fn add_export_fields(kinds: &mut BTreeMap<String, Option<FieldKind>>, fields: &Map<String, Value>) {
    for (key, value) in fields {
        let kind = match value {
            Value::Number(_) => FieldKind::Number,
            Value::Bool(_) => FieldKind::Boolean,
            _ => FieldKind::Text,
        };
        let slot = kinds.entry(key.clone()).or_insert(Some(kind));
        if *slot != Some(kind) {
            *slot = Some(FieldKind::Text);
        }
    }
}

pub fn finish_export_fields(kinds: BTreeMap<String, Option<FieldKind>>) -> Vec<(String, FieldKind)> {
    kinds.into_iter().map(|(k, v)| (k, v.unwrap_or(FieldKind::Text))).collect()
}

/// What makes a spreadsheet read a cell as a formula (or run one: a tab or carriage return
/// before `=` in some importers).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `value` is a cell [`neutralize_cell`] must escape: one a spreadsheet would read as a
/// formula, or one that starts with the escape itself and would lose it on import.
fn needs_escape(value: &str) -> bool {
    let mut chars = value.chars();
    match chars.next() {
        Some(c) if FORMULA_STARTS.contains(&c) => true,
        Some('\'') => chars.next().is_some_and(|c| c == '\'' || FORMULA_STARTS.contains(&c)),
        _ => false,
    }
}

/// A cell as an export writes it: behind a `'` when a spreadsheet would read it as a formula
/// (OWASP's advice for CSV injection), and when it already starts with `'` before such a
/// character, so that [`restore_cell`] gives back exactly the original.
pub fn neutralize_cell(value: &str) -> Cow<'_, str> {
    if needs_escape(value) { Cow::Owned(format!("'{value}")) } else { Cow::Borrowed(value) }
}

/// A cell as an import reads it: without the `'` that [`neutralize_cell`] put before it. A
/// file from elsewhere loses a `'` only before a formula character or another `'`.
pub fn restore_cell(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if needs_escape(rest) => rest,
        _ => value,
    }
}

/// The export's header row.
pub fn export_header(fields: &[(String, FieldKind)]) -> Vec<String> {
    let mut header: Vec<String> = ["id", "name", "phone", "email", "tags"].map(String::from).into();
    header.extend(fields.iter().map(|(key, kind)| match kind {
        FieldKind::Text => key.clone(),
        FieldKind::Number => format!("{key}:number"),
        FieldKind::Boolean => format!("{key}:boolean"),
    }));
    header
}

/// One contact as an export row, in [`export_header`]'s order.
pub fn export_row(contact: &Contact, fields: &[(String, FieldKind)]) -> Vec<String> {
    let mut row = vec![
        contact.id.get().to_string(),
        contact.name.clone().unwrap_or_default(),
        contact.phone.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        contact.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
        contact.tags.join(","),
    ];
    row.extend(fields.iter().map(|(key, _)| match contact.fields.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }));
    row.into_iter().map(|cell| if needs_escape(&cell) { format!("'{cell}") } else { cell }).collect()
}

#[cfg(test)]
mod tests;
