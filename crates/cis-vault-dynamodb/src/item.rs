use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use cis_vault::{ProfileRecord, SequenceNumber, StoredProfile, VaultError, VaultResult};
use serde_json::{Map, Number, Value};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// A fresh sequence number as the Python change service made them: `str(uuid4().int)`.
pub fn new_sequence_number() -> SequenceNumber {
    SequenceNumber::new(uuid::Uuid::new_v4().as_u128().to_string())
}

/// The item of §7.3: `id`, `user_uuid`, `profile` (the JSON document as a string),
/// `primary_email`, `primary_username`, `sequence_number`, `active` (BOOL) and `flat_profile` (M).
pub fn record_to_item(
    record: &ProfileRecord,
    sequence_number: &SequenceNumber,
) -> VaultResult<Item> {
    record.validate()?;
    let profile = serde_json::to_string(&record.profile)
        .map_err(|e| VaultError::invalid("profile", e.to_string()))?;
    Ok(HashMap::from([
        ("id".to_owned(), s(&record.user_id)),
        ("user_uuid".to_owned(), s(&record.uuid)),
        ("profile".to_owned(), AttributeValue::S(profile)),
        ("primary_email".to_owned(), s(&record.primary_email)),
        ("primary_username".to_owned(), s(&record.primary_username)),
        ("sequence_number".to_owned(), s(sequence_number.as_str())),
        ("active".to_owned(), AttributeValue::Bool(record.active)),
        (
            "flat_profile".to_owned(),
            map_to_attribute_value(&record.flat_profile),
        ),
    ]))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// JSON to DynamoDB's typed form, as boto3's `TypeSerializer` does for the profile's types.
/// Unlike boto3, a float is stored as `N` rather than failing the write (§7.4 "Floats fail").
pub fn json_to_attribute_value(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(text) => AttributeValue::S(text.clone()),
        Value::Array(items) => {
            AttributeValue::L(items.iter().map(json_to_attribute_value).collect())
        }
        Value::Object(map) => map_to_attribute_value(map),
    }
}

fn map_to_attribute_value(map: &Map<String, Value>) -> AttributeValue {
    AttributeValue::M(
        map.iter()
            .map(|(k, v)| (k.clone(), json_to_attribute_value(v)))
            .collect(),
    )
}

/// DynamoDB's typed form back to JSON. Sets become arrays; binary values, which CIS never
/// writes, become `None`.
pub fn attribute_value_to_json(value: &AttributeValue) -> Option<Value> {
    Some(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => number(n)?,
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => {
            Value::Array(items.iter().map(|n| number(n)).collect::<Option<_>>()?)
        }
        AttributeValue::L(items) => Value::Array(
            items
                .iter()
                .map(attribute_value_to_json)
                .collect::<Option<_>>()?,
        ),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Some((k.clone(), attribute_value_to_json(v)?)))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

fn number(text: &str) -> Option<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Value::Number(u.into()));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

pub(crate) fn string_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Some(text),
        _ => None,
    }
}

