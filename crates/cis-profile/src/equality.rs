//! JSON equality the way Python compares parsed JSON: object key order is irrelevant, and numbers
//! compare by value across int/float/bool (`1 == 1.0 == True`, `0 == False`).
//!
//! Publisher rules and merge decide "changed or not" with this, like the Python CIS does.

use serde_json::{Map, Number, Value};

/// Python `==` on two parsed JSON values.
pub fn python_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::Bool(x), Value::Number(n)) | (Value::Number(n), Value::Bool(x)) => {
            number_eq(n, &Number::from(u8::from(*x)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| python_eq(l, r))
        }
        (Value::Object(x), Value::Object(y)) => python_eq_map(x, y),
        _ => false,
    }
}

/// Python `==` on two JSON objects.
pub fn python_eq_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Documents compared here almost always share key order: walk both in step and fall back to
    // lookups (hashing every key) only from the first position where the keys differ.
    let mut rest = a
        .iter()
        .zip(b.iter())
        .skip_while(|((ka, va), (kb, vb))| ka == kb && python_eq(va, vb));
    match rest.next() {
        None => true,
        Some(((ka, _), (kb, _))) if ka == kb => false,
        Some(_) => a
            .iter()
            .all(|(k, v)| b.get(k).is_some_and(|other| python_eq(v, other))),
    }
}

/// Python equality of two optional members (absent == absent only).
pub fn python_eq_opt(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => python_eq(x, y),
        _ => false,
    }
}

fn number_eq(x: &Number, y: &Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compares_like_python() {
        assert!(python_eq(
            &json!({"a": 1, "b": [1, 2]}),
            &json!({"b": [1, 2.0], "a": 1.0})
        ));
        assert!(python_eq(&json!(true), &json!(1)));
        assert!(python_eq(&json!(0), &json!(false)));
        assert!(!python_eq(&json!("1"), &json!(1)));
        assert!(!python_eq(&json!({"a": null}), &json!({})));
        assert!(!python_eq(&json!([1, 2]), &json!([2, 1])));
        assert!(!python_eq(&json!(null), &json!(false)));
    }
}
