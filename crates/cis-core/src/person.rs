//! Person API use cases (person-api spec; DECISIONS A6, A9, B13–B15): single-user lookups, the
//! metadata probe, paged full profiles, the id listing and the attribute search, each returning
//! domain results that the HTTP layer renders in the original shapes.
//!
//! Every profile that leaves this module went through [`View::apply`], which is
//! `cis_profile::filter_profile`: the same function `cis profile filter` runs, so the API and the
//! CLI cannot disagree about what a scope set may see.
//!
//! Parameter parsing lives here too (not in the HTTP layer) because its rules are the contract:
//! `active` is `true`/`false`/`any` case-insensitively, booleans are real booleans (B15), and the
//! `/v2/users` cursor is accepted as JSON or as the Python repr the old client sends (A9).

use std::sync::Arc;

use cis_profile::{PreparedProfile, ScopeGrant, filter_profile};
use cis_vault::{
    AttributeCriterion, AttributeQuery, PageRequest, PageToken, ProfileStore, StoredProfile,
    UserIdEntry, UserIdFilter, VaultError,
};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use crate::person_cache::{CachedProfile, DEFAULT_CACHE_BYTES, PreparedProfileCache};

/// Why a Person API call failed.
#[derive(Debug, thiserror::Error)]
pub enum PersonError {
    /// A query or path parameter is unusable; `name` is the parameter as the client spelled it.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: String, reason: String },
    /// The vault failed. Listings never return a partial result instead (B14).
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl PersonError {
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// Page sizes. The original paged `/v2/users` by DynamoDB's 1 MB scan page (about 50 real
/// profiles of ~20 KB) and `by_attribute_contains` by "at least 10" (its docs said 25); fixed
/// sizes keep the spirit and make every page predictable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonOptions {
    /// Profiles per `/v2/users` page.
    pub users_page_size: usize,
    /// Users per `by_attribute_contains` page.
    pub search_page_size: usize,
    /// Memory for prepared profiles of lookups by user_id (0 = none); see [`crate::person_cache`].
    pub profile_cache_bytes: u64,
}

impl Default for PersonOptions {
    fn default() -> Self {
        Self {
            users_page_size: 50,
            search_page_size: 25,
            profile_cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// What the caller may see: its token's scopes and the optional `filterDisplay` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub grant: ScopeGrant,
    /// `filterDisplay`; it only narrows. Unknown levels mean `public` (person-api §4.4).
    pub filter_display: Option<String>,
}

impl View {
    pub fn new<S: AsRef<str>>(scopes: &[S], filter_display: Option<&str>) -> Self {
        Self {
            grant: ScopeGrant::from_scopes(scopes),
            filter_display: filter_display.map(str::to_owned),
        }
    }

    /// `read:fullprofile display:all`, no `filterDisplay`.
    pub fn full() -> Self {
        Self {
            grant: ScopeGrant::full(),
            filter_display: None,
        }
    }

    pub fn apply(&self, profile: &mut Value) {
        filter_profile(profile, &self.grant, self.filter_display.as_deref());
    }
}

/// Which index a single-user lookup uses (`/v2/user/<selector>/<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    UserId,
    Uuid,
    PrimaryEmail,
    PrimaryUsername,
}

impl Selector {
    pub const ALL: [Selector; 4] = [
        Self::UserId,
        Self::Uuid,
        Self::PrimaryEmail,
        Self::PrimaryUsername,
    ];

    /// The path segment (and profile attribute) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserId => "user_id",
            Self::Uuid => "uuid",
            Self::PrimaryEmail => "primary_email",
            Self::PrimaryUsername => "primary_username",
        }
    }
}

/// The `active` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActiveFilter {
    /// Absent, empty or `true`: only active users (the original default everywhere, B15).
    #[default]
    Active,
    Inactive,
    Any,
}

