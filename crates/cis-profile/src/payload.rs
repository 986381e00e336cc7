//! The exact bytes a publisher signs for an attribute (DECISIONS A3, profile-and-crypto §3.1).
//!
//! Python's `json.dumps(obj, separators=(",", ":"))` with `ensure_ascii=True`: compact, document key
//! order, every non-printable or non-ASCII character escaped as lowercase `\uXXXX` (UTF-16 surrogate
//! pairs above the BMP). Signatures made by the Python CIS verify only if these bytes match exactly.

use serde_json::{Map, Value};

/// The signing payload of an attribute object: the attribute minus its `signature` key.
pub fn attribute_payload(attribute: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    let mut first = true;
    for (key, value) in attribute {
        if key == "signature" {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_string(&mut out, key);
        out.push(b':');
        write_value(&mut out, value);
    }
    out.push(b'}');
    out
}

/// Python-compatible compact serialization of any JSON value.
pub fn python_compact_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Integers as decimal; floats as Python's `repr` (shortest round-trip, `1.0`, `1e+16`, `1e-05`).
fn write_number(out: &mut Vec<u8>, n: &serde_json::Number) {
    if n.is_i64() || n.is_u64() {
        out.extend_from_slice(n.to_string().as_bytes());
        return;
    }
    let Some(f) = n.as_f64() else {
        out.extend_from_slice(n.to_string().as_bytes());
        return;
    };
    out.extend_from_slice(python_float_repr(f).as_bytes());
}

fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Python's repr.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exponent) {
        // Positional notation, always with a fractional part.
        let point = exponent + 1;
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if (point as usize) >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            let (int_part, frac_part) = digits.split_at(point as usize);
            format!("{int_part}.{frac_part}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(ch as u8),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.extend_from_slice(b"\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[((*unit >> shift) & 0xf) as usize]);
                    }
                }
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_like_python_ensure_ascii() {
        let v = json!("Zo\u{eb} \u{1F600} / \\ \" \n \u{7f} \u{2028}");
        assert_eq!(
            String::from_utf8(python_compact_json(&v)).unwrap(),
            r#""Zo\u00eb \ud83d\ude00 / \\ \" \n \u007f \u2028""#
        );
    }

    #[test]
    fn floats_like_python_repr() {
        for (f, expected) in [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789012345.6, "123456789012345.6"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(python_float_repr(f), expected, "{f}");
        }
    }

    #[test]
    fn drops_signature_and_keeps_order() {
        let attr = json!({"signature": {"x": 1}, "metadata": {"b": 1, "a": 2}, "value": "test"});
        let map = attr.as_object().unwrap();
        assert_eq!(
            attribute_payload(map),
            br#"{"metadata":{"b":1,"a":2},"value":"test"}"#.to_vec()
        );
    }
}
