//! Seeded fake profiles (profile-and-crypto §9, adapted): deterministic per seed, realistic values,
//! valid against the schema, and every non-null attribute claimed by a publisher allowed to create
//! it under the bundled rules (so `check_publishers(fake, null_profile())` is empty). Signatures
//! stay `""`: signing is the crypto crate's job.

use base64::Engine;
use md5::{Digest, Md5};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use sha1::Sha1;

use crate::attributes::{attribute_mut, attributes_mut, publisher_name, value_is_set};
use crate::identity::derive_uuid_and_username;
use crate::null::{null_profile, null_profile_ref};
use crate::rules::PublisherRules;
use crate::timestamps::format_timestamp;
use crate::words::*;

/// How the fake user logs in (the `login_method` value and `user_id` prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// `ad|Mozilla-LDAP|<username>`: staff, with HRIS staff information.
    MozillaLdap,
    /// `github|<numeric id>`
    Github,
    /// `google-oauth2|<numeric id>`
    GoogleOauth2,
    /// `oauth2|firefoxaccounts|<20 chars>`
    FirefoxAccounts,
    /// `email|<md5 hex of the address>`
    Email,
}

impl LoginMethod {
    pub const ALL: [LoginMethod; 5] = [
        Self::MozillaLdap,
        Self::Github,
        Self::GoogleOauth2,
        Self::FirefoxAccounts,
        Self::Email,
    ];

    /// The `login_method` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MozillaLdap => "Mozilla-LDAP",
            Self::Github => "github",
            Self::GoogleOauth2 => "google-oauth2",
            Self::FirefoxAccounts => "firefoxaccounts",
            Self::Email => "email",
        }
    }
}

/// How attribute display levels are chosen among the levels the schema allows for each attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayPolicy {
    /// The most visible allowed level.
    Max,
    /// The least visible allowed level (null where allowed).
    Min,
    /// A uniform choice per attribute.
    Random,
}

/// What to generate. `Default` is the Python CIS `default()` config: every source, uuid and
/// primary_username, a random display policy, a random login method.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Only user_id, login_method, active, primary_email (and uuid/primary_username if asked).
    pub minimal: bool,
    /// Keep the null profile's display levels.
    pub no_display: bool,
    /// Keep the generated `r--…` primary_username (a profile as the change service creates it);
    /// otherwise non-staff users get a plain DinoPark-style username.
    pub create: bool,
    /// Fill the LDAP fields (staff users).
    pub ldap: bool,
    /// Fill the HRIS staff information (staff users).
    pub hris: bool,
    /// Fill the DinoPark (mozilliansorg) fields.
    pub mozillians: bool,
    /// Set `uuid` and `primary_username`.
    pub uuid_username: bool,
    /// Derive uuid/primary_username from this salt (DECISIONS A7) instead of random bytes.
    pub uuid_salt: Option<String>,
    /// Force the login method; random per seed otherwise.
    pub login_method: Option<LoginMethod>,
    /// Force the display policy; random per seed otherwise.
    pub display_policy: Option<DisplayPolicy>,
    /// Chance in percent that the user is active.
    pub active_percent: u8,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            minimal: false,
            no_display: false,
            create: false,
            ldap: true,
            hris: true,
            mozillians: true,
            uuid_username: true,
            uuid_salt: None,
            login_method: None,
            display_policy: None,
            active_percent: 100,
        }
    }
}

impl FakeOptions {
    /// No source at all (the Python CLI's bare config): only the login identity is filled.
    pub fn bare() -> Self {
        Self {
            ldap: false,
            hris: false,
            mozillians: false,
            uuid_username: false,
            ..Self::default()
        }
    }

    /// The "create" flavour of the original tests: default + minimal + create + no_display.
    pub fn create() -> Self {
        Self {
            minimal: true,
            create: true,
            no_display: true,
            ..Self::default()
        }
    }
}

struct Person {
    first: &'static str,
    last: &'static str,
    username: String,
    city: (&'static str, &'static str, &'static str, &'static str),
}

/// One fake profile, the same for the same seed and options.
pub fn fake_profile(seed: u64, opts: &FakeOptions) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    generate(&mut rng, opts, None)
}

