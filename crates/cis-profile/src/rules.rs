//! Publisher rules: who may create and who may update each attribute (DECISIONS A5,
//! profile-and-crypto §5).
//!
//! `create.<attr>` lists the publishers allowed to set a null attribute; `update.<attr>` names the
//! one publisher allowed to change a set one. Groups carry per-child objects, except that
//! `update.identities` is a single string that applies to every identity. The claimed publisher
//! (`signature.publisher.name`) is checked here, not the signature itself. The `active` special
//! case of DECISIONS B9 belongs to the change pipeline; these rules stay exactly the Python ones.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::attributes::{publisher_name, value_is_set};
use crate::equality::{python_eq, python_eq_map};
use crate::error::ProfileError;
use crate::null::null_profile_ref;

/// The rules file the Python CIS actually enforced (its bundled copy).
pub const PUBLISHER_RULES_JSON: &str =
    include_str!("../../../well-known/mozilla-iam-publisher-rules.json");

/// DinoPark (mozilliansorg) may change `display`/`verified` of any attribute whose value is unchanged.
const METADATA_OVERRIDE_PUBLISHER: &str = "mozilliansorg";

#[derive(Debug, Clone)]
enum CreateRule {
    Publishers(Vec<String>),
    Group(HashMap<String, Vec<String>>),
}

#[derive(Debug, Clone)]
enum UpdateRule {
    Publisher(String),
    Group(HashMap<String, String>),
}

/// The parsed `create`/`update` rules.
#[derive(Debug, Clone)]
pub struct PublisherRules {
    create: HashMap<String, CreateRule>,
    update: HashMap<String, UpdateRule>,
}

static BUNDLED: LazyLock<PublisherRules> = LazyLock::new(|| {
    // Embedded at build time and parsed by the tests; cannot fail at run time.
    PublisherRules::from_json(PUBLISHER_RULES_JSON).expect("embedded publisher rules are valid")
});

/// Whether the change was judged as setting a null attribute or as changing a set one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PublisherOperation {
    Create,
    Update,
}

impl PublisherOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
        }
    }
}

impl std::fmt::Display for PublisherOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change the claimed publisher is not allowed to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublisherViolation {
    /// Full attribute path, e.g. `staff_information.title`.
    pub path: String,
    /// The claimed publisher (`signature.publisher.name`), `""` when absent.
    pub publisher: String,
    pub operation: PublisherOperation,
    /// `[update] ldap is NOT allowed to publish field staff_information.title`
    pub reason: String,
}

impl std::fmt::Display for PublisherViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl PublisherRules {
    /// The embedded rules (`well-known/mozilla-iam-publisher-rules.json`).
    pub fn bundled() -> &'static PublisherRules {
        &BUNDLED
    }

    /// Parse a rules document.
    pub fn from_json(text: &str) -> Result<Self, ProfileError> {
        let value: Value = serde_json::from_str(text)?;
        Self::from_value(&value)
    }

    /// Build from a parsed rules document.
    pub fn from_value(value: &Value) -> Result<Self, ProfileError> {
        let section = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_object)
                .ok_or_else(|| ProfileError::InvalidRules(format!("`{name}` must be an object")))
        };
        let mut create = HashMap::new();
        for (attr, rule) in section("create")? {
            let parsed = match rule {
                Value::Object(children) => {
                    let mut group = HashMap::new();
                    for (child, list) in children {
                        group.insert(child.clone(), string_list(list, attr, child)?);
                    }
                    CreateRule::Group(group)
                }
                other => CreateRule::Publishers(string_list(other, attr, "")?),
            };
            create.insert(attr.clone(), parsed);
        }
        let mut update = HashMap::new();
        for (attr, rule) in section("update")? {
            let parsed = match rule {
                Value::String(s) => UpdateRule::Publisher(s.clone()),
                Value::Object(children) => {
                    let mut group = HashMap::new();
                    for (child, publisher) in children {
                        let publisher = publisher.as_str().ok_or_else(|| {
                            ProfileError::InvalidRules(format!(
                                "update.{attr}.{child} must be a string"
                            ))
                        })?;
                        group.insert(child.clone(), publisher.to_string());
                    }
                    UpdateRule::Group(group)
                }
                _ => {
                    return Err(ProfileError::InvalidRules(format!(
                        "update.{attr} must be a string or an object"
                    )));
                }
            };
            update.insert(attr.clone(), parsed);
        }
        Ok(Self { create, update })
    }

    /// Publishers allowed to create the attribute at `path` (`name` or `group.child`); empty when
    /// no rule names it.
    pub fn create_publishers(&self, path: &str) -> &[String] {
        let (group, name) = split_path(path);
        let rule = match group {
            Some(g) => self.create.get(g),
            None => self.create.get(name),
        };
        match (rule, group) {
            (Some(CreateRule::Publishers(list)), None) => list,
            // A group whose rule is one list applies it to every child (Python's TypeError fallback).
            (Some(CreateRule::Publishers(list)), Some(_)) => list,
            (Some(CreateRule::Group(children)), Some(_)) => {
                children.get(name).map(Vec::as_slice).unwrap_or(&[])
            }
            _ => &[],
        }
    }

    /// The one publisher allowed to update the attribute at `path`; `None` when no rule names one.
    /// The rules' `""` (uuid) is returned as `None`: it matches nobody.
    pub fn update_publisher(&self, path: &str) -> Option<&str> {
        let (group, name) = split_path(path);
        let rule = match group {
            Some(g) => self.update.get(g),
            None => self.update.get(name),
        };
        let publisher = match (rule, group) {
            (Some(UpdateRule::Publisher(p)), _) => p.as_str(),
            (Some(UpdateRule::Group(children)), Some(_)) => children.get(name)?.as_str(),
            _ => return None,
        };
        (!publisher.is_empty()).then_some(publisher)
    }
}

