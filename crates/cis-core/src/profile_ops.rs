//! Profile operations of the pipeline: the merge of an incoming profile into the stored one
//! (profile-and-crypto §7.2) and a new user's profile on top of the null profile.
//!
//! The merge has the semantics of `cis_profile::merge` but also hands back the attributes it
//! replaced, so the publisher rules can judge each change against its previous attribute without
//! keeping a copy of the whole stored profile.

use cis_profile::{null_profile, python_eq, value_is_set};
use serde_json::{Map, Value};

/// The parts of an attribute whose difference makes the merge take the incoming attribute
/// (§7.2): signatures, classification and timestamps alone never do.
fn differs(incoming: &Map<String, Value>, stored: &Map<String, Value>) -> bool {
    !(python_eq(member(incoming, "value"), member(stored, "value"))
        && python_eq(member(incoming, "values"), member(stored, "values"))
        && python_eq(metadata(incoming, "display"), metadata(stored, "display"))
        && python_eq(metadata(incoming, "verified"), metadata(stored, "verified")))
}

static NULL: Value = Value::Null;

fn member<'a>(attr: &'a Map<String, Value>, key: &str) -> &'a Value {
    attr.get(key).unwrap_or(&NULL)
}

fn metadata<'a>(attr: &'a Map<String, Value>, key: &str) -> &'a Value {
    attr.get("metadata")
        .and_then(|m| m.get(key))
        .unwrap_or(&NULL)
}

/// One attribute the merge took from the incoming profile.
#[derive(Debug)]
pub(crate) struct Taken {
    /// `name` or `group.child`.
    pub path: String,
    /// The stored attribute it replaced (`None` when the stored profile lacked it), kept for the
    /// publisher rules, which judge the change against it.
    pub previous: Option<Value>,
}

/// Merges `incoming` into `stored` the way the Python CIS does: every incoming attribute whose
/// `value`/`values` is not null and which differs from the stored one in value, values,
/// `metadata.display` or `metadata.verified` replaces the stored attribute wholesale (signature
/// included). Null incoming attributes never overwrite (a merge cannot delete). Returns what was
/// taken, in incoming document order.
///
/// `last_modified` is never taken (see the body). Unlike the Python merge, an attribute or group the stored profile lacks is added rather than
/// failing with a KeyError: the incoming profile has passed the schema, so it is a real
/// attribute, and the stored document is simply older.
pub(crate) fn merge(stored: &mut Value, incoming: &Value) -> Vec<Taken> {
    let mut taken = Vec::new();
    let (Some(root), Some(patch)) = (stored.as_object_mut(), incoming.as_object()) else {
        return taken;
    };
    for (name, item) in patch {
        let Some(obj) = item.as_object() else {
            continue;
        };
        // CIS overwrites `last_modified` on every write, so taking the publisher's copy could
        // only turn an identical re-post (a client retry) into a write; ignoring it keeps
        // re-posts no-ops (§5.11).
        if name == "last_modified" {
            continue;
        }
        if obj.contains_key("signature") {
            if let Some(previous) = take_attribute(root, name, obj) {
                taken.push(Taken {
                    path: name.clone(),
                    previous,
                });
            }
            continue;
        }
        let group = root
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !group.is_object() {
            *group = Value::Object(Map::new());
        }
        let Some(group) = group.as_object_mut() else {
            continue;
        };
        for (child, child_item) in obj {
            let Some(child_obj) = child_item.as_object() else {
                continue;
            };
            if !child_obj.contains_key("signature") {
                continue;
            }
            if let Some(previous) = take_attribute(group, child, child_obj) {
                taken.push(Taken {
                    path: format!("{name}.{child}"),
                    previous,
                });
            }
        }
    }
    taken
}

/// `Some(previous)` when the incoming attribute replaced the stored one.
fn take_attribute(
    target: &mut Map<String, Value>,
    name: &str,
    incoming: &Map<String, Value>,
) -> Option<Option<Value>> {
    if value_is_set(incoming) != Some(true) {
        return None;
    }
    let take = match target.get(name).and_then(Value::as_object) {
        Some(stored) => differs(incoming, stored),
        None => true,
    };
    take.then(|| target.insert(name.to_owned(), Value::Object(incoming.clone())))
}

