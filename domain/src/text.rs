//! Parsing of the plain values commands carry: names, ids, lengths.

use uuid::Uuid;

use crate::error::Violations;

/// Checks that a trimmed string has between `min` and `max` characters.
pub fn check_len(v: &mut Violations, field: &str, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if value.trim().chars().count() < min {
        v.push(field, format!("must have at least {min} non-blank character(s)"));
    } else if n > max {
        v.push(field, format!("must have at most {max} characters"));
    }
}

/// Parses a UUID given as a string, recording a violation when it is not one.
pub fn parse_uuid(v: &mut Violations, field: &str, value: &str) -> Option<Uuid> {
    match Uuid::parse_str(value) {
        Ok(id) => Some(id),
        Err(_) => {
            v.push(field, "must be a UUID");
            None
        }
    }
}
