//! Reading the event log in order. Ids come from one sequence, but on PostgreSQL transactions
//! commit out of order: a reader that moved past a missing id could miss an event committed a
//! moment later. Readers (the live stream, outgoing webhooks) stop before a hole until it fills
//! or has been waited for long enough (a rolled-back transaction leaves one that never fills).

/// How many of `ids` (ascending, all after `cursor`) may go out now: those before the first hole
/// in the sequence — past it too once that hole was `waited` for long enough, up to the next one.
/// Also says whether the stream now stops before a hole.
pub fn before_hole(cursor: i64, ids: &[i64], waited: bool) -> (usize, bool) {
    let mut expected = cursor + 1;
    let mut give_up = waited;
    for (i, id) in ids.iter().enumerate() {
        if *id != expected {
            if !give_up {
                return (i, true);
            }
            give_up = false;
        }
        expected = id + 1;
    }
    (ids.len(), false)
}

#[cfg(test)]
mod tests {
    use super::before_hole;

    #[test]
    fn a_stream_stops_before_a_hole_until_it_fills_or_is_given_up() {
        assert_eq!(before_hole(10, &[11, 12, 13], false), (3, false), "no hole");
        assert_eq!(before_hole(10, &[11, 13, 14], false), (1, true), "12 may still commit");
        assert_eq!(before_hole(10, &[12, 13], false), (0, true));
        assert_eq!(before_hole(10, &[11, 13, 14], true), (3, false), "12 was rolled back: go on");
        assert_eq!(before_hole(10, &[11, 13, 15], true), (2, true), "only the hole waited for is skipped");
        assert_eq!(before_hole(10, &[], false), (0, false));
    }
}