impl ActiveFilter {
    /// `true`, `false` or `any`, case-insensitively; absent or empty is the default (active).
    /// Anything else is refused rather than silently read as `true`.
    pub fn parse(raw: Option<&str>) -> Result<Self, PersonError> {
        match raw.map(str::trim) {
            None | Some("") => Ok(Self::Active),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Self::Active),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Self::Inactive),
            Some(v) if v.eq_ignore_ascii_case("any") => Ok(Self::Any),
            Some(_) => Err(PersonError::invalid(
                "active",
                "must be True, False or Any (case-insensitive)",
            )),
        }
    }

    /// What the vault filters on: `Some(wanted)` or `None` for everyone.
    pub fn wanted(self) -> Option<bool> {
        match self {
            Self::Active => Some(true),
            Self::Inactive => Some(false),
            Self::Any => None,
        }
    }

    pub fn matches(self, active: bool) -> bool {
        self.wanted().is_none_or(|wanted| wanted == active)
    }
}

/// A strict boolean: `true`/`false` in any case (`True`/`False` is what the Python clients send),
/// plus `1`/`0`. Fixes the original, which read `False` as true (B15).
pub fn parse_bool(name: &str, raw: &str) -> Result<bool, PersonError> {
    let v = raw.trim();
    if v.eq_ignore_ascii_case("true") || v == "1" {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") || v == "0" {
        Ok(false)
    } else {
        Err(PersonError::invalid(name, "must be True or False"))
    }
}

/// The second URL decoding the four `/v2/user/<selector>/<id>` routes apply after the path's own
/// (person-api §3.1, DECISIONS A9/D8): `%7C` and `|` are the same, `%252F` reaches `/`, `+` stays
/// `+`. Invalid UTF-8 becomes U+FFFD, as Python's `unquote` does.
pub fn decode_path_id(once_decoded: &str) -> String {
    percent_decode_str(once_decoded)
        .decode_utf8_lossy()
        .into_owned()
}

/// The `/v2/users` cursor as emitted: `{"id": "<last user_id>"}` (DynamoDB's
/// `LastEvaluatedKey`, which is what the original returned).
pub fn users_next_page_json(token: &PageToken) -> Value {
    json!({ "id": token.as_str() })
}

/// Parse the `/v2/users` `nextPage` parameter: the JSON object we emit, or the Python repr of it
/// (`{'id': 'ad|x'}`, optionally `u'…'`) that `cis_publisher` sends back (A9, person-api §3.5).
pub fn parse_users_next_page(raw: &str) -> Result<PageToken, PersonError> {
    let bad = || {
        PersonError::invalid(
            "nextPage",
            "must be the object returned as nextPage, e.g. {\"id\": \"<user_id>\"}",
        )
    };
    let value: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(_) => {
            serde_json::from_str(&python_repr_to_json(raw).ok_or_else(bad)?).map_err(|_| bad())?
        }
    };
    match value.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(PageToken::new(id.clone())),
        // DynamoDB's typed form, in case a client stored a raw LastEvaluatedKey.
        Some(Value::Object(typed)) => match typed.get("S") {
            Some(Value::String(id)) if !id.is_empty() => Ok(PageToken::new(id.clone())),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// Rewrite a Python literal (dict/list/str/bool/None repr) into JSON: single-quoted strings become
/// double-quoted ones, `True`/`False`/`None` become `true`/`false`/`null`. `None` if the text is
/// not a well-formed literal of that kind.
fn python_repr_to_json(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push('"');
                let quote = c;
                loop {
                    let ch = chars.next()?;
                    match ch {
                        '\\' => {
                            let escaped = chars.next()?;
                            match escaped {
                                '\'' => out.push('\''),
                                '"' => out.push_str("\\\""),
                                '\\' => out.push_str("\\\\"),
                                'n' => out.push_str("\\n"),
                                't' => out.push_str("\\t"),
                                'r' => out.push_str("\\r"),
                                'x' => {
                                    let hex: String =
                                        [chars.next()?, chars.next()?].iter().collect();
                                    out.push_str(&format!("\\u00{hex}"));
                                }
                                'u' => {
                                    out.push_str("\\u");
                                    for _ in 0..4 {
                                        out.push(chars.next()?);
                                    }
                                }
                                _ => return None,
                            }
                        }
                        ch if ch == quote => break,
                        '"' => out.push_str("\\\""),
                        ch if (ch as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", ch as u32)),
                        ch => out.push(ch),
                    }
                }
                out.push('"');
            }
            // `u'…'` string prefix.
            'u' if matches!(chars.peek(), Some('\'' | '"')) => {}
            c if c.is_ascii_alphabetic() => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push_str(match word.as_str() {
                    "True" | "true" => "true",
                    "False" | "false" => "false",
                    "None" | "null" => "null",
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// `GET /v2/user/metadata/<email>`: whether CIS knows the address and whether that user has LDAP
/// groups (`access_information.ldap.values` is not null; an empty map counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub cis: bool,
    pub ldap: bool,
}

/// `GET /v2/users`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListUsers {
    /// `primaryEmail`: every account with this address, in one page.
    pub primary_email: Option<String>,
    pub active: ActiveFilter,
    pub after: Option<PageToken>,
}

/// A page of filtered full profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfilesPage {
    pub items: Vec<Value>,
    pub next: Option<PageToken>,
}

/// `GET /v2/users/id/all`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdListing {
    /// `connectionMethod`: a plain prefix of the user_id, as the original matched it (`ad` also
    /// matches `adfoo|…`).
    pub connection_method: String,
    pub active: ActiveFilter,
}

