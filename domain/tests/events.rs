//! Stored events round-trip, old schema versions are upcast, and unknown or
//! future ones are refused.

use serde_json::json;
use sunday_domain::events::*;
use uuid::Uuid;

#[test]
fn events_round_trip_through_their_stored_parts() {
    let e = DomainEvent::BoardMemberRemoved(MemberRemoved { scope_id: Uuid::from_u128(1), user_id: Uuid::from_u128(2) });
    let data = e.payload();
    assert_eq!(data["boardId"], json!(Uuid::from_u128(1)));
    let back = DomainEvent::decode(e.event_type(), e.schema_version(), data).expect("decodes");
    assert_eq!(back, e);
}

#[test]
fn item_created_v1_is_upcast() {
    let v1 = json!({
        "itemId": Uuid::from_u128(1), "boardId": Uuid::from_u128(2), "groupId": Uuid::from_u128(3),
        "name": "Old", "columnValues": {"status": "Done"}, "rank": "V!x"
    });
    let e = DomainEvent::decode("ItemCreated", 1, v1).expect("upcasts");
    let DomainEvent::ItemCreated(c) = e else { panic!("wrong variant") };
    assert_eq!(c.item_data.get("status"), Some(&json!("Done")));
    assert_eq!(c.description, None);
}

#[test]
fn unknown_and_future_events_are_refused() {
    assert!(matches!(DomainEvent::decode("Nope", 1, json!({})), Err(DecodeError::UnknownType(_))));
    assert!(matches!(DomainEvent::decode("ItemDeleted", 9, json!({})), Err(DecodeError::TooNew { .. })));
}
