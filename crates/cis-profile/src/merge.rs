//! Merging a publisher's profile into the stored one (profile-and-crypto §7.2).

use serde_json::{Map, Value};

use crate::attributes::small_get;
use crate::equality::python_eq_opt;

/// Merge `patch` into `stored` and return the FULL paths of the attributes that changed
/// (`staff_information.title`, not `title`), in the patch's document order (top-level attributes and
/// groups as they appear; children in their group's order).
///
/// Like the Python CIS: a patch attribute whose `value`/`values` is null never overwrites (merge
/// cannot delete); an attribute is replaced wholesale (signature included) when it differs in
/// `value`, `values`, `metadata.display` or `metadata.verified`; differences only in signature,
/// classification or timestamps keep the stored attribute. `schema` and keys starting with `_` are
/// not merged. No publisher or signature checks happen here.
pub fn merge(stored: &mut Value, patch: &Value) -> Vec<String> {
    let mut changed = Vec::new();
    let (Some(target), Some(source)) = (stored.as_object_mut(), patch.as_object()) else {
        return changed;
    };
    for (name, item) in source {
        if name.starts_with('_') {
            continue;
        }
        let Some(obj) = item.as_object() else {
            continue;
        };
        if obj.contains_key("signature") {
            if merge_attribute(target, name, obj) {
                changed.push(name.clone());
            }
            continue;
        }
        let group = target
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(group) = group.as_object_mut() else {
            continue;
        };
        for (child, child_item) in obj {
            if child.starts_with('_') {
                continue;
            }
            let Some(child_obj) = child_item.as_object() else {
                continue;
            };
            if child_obj.contains_key("signature") && merge_attribute(group, child, child_obj) {
                changed.push(format!("{name}.{child}"));
            }
        }
    }
    changed
}

fn merge_attribute(
    target: &mut Map<String, Value>,
    name: &str,
    patch: &Map<String, Value>,
) -> bool {
    let patch_has_value = ["value", "values"]
        .iter()
        .any(|k| patch.get(*k).is_some_and(|v| !v.is_null()));
    if !patch_has_value {
        return false;
    }
    let differs = match target.get(name).and_then(Value::as_object) {
        None => true,
        Some(current) => !same_for_merge(current, patch),
    };
    if differs {
        target.insert(name.to_string(), Value::Object(patch.clone()));
    }
    differs
}

fn same_for_merge(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    python_eq_opt(small_get(a, "value"), small_get(b, "value"))
        && python_eq_opt(small_get(a, "values"), small_get(b, "values"))
        && python_eq_opt(metadata_field(a, "display"), metadata_field(b, "display"))
        && python_eq_opt(metadata_field(a, "verified"), metadata_field(b, "verified"))
}

fn metadata_field<'a>(attr: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    small_get(small_get(attr, "metadata")?.as_object()?, field)
}
