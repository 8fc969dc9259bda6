//! Time in a workflow: opening hours in a timezone (the `business_hours` branch, the away
//! message), the next local time of day (`wait_until`), and cron schedules (the `schedule`
//! trigger). Pure: each function takes the instant it judges.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::Problem;
use crate::Timestamp;

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// Opening hours: per weekday (`mon` … `sun`), intervals `"09:00-12:30"`; a day left out is
/// closed; `closed_dates` (`YYYY-MM-DD`, holidays) are closed all day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// An IANA timezone: `Europe/Paris`, `Asia/Ho_Chi_Minh`.
    pub timezone: String,
    pub days: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed_dates: Vec<String>,
}

/// Reads a timezone's name.
pub fn timezone(name: &str) -> Result<Tz, Box<Problem>> {
    name.parse::<Tz>().map_err(|_| {
        Box::new(
            Problem::whole("timezone", format!("{name:?} is not a timezone (write it as Europe/Paris)"))
                .with("timezone", name),
        )
    })
}

fn interval(text: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (from, to) = text.split_once('-')?;
    let read = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").ok();
    let (from, to) = (read(from)?, if to.trim() == "24:00" { NaiveTime::from_hms_opt(23, 59, 59)? } else { read(to)? });
    (from < to).then_some((from, to))
}

impl Hours {
    /// What is wrong with them, if anything.
    pub fn problem(&self) -> Option<Problem> {
        if let Err(problem) = timezone(&self.timezone) {
            return Some(*problem);
        }
        for (day, intervals) in &self.days {
            if !DAYS.iter().any(|(d, _)| d == day) {
                let message = format!("{day:?} is not a day: mon, tue, wed, thu, fri, sat or sun");
                return Some(Problem::whole("hours_day", message).with("day", day.as_str()));
            }
            if let Some(bad) = intervals.iter().find(|i| interval(i).is_none()) {
                let message = format!("{bad:?} is not an interval like 09:00-18:00");
                return Some(Problem::whole("hours_interval", message).with("interval", bad.as_str()));
            }
        }
        if let Some(bad) = self.closed_dates.iter().find(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()) {
            let message = format!("{bad:?} is not a date like 2026-12-25");
            return Some(Problem::whole("closed_date", message).with("date", bad.as_str()));
        }
        None
    }

    /// Whether `at` falls in the opening hours (closed when they do not read).
    pub fn is_open(&self, at: Timestamp) -> bool {
        let Ok(tz) = timezone(&self.timezone) else { return false };
        let local = tz.from_utc_datetime(&at.to_datetime().naive_utc());
        let date = local.date_naive().format("%Y-%m-%d").to_string();
        if self.closed_dates.contains(&date) {
            return false;
        }
        let Some((day, _)) = DAYS.iter().find(|(_, w)| *w == local.weekday()) else { return false };
        let time = local.time();
        self.days.get(*day).is_some_and(|intervals| {
            intervals.iter().filter_map(|i| interval(i)).any(|(from, to)| from <= time && time < to)
        })
    }
}

/// The next instant after `now` when the clock in `tz` shows `time` (`"09:00"`): today when
/// still ahead, else tomorrow. A time skipped by a daylight-saving change moves to the next day.
pub fn next_time_of_day(time: &str, tz: &str, now: Timestamp) -> Option<Timestamp> {
    let tz = timezone(tz).ok()?;
    let wanted = NaiveTime::parse_from_str(time.trim(), "%H:%M").ok()?;
    let today = tz.from_utc_datetime(&now.to_datetime().naive_utc()).date_naive();
    (0..3).find_map(|days| {
        let date = today + Duration::days(days);
        let local = tz.from_local_datetime(&date.and_time(wanted)).earliest()?;
        let at = Timestamp::from_datetime(local.with_timezone(&chrono::Utc));
        (at > now).then_some(at)
    })
}

/// Reads a cron schedule (five fields: minute hour day-of-month month day-of-week).
pub fn cron(pattern: &str) -> Result<croner::Cron, Box<Problem>> {
    if pattern.split_whitespace().count() != 5 {
        let message = format!("{pattern:?} is not a schedule of five fields (minute hour day month weekday)");
        return Err(Box::new(Problem::whole("schedule_fields", message).with("schedule", pattern)));
    }
    pattern.parse::<croner::Cron>().map_err(|e| {
        Box::new(
            Problem::whole("schedule_syntax", format!("{pattern:?} is not a schedule: {e}"))
                .with("schedule", pattern)
                .with("detail", e.to_string()),
        )
    })
}