/// `n` staff profiles (Mozilla-LDAP, HRIS) with HRIS `employee_id` 1..=n and each manager id
/// among the earlier employees (0 = none), like the original `batch_create_fake_profiles`.
pub fn fake_batch(seed: u64, n: usize) -> Vec<Value> {
    let opts = FakeOptions {
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    fake_batch_with(seed, n, &opts)
}

/// `n` profiles with the given options; profiles that have HRIS data get `employee_id` 1..=n.
pub fn fake_batch_with(seed: u64, n: usize, opts: &FakeOptions) -> Vec<Value> {
    let mut hierarchy = ChaCha8Rng::seed_from_u64(seed ^ 0x005e_ed0f_b47c);
    (0..n)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(
                seed.wrapping_add(i as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let manager = hierarchy.random_range(0..=i as u64);
            generate(&mut rng, opts, Some((i as u64 + 1, manager)))
        })
        .collect()
}

/// An update of `profile` as DinoPark would publish it: plain primary_username, new first name,
/// fun title and display of a few attributes, all claimed by mozilliansorg. Allowed against
/// `profile`, refused against the null profile (mozilliansorg may not create primary_username).
pub fn fake_update(profile: &Value, seed: u64) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p = profile.clone();
    let first = pick(&mut rng, FIRST_NAMES);
    let username = format!("{}{}", first.to_lowercase(), rng.random_range(1..1000));
    for (path, value) in [
        ("primary_username", json!(ascii_only(&username))),
        ("first_name", json!(first)),
        ("fun_title", json!(pick(&mut rng, FUN_TITLES))),
    ] {
        set_value(&mut p, path, value);
        set_publisher(&mut p, path, "mozilliansorg");
    }
    for path in ["last_name", "location"] {
        if let Some(attr) = attribute_mut(&mut p, path) {
            attr["metadata"]["display"] = json!("vouched");
            attr["signature"]["publisher"]["name"] = json!("mozilliansorg");
        }
    }
    p
}

fn generate(rng: &mut ChaCha8Rng, opts: &FakeOptions, employee: Option<(u64, u64)>) -> Value {
    let mut p = null_profile();
    for child in ["ldap", "mozilliansorg", "hris", "access_provider"] {
        p["access_information"][child]["values"] = json!({});
    }
    let method = opts
        .login_method
        .unwrap_or_else(|| LoginMethod::ALL[rng.random_range(0..LoginMethod::ALL.len())]);
    let person = person(rng);
    let is_staff = method == LoginMethod::MozillaLdap;

    let (created, last_modified) = timestamps(rng);
    let user_id = login_identity(rng, &mut p, method, &person, opts.minimal);
    set_value(&mut p, "user_id", json!(user_id));
    set_value(&mut p, "login_method", json!(method.as_str()));
    let active = rng.random_range(0..100u8) < opts.active_percent;
    set_value(&mut p, "active", json!(active));
    set_value(&mut p, "created", json!(created));
    set_value(&mut p, "last_modified", json!(last_modified));

    if opts.uuid_username {
        let (uuid, username) = match &opts.uuid_salt {
            Some(salt) => derive_uuid_and_username(salt, &user_id),
            None => {
                let bytes: [u8; 16] = rng.random();
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                let username = format!(
                    "r--{}",
                    base64::engine::general_purpose::URL_SAFE.encode(id.as_bytes())
                );
                (id.hyphenated().to_string(), username)
            }
        };
        set_value(&mut p, "uuid", json!(uuid));
        let primary_username = if opts.create || is_staff || !opts.mozillians {
            username
        } else {
            ascii_only(&person.username)
        };
        set_value(&mut p, "primary_username", json!(primary_username));
    }

    if !opts.minimal {
        if is_staff && opts.ldap {
            ldap_fields(rng, &mut p, &person);
        }
        if is_staff && opts.hris {
            hris_fields(rng, &mut p, &person, employee);
        }
        if opts.mozillians {
            mozillians_fields(rng, &mut p, &person, is_staff);
        }
    } else if is_staff
        && opts.hris
        && let Some((id, manager)) = employee
    {
        p["access_information"]["hris"]["values"] =
            json!({"employee_id": id, "managers_employee_id": manager});
    }

    if !opts.no_display {
        let policy = opts.display_policy.unwrap_or_else(|| {
            [
                DisplayPolicy::Max,
                DisplayPolicy::Min,
                DisplayPolicy::Random,
            ][rng.random_range(0..3)]
        });
        apply_display(rng, &mut p, policy);
    }
    for (_, attr) in attributes_mut(&mut p) {
        attr["metadata"]["created"] = json!(created);
        attr["metadata"]["last_modified"] = json!(last_modified);
    }
    assign_publishers(&mut p, PublisherRules::bundled());
    p
}