/// `GET /v2/users/id/all/by_attribute_contains`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeSearch {
    /// Every criterion must hold (B15; the original applied only the first).
    pub criteria: Vec<AttributeCriterion>,
    pub active: ActiveFilter,
    pub full_profiles: bool,
    pub after: Option<PageToken>,
}

/// The criteria `by_attribute_contains` accepts, each also as `not_<name>`, with the type of its
/// value (person-api §3.7).
pub const SEARCH_CRITERIA: [(&str, CriterionKind); 10] = [
    ("access_information.ldap", CriterionKind::Group),
    ("access_information.mozilliansorg", CriterionKind::Group),
    ("staff_information.cost_center", CriterionKind::Text),
    ("staff_information.director", CriterionKind::Bool),
    ("staff_information.manager", CriterionKind::Bool),
    ("staff_information.office_location", CriterionKind::Text),
    ("staff_information.staff", CriterionKind::Bool),
    ("staff_information.team", CriterionKind::Text),
    ("staff_information.title", CriterionKind::Text),
    ("staff_information.worker_type", CriterionKind::Text),
];

/// How a search criterion's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CriterionKind {
    /// A group name: the user is (or with `not_`, is not) a member.
    Group,
    /// Exact string equality.
    Text,
    /// `True`/`False`.
    Bool,
}

impl AttributeSearch {
    /// Build a search from query parameters (first occurrence of each name wins, unknown names
    /// are ignored, as in the original). At least one criterion is required.
    pub fn from_params(params: &QueryParams) -> Result<Self, PersonError> {
        let mut criteria = Vec::new();
        for negate in [false, true] {
            for (name, kind) in SEARCH_CRITERIA {
                let param = if negate {
                    format!("not_{name}")
                } else {
                    name.to_owned()
                };
                if let Some(raw) = params.first(&param) {
                    criteria.push(criterion(&param, name, kind, negate, raw)?);
                }
            }
        }
        if criteria.is_empty() {
            let names: Vec<&str> = SEARCH_CRITERIA.iter().map(|(n, _)| *n).collect();
            return Err(PersonError::invalid(
                "criteria",
                format!(
                    "at least one criterion is required: {} (or not_<name>)",
                    names.join(", ")
                ),
            ));
        }
        Ok(Self {
            criteria,
            active: ActiveFilter::parse(params.first("active"))?,
            full_profiles: params
                .first("fullProfiles")
                .map(|raw| parse_bool("fullProfiles", raw))
                .transpose()?
                .unwrap_or(false),
            after: params
                .first("nextPage")
                .filter(|raw| !raw.is_empty())
                .map(PageToken::new),
        })
    }
}

