//! Scanning `{{…}}` placeholders in template texts: a strict split into literal runs and
//! placeholders (creation checks refuse unbalanced braces), a lenient listing (the send-side shape
//! reads whatever Meta approved), and the two placeholder grammars, positional (`{{1}}`) and
//! named (`{{first_name}}`).

/// One run of a template text: literal text, or the inside of a `{{…}}` placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits `text` into literal runs and placeholders. `Err` describes unbalanced braces, worded to
/// follow "the body's text …". Single braces are literal text: only doubled ones delimit.
pub(crate) fn split(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    loop {
        let open = rest.find("{{");
        let close = rest.find("}}");
        match (open, close) {
            (None, None) => {
                if !rest.is_empty() {
                    pieces.push(Piece::Text(rest));
                }
                return Ok(pieces);
            }
            (None, Some(_)) => return Err("has a `}}` without a matching `{{`".into()),
            (Some(o), Some(c)) if c < o => return Err("has a `}}` without a matching `{{`".into()),
            (Some(o), _) => {
                let after = &rest[o + 2..];
                let Some(end) = after.find("}}") else {
                    return Err("has a `{{` that is never closed with `}}`".into());
                };
                if o > 0 {
                    pieces.push(Piece::Text(&rest[..o]));
                }
                pieces.push(Piece::Var(&after[..end]));
                rest = &after[end + 2..];
            }
        }
    }
}

/// The insides of the `{{…}}` placeholders of `text`, skipping anything unbalanced: used on
/// templates Meta already approved, where refusing would only block sends.
pub(crate) fn placeholders(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        match rest[start + 2..].find("}}") {
            Some(end) => {
                found.push(&rest[start + 2..start + 2 + end]);
                rest = &rest[start + 2 + end + 2..];
            }
            None => break,
        }
    }
    found
}

/// The number of a positional placeholder: `1`, `2`, … without sign, spaces or leading zeros.
pub(crate) fn positional(inner: &str) -> Option<usize> {
    let digits_only = !inner.is_empty() && inner.len() <= 4 && inner.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || inner.starts_with('0') {
        return None;
    }
    inner.parse().ok()
}

/// A named placeholder: lowercase ASCII letters, digits and underscores, starting with a letter.
/// Meta's wording is "lowercase letters and underscores"; digits after the first letter are
/// accepted (`{{line2}}`), a leading digit or underscore is not, so a name never looks like a
/// positional number.
pub(crate) fn is_name(inner: &str) -> bool {
    let mut bytes = inner.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