fn person(rng: &mut ChaCha8Rng) -> Person {
    let first = pick(rng, FIRST_NAMES);
    let last = pick(rng, LAST_NAMES);
    let username = format!(
        "{}{}{}",
        first.chars().next().unwrap_or('x').to_lowercase(),
        last.to_lowercase().replace('\'', ""),
        rng.random_range(1..100)
    );
    Person {
        first,
        last,
        username: ascii_only(&username),
        city: *pick(rng, CITIES),
    }
}

/// Sets user-id related identities and returns the user_id.
fn login_identity(
    rng: &mut ChaCha8Rng,
    p: &mut Value,
    method: LoginMethod,
    person: &Person,
    minimal: bool,
) -> String {
    let personal_email = format!("{}@{}", person.username, pick(rng, EMAIL_DOMAINS));
    let (user_id, email) = match method {
        LoginMethod::MozillaLdap => {
            let email = format!("{}@mozilla.com", person.username);
            if !minimal {
                set_value(p, "identities.mozilla_ldap_id", json!(email));
                set_value(p, "identities.mozilla_ldap_primary_email", json!(email));
                set_value(p, "identities.mozilla_posix_id", json!(person.username));
            }
            (format!("ad|Mozilla-LDAP|{}", person.username), email)
        }
        LoginMethod::Github => {
            let id: u64 = rng.random_range(1_000..60_000_000);
            if !minimal {
                let node = base64::engine::general_purpose::STANDARD.encode(format!("04:User{id}"));
                set_value(p, "identities.github_id_v3", json!(id.to_string()));
                set_value(p, "identities.github_id_v4", json!(node));
                set_value(p, "identities.github_primary_email", json!(personal_email));
            }
            (format!("github|{id}"), personal_email)
        }
        LoginMethod::GoogleOauth2 => {
            let id: u128 =
                rng.random_range(100_000_000_000_000_000_000..1_000_000_000_000_000_000_000);
            if !minimal {
                set_value(p, "identities.google_oauth2_id", json!(id.to_string()));
                set_value(p, "identities.google_primary_email", json!(personal_email));
            }
            (format!("google-oauth2|{id}"), personal_email)
        }
        LoginMethod::FirefoxAccounts => {
            const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
            let id: String = (0..20)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            if !minimal {
                let hex_id = hex_of(&Sha1::digest(id.as_bytes())[..16]);
                set_value(p, "identities.firefox_accounts_id", json!(hex_id));
                set_value(
                    p,
                    "identities.firefox_accounts_primary_email",
                    json!(personal_email),
                );
            }
            (format!("oauth2|firefoxaccounts|{id}"), personal_email)
        }
        LoginMethod::Email => {
            if !minimal {
                set_value(
                    p,
                    "identities.custom_1_primary_email",
                    json!(personal_email),
                );
            }
            let digest = Md5::digest(personal_email.as_bytes());
            (format!("email|{}", hex_of(&digest)), personal_email)
        }
    };
    set_value(p, "primary_email", json!(email));
    user_id
}