fn criterion(
    param: &str,
    name: &str,
    kind: CriterionKind,
    negate: bool,
    raw: &str,
) -> Result<AttributeCriterion, PersonError> {
    if raw.is_empty() {
        return Err(PersonError::invalid(param, "must not be empty"));
    }
    let mut path: Vec<String> = name.split('.').map(str::to_owned).collect();
    Ok(match kind {
        CriterionKind::Group => {
            // A group name is one path segment even when it contains dots (the original split
            // it and found nothing).
            path.push(raw.to_owned());
            if negate {
                AttributeCriterion::NotExists { path }
            } else {
                AttributeCriterion::Exists { path }
            }
        }
        CriterionKind::Text | CriterionKind::Bool => {
            let value = if kind == CriterionKind::Bool {
                Value::Bool(parse_bool(param, raw)?)
            } else {
                Value::String(raw.to_owned())
            };
            if negate {
                AttributeCriterion::NotEquals { path, value }
            } else {
                AttributeCriterion::Equals { path, value }
            }
        }
    })
}

/// One `by_attribute_contains` result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub user_id: String,
    /// With `fullProfiles`: the stored `user_id` attribute object, read before filtering (the
    /// HRIS publisher reads `id.value`; the original 500ed when filtering had removed it).
    pub id_attribute: Option<Value>,
    /// With `fullProfiles`: the filtered profile.
    pub profile: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub users: Vec<SearchHit>,
    pub next: Option<PageToken>,
}

/// Query parameters in request order; the first occurrence of a name wins (Flask's `reqparse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams(pub Vec<(String, String)>);

impl QueryParams {
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The Person API's use cases over any [`ProfileStore`].
pub struct PersonService {
    store: Arc<dyn ProfileStore>,
    options: PersonOptions,
    cache: PreparedProfileCache,
}

impl std::fmt::Debug for PersonService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonService")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl PersonService {
    pub fn new(store: Arc<dyn ProfileStore>, options: PersonOptions) -> Self {
        let cache = PreparedProfileCache::new(options.profile_cache_bytes);
        Self {
            store,
            options,
            cache,
        }
    }

    pub fn options(&self) -> &PersonOptions {
        &self.options
    }

    pub fn store(&self) -> &Arc<dyn ProfileStore> {
        &self.store
    }

    /// `GET /v2/user/<selector>/<id>` (`id` already decoded twice). `None` is the original's
    /// `200 {}`: nobody, or nobody in the requested active state.
    ///
    /// Where several accounts share the email/username/uuid, the first in user_id order that is
    /// in the requested active state is returned; the original looked only at the very first and
    /// so hid an active account behind an inactive one (person-api §3.3, §11.12).
    pub async fn get_user(
        &self,
        selector: Selector,
        id: &str,
        active: ActiveFilter,
        view: &View,
    ) -> Result<Option<Value>, PersonError> {
        let candidates = match selector {
            Selector::UserId => self.store.get_by_user_id(id).await?.into_iter().collect(),
            Selector::Uuid => self.store.find_by_uuid(id).await?,
            Selector::PrimaryEmail => self.store.find_by_primary_email(id).await?,
            Selector::PrimaryUsername => self.store.find_by_primary_username(id).await?,
        };
        Ok(candidates
            .into_iter()
            .find(|stored| active.matches(stored.active))
            .map(|stored| filtered(stored, view)))
    }

