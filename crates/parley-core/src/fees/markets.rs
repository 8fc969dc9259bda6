//! The market a recipient's number is priced in: Meta's rate cards price by the recipient's
//! country calling code, some countries on their own line ("Brazil"), the others in regional
//! groups ("Rest of Africa") and a last line "Other". Which countries stand alone changes from
//! card to card (nine more on 2026-10-01), so a number answers a chain — its country, its
//! region, "Other" — and a card prices it by the first market it has a rate for.
//!
//! The country and region names are those of Meta's rate cards (a card imported with other
//! names prices by its own names: what is not found here falls to "Other"). +1 numbers are
//! "North America" except the Caribbean area codes Meta lists under Latin America.

/// The last market of every chain.
pub const OTHER: &str = "Other";

const AFRICA: &str = "Rest of Africa";
const ASIA_PACIFIC: &str = "Rest of Asia Pacific";
const EASTERN_EUROPE: &str = "Rest of Central & Eastern Europe";
const WESTERN_EUROPE: &str = "Rest of Western Europe";
const LATIN_AMERICA: &str = "Rest of Latin America";
const MIDDLE_EAST: &str = "Rest of Middle East";
const NORTH_AMERICA: &str = "North America";

/// Calling codes (longest first wins) with the country's own market name, when it has or had
/// one, and its region.
const CODES: &[(&str, Option<&str>, &str)] = &[
    // Africa (+2), Egypt and South Africa alone.
    ("20", Some("Egypt"), AFRICA),
    ("212", Some("Morocco"), AFRICA),
    ("234", Some("Nigeria"), AFRICA),
    ("27", Some("South Africa"), AFRICA),
    ("2", None, AFRICA),
    ("297", None, LATIN_AMERICA),
    ("298", None, WESTERN_EUROPE),
    ("299", None, WESTERN_EUROPE),
    // Europe (+3, +4).
    ("30", None, WESTERN_EUROPE),
    ("31", Some("Netherlands"), WESTERN_EUROPE),
    ("32", None, WESTERN_EUROPE),
    ("33", Some("France"), WESTERN_EUROPE),
    ("34", Some("Spain"), WESTERN_EUROPE),
    ("35", None, WESTERN_EUROPE),
    ("355", None, EASTERN_EUROPE),
    ("359", None, EASTERN_EUROPE),
    ("36", Some("Hungary"), EASTERN_EUROPE),
    ("37", None, EASTERN_EUROPE),
    ("376", None, WESTERN_EUROPE),
    ("377", None, WESTERN_EUROPE),
    ("378", None, WESTERN_EUROPE),
    ("379", None, WESTERN_EUROPE),
    ("380", Some("Ukraine"), EASTERN_EUROPE),
    ("38", None, EASTERN_EUROPE),
    ("39", Some("Italy"), WESTERN_EUROPE),
    ("40", Some("Romania"), EASTERN_EUROPE),
    ("41", None, WESTERN_EUROPE),
    ("42", None, EASTERN_EUROPE),
    ("423", None, WESTERN_EUROPE),
    ("43", None, WESTERN_EUROPE),
    ("44", Some("United Kingdom"), WESTERN_EUROPE),
    ("45", None, WESTERN_EUROPE),
    ("46", None, WESTERN_EUROPE),
    ("47", None, WESTERN_EUROPE),
    ("48", Some("Poland"), EASTERN_EUROPE),
    ("49", Some("Germany"), WESTERN_EUROPE),
    // Latin America (+5).
    ("5", None, LATIN_AMERICA),
    ("51", Some("Peru"), LATIN_AMERICA),
    ("52", Some("Mexico"), LATIN_AMERICA),
    ("54", Some("Argentina"), LATIN_AMERICA),
    ("55", Some("Brazil"), LATIN_AMERICA),
    ("56", Some("Chile"), LATIN_AMERICA),
    ("57", Some("Colombia"), LATIN_AMERICA),
    // Asia Pacific (+6, +8).
    ("6", None, ASIA_PACIFIC),
    ("60", Some("Malaysia"), ASIA_PACIFIC),
    ("62", Some("Indonesia"), ASIA_PACIFIC),
    ("65", Some("Singapore"), ASIA_PACIFIC),
    ("8", None, ASIA_PACIFIC),
    ("852", Some("Hong Kong"), ASIA_PACIFIC),
    ("880", Some("Bangladesh"), ASIA_PACIFIC),
    // Russia and Kazakhstan (+7).
    ("7", Some("Russia"), EASTERN_EUROPE),
    ("76", Some("Kazakhstan"), EASTERN_EUROPE),
    ("77", Some("Kazakhstan"), EASTERN_EUROPE),
    // +9: Turkey, South and Central Asia, the Middle East.
    ("90", Some("Turkey"), EASTERN_EUROPE),
    ("91", Some("India"), ASIA_PACIFIC),
    ("92", Some("Pakistan"), ASIA_PACIFIC),
    ("93", None, ASIA_PACIFIC),
    ("94", Some("Sri Lanka"), ASIA_PACIFIC),
    ("95", None, ASIA_PACIFIC),
    ("96", None, MIDDLE_EAST),
    ("960", None, ASIA_PACIFIC),
    ("964", Some("Iraq"), MIDDLE_EAST),
    ("965", Some("Kuwait"), MIDDLE_EAST),
    ("966", Some("Saudi Arabia"), MIDDLE_EAST),
    ("968", Some("Oman"), MIDDLE_EAST),
    ("97", None, MIDDLE_EAST),
    ("971", Some("United Arab Emirates"), MIDDLE_EAST),
    ("972", Some("Israel"), MIDDLE_EAST),
    ("974", Some("Qatar"), MIDDLE_EAST),
    ("975", None, ASIA_PACIFIC),
    ("976", None, ASIA_PACIFIC),
    ("977", Some("Nepal"), ASIA_PACIFIC),
    ("98", None, MIDDLE_EAST),
    ("99", None, ASIA_PACIFIC),
    ("994", None, EASTERN_EUROPE),
    ("995", None, EASTERN_EUROPE),
];

/// +1 area codes Meta prices under Latin America (Dominican Republic, Jamaica, Puerto Rico).
const CARIBBEAN: &[&str] = &["809", "829", "849", "658", "876", "787", "939"];

/// The markets a number (its digits in E.164, without `+`) may be priced in, most particular
/// first: its country's own market when it has one, its region, then "Other".
pub fn markets_of(digits: &str) -> Vec<&'static str> {
    if let Some(national) = digits.strip_prefix('1') {
        let region = if CARIBBEAN.iter().any(|a| national.starts_with(a)) { LATIN_AMERICA } else { NORTH_AMERICA };
        return vec![region, OTHER];
    }
    let found = CODES.iter().filter(|(prefix, ..)| digits.starts_with(prefix)).max_by_key(|(prefix, ..)| prefix.len());
    match found {
        Some((_, Some(country), region)) => vec![country, region, OTHER],
        Some((_, None, region)) => vec![region, OTHER],
        None => vec![OTHER],
    }
}

/// Every market name this table knows (the fees page lists them; an import warns on others).
pub fn known_markets() -> Vec<&'static str> {
    let mut all: Vec<&str> =
        CODES.iter().flat_map(|(_, country, region)| country.iter().copied().chain([*region])).collect();
    all.extend([NORTH_AMERICA, LATIN_AMERICA, OTHER]);
    all.sort_unstable();
    all.dedup();
    all
}