fn ldap_fields(rng: &mut ChaCha8Rng, p: &mut Value, person: &Person) {
    set_value(p, "first_name", json!(person.first));
    set_value(p, "last_name", json!(person.last));
    set_value(
        p,
        "ssh_public_keys",
        keyed_hashes(rng, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", 0..=2),
    );
    set_value(p, "pgp_public_keys", keyed_hashes(rng, "", 0..=2));
    let mut groups = Map::new();
    groups.insert("everyone".into(), Value::Null);
    for _ in 0..rng.random_range(0..=8) {
        groups.insert(group_name(rng), Value::Null);
    }
    p["access_information"]["ldap"]["values"] = Value::Object(groups);
    set_value(p, "fun_title", json!(pick(rng, FUN_TITLES)));
    set_value(p, "description", json!(sentence(rng, 6..=25)));
    let (city, country, _, tz) = person.city;
    set_value(p, "location", json!(format!("{city}, {country}")));
    set_value(p, "timezone", json!(format!("{} {tz}", utc_offset(tz))));
    set_value(p, "picture", json!(picture(rng)));
    set_value(p, "phone_numbers", phone_numbers(rng));
    claim(
        p,
        "ldap",
        &[
            "first_name",
            "last_name",
            "ssh_public_keys",
            "pgp_public_keys",
            "fun_title",
            "description",
            "location",
            "timezone",
            "picture",
            "phone_numbers",
        ],
    );
}

fn hris_fields(rng: &mut ChaCha8Rng, p: &mut Value, person: &Person, employee: Option<(u64, u64)>) {
    let (city, country, alpha2, tz) = person.city;
    let worker_type = if rng.random_bool(0.85) {
        "Employee"
    } else {
        "Contractor"
    };
    let director = rng.random_bool(0.1);
    let manager = director || rng.random_bool(0.25);
    set_value(p, "staff_information.manager", json!(manager));
    set_value(p, "staff_information.director", json!(director));
    set_value(p, "staff_information.staff", json!(true));
    set_value(p, "staff_information.title", json!(pick(rng, TITLES)));
    let team = pick(rng, TEAMS);
    set_value(p, "staff_information.team", json!(team));
    set_value(
        p,
        "staff_information.cost_center",
        json!(format!("{} - {team}", rng.random_range(1000..10000))),
    );
    set_value(p, "staff_information.worker_type", json!(worker_type));
    set_value(
        p,
        "staff_information.wpr_desk_number",
        json!(format!("{:05}", rng.random_range(0..100_000))),
    );
    let office = if rng.random_bool(0.5) {
        format!("{city} Office")
    } else {
        format!("{country} Remote")
    };
    set_value(p, "staff_information.office_location", json!(office));
    if !p["first_name"]["value"].is_string() {
        set_value(p, "first_name", json!(person.first));
        set_value(p, "last_name", json!(person.last));
        claim(p, "hris", &["first_name", "last_name"]);
    }
    if !p["timezone"]["value"].is_string() {
        set_value(p, "timezone", json!(format!("{} {tz}", utc_offset(tz))));
        claim(p, "hris", &["timezone"]);
    }
    let (employee_id, managers_employee_id) =
        employee.unwrap_or_else(|| (rng.random_range(1..100_000), rng.random_range(0..100_000)));
    p["access_information"]["hris"]["values"] = json!({
        "employee_id": employee_id,
        "worker_type": worker_type,
        "managers_employee_id": managers_employee_id,
        "egencia_pos_country": alpha2,
    });
}

fn mozillians_fields(rng: &mut ChaCha8Rng, p: &mut Value, person: &Person, is_staff: bool) {
    set_value(
        p,
        "identities.mozilliansorg_id",
        json!(rng.random_range(1..2_000_000u64).to_string()),
    );
    if rng.random_bool(0.4) {
        set_value(
            p,
            "identities.bugzilla_mozilla_org_id",
            json!(rng.random_range(1..2_000_000u64).to_string()),
        );
        let email = p["primary_email"]["value"].clone();
        set_value(p, "identities.bugzilla_mozilla_org_primary_email", email);
    }
    if !p["first_name"]["value"].is_string() {
        set_value(p, "first_name", json!(person.first));
    }
    if !p["last_name"]["value"].is_string() {
        set_value(p, "last_name", json!(person.last));
    }
    let mut usernames = Map::new();
    usernames.insert("mozilliansorg".into(), json!(person.username));
    if rng.random_bool(0.5) {
        usernames.insert("HACK#GITHUB".into(), json!(person.username));
    }
    set_value(p, "usernames", Value::Object(usernames));
    let mut groups = Map::new();
    for _ in 0..rng.random_range(0..=5) {
        groups.insert(
            format!("{}-{}", pick(rng, WORDS), pick(rng, WORDS)),
            Value::Null,
        );
    }
    p["access_information"]["mozilliansorg"]["values"] = Value::Object(groups);
    if !is_staff {
        set_value(p, "fun_title", json!(pick(rng, FUN_TITLES)));
        set_value(p, "description", json!(sentence(rng, 4..=20)));
        let (city, country, _, tz) = person.city;
        set_value(p, "location", json!(format!("{city}, {country}")));
        set_value(p, "timezone", json!(format!("{} {tz}", utc_offset(tz))));
        set_value(p, "picture", json!(picture(rng)));
    }
    let mut languages = Map::new();
    for lang in LANGUAGES {
        if rng.random_bool(0.3) {
            languages.insert((*lang).into(), Value::Null);
        }
    }
    set_value(p, "languages", Value::Object(languages));
    let mut tags = Map::new();
    for _ in 0..rng.random_range(0..=6) {
        tags.insert(pick(rng, WORDS).to_string(), Value::Null);
    }
    set_value(p, "tags", Value::Object(tags));
    if rng.random_bool(0.5) {
        set_value(p, "pronouns", json!(pick(rng, PRONOUNS)));
    }
    let mut uris = Map::new();
    for _ in 0..rng.random_range(0..=3) {
        let word = pick(rng, WORDS);
        uris.insert(
            format!("{word} blog"),
            json!(format!("https://{word}.example.net/{}", person.username)),
        );
    }
    set_value(p, "uris", Value::Object(uris));
    if rng.random_bool(0.3) {
        set_value(
            p,
            "alternative_name",
            json!(format!("{} {}", pick(rng, WORDS), person.last)),
        );
    }
}

/// The display levels the schema allows for an attribute, most visible first (the faker order).
fn allowed_displays(path: &str) -> &'static [Option<&'static str>] {
    const ANY: &[Option<&str>] = &[
        Some("public"),
        Some("authenticated"),
        Some("vouched"),
        Some("ndaed"),
        Some("staff"),
        Some("private"),
        None,
    ];
    match path {
        "uuid" | "primary_username" => &[Some("public")],
        "active" | "access_information.hris" | "access_information.access_provider" => &[None],
        "access_information.ldap" => &[
            Some("vouched"),
            Some("ndaed"),
            Some("staff"),
            Some("private"),
            None,
        ],
        "identities.mozilla_ldap_id"
        | "staff_information.cost_center"
        | "staff_information.worker_type" => &[Some("staff")],
        p if p.starts_with("staff_information.") => &[Some("ndaed"), Some("staff")],
        _ => ANY,
    }
}

