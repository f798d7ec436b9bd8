//! Typed board columns: keys, settings, the defaults of a new board, and the
//! validation of item values against a column's type.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::Violations;
use crate::text::check_len;

/// The longest text value a `text` column takes.
pub const MAX_TEXT_LEN: usize = 10_000;
const MAX_LABELS: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_LABEL_LEN: usize = 100;

/// The kinds of value a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Text,
    Status,
    Number,
    Date,
    People,
    Tags,
    Checkbox,
}

impl ColumnType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(Self::Text),
            "status" => Some(Self::Status),
            "number" => Some(Self::Number),
            "date" => Some(Self::Date),
            "people" => Some(Self::People),
            "tags" => Some(Self::Tags),
            "checkbox" => Some(Self::Checkbox),
            _ => None,
        }
    }
}

/// A column as events record it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    pub id: Uuid,
    pub key: String,
    pub title: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    pub settings: Map<String, Value>,
}

impl Column {
    /// The labels of a `status` column (empty for other types).
    pub fn labels(&self) -> Vec<&str> {
        self.settings.get("labels").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
    }
}

/// Whether `key` is a valid column key: `^[a-z][a-zA-Z0-9_]{0,62}$`.
pub fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    first_ok && key.len() <= 63 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A column as a command proposes it, before validation.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ColumnDraft {
    pub id: Option<String>,
    pub key: String,
    pub title: String,
    pub column_type: String,
    pub settings: Option<Map<String, Value>>,
}

/// Validates a proposed column; `prefix` names it in errors (e.g. `columns[2]`).
/// `fallback_id` is the id the server chose when the client named none.
pub fn parse_column(v: &mut Violations, prefix: &str, draft: &ColumnDraft, fallback_id: Uuid) -> Option<Column> {
    let id = match &draft.id {
        Some(raw) => crate::text::parse_uuid(v, &field(prefix, "id"), raw),
        None => Some(fallback_id),
    };
    if !is_valid_key(&draft.key) {
        v.push(field(prefix, "key"), "must match ^[a-z][a-zA-Z0-9_]{0,62}$");
    }
    check_len(v, &field(prefix, "title"), &draft.title, 1, 200);
    let column_type = ColumnType::parse(&draft.column_type);
    if column_type.is_none() {
        v.push(field(prefix, "type"), "must be one of text, status, number, date, people, tags, checkbox");
    }
    let settings = draft.settings.clone().unwrap_or_default();
    if let Some(t) = column_type {
        check_settings(v, prefix, t, &settings);
    }
    Some(Column { id: id?, key: draft.key.clone(), title: draft.title.clone(), column_type: column_type?, settings })
}

/// Checks a column's settings for its type: a `status` column needs a list of
/// distinct, non-blank labels.
pub fn check_settings(v: &mut Violations, prefix: &str, t: ColumnType, settings: &Map<String, Value>) {
    if t != ColumnType::Status {
        return;
    }
    let name = field(prefix, "settings.labels");
    let Some(labels) = settings.get("labels").and_then(Value::as_array) else {
        v.push(name, "a status column needs an array of labels");
        return;
    };
    if labels.is_empty() || labels.len() > MAX_LABELS {
        v.push(name.clone(), format!("must hold 1 to {MAX_LABELS} labels"));
    }
    let mut seen = HashSet::new();
    for label in labels {
        match label.as_str() {
            Some(s) if !s.trim().is_empty() && s.chars().count() <= MAX_LABEL_LEN => {
                if !seen.insert(s) {
                    v.push(name.clone(), format!("label {s:?} appears twice"));
                }
            }
            _ => v.push(name.clone(), format!("labels must be non-blank strings of at most {MAX_LABEL_LEN} characters")),
        }
    }
}