/// The latest time the schedule fired in `(after, now]`, if any.
pub fn latest_fire(pattern: &str, tz: &str, after: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let (cron, tz) = (cron(pattern).ok()?, timezone(tz).ok()?);
    let mut at = tz.from_utc_datetime(&after.to_datetime().naive_utc());
    let mut latest = None;
    // At most one fire a minute: a day holds 1,440; more are not looked at.
    for _ in 0..2000 {
        let Ok(next) = cron.find_next_occurrence(&at, false) else { break };
        let fired = Timestamp::from_datetime(next.with_timezone(&chrono::Utc));
        if fired > now {
            break;
        }
        latest = Some(fired);
        at = next;
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::parse_rfc3339(rfc3339).unwrap()
    }

    fn office() -> Hours {
        Hours {
            timezone: "Asia/Ho_Chi_Minh".into(),
            days: [("mon".to_owned(), vec!["08:00-12:00".to_owned(), "13:30-17:30".to_owned()])].into(),
            closed_dates: vec!["2026-12-28".into()],
        }
    }

    #[test]
    fn hours_are_read_in_their_timezone() {
        let h = office();
        assert!(h.problem().is_none());
        // Monday 2026-12-07 09:00 in Hanoi is 02:00 UTC.
        assert!(h.is_open(at("2026-12-07T02:00:00Z")));
        assert!(!h.is_open(at("2026-12-07T05:30:00Z")), "12:30, lunch");
        assert!(h.is_open(at("2026-12-07T06:30:00Z")), "13:30");
        assert!(!h.is_open(at("2026-12-07T10:30:00Z")), "17:30, closed");
        assert!(!h.is_open(at("2026-12-08T02:00:00Z")), "tuesday");
        assert!(!h.is_open(at("2026-12-28T02:00:00Z")), "a closed date");
        let bad = |f: fn(&mut Hours)| {
            let mut h = office();
            f(&mut h);
            h.problem()
        };
        let code = |p: Option<Problem>| p.map(|p| (p.code, p.params.into_iter().next()));
        let param = |k: &str, v: &str| Some((k.to_owned(), serde_json::json!(v)));
        assert_eq!(
            code(bad(|h| h.timezone = "Mars/Olympus".into())),
            Some(("timezone", param("timezone", "Mars/Olympus")))
        );
        assert_eq!(
            code(bad(|h| {
                h.days.insert("funday".into(), vec![]);
            })),
            Some(("hours_day", param("day", "funday")))
        );
        assert_eq!(
            code(bad(|h| {
                h.days.insert("tue".into(), vec!["18:00-09:00".into()]);
            })),
            Some(("hours_interval", param("interval", "18:00-09:00")))
        );
        assert_eq!(
            code(bad(|h| h.closed_dates.push("Christmas".into()))),
            Some(("closed_date", param("date", "Christmas")))
        );
    }

    #[test]
    fn the_next_time_of_day_is_today_or_tomorrow() {
        let now = at("2026-12-07T02:00:00Z"); // 03:00 in Paris
        assert_eq!(next_time_of_day("09:00", "Europe/Paris", now), Some(at("2026-12-07T08:00:00Z")));
        assert_eq!(next_time_of_day("02:00", "Europe/Paris", now), Some(at("2026-12-08T01:00:00Z")));
        assert_eq!(next_time_of_day("9h", "Europe/Paris", now), None);
        // 02:30 does not exist in Paris on 2027-03-28: the next day's.
        let before_dst = at("2027-03-27T23:00:00Z");
        assert_eq!(next_time_of_day("02:30", "Europe/Paris", before_dst), Some(at("2027-03-29T00:30:00Z")));
    }

    #[test]
    fn schedules_fire_in_their_timezone() {
        assert!(cron("0 9 * * 1").is_ok());
        assert_eq!(cron("0 9 * *").map(|_| ()).map_err(|p| p.code), Err("schedule_fields"));
        assert_eq!(cron("61 9 * * 1").map(|_| ()).map_err(|p| p.code), Err("schedule_syntax"));
        // Mondays 09:00 in Paris: 2026-12-07 08:00 UTC.
        let monday = at("2026-12-07T08:00:00Z");
        assert_eq!(latest_fire("0 9 * * 1", "Europe/Paris", monday.plus_secs(-86_400), monday), Some(monday));
        assert_eq!(latest_fire("0 9 * * 1", "Europe/Paris", monday, monday.plus_secs(3600)), None, "after it");
        let daily = latest_fire("*/15 * * * *", "UTC", monday, monday.plus_secs(3600));
        assert_eq!(daily, Some(monday.plus_secs(3600)));
    }
}