    /// [`PersonService::get_user`] as the JSON bytes of the answer, byte for byte what
    /// `serde_json::to_vec` of its `Value` gives. Lookups by user_id on a backend that hands out
    /// its stored JSON are served from prepared profiles, checked against the vault's current
    /// sequence number on every call (never stale); everything else takes the `Value` path.
    pub async fn get_user_json(
        &self,
        selector: Selector,
        id: &str,
        active: ActiveFilter,
        view: &View,
    ) -> Result<Option<Vec<u8>>, PersonError> {
        if selector == Selector::UserId
            && let Some(found) = self.prepared_by_user_id(id).await
        {
            return Ok(found?
                .filter(|cached| active.matches(cached.active))
                .map(|cached| {
                    cached
                        .prepared
                        .filtered_json(&view.grant, view.filter_display.as_deref())
                }));
        }
        let found = self.get_user(selector, id, active, view).await?;
        Ok(found.map(|profile| {
            // Serialising a `Value` with string keys cannot fail.
            serde_json::to_vec(&profile).unwrap_or_default()
        }))
    }

    /// The current prepared profile of `user_id`, `None` when the backend keeps no JSON text.
    async fn prepared_by_user_id(
        &self,
        user_id: &str,
    ) -> Option<Result<Option<Arc<CachedProfile>>, PersonError>> {
        let cached = self.cache.get(user_id);
        let known = cached.as_ref().map(|c| &c.sequence_number);
        let read = self.store.get_json_by_user_id(user_id, known)?;
        Some(match read.await {
            Err(e) => Err(e.into()),
            Ok(None) => {
                self.cache.remove(user_id);
                Ok(None)
            }
            Ok(Some(stored)) => match (stored.json, cached) {
                (None, Some(cached)) if cached.sequence_number == stored.sequence_number => {
                    Ok(Some(cached))
                }
                (None, _) => Err(PersonError::Vault(VaultError::corrupt(
                    user_id,
                    "the store withheld the profile text of a sequence number the caller lacks",
                ))),
                (Some(json), _) => match PreparedProfile::from_json_str(&json) {
                    Err(e) => Err(PersonError::Vault(VaultError::corrupt(
                        user_id,
                        format!("stored profile is not JSON: {e}"),
                    ))),
                    Ok(prepared) => {
                        let fresh = Arc::new(CachedProfile {
                            sequence_number: stored.sequence_number,
                            active: stored.active,
                            prepared,
                        });
                        if self.options.profile_cache_bytes > 0 {
                            self.cache.insert(user_id, fresh.clone());
                        }
                        Ok(Some(fresh))
                    }
                },
            },
        })
    }

    /// How many prepared profiles the lookup cache holds (for tests and diagnostics).
    pub fn cached_profiles(&self) -> usize {
        self.cache.len()
    }

    /// `GET /v2/user/metadata/<email>`: the first account (user_id order) with this primary
    /// email, active or not, as the original did.
    pub async fn metadata(&self, primary_email: &str) -> Result<Metadata, PersonError> {
        let found = self.store.find_by_primary_email(primary_email).await?;
        Ok(match found.first() {
            None => Metadata {
                cis: false,
                ldap: false,
            },
            Some(stored) => Metadata {
                cis: true,
                ldap: stored
                    .profile
                    .pointer("/access_information/ldap/values")
                    .is_some_and(|groups| !groups.is_null()),
            },
        })
    }

    /// `GET /v2/users`: one page of filtered profiles in user_id order; follow `next` until it
    /// is `None`. With `primary_email`, every account with that address in one page.
    pub async fn list_users(
        &self,
        request: ListUsers,
        view: &View,
    ) -> Result<ProfilesPage, PersonError> {
        if let Some(email) = request.primary_email {
            let items = self
                .store
                .find_by_primary_email(&email)
                .await?
                .into_iter()
                .filter(|stored| request.active.matches(stored.active))
                .map(|stored| filtered(stored, view))
                .collect();
            return Ok(ProfilesPage { items, next: None });
        }
        let page = self
            .store
            .list_profiles(PageRequest {
                after: request.after,
                limit: self.options.users_page_size,
                active: request.active.wanted(),
            })
            .await?;
        Ok(ProfilesPage {
            items: page
                .items
                .into_iter()
                .map(|stored| filtered(stored, view))
                .collect(),
            next: page.next,
        })
    }