fn field(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

/// How many columns a board created without any gets.
pub const DEFAULT_COLUMNS: usize = 5;

/// The columns a board gets when it is created without any, with the ids the
/// caller hands in (`next_id`, so that deciding stays a pure function).
pub fn default_columns(next_id: &mut dyn FnMut() -> Uuid) -> Vec<Column> {
    let status = |labels: &[&str]| {
        let mut m = Map::new();
        m.insert("labels".into(), Value::from(labels.to_vec()));
        m
    };
    let specs = [
        ("status", "Status", ColumnType::Status, status(&["To Do", "In Progress", "Done"])),
        ("priority", "Priority", ColumnType::Status, status(&["Low", "Medium", "High"])),
        ("estimatedHours", "Estimated hours", ColumnType::Number, Map::new()),
        ("tags", "Tags", ColumnType::Tags, Map::new()),
        ("dueDate", "Due date", ColumnType::Date, Map::new()),
    ];
    specs
        .into_iter()
        .map(|(key, title, column_type, settings)| Column { id: next_id(), key: key.into(), title: title.into(), column_type, settings })
        .collect()
}

/// Whether a value has the JSON type its column holds (`null` aside): a
/// string for `text`, `status` and `date`, a number for `number`, an array of
/// strings for `people` and `tags`, a boolean for `checkbox`. Anything else is
/// a malformed request (400), not a broken rule (422).
pub fn has_column_type(column_type: ColumnType, value: &Value) -> bool {
    match column_type {
        ColumnType::Text | ColumnType::Status | ColumnType::Date => value.is_string(),
        ColumnType::Number => value.is_number(),
        ColumnType::People | ColumnType::Tags => value.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        ColumnType::Checkbox => value.is_boolean(),
    }
}

/// The `itemData` values of the wrong JSON type for their column (keys of no
/// column are left to `check_item_data`, which reports them as 422).
pub fn type_errors(columns: &[Column], data: &BTreeMap<String, Value>) -> Vec<crate::FieldError> {
    data.iter()
        .filter(|(_, value)| !value.is_null())
        .filter_map(|(key, value)| {
            let column = columns.iter().find(|c| &c.key == key)?;
            (!has_column_type(column.column_type, value))
                .then(|| crate::FieldError::new(format!("itemData.{key}"), type_message(column.column_type)))
        })
        .collect()
}

fn type_message(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Text | ColumnType::Status | ColumnType::Date => "must be a string",
        ColumnType::Number => "must be a number",
        ColumnType::People => "must be an array of user ids (strings)",
        ColumnType::Tags => "must be an array of strings",
        ColumnType::Checkbox => "must be true or false",
    }
}

/// Checks one item value against its column. `is_member` answers whether a user
/// id may appear in a `people` column.
pub fn check_value(v: &mut Violations, field: &str, column: &Column, value: &Value, is_member: &dyn Fn(Uuid) -> bool) {
    match column.column_type {
        ColumnType::Text => match value.as_str() {
            Some(s) if s.chars().count() <= MAX_TEXT_LEN => {}
            Some(_) => v.push(field, format!("must have at most {MAX_TEXT_LEN} characters")),
            None => v.push(field, "must be a string"),
        },
        ColumnType::Status => match value.as_str() {
            Some(s) if column.labels().contains(&s) => {}
            _ => v.push(field, format!("must be one of the column's labels: {:?}", column.labels())),
        },
        ColumnType::Number => {
            if !value.as_f64().is_some_and(f64::is_finite) {
                v.push(field, "must be a finite number");
            }
        }
        ColumnType::Date => {
            let ok = value.as_str().is_some_and(is_iso_date);
            if !ok {
                v.push(field, "must be a date written YYYY-MM-DD");
            }
        }
        ColumnType::People => check_people(v, field, value, is_member),
        ColumnType::Tags => check_tags(v, field, value),
        ColumnType::Checkbox => {
            if !value.is_boolean() {
                v.push(field, "must be true or false");
            }
        }
    }
}

fn is_iso_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn check_people(v: &mut Violations, field: &str, value: &Value, is_member: &dyn Fn(Uuid) -> bool) {
    let Some(ids) = value.as_array() else {
        v.push(field, "must be an array of user ids");
        return;
    };
    for id in ids {
        match id.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            Some(user) if is_member(user) => {}
            Some(user) => v.push(field, format!("user {user} is not a member of the board")),
            None => v.push(field, "must hold user ids (UUID strings)"),
        }
    }
}

fn check_tags(v: &mut Violations, field: &str, value: &Value) {
    let Some(tags) = value.as_array() else {
        v.push(field, "must be an array of strings");
        return;
    };
    if tags.len() > MAX_TAGS {
        v.push(field, format!("must hold at most {MAX_TAGS} tags"));
    }
    let ok = tags.iter().all(|t| t.as_str().is_some_and(|s| !s.trim().is_empty() && s.chars().count() <= MAX_LABEL_LEN));
    if !ok {
        v.push(field, format!("tags must be non-blank strings of at most {MAX_LABEL_LEN} characters"));
    }
}

