//! Walking a profile document: the top-level attributes and the children of the three groups.
//!
//! An attribute is an object with a `signature` key; a group (`identities`, `access_information`,
//! `staff_information`) is an object without one whose members are attributes. Paths are
//! `name` or `group.child` — the only nesting depth the profile has.

use serde_json::{Map, Value};

/// The three attribute groups, in null-profile order.
pub const GROUPS: [&str; 3] = ["identities", "access_information", "staff_information"];

/// True when `value` is an attribute object (it carries a `signature`).
pub fn is_attribute(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.contains_key("signature"))
}

/// Every attribute of the profile with its full path, in document order
/// (`user_id`, …, `staff_information.title`, …). `schema` and any non-object are skipped.
pub fn attributes(profile: &Value) -> Vec<(String, &Map<String, Value>)> {
    let mut out = Vec::with_capacity(64);
    let Some(root) = profile.as_object() else {
        return out;
    };
    for (name, item) in root {
        let Some(obj) = item.as_object() else {
            continue;
        };
        if obj.contains_key("signature") {
            out.push((name.clone(), obj));
        } else {
            for (child, child_item) in obj {
                if let Some(child_obj) = child_item.as_object()
                    && child_obj.contains_key("signature")
                {
                    out.push((format!("{name}.{child}"), child_obj));
                }
            }
        }
    }
    out
}

/// Mutable access to every attribute with its full path, in document order.
pub fn attributes_mut(profile: &mut Value) -> Vec<(String, &mut Map<String, Value>)> {
    let mut out = Vec::with_capacity(64);
    let Some(root) = profile.as_object_mut() else {
        return out;
    };
    for (name, item) in root.iter_mut() {
        let Some(obj) = item.as_object_mut() else {
            continue;
        };
        if obj.contains_key("signature") {
            out.push((name.clone(), obj));
        } else {
            for (child, child_item) in obj.iter_mut() {
                if let Some(child_obj) = child_item.as_object_mut()
                    && child_obj.contains_key("signature")
                {
                    out.push((format!("{name}.{child}"), child_obj));
                }
            }
        }
    }
    out
}

/// The attribute at `name` or `group.child`.
pub fn attribute<'a>(profile: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
    let found = match path.split_once('.') {
        Some((group, child)) => profile.get(group)?.get(child)?,
        None => profile.get(path)?,
    };
    found.as_object().filter(|m| m.contains_key("signature"))
}

/// Mutable attribute at `name` or `group.child`.
pub fn attribute_mut<'a>(profile: &'a mut Value, path: &str) -> Option<&'a mut Map<String, Value>> {
    let found = match path.split_once('.') {
        Some((group, child)) => profile.get_mut(group)?.get_mut(child)?,
        None => profile.get_mut(path)?,
    };
    found
        .as_object_mut()
        .filter(|m| m.contains_key("signature"))
}

/// The "value set" predicate of the Python CIS (strict mode): `value`/`values` present and not
/// null. `false`, `""`, `{}` and `[]` count as set. `None` when the object has neither key.
pub fn value_is_set(attribute: &Map<String, Value>) -> Option<bool> {
    if let Some(v) = attribute.get("value") {
        Some(!v.is_null())
    } else {
        attribute.get("values").map(|v| !v.is_null())
    }
}

/// The publisher name claimed by `signature.publisher.name`.
pub fn publisher_name(attribute: &Map<String, Value>) -> Option<&str> {
    attribute
        .get("signature")?
        .get("publisher")?
        .get("name")?
        .as_str()
}

/// The compact JWS in `signature.publisher.value` (empty string = unsigned).
pub fn signature_value(attribute: &Map<String, Value>) -> Option<&str> {
    attribute
        .get("signature")?
        .get("publisher")?
        .get("value")?
        .as_str()
}

/// Member lookup tuned for the profile's tiny objects (attribute: 3 keys, metadata: 5): a linear
/// scan beats hashing the key. Larger objects use the map's index.
pub(crate) fn small_get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= 8 {
        map.iter().find_map(|(k, v)| (k == key).then_some(v))
    } else {
        map.get(key)
    }
}