    /// `GET /v2/users/id/all`: every matching user's ids in one answer, complete or an error
    /// (B14). The backend reads only its id columns/projection, never whole profiles.
    pub async fn list_user_ids(&self, request: IdListing) -> Result<Vec<UserIdEntry>, PersonError> {
        if request.connection_method.is_empty() {
            return Err(PersonError::invalid("connectionMethod", "is required"));
        }
        Ok(self
            .store
            .list_user_ids(UserIdFilter {
                user_id_prefix: Some(request.connection_method),
                active: request.active.wanted(),
            })
            .await?)
    }

    /// `GET /v2/users/id/all/by_attribute_contains`: one page of users matching every criterion.
    pub async fn search(
        &self,
        request: AttributeSearch,
        view: &View,
    ) -> Result<SearchPage, PersonError> {
        let page = self
            .store
            .find_by_attributes(AttributeQuery {
                criteria: request.criteria,
                active: request.active.wanted(),
                after: request.after,
                limit: self.options.search_page_size,
            })
            .await?;
        let users = page
            .items
            .into_iter()
            .map(|stored| {
                if request.full_profiles {
                    let id_attribute = stored
                        .profile
                        .get("user_id")
                        .cloned()
                        .unwrap_or_else(|| json!({ "value": stored.user_id }));
                    let user_id = stored.user_id.clone();
                    SearchHit {
                        user_id,
                        id_attribute: Some(id_attribute),
                        profile: Some(filtered(stored, view)),
                    }
                } else {
                    SearchHit {
                        user_id: stored.user_id,
                        id_attribute: None,
                        profile: None,
                    }
                }
            })
            .collect();
        Ok(SearchPage {
            users,
            next: page.next,
        })
    }
}