/// Validates an `itemData` object against a board's columns. A `null` value
/// clears the key (in a create, the key is simply absent).
pub fn check_item_data(v: &mut Violations, columns: &[Column], data: &BTreeMap<String, Value>, is_member: &dyn Fn(Uuid) -> bool) {
    for (key, value) in data {
        let field = format!("itemData.{key}");
        let Some(column) = columns.iter().find(|c| &c.key == key) else {
            v.push(field, "no column of the board has this key");
            continue;
        };
        if value.is_null() {
            continue;
        }
        check_value(v, &field, column, value, is_member);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn column(t: ColumnType, settings: Value) -> Column {
        let settings = settings.as_object().cloned().unwrap_or_default();
        Column { id: Uuid::nil(), key: "k".into(), title: "K".into(), column_type: t, settings }
    }

    fn errors(col: &Column, value: Value) -> usize {
        let mut v = Violations::default();
        check_value(&mut v, "itemData.k", col, &value, &|u| u == Uuid::from_u128(1));
        match v.finish() {
            Ok(()) => 0,
            Err(crate::DomainError::Invalid(e)) => e.len(),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn keys_follow_the_pattern() {
        assert!(is_valid_key("status"));
        assert!(is_valid_key("estimatedHours_2"));
        assert!(!is_valid_key("Status"));
        assert!(!is_valid_key("2x"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("a-b"));
        assert!(is_valid_key(&format!("a{}", "b".repeat(62))));
        assert!(!is_valid_key(&format!("a{}", "b".repeat(63))));
    }

    #[test]
    fn text_values() {
        let c = column(ColumnType::Text, json!({}));
        assert_eq!(errors(&c, json!("hello")), 0);
        assert_eq!(errors(&c, json!(3)), 1);
        assert_eq!(errors(&c, json!("x".repeat(MAX_TEXT_LEN + 1))), 1);
    }

    #[test]
    fn status_values_must_be_labels() {
        let c = column(ColumnType::Status, json!({"labels": ["To Do", "Done"]}));
        assert_eq!(errors(&c, json!("Done")), 0);
        assert_eq!(errors(&c, json!("Doing")), 1);
        assert_eq!(errors(&c, json!(true)), 1);
    }

    #[test]
    fn number_date_checkbox_values() {
        let n = column(ColumnType::Number, json!({}));
        assert_eq!(errors(&n, json!(2.5)), 0);
        assert_eq!(errors(&n, json!("2.5")), 1);
        let d = column(ColumnType::Date, json!({}));
        assert_eq!(errors(&d, json!("2026-02-28")), 0);
        assert_eq!(errors(&d, json!("2026-02-30")), 1);
        assert_eq!(errors(&d, json!("2026-2-3")), 1);
        let b = column(ColumnType::Checkbox, json!({}));
        assert_eq!(errors(&b, json!(false)), 0);
        assert_eq!(errors(&b, json!("false")), 1);
    }

    #[test]
    fn people_must_be_board_members() {
        let p = column(ColumnType::People, json!({}));
        assert_eq!(errors(&p, json!([Uuid::from_u128(1).to_string()])), 0);
        assert_eq!(errors(&p, json!([Uuid::from_u128(2).to_string()])), 1);
        assert_eq!(errors(&p, json!(["nope"])), 1);
        assert_eq!(errors(&p, json!("x")), 1);
    }

    #[test]
    fn a_value_of_the_wrong_json_type_is_a_type_error_not_a_rule() {
        let cols = [
            Column { key: "t".into(), ..column(ColumnType::Text, json!({})) },
            Column { key: "n".into(), ..column(ColumnType::Number, json!({})) },
            Column { key: "p".into(), ..column(ColumnType::People, json!({})) },
            Column { key: "g".into(), ..column(ColumnType::Tags, json!({})) },
            Column { key: "c".into(), ..column(ColumnType::Checkbox, json!({})) },
        ];
        let data = |v: Value| v.as_object().map(|m| m.clone().into_iter().collect()).unwrap_or_default();
        let fields = |v: Value| type_errors(&cols, &data(v)).into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(json!({"t": 1, "n": "1", "p": "x", "g": [1], "c": "true"})).len(), 5);
        assert!(fields(json!({"t": "a", "n": 1.5, "p": ["not-a-uuid"], "g": [" "], "c": false, "unknown": 1, "t2": null})).is_empty());
    }

    #[test]
    fn tags_are_non_blank_strings() {
        let t = column(ColumnType::Tags, json!({}));
        assert_eq!(errors(&t, json!(["a", "b"])), 0);
        assert_eq!(errors(&t, json!(["a", " "])), 1);
        assert_eq!(errors(&t, json!([1])), 1);
    }

    #[test]
    fn status_columns_need_distinct_labels() {
        let mut v = Violations::default();
        let map = json!({"labels": ["A", "A"]}).as_object().cloned().unwrap_or_default();
        check_settings(&mut v, "", ColumnType::Status, &map);
        assert!(!v.is_empty());
        let mut v = Violations::default();
        check_settings(&mut v, "", ColumnType::Status, &Map::new());
        assert!(!v.is_empty());
    }

    #[test]
    fn defaults_are_the_documented_five() {
        let mut n = 0;
        let cols = default_columns(&mut || {
            n += 1;
            Uuid::from_u128(n)
        });
        assert_eq!(cols.iter().map(|c| c.id.as_u128()).collect::<Vec<_>>(), [1, 2, 3, 4, 5], "ids come from the caller");
        let keys: Vec<_> = cols.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["status", "priority", "estimatedHours", "tags", "dueDate"]);
        assert_eq!(cols[0].labels(), ["To Do", "In Progress", "Done"]);
        assert_eq!(cols[1].labels(), ["Low", "Medium", "High"]);
    }
}