/// A new user's profile: the null profile with every attribute of `incoming` put in place as
/// sent (null ones too, so a publisher's metadata on still-empty attributes is kept, as the
/// Python CIS stored the body as is). Keys the incoming profile lacks come from the null
/// profile, so a stored profile is always complete. Returns the profile and the paths of the
/// attributes with a value, in incoming document order.
pub(crate) fn new_profile(incoming: &Value) -> (Value, Vec<String>) {
    let mut profile = null_profile();
    let mut changed = Vec::new();
    let (Some(root), Some(patch)) = (profile.as_object_mut(), incoming.as_object()) else {
        return (profile, changed);
    };
    for (name, item) in patch {
        // CIS's own: the null profile's copy stays, and CIS fills it before the write, so a
        // publisher's `last_modified` is neither judged by the rules nor stored.
        if name == "last_modified" {
            continue;
        }
        let Some(obj) = item.as_object() else {
            // `schema` (a string): the publisher's copy is as good as ours.
            root.insert(name.clone(), item.clone());
            continue;
        };
        if obj.contains_key("signature") {
            // `last_modified` is CIS's: overwritten before the write, never reported.
            if value_is_set(obj) == Some(true) && name != "last_modified" {
                changed.push(name.clone());
            }
            root.insert(name.clone(), item.clone());
            continue;
        }
        let group = root
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !group.is_object() {
            *group = Value::Object(Map::new());
        }
        let Some(group) = group.as_object_mut() else {
            continue;
        };
        for (child, child_item) in obj {
            if child_item
                .as_object()
                .is_some_and(|c| value_is_set(c) == Some(true))
            {
                changed.push(format!("{name}.{child}"));
            }
            group.insert(child.clone(), child_item.clone());
        }
    }
    (profile, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attr(value: Value, display: &str, publisher: &str) -> Value {
        json!({
            "metadata": {"classification": "PUBLIC", "last_modified": "x", "created": "x",
                         "verified": false, "display": display},
            "signature": {"publisher": {"alg": "RS256", "typ": "JWS", "name": publisher, "value": "sig"}},
            "value": value
        })
    }

    #[test]
    fn merge_takes_changed_non_null_attributes_only() {
        let mut stored = json!({
            "first_name": attr(json!("Jane"), "public", "ldap"),
            "last_name": attr(json!("Doe"), "public", "ldap"),
            "fun_title": attr(json!("x"), "public", "mozilliansorg"),
            "access_information": {"ldap": attr(json!(null), "staff", "ldap")}
        });
        let mut same_but_resigned = attr(json!("Doe"), "public", "hris");
        same_but_resigned["metadata"]["last_modified"] = json!("later");
        let incoming = json!({
            "schema": "s",
            "first_name": attr(json!("Janet"), "public", "ldap"),
            "last_name": same_but_resigned,
            "fun_title": attr(json!(null), "public", "mozilliansorg"),
            "pronouns": attr(json!("she"), "public", "mozilliansorg"),
            "access_information": {"ldap": attr(json!({"g": null}), "staff", "ldap")}
        });
        let taken = merge(&mut stored, &incoming);
        let paths: Vec<&str> = taken.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths, ["first_name", "pronouns", "access_information.ldap"]);
        assert_eq!(taken[0].previous.as_ref().unwrap()["value"], "Jane");
        assert!(taken[1].previous.is_none());
        assert_eq!(stored["first_name"]["value"], "Janet");
        assert_eq!(
            stored["last_name"]["signature"]["publisher"]["name"],
            "ldap"
        );
        assert_eq!(stored["fun_title"]["value"], "x");
        assert_eq!(
            stored["access_information"]["ldap"]["value"],
            json!({"g": null})
        );
        assert!(stored.get("schema").is_none());

        // display alone counts; an empty string is not null.
        let taken = merge(
            &mut stored,
            &json!({"first_name": attr(json!("Janet"), "staff", "ldap"),
                                               "last_name": attr(json!(""), "public", "ldap")}),
        );
        let paths: Vec<&str> = taken.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths, ["first_name", "last_name"]);
    }

    #[test]
    fn new_profile_is_complete_and_lists_set_attributes() {
        let incoming = json!({
            "first_name": attr(json!("Jane"), "public", "ldap"),
            "identities": {"github_id_v3": attr(json!("1"), "public", "access_provider")},
            "pronouns": attr(json!(null), "staff", "mozilliansorg"),
        });
        let (profile, changed) = new_profile(&incoming);
        assert_eq!(changed, ["first_name", "identities.github_id_v3"]);
        assert_eq!(profile["pronouns"]["metadata"]["display"], "staff");
        assert_eq!(cis_profile::attributes(&profile).len(), 53);
        assert_eq!(
            profile.as_object().unwrap().keys().next().unwrap(),
            "schema"
        );
    }
}
