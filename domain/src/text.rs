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

/// The JSON path (`itemData.notes`, `columns[0].title`) of the first string,
/// or object key, that holds U+0000, which PostgreSQL cannot store in text or
/// jsonb. `prefix` is the path of `value` itself ("" for a whole body).
pub fn nul_path(value: &serde_json::Value, prefix: &str) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(display_path(prefix)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_path(v, &format!("{prefix}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            if k.contains('\0') { Some(display_path(&path)) } else { nul_path(v, &path) }
        }),
        _ => None,
    }
}

fn display_path(path: &str) -> String {
    let clean = path.replace('\0', "\\u0000");
    if clean.is_empty() { "(body)".to_owned() } else { clean }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nul_characters_are_found_with_their_path() {
        assert_eq!(nul_path(&json!({"name": "ok", "itemData": {"notes": "a\0b"}}), ""), Some("itemData.notes".into()));
        assert_eq!(nul_path(&json!({"columns": [{"title": "x"}, {"title": "\0"}]}), ""), Some("columns[1].title".into()));
        assert_eq!(nul_path(&json!({"settings": {"k\0": 1}}), ""), Some("settings.k\\u0000".into()));
        assert_eq!(nul_path(&json!("\0"), ""), Some("(body)".into()));
        assert_eq!(nul_path(&json!({"name": "plain \\u0000 text"}), ""), None, "an escaped backslash is not NUL");
        assert_eq!(nul_path(&json!([1, true, null]), ""), None);
    }
}
