//! Item ranks: strings whose byte order is the display order.
//!
//! A rank is a fractional key in base 62 (`0-9A-Za-z`, already in ASCII order)
//! followed by `!` and the item id. The key places the item between its
//! neighbours; the id suffix keeps ranks unique on a board even when two
//! concurrent commands pick the same key, and `!` sorts below every digit so a key
//! that is a prefix of another still sorts first.

use uuid::Uuid;

const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE: usize = DIGITS.len();
const SEPARATOR: char = '!';

fn digit_value(c: u8) -> usize {
    DIGITS.iter().position(|&d| d == c).unwrap_or(0)
}

/// The fractional key of a rank (the part before the id suffix).
pub fn key_of(rank: &str) -> &str {
    rank.split(SEPARATOR).next().unwrap_or(rank)
}

/// A rank for `item` with the given key.
pub fn with_id(key: &str, item: Uuid) -> String {
    format!("{key}{SEPARATOR}{}", item.simple())
}

/// A key strictly between `lo` and `hi` (`None` means the start or the end).
/// Both are keys made by this function (never ending in `0`); when `lo >= hi`
/// (two items that raced to the same key) the result goes just after `lo`.
pub fn key_between(lo: Option<&str>, hi: Option<&str>) -> String {
    let lo = lo.unwrap_or("");
    match hi {
        Some(hi) if lo < hi => midpoint(lo.as_bytes(), Some(hi.as_bytes())),
        _ => midpoint(lo.as_bytes(), None),
    }
}

/// The midpoint of two base-62 fractions `0.lo` and `0.hi` (`None`: 1).
fn midpoint(lo: &[u8], hi: Option<&[u8]>) -> String {
    if let Some(hi) = hi {
        let common = (0..hi.len()).take_while(|&i| lo.get(i).copied().unwrap_or(b'0') == hi[i]).count();
        if common > 0 {
            let rest_lo = lo.get(common..).unwrap_or(&[]);
            let head = String::from_utf8_lossy(&hi[..common]).into_owned();
            return head + &midpoint(rest_lo, Some(&hi[common..]));
        }
    }
    let a = lo.first().map_or(0, |&c| digit_value(c));
    let b = hi.and_then(|h| h.first()).map_or(BASE, |&c| digit_value(c));
    if b - a > 1 {
        return char::from(DIGITS[(a + b) / 2]).to_string();
    }
    match hi {
        Some(h) if h.len() > 1 => char::from(h[0]).to_string(),
        _ => char::from(DIGITS[a]).to_string() + &midpoint(lo.get(1..).unwrap_or(&[]), None),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn first_key_is_in_the_middle() {
        assert_eq!(key_between(None, None), "V");
    }

    #[test]
    fn keys_go_between_neighbours() {
        let a = key_between(None, None);
        let b = key_between(Some(&a), None);
        let c = key_between(Some(&a), Some(&b));
        let z = key_between(None, Some(&a));
        assert!(z < a && a < c && c < b, "{z} {a} {c} {b}");
    }

    #[test]
    fn the_id_suffix_sorts_below_any_longer_key() {
        let short = with_id("V", Uuid::max());
        let long = with_id("V0V", Uuid::nil());
        assert!(short < long);
        assert_eq!(key_of(&long), "V0V");
    }

    #[test]
    fn equal_neighbours_fall_back_to_after() {
        let k = key_between(Some("V"), Some("V"));
        assert!(k.as_str() > "V");
    }

    proptest! {
        /// Inserting at random places always yields a key strictly between the
        /// neighbours, never ending in 0, so the next insert still has room.
        #[test]
        fn repeated_inserts_keep_order(choices in proptest::collection::vec(0usize..1000, 1..200)) {
            let mut keys: Vec<String> = Vec::new();
            for c in choices {
                let at = if keys.is_empty() { 0 } else { c % (keys.len() + 1) };
                let lo = at.checked_sub(1).map(|i| keys[i].as_str());
                let hi = keys.get(at).map(String::as_str);
                let k = key_between(lo, hi);
                prop_assert!(!k.ends_with('0'));
                if let Some(lo) = lo { prop_assert!(lo < k.as_str()); }
                if let Some(hi) = hi { prop_assert!(k.as_str() < hi); }
                keys.insert(at, k);
            }
        }
    }
}
