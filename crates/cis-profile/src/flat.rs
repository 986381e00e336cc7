//! The DynamoDB `flat_profile` (profile-and-crypto §7.5, change-api-and-vault §7.4): each
//! attribute collapsed to its bare value, empty strings dropped, then DynamoDB typed JSON per
//! top-level key (`{"S":..}`, `{"NULL":true}`, `{"BOOL":..}`, `{"N":".."}`, `{"M":{..}}`, `{"L":[..]}`).

use serde_json::{Map, Value, json};

use crate::error::ProfileError;

/// The flat profile as DynamoDB typed JSON, one entry per top-level key of the profile.
///
/// Quirk kept from the Python CIS: an attribute whose value is `""` loses its `value` and stays as
/// its `{signature, metadata}` map. Floats are refused (DynamoDB wants decimals; Python failed too).
pub fn flat_profile(profile: &Value) -> Result<Map<String, Value>, ProfileError> {
    let root = profile.as_object().ok_or(ProfileError::NotAnObject)?;
    let mut out = Map::with_capacity(root.len());
    for (key, value) in root {
        if is_empty_string(value) || key.is_empty() {
            continue;
        }
        let flat = sanitize(value);
        out.insert(key.clone(), to_dynamo(&flat, key)?);
    }
    Ok(out)
}

/// The flat profile before DynamoDB typing (what `by_attribute_contains` searches in).
pub fn sanitized_profile(profile: &Value) -> Value {
    sanitize(profile)
}

fn is_empty_string(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.is_empty())
}

fn sanitize(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| !is_empty_string(v))
                .map(sanitize)
                .collect(),
        ),
        Value::Object(map) => {
            let mut clean = Map::with_capacity(map.len());
            for (k, v) in map {
                if k.is_empty() || is_empty_string(v) {
                    continue;
                }
                clean.insert(k.clone(), sanitize(v));
            }
            match (clean.contains_key("value"), clean.contains_key("values")) {
                (true, false) => clean.shift_remove("value").unwrap_or(Value::Null),
                (false, true) => clean.shift_remove("values").unwrap_or(Value::Null),
                _ => Value::Object(clean),
            }
        }
        other => other.clone(),
    }
}

fn to_dynamo(value: &Value, path: &str) -> Result<Value, ProfileError> {
    Ok(match value {
        Value::Null => json!({"NULL": true}),
        Value::Bool(b) => json!({"BOOL": b}),
        Value::Number(n) => {
            if n.is_f64() {
                return Err(ProfileError::FloatInFlatProfile {
                    path: path.to_string(),
                });
            }
            json!({"N": n.to_string()})
        }
        Value::String(s) => json!({"S": s}),
        Value::Array(items) => {
            let typed = items
                .iter()
                .enumerate()
                .map(|(i, v)| to_dynamo(v, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            json!({"L": typed})
        }
        Value::Object(map) => {
            let mut typed = Map::with_capacity(map.len());
            for (k, v) in map {
                typed.insert(k.clone(), to_dynamo(v, &format!("{path}.{k}"))?);
            }
            json!({"M": typed})
        }
    })
}