/// `active` as stored; items written before the attribute existed fall back to the profile's
/// `active.value`, then to `false`.
fn active_of(item: &Item, profile: Option<&Value>) -> bool {
    match item.get("active") {
        Some(AttributeValue::Bool(b)) => *b,
        _ => profile
            .and_then(|p| p.get("active"))
            .and_then(|a| a.get("value"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

pub(crate) fn active_attr(item: &Item) -> bool {
    active_of(item, None)
}

/// A stored item back to the domain. Missing or mistyped attributes make the item `Corrupt`
/// (naming the user_id, never a value).
pub fn item_to_stored_profile(item: &Item) -> VaultResult<StoredProfile> {
    let user_id = string_attr(item, "id")
        .ok_or_else(|| VaultError::corrupt("<unknown>", "no string `id` attribute"))?
        .to_owned();
    let required = |name: &str| -> VaultResult<String> {
        string_attr(item, name)
            .map(str::to_owned)
            .ok_or_else(|| VaultError::corrupt(&user_id, format!("no string `{name}` attribute")))
    };
    let profile_text = required("profile")?;
    let profile: Value = serde_json::from_str(&profile_text)
        .map_err(|e| VaultError::corrupt(&user_id, format!("`profile` is not JSON: {e}")))?;
    Ok(StoredProfile {
        uuid: required("user_uuid")?,
        primary_email: required("primary_email")?,
        primary_username: required("primary_username")?,
        sequence_number: SequenceNumber::new(required("sequence_number")?),
        active: active_of(item, Some(&profile)),
        profile,
        user_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> ProfileRecord {
        let profile = json!({
            "user_id": {"value": "ad|Mozilla-LDAP|jdoe"},
            "uuid": {"value": "u-1"},
            "primary_email": {"value": "jdoe@example.com"},
            "primary_username": {"value": "r--abc"},
            "active": {"value": true},
            "first_name": {"value": "Jäne", "signature": {}}
        });
        let flat = json!({
            "first_name": "Jäne",
            "staff_information": {"staff": true},
            "access_information": {"ldap": {"vpn": null}},
            "phone_numbers": {},
            "tags": ["a", "b"],
            "n": 3
        });
        ProfileRecord::from_profile(profile, flat.as_object().unwrap().clone()).unwrap()
    }

    #[test]
    fn item_has_exactly_the_python_attributes() {
        let record = record();
        let sn = SequenceNumber::new("123");
        let item = record_to_item(&record, &sn).unwrap();
        let mut names: Vec<_> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "active",
                "flat_profile",
                "id",
                "primary_email",
                "primary_username",
                "profile",
                "sequence_number",
                "user_uuid"
            ]
        );
        assert_eq!(item["id"], AttributeValue::S("ad|Mozilla-LDAP|jdoe".into()));
        assert_eq!(item["user_uuid"], AttributeValue::S("u-1".into()));
        assert_eq!(item["active"], AttributeValue::Bool(true));
        assert_eq!(item["sequence_number"], AttributeValue::S("123".into()));
        let AttributeValue::S(text) = &item["profile"] else {
            panic!("profile is not S")
        };
        assert_eq!(serde_json::from_str::<Value>(text).unwrap(), record.profile);
        let AttributeValue::M(flat) = &item["flat_profile"] else {
            panic!("flat_profile is not M")
        };
        assert_eq!(flat["first_name"], AttributeValue::S("Jäne".into()));
        assert_eq!(
            flat["access_information"],
            AttributeValue::M(HashMap::from([(
                "ldap".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "vpn".to_owned(),
                    AttributeValue::Null(true)
                )]))
            )]))
        );
        assert_eq!(flat["n"], AttributeValue::N("3".into()));

        let stored = item_to_stored_profile(&item).unwrap();
        assert_eq!(stored.user_id, record.user_id);
        assert_eq!(stored.uuid, record.uuid);
        assert_eq!(stored.sequence_number, sn);
        assert!(stored.active);
        assert_eq!(stored.profile, record.profile);
        assert_eq!(
            attribute_value_to_json(&item["flat_profile"]).unwrap(),
            Value::Object(record.flat_profile)
        );
    }

    #[test]
    fn empty_index_keys_are_refused_before_dynamodb_sees_them() {
        let mut record = record();
        record.primary_username.clear();
        let err = record_to_item(&record, &SequenceNumber::new("1")).unwrap_err();
        assert!(
            matches!(
                err,
                VaultError::InvalidInput {
                    field: "primary_username",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn corrupt_items_name_the_user() {
        let mut item = record_to_item(&record(), &SequenceNumber::new("1")).unwrap();
        item.insert("profile".into(), AttributeValue::S("{not json".into()));
        let err = item_to_stored_profile(&item).unwrap_err();
        assert!(
            matches!(&err, VaultError::Corrupt { key, .. } if key == "ad|Mozilla-LDAP|jdoe"),
            "{err}"
        );
        item.remove("sequence_number");
        assert!(matches!(
            item_to_stored_profile(&item),
            Err(VaultError::Corrupt { .. })
        ));
    }

    #[test]
    fn legacy_items_without_active_read_it_from_the_profile() {
        let mut item = record_to_item(&record(), &SequenceNumber::new("1")).unwrap();
        item.remove("active");
        assert!(item_to_stored_profile(&item).unwrap().active);
    }

    #[test]
    fn sequence_numbers_are_uuid4_integers() {
        let a = new_sequence_number();
        let b = new_sequence_number();
        assert_ne!(a, b);
        assert!(a.as_str().parse::<u128>().is_ok());
    }

    #[test]
    fn numbers_round_trip() {
        for v in [json!(1), json!(-7), json!(u64::MAX), json!(1.5)] {
            assert_eq!(
                attribute_value_to_json(&json_to_attribute_value(&v)).unwrap(),
                v
            );
        }
    }
}