fn split_path(path: &str) -> (Option<&str>, &str) {
    match path.split_once('.') {
        Some((group, child)) => (Some(group), child),
        None => (None, path),
    }
}

fn string_list(value: &Value, attr: &str, child: &str) -> Result<Vec<String>, ProfileError> {
    let err = || {
        let path = if child.is_empty() {
            attr.to_string()
        } else {
            format!("{attr}.{child}")
        };
        ProfileError::InvalidRules(format!("create.{path} must be a list of publisher names"))
    };
    value
        .as_array()
        .ok_or_else(err)?
        .iter()
        .map(|p| p.as_str().map(str::to_string).ok_or_else(err))
        .collect()
}

/// Judge one attribute change (profile-and-crypto §5.2). `old` is the stored attribute, `None` when
/// the stored profile has nothing at `path` (then only a non-null `new` counts, as a create).
pub fn check_attribute(
    path: &str,
    new: &Map<String, Value>,
    old: Option<&Map<String, Value>>,
    rules: &PublisherRules,
) -> Result<(), PublisherViolation> {
    if old.is_some_and(|o| python_eq_map(new, o)) {
        return Ok(());
    }
    let publisher = publisher_name(new);
    let was_set = old.and_then(value_is_set).unwrap_or(false);
    let is_set = value_is_set(new).unwrap_or(false);

    let operation = if !was_set && is_set {
        // Creating never falls back to the update authority.
        if publisher.is_some_and(|p| rules.create_publishers(path).iter().any(|c| c == p)) {
            return Ok(());
        }
        PublisherOperation::Create
    } else {
        let key = if new.contains_key("value") {
            "value"
        } else {
            "values"
        };
        let null = Value::Null;
        let new_value = new.get(key).unwrap_or(&null);
        let old_value = old.and_then(|o| o.get(key)).unwrap_or(&null);
        if python_eq(new_value, old_value) {
            let display_same = metadata_eq(new, old, "display");
            let verified_same = metadata_eq(new, old, "verified");
            if display_same && verified_same {
                return Ok(());
            }
            if publisher == Some(METADATA_OVERRIDE_PUBLISHER) {
                return Ok(());
            }
        }
        if publisher.is_some() && publisher == rules.update_publisher(path) {
            return Ok(());
        }
        PublisherOperation::Update
    };
    let publisher = publisher.unwrap_or_default().to_string();
    Err(PublisherViolation {
        reason: format!("[{operation}] {publisher} is NOT allowed to publish field {path}"),
        path: path.to_string(),
        publisher,
        operation,
    })
}

fn metadata_eq(new: &Map<String, Value>, old: Option<&Map<String, Value>>, field: &str) -> bool {
    let null = Value::Null;
    let new_field = metadata_field(Some(new), field).unwrap_or(&null);
    let old_field = metadata_field(old, field).unwrap_or(&null);
    python_eq(new_field, old_field)
}

fn metadata_field<'a>(attr: Option<&'a Map<String, Value>>, field: &str) -> Option<&'a Value> {
    attr?.get("metadata")?.get(field)
}

/// Check every attribute of `new` against the stored profile `old` (the null profile for a new
/// user). Returns every violation, in document order; empty means allowed.
///
/// Only attributes present in `new` are judged (merge never deletes). A whole group equal to the
/// stored one passes at once. When `old` lacks an attribute, the null profile's default stands in
/// for it, so older documents with fewer identities are judged like fresh ones.
pub fn check_publishers(
    new: &Value,
    old: &Value,
    rules: &PublisherRules,
) -> Vec<PublisherViolation> {
    let mut violations = Vec::new();
    let Some(root) = new.as_object() else {
        return violations;
    };
    for (name, item) in root {
        let Some(obj) = item.as_object() else {
            continue;
        };
        if obj.contains_key("signature") {
            let stored = stored_attribute(old, name, None);
            if let Err(v) = check_attribute(name, obj, stored, rules) {
                violations.push(v);
            }
            continue;
        }
        if old.get(name).is_some_and(|g| python_eq(item, g)) {
            continue;
        }
        for (child, child_item) in obj {
            let Some(child_obj) = child_item.as_object() else {
                continue;
            };
            if !child_obj.contains_key("signature") {
                continue;
            }
            let stored = stored_attribute(old, name, Some(child));
            let path = format!("{name}.{child}");
            if let Err(v) = check_attribute(&path, child_obj, stored, rules) {
                violations.push(v);
            }
        }
    }
    violations
}

fn stored_attribute<'a>(
    old: &'a Value,
    name: &str,
    child: Option<&str>,
) -> Option<&'a Map<String, Value>> {
    let find = |doc: &'a Value| {
        let item = doc.get(name)?;
        let item = match child {
            Some(c) => item.get(c)?,
            None => item,
        };
        item.as_object()
    };
    find(old).or_else(|| find(null_profile_ref()))
}