fn apply_display(rng: &mut ChaCha8Rng, p: &mut Value, policy: DisplayPolicy) {
    for (path, attr) in attributes_mut(p) {
        let allowed = allowed_displays(&path);
        let level = match policy {
            DisplayPolicy::Max => allowed[0],
            DisplayPolicy::Min => allowed[allowed.len() - 1],
            DisplayPolicy::Random => allowed[rng.random_range(0..allowed.len())],
        };
        attr["metadata"]["display"] = level.map_or(Value::Null, |l| json!(l));
    }
}

/// Claim every attribute for a publisher the rules allow: a set value by one of its creators
/// (keeping the generator's choice when allowed), a null one whose display or verified differs from
/// the null profile by mozilliansorg (DinoPark may change metadata of any unchanged value).
fn assign_publishers(p: &mut Value, rules: &PublisherRules) {
    let null = null_profile_ref();
    for (path, attr) in attributes_mut(p) {
        if value_is_set(attr) == Some(true) {
            let creators = rules.create_publishers(&path);
            let current = publisher_name(attr).unwrap_or_default();
            if !creators.iter().any(|c| c == current) {
                let preferred = preferred_creator(&path);
                let chosen = creators
                    .iter()
                    .find(|c| c.as_str() == preferred)
                    .or_else(|| creators.first());
                if let Some(chosen) = chosen {
                    attr["signature"]["publisher"]["name"] = json!(chosen);
                }
            }
        } else if let Some(default) = crate::attributes::attribute(null, &path) {
            let metadata_changed = ["display", "verified"]
                .iter()
                .any(|f| attr["metadata"].get(*f) != default["metadata"].get(*f));
            if metadata_changed {
                attr["signature"]["publisher"]["name"] = json!("mozilliansorg");
            }
        }
    }
}

