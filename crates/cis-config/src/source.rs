//! Where raw values come from: the process environment, an explicit map (tests), and an optional
//! TOML file for local mode. The environment always wins over the file (DECISIONS B11).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::ConfigError;
use crate::keys::KNOWN_KEYS;

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A layered key/value source. Keys are the environment variable names of the Python CIS
/// (`CIS_ALLOW_DELETE`, `PERSON_API_AUTH0_DOMAIN`, ...).
pub struct Source {
    primary: Lookup,
    file: BTreeMap<String, String>,
    file_origin: Option<String>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets; only say which file (if any) is layered in.
        f.debug_struct("Source")
            .field("file", &self.file_origin)
            .field("file_keys", &self.file.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Source {
    /// The process environment.
    pub fn from_env() -> Self {
        Self::from_fn(|key| std::env::var(key).ok())
    }

    /// An explicit map, so tests never have to mutate the process environment.
    pub fn from_map<K, V, I>(entries: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: HashMap<String, String> = entries
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_fn(move |key| map.get(key).cloned())
    }

    /// Any lookup function (for example a closure over a test fixture).
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            primary: Box::new(lookup),
            file: BTreeMap::new(),
            file_origin: None,
        }
    }

    /// Layer a TOML file underneath the primary source (the primary source wins).
    pub fn with_toml_file(self, path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: origin.clone(),
            reason: e.to_string(),
        })?;
        self.with_toml_str(&text, &origin)
    }

    /// Layer TOML text underneath the primary source. `origin` names it in errors.
    ///
    /// Layout: either sections mirroring the Python CIS INI namespaces (`[cis] allow_delete = true`
    /// is `CIS_ALLOW_DELETE`; `[person_api] auth0_domain = "..."` is `PERSON_API_AUTH0_DOMAIN`),
    /// or top-level keys spelled like the environment variable (`CIS_ALLOW_DELETE = true`).
    /// Booleans and integers become their text; an array of strings is joined with commas
    /// (handy for `CIS_RP_URLS`). Unknown keys are rejected so that a typo cannot silently
    /// leave a default (for example auth) in place.
    pub fn with_toml_str(mut self, text: &str, origin: &str) -> Result<Self, ConfigError> {
        let file_err = |reason: String| ConfigError::File {
            path: origin.to_owned(),
            reason,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| file_err(e.to_string()))?;
        let mut flat = BTreeMap::new();
        for (key, value) in &table {
            match value {
                toml::Value::Table(section) => {
                    for (inner, value) in section {
                        let name = format!("{}_{}", key, inner).to_ascii_uppercase();
                        let text = toml_scalar(value).ok_or_else(|| {
                            file_err(format!("[{key}] {inner}: unsupported value type"))
                        })?;
                        flat.insert(name, text);
                    }
                }
                other => {
                    let text = toml_scalar(other)
                        .ok_or_else(|| file_err(format!("{key}: unsupported value type")))?;
                    flat.insert(key.to_ascii_uppercase(), text);
                }
            }
        }
        if let Some(unknown) = flat.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(file_err(format!("unknown setting {unknown}")));
        }
        self.file.extend(flat);
        self.file_origin = Some(origin.to_owned());
        Ok(self)
    }

    /// The raw value of `key`. An empty (or all-whitespace) value counts as unset, because
    /// deployment templates often export empty variables meaning "use the default".
    pub fn get(&self, key: &str) -> Option<String> {
        (self.primary)(key)
            .or_else(|| self.file.get(key).cloned())
            .filter(|v| !v.trim().is_empty())
    }
}

fn toml_scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect();
            parts.map(|p| p.join(","))
        }
        _ => None,
    }
}
