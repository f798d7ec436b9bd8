//! The rules of command bodies as JSON Schema, where a field's type alone
//! does not say them: text without NUL (PostgreSQL cannot store it), names
//! that are not blank (by Rust's `trim`, so whitespace is spelled out rather
//! than left to a regex dialect's `\s`), typed column settings and item
//! values. `schemas/` publishes them; the deciders enforce the same rules.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

/// Unicode `White_Space`, the characters `str::trim` removes, as a regex class body.
macro_rules! ws {
    () => {
        "\\t-\\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}"
    };
}

/// Any text without NUL.
pub const TEXT: &str = "^[^\u{0}]*$";
/// Text without NUL and not blank.
pub const NON_BLANK: &str = concat!("^[^\u{0}]*[^\u{0}", ws!(), "][^\u{0}]*$");
/// A media type such as `image/png`.
pub const CONTENT_TYPE: &str = concat!("^[^\u{0}/", ws!(), "]+/[^\u{0}", ws!(), "]+$");
/// An http(s) URL without whitespace, or nothing.
pub const AVATAR: &str = concat!("^(https?://[^\u{0}", ws!(), "]*)?$");
/// A webhook's URL: http(s), a host, no credentials, no fragment (where the
/// host resolves is for the server to judge).
pub const WEBHOOK_URL: &str = concat!("^[Hh][Tt][Tt][Pp][Ss]?://[^\u{0}/?#@", ws!(), "]+([/?][^\u{0}#", ws!(), "]*)?$");
/// A column key.
pub const KEY: &str = "^[a-z][a-zA-Z0-9_]{0,62}$";

/// The largest magnitude of a number in settings and item values (finite,
/// and well inside what a JSON parser reads as a double).
const MAX_NUMBER: f64 = 1e15;

fn labels() -> Value {
    json!({"type": "array", "minItems": 1, "maxItems": 100, "uniqueItems": true,
        "items": {"type": "string", "maxLength": 100, "pattern": NON_BLANK}})
}

/// A value in column settings other than `labels`: scalars and lists of them.
fn setting_value() -> Value {
    let scalar = json!([{"type": "boolean"}, {"type": "null"}, {"type": "number", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER},
        {"type": "string", "maxLength": 1000, "pattern": TEXT}]);
    let mut any = scalar.as_array().cloned().unwrap_or_default();
    any.push(json!({"type": "array", "maxItems": 100, "items": {"anyOf": scalar}}));
    json!({"anyOf": any})
}

/// `settings` of a column: `labels` for a status column, anything small otherwise.
pub fn settings(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {"labels": labels()},
        "propertyNames": {"pattern": TEXT, "maxLength": 100},
        "additionalProperties": setting_value(),
        "maxProperties": 20
    })
}

/// A status column needs `settings.labels`; other types take any settings.
pub fn status_needs_labels(schema: &mut Schema) {
    let others: Vec<&str> = vec!["text", "number", "date", "people", "tags", "checkbox"];
    schema.insert(
        "anyOf".into(),
        json!([
            {"properties": {"type": {"const": "status"}, "settings": {"required": ["labels"]}}, "required": ["settings"]},
            {"properties": {"type": {"enum": others}}}
        ]),
    );
}

/// `itemData`: column keys to values of a column type (`null` clears one).
/// Which keys and types a board takes is the board's own: a key it has no
/// column for is 422, a value of the wrong type for its column 400.
pub fn item_data(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "propertyNames": {"pattern": KEY},
        "maxProperties": 200,
        "additionalProperties": {"anyOf": [
            {"type": "null"}, {"type": "boolean"},
            {"type": "number", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER},
            {"type": "string", "maxLength": 10_000, "pattern": TEXT},
            {"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 100, "pattern": NON_BLANK}}
        ]}
    })
}

/// `eventTypes` of a webhook: types of events a webhook can receive (every
/// type but the webhooks' own), from the events' own schema.
pub fn webhook_event_types(_: &mut SchemaGenerator) -> Schema {
    let events = schemars::schema_for!(sunday_domain::DomainEvent).to_value();
    let types: Vec<&str> = events["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|variant| variant["properties"]["type"]["const"].as_str())
        .filter(|t| !t.starts_with("Webhook"))
        .collect();
    json_schema!({"type": "array", "maxItems": 64, "items": {"type": "string", "enum": types}})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `check_len` calls blank.
    fn blank(s: &str) -> bool {
        s.trim().is_empty()
    }

    #[test]
    fn the_whitespace_class_is_what_trim_removes() {
        let class: Vec<char> = (0..=0x10FFFF_u32).filter_map(char::from_u32).filter(|c| c.is_whitespace()).collect();
        for c in class {
            assert!(blank(&c.to_string()));
            let listed = matches!(c, '\t'..='\r' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}');
            assert!(listed, "{:?} is whitespace to Rust but not in the class", c);
        }
        assert!(NON_BLANK.contains('\u{3000}') && !NON_BLANK.contains('\u{feff}'));
    }

    #[test]
    fn webhooks_may_name_every_event_type_but_their_own() {
        let schema = webhook_event_types(&mut SchemaGenerator::default()).to_value();
        let types: Vec<&str> = schema["items"]["enum"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        assert!(types.contains(&"ItemCreated") && types.contains(&"UserProfileUpdated"), "{types:?}");
        assert!(!types.iter().any(|t| t.starts_with("Webhook")));
        assert!(types.iter().all(|t| sunday_domain::events::is_known_type(t)));
    }
}