/// Who would really publish an attribute first when its null-profile default may not create it.
fn preferred_creator(path: &str) -> &'static str {
    match path {
        "user_id" | "login_method" | "primary_email" | "active" => "access_provider",
        "created" | "last_modified" | "uuid" | "primary_username" => "cis",
        p if p.starts_with("staff_information.") => "hris",
        p if p.starts_with("identities.mozilla_") => "ldap",
        "timezone" => "hris",
        _ => "ldap",
    }
}

fn set_value(p: &mut Value, path: &str, value: Value) {
    if let Some(attr) = attribute_mut(p, path) {
        let key = if attr.contains_key("value") {
            "value"
        } else {
            "values"
        };
        attr.insert(key.into(), value);
    }
}

/// Claim attributes for the publisher that filled them (the final pass still enforces the rules).
fn claim(p: &mut Value, publisher: &str, paths: &[&str]) {
    for path in paths {
        set_publisher(p, path, publisher);
    }
}

fn set_publisher(p: &mut Value, path: &str, publisher: &str) {
    if let Some(attr) = attribute_mut(p, path) {
        attr["signature"]["publisher"]["name"] = json!(publisher);
    }
}

fn timestamps(rng: &mut ChaCha8Rng) -> (String, String) {
    // 2015-01-01 .. 2024-12-31, then last_modified up to two years later.
    let created_secs = rng.random_range(1_420_070_400..1_735_603_200i64);
    let modified_secs = created_secs + rng.random_range(0..63_072_000i64);
    let at = |secs| {
        chrono::DateTime::from_timestamp(secs, 0)
            .map(format_timestamp)
            .unwrap_or_else(|| "2019-02-27T11:20:00.000Z".to_string())
    };
    (at(created_secs), at(modified_secs))
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn sentence(rng: &mut ChaCha8Rng, words: std::ops::RangeInclusive<usize>) -> String {
    let n = rng.random_range(words);
    let mut s: String = (0..n)
        .map(|_| *pick(rng, WORDS))
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s.push('.');
    s.truncate(200);
    s
}

fn group_name(rng: &mut ChaCha8Rng) -> String {
    format!("{}_{}", pick(rng, GROUP_PREFIXES), pick(rng, WORDS))
}

fn keyed_hashes(
    rng: &mut ChaCha8Rng,
    prefix: &str,
    count: std::ops::RangeInclusive<usize>,
) -> Value {
    let mut keys = Map::new();
    for _ in 0..rng.random_range(count) {
        let bytes: [u8; 16] = rng.random();
        let digest = hex_of(&Sha1::digest(bytes));
        let value = if prefix.is_empty() {
            digest.to_uppercase()
        } else {
            format!("{prefix}{digest}")
        };
        keys.insert(pick(rng, WORDS).to_string(), json!(value));
    }
    Value::Object(keys)
}

fn picture(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    format!(
        "https://s3.amazonaws.com/dinopark.example/avatars/{}.png",
        hex_of(&bytes)
    )
}

fn phone_numbers(rng: &mut ChaCha8Rng) -> Value {
    let mut phones = Map::new();
    for label in ["mobile", "office"] {
        if rng.random_bool(0.5) {
            phones.insert(
                label.into(),
                json!(format!(
                    "+1 555 01{:02} {:04}",
                    rng.random_range(0..100),
                    rng.random_range(0..10_000)
                )),
            );
        }
    }
    Value::Object(phones)
}

fn hex_of(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// Usernames and ids stay ASCII (user_ids built from names with accents would look odd).
fn ascii_only(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'à'..='å' => 'a',
            'ç' => 'c',
            'è'..='ë' => 'e',
            'ì'..='ï' => 'i',
            'ñ' => 'n',
            'ò'..='ö' => 'o',
            'ù'..='ü' => 'u',
            c => c,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}