fn filtered(stored: StoredProfile, view: &View) -> Value {
    let mut profile = stored.profile;
    view.apply(&mut profile);
    profile
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_parses_the_three_words_in_any_case_and_refuses_the_rest() {
        assert_eq!(ActiveFilter::parse(None).unwrap(), ActiveFilter::Active);
        assert_eq!(ActiveFilter::parse(Some("")).unwrap(), ActiveFilter::Active);
        assert_eq!(
            ActiveFilter::parse(Some("True")).unwrap(),
            ActiveFilter::Active
        );
        assert_eq!(
            ActiveFilter::parse(Some("FALSE")).unwrap(),
            ActiveFilter::Inactive
        );
        assert_eq!(ActiveFilter::parse(Some("Any")).unwrap(), ActiveFilter::Any);
        let err = ActiveFilter::parse(Some("yes")).unwrap_err();
        assert!(
            matches!(&err, PersonError::InvalidParameter { name, .. } if name == "active"),
            "{err}"
        );
        assert!(ActiveFilter::Any.matches(false) && ActiveFilter::Any.matches(true));
        assert!(!ActiveFilter::Active.matches(false));
        assert!(ActiveFilter::Inactive.matches(false));
    }

    #[test]
    fn booleans_are_real_booleans() {
        assert!(parse_bool("x", "True").unwrap());
        assert!(!parse_bool("x", "False").unwrap());
        assert!(!parse_bool("x", "false").unwrap());
        assert!(!parse_bool("x", "0").unwrap());
        assert!(parse_bool("x", "").is_err());
        assert!(parse_bool("x", "maybe").is_err());
    }

    #[test]
    fn path_ids_are_decoded_a_second_time() {
        assert_eq!(
            decode_path_id("ad%7CMozilla-LDAP%7Cjdoe"),
            "ad|Mozilla-LDAP|jdoe"
        );
        assert_eq!(
            decode_path_id("ad|Mozilla-LDAP|jdoe"),
            "ad|Mozilla-LDAP|jdoe"
        );
        assert_eq!(decode_path_id("a%2Fb"), "a/b");
        assert_eq!(decode_path_id("a+b@example.com"), "a+b@example.com");
        assert_eq!(decode_path_id("dunnkyle%40lam.com"), "dunnkyle@lam.com");
    }

    #[test]
    fn users_cursor_accepts_json_and_python_repr() {
        for raw in [
            r#"{"id": "ad|Mozilla-LDAP|jdoe"}"#,
            r#"{'id': 'ad|Mozilla-LDAP|jdoe'}"#,
            r#"{u'id': u'ad|Mozilla-LDAP|jdoe'}"#,
            r#"{"id": {"S": "ad|Mozilla-LDAP|jdoe"}}"#,
        ] {
            assert_eq!(
                parse_users_next_page(raw).unwrap().as_str(),
                "ad|Mozilla-LDAP|jdoe",
                "{raw}"
            );
        }
        // Python switches to double quotes when the string holds a single quote.
        assert_eq!(
            parse_users_next_page(r#"{'id': "email|o'brien"}"#)
                .unwrap()
                .as_str(),
            "email|o'brien"
        );
        assert_eq!(
            parse_users_next_page(r"{'id': 'email|o\'b'}")
                .unwrap()
                .as_str(),
            "email|o'b"
        );
        for bad in [
            "",
            "ad|x",
            "{'id': }",
            "{'user': 'x'}",
            "{'id': ''}",
            "[1]",
            "{'id': True}",
        ] {
            let err = parse_users_next_page(bad).unwrap_err();
            assert!(
                matches!(&err, PersonError::InvalidParameter { name, .. } if name == "nextPage"),
                "{bad}: {err}"
            );
        }
        let token = PageToken::new("ad|x");
        assert_eq!(
            parse_users_next_page(&users_next_page_json(&token).to_string()).unwrap(),
            token
        );
    }

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn search_criteria_are_all_kept_and_typed() {
        let search = AttributeSearch::from_params(&params(&[
            ("staff_information.staff", "False"),
            ("access_information.ldap", "team.moco"),
            ("not_access_information.mozilliansorg", "nda"),
            ("staff_information.title", "Engineer"),
            ("not_staff_information.team", "IAM"),
            ("staff_information.title", "ignored second occurrence"),
            ("unknown", "x"),
            ("nextPage", "ad|Mozilla-LDAP|x"),
        ]))
        .unwrap();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            search.criteria,
            vec![
                AttributeCriterion::Exists {
                    path: s(&["access_information", "ldap", "team.moco"])
                },
                AttributeCriterion::Equals {
                    path: s(&["staff_information", "staff"]),
                    value: Value::Bool(false)
                },
                AttributeCriterion::Equals {
                    path: s(&["staff_information", "title"]),
                    value: json!("Engineer")
                },
                AttributeCriterion::NotExists {
                    path: s(&["access_information", "mozilliansorg", "nda"])
                },
                AttributeCriterion::NotEquals {
                    path: s(&["staff_information", "team"]),
                    value: json!("IAM")
                },
            ]
        );
        assert_eq!(search.active, ActiveFilter::Active);
        assert!(!search.full_profiles);
        assert_eq!(search.after, Some(PageToken::new("ad|Mozilla-LDAP|x")));
    }

    #[test]
    fn search_parameter_errors_name_the_parameter() {
        for (pairs, name) in [
            (vec![("active", "true")], "criteria"),
            (
                vec![("staff_information.staff", "Flase")],
                "staff_information.staff",
            ),
            (
                vec![("not_staff_information.director", "")],
                "not_staff_information.director",
            ),
            (
                vec![("staff_information.staff", "True"), ("fullProfiles", "yes")],
                "fullProfiles",
            ),
            (
                vec![("staff_information.staff", "True"), ("active", "no")],
                "active",
            ),
        ] {
            let err = AttributeSearch::from_params(&params(&pairs)).unwrap_err();
            assert!(
                matches!(&err, PersonError::InvalidParameter { name: n, .. } if n == name),
                "{pairs:?}: {err}"
            );
        }
    }
}
