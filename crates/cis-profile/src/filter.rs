//! Classification and display filtering exactly as the Person API applies it (DECISIONS A6,
//! profile-and-crypto §6, person-api §4.4–4.5).
//!
//! An attribute is removed (not nulled) when its `metadata.classification` or `metadata.display` is
//! not in the allowed set. Groups are never removed, so a public-only caller still sees
//! `"staff_information": {}`. `schema` and keys starting with `_` are always kept. An attribute whose
//! metadata lacks the checked field is removed (the Python CIS answered 500 there; deny is safe).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::attributes::small_get;

#[path = "filter_prepared.rs"]
mod prepared;

pub use prepared::PreparedProfile;

/// Every classification label (schema values and the legacy long labels the filter accepts).
pub mod classification {
    pub const PUBLIC: &str = "PUBLIC";
    pub const MOZILLA_CONFIDENTIAL: &str = "MOZILLA CONFIDENTIAL";
    pub const MOZILLA_CONFIDENTIAL_LEGACY: &str =
        "Mozilla Confidential - Staff and NDA'd Mozillians Only";
    pub const STAFF_ONLY: &str = "WORKGROUP CONFIDENTIAL: STAFF ONLY";
    pub const WORKGROUP_CONFIDENTIAL: &str = "WORKGROUP CONFIDENTIAL";
    pub const WORKGROUP_CONFIDENTIAL_LEGACY: &str =
        "Mozilla Confidential - Specific Work Groups Only";
    pub const INDIVIDUAL_CONFIDENTIAL: &str = "INDIVIDUAL CONFIDENTIAL";
    pub const INDIVIDUAL_CONFIDENTIAL_LEGACY: &str =
        "Mozilla Confidential - Specific Individuals Only";
}

/// Display levels (`DinoParkDisplay`); JSON null is the seventh level (`None`).
pub mod display {
    pub const PUBLIC: &str = "public";
    pub const AUTHENTICATED: &str = "authenticated";
    pub const VOUCHED: &str = "vouched";
    pub const NDAED: &str = "ndaed";
    pub const STAFF: &str = "staff";
    pub const PRIVATE: &str = "private";
}

/// What a token's scopes allow to be seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeGrant {
    /// Allowed classification labels; `None` with `read:fullprofile` (no classification filter).
    pub classifications: Option<Vec<&'static str>>,
    /// Allowed display levels (`None` inside = JSON null); `None` with `display:all`.
    pub displays: Option<Vec<Option<&'static str>>>,
}

impl ScopeGrant {
    /// The Person API's mapping (person-api §4.4). Not hierarchical: `display:staff` does not grant
    /// `ndaed`; `display:private` is not mapped (private data needs `display:all`). `PUBLIC` and
    /// `public` are always granted.
    pub fn from_scopes<S: AsRef<str>>(scopes: &[S]) -> Self {
        let has = |wanted: &str| scopes.iter().any(|s| s.as_ref() == wanted);
        let classifications = (!has("read:fullprofile")).then(|| {
            let mut allowed = Vec::with_capacity(8);
            if has("classification:mozilla_confidential") {
                allowed.extend([
                    classification::MOZILLA_CONFIDENTIAL,
                    classification::MOZILLA_CONFIDENTIAL_LEGACY,
                ]);
            }
            if has("classification:workgroup:staff_only") {
                allowed.push(classification::STAFF_ONLY);
            }
            if has("classification:workgroup") {
                allowed.extend([
                    classification::WORKGROUP_CONFIDENTIAL,
                    classification::WORKGROUP_CONFIDENTIAL_LEGACY,
                ]);
            }
            if has("classification:individual") {
                allowed.extend([
                    classification::INDIVIDUAL_CONFIDENTIAL,
                    classification::INDIVIDUAL_CONFIDENTIAL_LEGACY,
                ]);
            }
            allowed.push(classification::PUBLIC);
            allowed
        });
        let displays = (!has("display:all")).then(|| {
            let mut allowed = Vec::with_capacity(6);
            for (scope, level) in [
                ("display:staff", Some(display::STAFF)),
                ("display:ndaed", Some(display::NDAED)),
                ("display:vouched", Some(display::VOUCHED)),
                ("display:authenticated", Some(display::AUTHENTICATED)),
                ("display:none", None),
            ] {
                if has(scope) {
                    allowed.push(level);
                }
            }
            allowed.push(Some(display::PUBLIC));
            allowed
        });
        Self {
            classifications,
            displays,
        }
    }

    /// From a token's space-separated `scope` claim.
    pub fn from_scope_claim(claim: &str) -> Self {
        let scopes: Vec<&str> = claim.split_whitespace().collect();
        Self::from_scopes(&scopes)
    }

    /// Everything visible (`read:fullprofile display:all`).
    pub fn full() -> Self {
        Self {
            classifications: None,
            displays: None,
        }
    }
}

const CUMULATIVE_DISPLAY: [&str; 6] = [
    display::PUBLIC,
    display::AUTHENTICATED,
    display::VOUCHED,
    display::NDAED,
    display::STAFF,
    display::PRIVATE,
];

/// The `filterDisplay=<level>` set: the level and every lower one, never null. Unknown -> public.
pub fn filter_display_levels(level: &str) -> &'static [&'static str] {
    let upto = CUMULATIVE_DISPLAY
        .iter()
        .position(|l| *l == level)
        .unwrap_or(0);
    &CUMULATIVE_DISPLAY[..=upto]
}

