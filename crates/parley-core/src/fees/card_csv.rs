//! Rate cards from CSV rows (the caller splits the file with the `csv` crate). Three layouts are
//! read, told apart by their header row (rows before it — titles, notes — are skipped):
//!
//! - **Meta's rate card**: `Market` then one column per category (`Marketing`, `Utility`,
//!   `Authentication`, `Authentication-International`, `Service`), amounts such as `$0.0250`;
//!   `n/a`, `-` or an empty cell means "no rate". Other columns (`Currency`) are ignored.
//! - **Meta's volume tiers**: `Market`, `Category` (or `Pricing category`), `Tier` (or
//!   `Volume tier`: `1:250000`, `250,001 - 1,000,000`, `25,000,001+`) and `Rate`.
//! - **Parley's own**: `market,category,rate` with optional `tier_from,tier_to` (empty: open).
//!
//! A card is all or nothing: any bad row refuses the file, each problem with its row (records
//! counted from 1, blank lines not counted).

use super::card::Rate;
use super::{Category, Micros};

fn normalized(cell: &str) -> String {
    cell.trim().trim_start_matches('\u{feff}').to_ascii_lowercase()
}

fn empty_rate(cell: &str) -> bool {
    matches!(cell.trim().to_ascii_lowercase().as_str(), "" | "n/a" | "na" | "-" | "–" | "—")
}

/// Reads the lines of a card from `rows` (the file's records, header included).
pub fn read_rates(rows: &[Vec<String>]) -> Result<Vec<Rate>, Vec<String>> {
    let header_at = rows.iter().position(|row| row.first().is_some_and(|c| normalized(c) == "market"));
    let Some(at) = header_at else {
        return Err(vec!["no header row starting with \"market\"".to_owned()]);
    };
    let header: Vec<String> = rows[at].iter().map(|c| normalized(c)).collect();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let body = rows.iter().enumerate().skip(at + 1).filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()));
    let mut rates = Vec::new();
    let mut problems = Vec::new();
    if let (Some(category), Some(rate)) = (col(&["category", "pricing category"]), col(&["rate", "price"])) {
        let tier = col(&["tier", "volume tier"]);
        let (from, to) = (col(&["tier_from"]), col(&["tier_to"]));
        for (i, row) in body {
            let cell = |c: Option<usize>| c.and_then(|c| row.get(c)).map(|s| s.trim()).unwrap_or("");
            let line = i + 1;
            let Some(cat) = Category::parse(cell(Some(category))) else {
                problems.push(format!("row {line}: {:?} is not a category", cell(Some(category))));
                continue;
            };
            let bounds = match (tier, from, to) {
                (Some(t), ..) => tier_range(cell(Some(t))),
                (None, f, t) => bounds(cell(f), cell(t)),
            };
            let (tier_from, tier_to) = match bounds {
                Ok(b) => b,
                Err(e) => {
                    problems.push(format!("row {line}: {e}"));
                    continue;
                }
            };
            match Micros::parse(cell(Some(rate))) {
                Ok(amount) => rates.push(Rate {
                    market: cell(Some(0)).to_owned(),
                    category: cat,
                    tier_from,
                    tier_to,
                    rate: amount,
                }),
                Err(e) => problems.push(format!("row {line}: {e}")),
            }
        }
    } else {
        let categories: Vec<(usize, Category)> =
            header.iter().enumerate().skip(1).filter_map(|(i, h)| Category::parse(h).map(|c| (i, c))).collect();
        if categories.is_empty() {
            return Err(vec![format!("row {}: no category columns (marketing, utility, …)", at + 1)]);
        }
        for (i, row) in body {
            let market = row.first().map(|m| m.trim()).unwrap_or("");
            for (column, category) in &categories {
                let cell = row.get(*column).map(String::as_str).unwrap_or("");
                if empty_rate(cell) {
                    continue;
                }
                match Micros::parse(cell) {
                    Ok(amount) => rates.push(Rate {
                        market: market.to_owned(),
                        category: *category,
                        tier_from: None,
                        tier_to: None,
                        rate: amount,
                    }),
                    Err(e) => problems.push(format!("row {}: {e}", i + 1)),
                }
            }
        }
    }
    for (i, rate) in rates.iter().enumerate() {
        if rate.market.is_empty() {
            problems.push(format!("rate {}: a line without its market", i + 1));
        }
    }
    if problems.is_empty() { Ok(rates) } else { Err(problems) }
}

fn count(text: &str) -> Result<u64, String> {
    let digits: String = text.chars().filter(|c| !matches!(c, ',' | ' ' | '_' | '\u{a0}')).collect();
    digits.parse().map_err(|_| format!("{text:?} is not a message count"))
}

fn bounds(from: &str, to: &str) -> Result<(Option<u64>, Option<u64>), String> {
    let from = if from.is_empty() { None } else { Some(count(from)?) };
    let to = if to.is_empty() { None } else { Some(count(to)?) };
    Ok((from, to))
}

/// `1:250000`, `250,001 - 1,000,000`, `25,000,001+`, or empty (no tiers). A tier starting at
/// 0 starts at the first message.
fn tier_range(text: &str) -> Result<(Option<u64>, Option<u64>), String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok((None, None));
    }
    let (from, to) = if let Some(open) = t.strip_suffix('+') {
        (open, "")
    } else if let Some((a, b)) = t.split_once(':').or_else(|| t.split_once(" - ")).or_else(|| t.split_once('-')) {
        (a, b)
    } else {
        return Err(format!("{text:?} is not a tier like 1:250000 or 250,001+"));
    };
    let (from, to) = bounds(from.trim(), to.trim())?;
    Ok((from.map(|f| f.max(1)), to))
}