/// The Person API filter: classification (unless `read:fullprofile`), display (unless
/// `display:all`), then `filterDisplay` if given (it only narrows, even with `display:all`).
/// The three steps remove attributes independently, so they run as one pass.
pub fn filter_profile(profile: &mut Value, grant: &ScopeGrant, filter_display: Option<&str>) {
    let extra = filter_display.map(filter_display_levels);
    if grant.classifications.is_none() && grant.displays.is_none() && extra.is_none() {
        return;
    }
    if let Some(root) = profile.as_object_mut() {
        prune(root, &|metadata: &Map<String, Value>| {
            keeps(grant, extra, metadata)
        });
    }
}

/// The two fields of an attribute's `metadata` the filter reads, whether from a parsed profile
/// or from a [`PreparedProfile`], so both decide with the same predicate.
pub(crate) trait FilterFields {
    /// `metadata.classification` if it is a string.
    fn classification(&self) -> Option<&str>;
    /// `metadata.display`: `Some(None)` for JSON null, `Some(Some(level))` for a string, `None`
    /// when absent or of another type.
    fn display(&self) -> Option<Option<&str>>;
}

impl FilterFields for Map<String, Value> {
    fn classification(&self) -> Option<&str> {
        small_get(self, "classification").and_then(Value::as_str)
    }

    fn display(&self) -> Option<Option<&str>> {
        match small_get(self, "display") {
            Some(Value::Null) => Some(None),
            Some(Value::String(level)) => Some(Some(level)),
            _ => None,
        }
    }
}

/// The three Person API steps as one predicate on an attribute's metadata.
pub(crate) fn keeps(
    grant: &ScopeGrant,
    extra: Option<&[&str]>,
    metadata: &(impl FilterFields + ?Sized),
) -> bool {
    if let Some(allowed) = &grant.classifications
        && !classification_allowed(metadata, allowed)
    {
        return false;
    }
    if let Some(allowed) = &grant.displays
        && !display_allowed(metadata, allowed)
    {
        return false;
    }
    if let Some(levels) = extra {
        let display = metadata.display().flatten();
        if !display.is_some_and(|d| levels.contains(&d)) {
            return false;
        }
    }
    true
}

/// A borrowed view that serializes exactly as [`filter_profile`] would leave the profile, without
/// copying or mutating it: `serde_json::to_vec(&FilteredProfile::new(&p, &grant, None))`. Cheaper
/// than clone + filter + serialize when the filtered profile is only written out.
pub struct FilteredProfile<'a> {
    profile: &'a Value,
    grant: &'a ScopeGrant,
    extra: Option<&'static [&'static str]>,
}

impl<'a> FilteredProfile<'a> {
    pub fn new(profile: &'a Value, grant: &'a ScopeGrant, filter_display: Option<&str>) -> Self {
        Self {
            profile,
            grant,
            extra: filter_display.map(filter_display_levels),
        }
    }
}

impl Serialize for FilteredProfile<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let unfiltered = self.grant.classifications.is_none()
            && self.grant.displays.is_none()
            && self.extra.is_none();
        match self.profile {
            Value::Object(root) if !unfiltered => FilteredLevel {
                map: root,
                view: self,
            }
            .serialize(serializer),
            other => other.serialize(serializer),
        }
    }
}

struct FilteredLevel<'a> {
    map: &'a Map<String, Value>,
    view: &'a FilteredProfile<'a>,
}

impl Serialize for FilteredLevel<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        for (key, value) in self.map {
            let obj = match value.as_object() {
                Some(obj) if !key.starts_with('_') => obj,
                _ => {
                    out.serialize_entry(key, value)?;
                    continue;
                }
            };
            match small_get(obj, "metadata") {
                Some(Value::Object(metadata)) => {
                    if keeps(self.view.grant, self.view.extra, metadata) {
                        out.serialize_entry(key, value)?;
                    }
                }
                Some(_) => {}
                None => out.serialize_entry(
                    key,
                    &FilteredLevel {
                        map: obj,
                        view: self.view,
                    },
                )?,
            }
        }
        out.end()
    }
}

/// Remove every attribute whose `metadata.classification` is not one of `allowed`.
pub fn filter_by_classification(profile: &mut Value, allowed: &[&str]) {
    if let Some(root) = profile.as_object_mut() {
        prune(root, &|m: &Map<String, Value>| {
            classification_allowed(m, allowed)
        });
    }
}

/// Remove every attribute whose `metadata.display` is not one of `allowed` (`None` = JSON null).
pub fn filter_by_display(profile: &mut Value, allowed: &[Option<&str>]) {
    if let Some(root) = profile.as_object_mut() {
        prune(root, &|m: &Map<String, Value>| display_allowed(m, allowed));
    }
}

fn classification_allowed(metadata: &(impl FilterFields + ?Sized), allowed: &[&str]) -> bool {
    metadata
        .classification()
        .is_some_and(|c| allowed.contains(&c))
}

fn display_allowed<S: AsRef<str>>(
    metadata: &(impl FilterFields + ?Sized),
    allowed: &[Option<S>],
) -> bool {
    match metadata.display() {
        Some(None) => allowed.iter().any(Option::is_none),
        Some(Some(d)) => allowed
            .iter()
            .any(|a| a.as_ref().is_some_and(|a| a.as_ref() == d)),
        None => false,
    }
}

fn prune(level: &mut Map<String, Value>, keep: &dyn Fn(&Map<String, Value>) -> bool) {
    level.retain(|key, value| {
        if key.starts_with('_') {
            return true;
        }
        let Some(obj) = value.as_object_mut() else {
            return true;
        };
        match small_get(obj, "metadata") {
            Some(Value::Object(metadata)) => keep(metadata),
            Some(_) => false,
            None => {
                prune(obj, keep);
                true
            }
        }
    });
}
