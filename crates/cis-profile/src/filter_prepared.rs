//! A profile prepared once for any number of filtered answers (the Person API's hot path).
//!
//! Parsing a stored profile into a `Value` allocates for every key, string and object and costs
//! more than everything else in a lookup together. [`PreparedProfile`] instead transcodes the
//! stored JSON text in one pass into its canonical form (exactly `serde_json::to_vec` of the
//! parsed `Value`) and remembers where each attribute starts and ends and what its metadata
//! says. Filtering for a scope set is then a concatenation of byte ranges, and the result is
//! byte for byte what `filter_profile` followed by `serde_json::to_vec` gives.

use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{FilterFields, ScopeGrant, filter_display_levels, keeps};

/// A profile's canonical JSON with the position of every attribute, ready to be filtered for
/// any scope set without parsing it again. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedProfile {
    json: Box<[u8]>,
    /// The top level's entries; `None` when the profile is not a JSON object (no filter applies).
    root: Option<Box<[Node]>>,
}

/// Byte offsets into [`PreparedProfile::json`]; u32 halves the index size (profiles are KBs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One entry of an object on the filter's path (the top level or a group).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    /// `"key":value` kept by every filter: keys starting with `_` and non-object values.
    Always(Span),
    /// An attribute, kept when the view keeps its metadata.
    Attribute { entry: Span, metadata: Metadata },
    /// An object whose `metadata` is not an object: removed by every filter.
    Unfilterable(Span),
    /// A group (an object without `metadata`): its key is always written, its members filtered.
    /// `key` covers `"key":`.
    Group { key: Span, members: Box<[Node]> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Metadata {
    classification: Option<Box<str>>,
    display: Option<Option<Box<str>>>,
}

impl FilterFields for Metadata {
    fn classification(&self) -> Option<&str> {
        self.classification.as_deref()
    }

    fn display(&self) -> Option<Option<&str>> {
        self.display.as_ref().map(Option::as_deref)
    }
}

impl PreparedProfile {
    /// Prepare a profile from JSON text (as stored). Fails only where `serde_json::from_slice`
    /// into a `Value` would.
    pub fn from_json(text: &[u8]) -> Result<Self, serde_json::Error> {
        match std::str::from_utf8(text) {
            Ok(text) => Self::from_json_str(text),
            Err(_) => Self::transcode(text),
        }
    }

    /// [`PreparedProfile::from_json`] for text already known to be UTF-8.
    pub fn from_json_str(text: &str) -> Result<Self, serde_json::Error> {
        // What serde_json wrote (as the vaults store profiles) is already canonical: then one
        // scan finds the structure and the text is kept as it is.
        match Scanner::canonical(text.as_bytes()) {
            Some(done) => Ok(done.prepare()),
            None => Self::transcode(text.as_bytes()),
        }
    }

    fn transcode(text: &[u8]) -> Result<Self, serde_json::Error> {
        match Transcoded::from_json(text)? {
            Some(done) => Ok(done.prepare()),
            // Duplicate keys: a `Value` keeps the last value at the first key's position. Let
            // serde_json resolve them, then prepare its (duplicate-free) output.
            None => {
                let value: Value = serde_json::from_slice(text)?;
                Ok(Self::from_value(&value))
            }
        }
    }

    /// Prepare an already parsed profile.
    pub fn from_value(profile: &Value) -> Self {
        let canonical = serde_json::to_vec(profile).unwrap_or_default();
        match Transcoded::from_json(&canonical) {
            Ok(Some(done)) => done.prepare(),
            // Unreachable: serde_json's own output parses and has unique keys. Still, never
            // filter wrongly: an unfilterable copy keeps only what no filter can remove.
            _ => Self {
                json: b"{}".to_vec().into_boxed_slice(),
                root: Some(Box::new([])),
            },
        }
    }

    /// The unfiltered profile, as `serde_json::to_vec` writes it.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// Bytes held (the canonical JSON and the index), for caches that count memory.
    pub fn memory_size(&self) -> usize {
        fn nodes(level: &[Node]) -> usize {
            level
                .iter()
                .map(|node| {
                    std::mem::size_of::<Node>()
                        + match node {
                            Node::Attribute { metadata, .. } => {
                                metadata.classification.as_ref().map_or(0, |c| c.len())
                                    + metadata
                                        .display
                                        .iter()
                                        .flatten()
                                        .map(|d| d.len())
                                        .sum::<usize>()
                            }
                            Node::Group { members, .. } => nodes(members),
                            Node::Always(_) | Node::Unfilterable(_) => 0,
                        }
                })
                .sum()
        }
        std::mem::size_of::<Self>() + self.json.len() + self.root.as_deref().map_or(0, nodes)
    }

    /// The filtered profile as JSON, byte for byte what `filter_profile(&mut profile, grant,
    /// filter_display)` then `serde_json::to_vec(&profile)` give.
    pub fn filtered_json(&self, grant: &ScopeGrant, filter_display: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.json.len());
        self.write_filtered(grant, filter_display, &mut out);
        out
    }

    /// [`PreparedProfile::filtered_json`] appended to `out`.
    pub fn write_filtered(
        &self,
        grant: &ScopeGrant,
        filter_display: Option<&str>,
        out: &mut Vec<u8>,
    ) {
        let extra = filter_display.map(filter_display_levels);
        let unfiltered =
            grant.classifications.is_none() && grant.displays.is_none() && extra.is_none();
        match &self.root {
            Some(root) if !unfiltered => self.write_level(root, grant, extra, out),
            _ => out.extend_from_slice(&self.json),
        }
    }

    fn write_level(
        &self,
        level: &[Node],
        grant: &ScopeGrant,
        extra: Option<&[&str]>,
        out: &mut Vec<u8>,
    ) {
        out.push(b'{');
        let mut first = true;
        let mut separate = |out: &mut Vec<u8>| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
        };
        for node in level {
            match node {
                Node::Always(entry) => {
                    separate(out);
                    out.extend_from_slice(&self.json[entry.range()]);
                }
                Node::Attribute { entry, metadata } => {
                    if keeps(grant, extra, metadata) {
                        separate(out);
                        out.extend_from_slice(&self.json[entry.range()]);
                    }
                }
                Node::Unfilterable(_) => {}
                Node::Group { key, members } => {
                    separate(out);
                    out.extend_from_slice(&self.json[key.range()]);
                    self.write_level(members, grant, extra, out);
                }
            }
        }
        out.push(b'}');
    }
}

// ---------------------------------------------------------------------------------------------
// The one-pass transcoder.

/// What the transcoder learnt about a value.
enum Shape {
    Null,
    Str,
    Other,
    /// Members are listed only for objects that may be a group or an attribute's metadata.
    Object(Vec<Member>),
}

struct Member {
    /// `"key"` (quotes included).
    key: Span,
    value: Span,
    shape: Shape,
}

struct Transcoder {
    out: Vec<u8>,
    /// Keys of the objects being read (a stack), to detect duplicates.
    keys: Vec<Span>,
    duplicate_keys: bool,
}

/// A finished transcoding: canonical JSON and the root's shape.
struct Transcoded {
    json: Vec<u8>,
    root: Shape,
}

const METADATA_KEY: &[u8] = b"\"metadata\"";

impl Transcoded {
    /// `Ok(None)` when some object has a duplicate key.
    fn from_json(text: &[u8]) -> Result<Option<Self>, serde_json::Error> {
        let mut transcoder = Transcoder {
            out: Vec::with_capacity(text.len()),
            keys: Vec::with_capacity(64),
            duplicate_keys: false,
        };
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let root = ValueSeed {
            transcoder: &mut transcoder,
            record: true,
            comma: false,
        }
        .deserialize(&mut deserializer)?;
        deserializer.end()?;
        if transcoder.duplicate_keys {
            return Ok(None);
        }
        Ok(Some(Self {
            json: transcoder.out,
            root,
        }))
    }

    fn prepare(self) -> PreparedProfile {
        let root = match &self.root {
            Shape::Object(members) => Some(self.level(members)),
            _ => None,
        };
        PreparedProfile {
            json: self.json.into_boxed_slice(),
            root,
        }
    }

    fn bytes(&self, span: Span) -> &[u8] {
        &self.json[span.range()]
    }

    fn level(&self, members: &[Member]) -> Box<[Node]> {
        members
            .iter()
            .map(|member| {
                let entry = Span {
                    start: member.key.start,
                    end: member.value.end,
                };
                let children = match &member.shape {
                    Shape::Object(children) if !self.bytes(member.key).starts_with(b"\"_") => {
                        children
                    }
                    _ => return Node::Always(entry),
                };
                match children
                    .iter()
                    .find(|child| self.bytes(child.key) == METADATA_KEY)
                {
                    Some(Member {
                        shape: Shape::Object(fields),
                        ..
                    }) => Node::Attribute {
                        entry,
                        metadata: self.metadata(fields),
                    },
                    Some(_) => Node::Unfilterable(entry),
                    None => Node::Group {
                        key: Span {
                            start: member.key.start,
                            end: member.value.start,
                        },
                        members: self.level(children),
                    },
                }
            })
            .collect()
    }

    fn metadata(&self, fields: &[Member]) -> Metadata {
        let field = |name: &[u8]| fields.iter().find(|f| self.bytes(f.key) == name);
        let text = |member: &Member| self.string(member.value);
        Metadata {
            classification: field(b"\"classification\"")
                .filter(|f| matches!(f.shape, Shape::Str))
                .map(text),
            display: field(b"\"display\"").and_then(|f| match f.shape {
                Shape::Null => Some(None),
                Shape::Str => Some(Some(text(f))),
                _ => None,
            }),
        }
    }

    /// The text of a canonical JSON string.
    fn string(&self, span: Span) -> Box<str> {
        let quoted = self.bytes(span);
        match quoted.get(1..quoted.len().saturating_sub(1)) {
            Some(inner) if !inner.contains(&b'\\') => {
                String::from_utf8_lossy(inner).into_owned().into_boxed_str()
            }
            _ => serde_json::from_slice::<String>(quoted)
                .unwrap_or_default()
                .into_boxed_str(),
        }
    }
}

impl Transcoder {
    fn span_from(&self, start: usize) -> Span {
        // Profiles are far below 4 GiB; the vault and the HTTP layers bound them long before.
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(self.out.len()).unwrap_or(u32::MAX),
        }
    }

    fn write<T: serde::Serialize + ?Sized, E: de::Error>(&mut self, value: &T) -> Result<(), E> {
        serde_json::to_writer(&mut self.out, value).map_err(E::custom)
    }

    /// A string serde_json lent straight from the input: the input had no escape in it, and
    /// JSON forbids raw control characters, so it holds nothing serde_json would escape and its
    /// canonical form is the text in quotes.
    fn write_unescaped(&mut self, text: &str) {
        self.out.push(b'"');
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'"');
    }

    /// Flags a duplicate among the keys pushed since `start`, then pops them.
    fn close_object(&mut self, start: usize) {
        self.duplicate_keys |= has_duplicate(&self.out, &self.keys[start..]);
        self.keys.truncate(start);
    }
}

/// Reads text that is already exactly what `serde_json::to_vec` writes (compact, no escape
/// serde_json would not write, integers only), noting the same structure as the transcoder.
/// Anything else, including duplicate keys, is left to the transcoder (`None`).
struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
    keys: Vec<Span>,
    duplicate_keys: bool,
}

/// Deeper nesting goes to the transcoder, which fails as serde_json does past its limit (128).
const SCANNER_MAX_DEPTH: usize = 100;

/// Integers of up to 18 digits fit both u64 and i64, so serde_json writes them back unchanged.
const SCANNER_MAX_DIGITS: usize = 18;

impl<'a> Scanner<'a> {
    fn canonical(text: &'a [u8]) -> Option<Transcoded> {
        let mut scanner = Scanner {
            text,
            at: 0,
            keys: Vec::with_capacity(64),
            duplicate_keys: false,
        };
        let root = scanner.value(0, true)?;
        if scanner.at != text.len() || scanner.duplicate_keys {
            return None;
        }
        Some(Transcoded {
            json: text.to_vec(),
            root,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn span_from(&self, start: usize) -> Option<Span> {
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(self.at).ok()?,
        })
    }

    fn value(&mut self, depth: usize, record: bool) -> Option<Shape> {
        match self.peek()? {
            b'{' => self.object(depth + 1, record),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| Shape::Str),
            b't' => self.literal(b"true", Shape::Other),
            b'f' => self.literal(b"false", Shape::Other),
            b'n' => self.literal(b"null", Shape::Null),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], shape: Shape) -> Option<Shape> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then(|| {
            self.at = end;
            shape
        })
    }

    /// A string without escapes: serde_json writes an escape only for `"`, `\` and control
    /// characters, and JSON allows none of them raw.
    fn string(&mut self) -> Option<Span> {
        let start = self.at;
        let rest = self.text.get(start + 1..)?;
        let length = rest
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
        if rest[length] != b'"' {
            return None;
        }
        self.at = start + 1 + length + 1;
        self.span_from(start)
    }

    fn integer(&mut self) -> Option<Shape> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits_start = self.at;
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = &self.text[digits_start..self.at];
        let canonical = !digits.is_empty()
            && digits.len() <= SCANNER_MAX_DIGITS
            && (digits[0] != b'0' || digits.len() == 1)
            // serde_json writes `-0` as `0` (or `-0.0`); leave it to the transcoder.
            && !(digits == b"0" && digits_start != start)
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        canonical.then_some(Shape::Other)
    }

    fn array(&mut self, depth: usize) -> Option<Shape> {
        if depth > SCANNER_MAX_DEPTH {
            return None;
        }
        self.at += 1;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(Shape::Other);
        }
        loop {
            self.value(depth, false)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(Shape::Other);
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize, record: bool) -> Option<Shape> {
        if depth > SCANNER_MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let keys_start = self.keys.len();
        let mut members = Vec::new();
        let mut recording = record;
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                self.keys.push(key);
                if self.peek()? != b':' {
                    return None;
                }
                self.at += 1;
                let value_start = self.at;
                let shape = self.value(depth, recording)?;
                if recording {
                    let is_metadata = self.text[key.range()] == *METADATA_KEY;
                    members.push(Member {
                        key,
                        value: self.span_from(value_start)?,
                        shape,
                    });
                    if is_metadata {
                        recording = false;
                    }
                }
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.duplicate_keys |= has_duplicate(self.text, &self.keys[keys_start..]);
        self.keys.truncate(keys_start);
        Some(if record {
            Shape::Object(members)
        } else {
            Shape::Other
        })
    }
}

/// Whether two of `keys` (spans of canonical JSON strings in `json`) are the same string.
fn has_duplicate(json: &[u8], keys: &[Span]) -> bool {
    let text = |span: &Span| &json[span.range()];
    if keys.len() <= 16 {
        keys.iter()
            .enumerate()
            .any(|(i, a)| keys[..i].iter().any(|b| text(a) == text(b)))
    } else {
        let mut sorted: Vec<&[u8]> = keys.iter().map(text).collect();
        sorted.sort_unstable();
        sorted.windows(2).any(|pair| pair[0] == pair[1])
    }
}

/// Transcodes one value. `record`: list the members of objects (see [`Shape::Object`]);
/// `comma`: write a separator first (it is only known to be needed once a value follows).
struct ValueSeed<'t> {
    transcoder: &'t mut Transcoder,
    record: bool,
    comma: bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Shape, D::Error> {
        if self.comma {
            self.transcoder.out.push(b',');
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Shape, E> {
        self.transcoder.write(&v)?;
        Ok(Shape::Other)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Shape, E> {
        self.transcoder.write(&v)?;
        Ok(Shape::Other)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Shape, E> {
        self.transcoder.write(&v)?;
        Ok(Shape::Other)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Shape, E> {
        // As `Value` does: a number it cannot hold becomes null.
        match serde_json::Number::from_f64(v) {
            Some(number) => self.transcoder.write(&number)?,
            None => self.transcoder.out.extend_from_slice(b"null"),
        }
        Ok(Shape::Other)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Shape, E> {
        self.transcoder.write(v)?;
        Ok(Shape::Str)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Shape, E> {
        self.transcoder.write_unescaped(v);
        Ok(Shape::Str)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        self.transcoder.out.extend_from_slice(b"null");
        Ok(Shape::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Shape, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let transcoder = self.transcoder;
        transcoder.out.push(b'[');
        let mut comma = false;
        while seq
            .next_element_seed(ValueSeed {
                transcoder: &mut *transcoder,
                record: false,
                comma,
            })?
            .is_some()
        {
            comma = true;
        }
        transcoder.out.push(b']');
        Ok(Shape::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let transcoder = self.transcoder;
        let mut record = self.record;
        let mut members = Vec::new();
        let keys_start = transcoder.keys.len();
        transcoder.out.push(b'{');
        let mut comma = false;
        while let Some(key) = map.next_key_seed(KeySeed {
            transcoder: &mut *transcoder,
            comma,
        })? {
            comma = true;
            transcoder.keys.push(key);
            transcoder.out.push(b':');
            let value_start = transcoder.out.len();
            let shape = map.next_value_seed(ValueSeed {
                transcoder: &mut *transcoder,
                record,
                comma: false,
            })?;
            if record {
                let is_metadata = transcoder.out[key.range()] == *METADATA_KEY;
                members.push(Member {
                    key,
                    value: transcoder.span_from(value_start),
                    shape,
                });
                // An object with `metadata` is an attribute (or unfilterable): only its
                // metadata matters from here on.
                if is_metadata {
                    record = false;
                }
            }
        }
        transcoder.out.push(b'}');
        transcoder.close_object(keys_start);
        Ok(if self.record {
            Shape::Object(members)
        } else {
            Shape::Other
        })
    }
}

/// Transcodes an object key and returns where it was written.
struct KeySeed<'t> {
    transcoder: &'t mut Transcoder,
    comma: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Span;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Span, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Span;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
        if self.comma {
            self.transcoder.out.push(b',');
        }
        let start = self.transcoder.out.len();
        self.transcoder.write(v)?;
        Ok(self.transcoder.span_from(start))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Span, E> {
        if self.comma {
            self.transcoder.out.push(b',');
        }
        let start = self.transcoder.out.len();
        self.transcoder.write_unescaped(v);
        Ok(self.transcoder.span_from(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FakeOptions, LoginMethod, fake_profile, filter_profile, null_profile};
    use serde_json::json;

    /// The scope sets of the person-api spec and the original tests, plus edge cases.
    const SCOPE_SETS: [&str; 10] = [
        "",
        "display:all",
        "read:fullprofile",
        "read:fullprofile display:all",
        "classification:mozilla_confidential classification:workgroup \
         classification:workgroup:staff_only display:staff display:ndaed display:vouched \
         display:authenticated",
        "classification:workgroup:staff_only display:all",
        "classification:individual display:none display:public",
        "classification:mozilla_confidential display:ndaed",
        "read:fullprofile display:staff",
        "display:private display:none",
    ];
    const FILTER_DISPLAYS: [Option<&str>; 5] = [
        None,
        Some("public"),
        Some("ndaed"),
        Some("staff"),
        Some("nonsense"),
    ];

    fn reference(text: &[u8], grant: &ScopeGrant, filter_display: Option<&str>) -> Vec<u8> {
        let mut profile: Value = serde_json::from_slice(text).unwrap();
        filter_profile(&mut profile, grant, filter_display);
        serde_json::to_vec(&profile).unwrap()
    }

    fn assert_same_as_filter_profile(text: &[u8]) {
        let prepared = PreparedProfile::from_json(text).unwrap();
        let value: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(
            prepared.json(),
            serde_json::to_vec(&value).unwrap().as_slice()
        );
        assert_eq!(PreparedProfile::from_value(&value), prepared);
        for scopes in SCOPE_SETS {
            let grant = ScopeGrant::from_scope_claim(scopes);
            for filter_display in FILTER_DISPLAYS {
                let expected = reference(text, &grant, filter_display);
                let got = prepared.filtered_json(&grant, filter_display);
                assert!(
                    got == expected,
                    "scopes {scopes:?}, filterDisplay {filter_display:?}:\n got {}\nwant {}",
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&expected)
                );
            }
        }
    }

    #[test]
    fn fake_and_null_profiles_filter_byte_for_byte_like_filter_profile() {
        assert_same_as_filter_profile(&serde_json::to_vec(&null_profile()).unwrap());
        for seed in 0..40 {
            let login_method = [
                None,
                Some(LoginMethod::MozillaLdap),
                Some(LoginMethod::Github),
                Some(LoginMethod::Email),
            ][seed as usize % 4];
            let options = FakeOptions {
                login_method,
                ..FakeOptions::default()
            };
            let profile = fake_profile(seed, &options);
            assert_same_as_filter_profile(&serde_json::to_vec(&profile).unwrap());
            // Stored text need not be compact: whitespace and key order are the writer's.
            assert_same_as_filter_profile(&serde_json::to_vec_pretty(&profile).unwrap());
        }
    }

    #[test]
    fn awkward_json_is_canonicalised_and_filtered_like_a_value() {
        let texts = [
            // Escapes, numbers in every form, null display, unknown levels, `_` keys, metadata
            // that is not an object, nested groups, arrays of objects, empty containers.
            r#"{ "schema" : "s\/x\u00e9", "n": [1, -0, -5, 1.0, 1e3, 12345678901234567890123, -1.5e-7],
               "_private": {"metadata": {"classification": "INDIVIDUAL CONFIDENTIAL"}},
               "a": {"metadata": {"classification": "PUBLIC", "display": null}, "value": "\ud83d\ude00"},
               "b": {"value": 1, "metadata": {"classification": "PUBLIC", "display": "public"}},
               "c": {"metadata": "not an object", "value": 2},
               "d": {"metadata": {"display": "public"}, "value": 3},
               "e": {"metadata": {"classification": "PUBLIC", "display": 7}},
               "f": {"metadata": {"classification": "P\u0055BLIC", "display": "st\u0061ff"}},
               "g": {"inner": {"deeper": {"metadata": {"classification": "PUBLIC", "display": "public"}, "value": []},
                               "hidden": {"metadata": {"classification": "WORKGROUP CONFIDENTIAL", "display": "staff"}}},
                     "list": [{"metadata": {"classification": "x"}}], "flag": true, "empty": {}},
               "h": {}, "i": [], "j": null, "k": "text", "l": false,
               "m": {"metadata": {"classification": "MOZILLA CONFIDENTIAL", "display": "ndaed", "x": {"y": 1}},
                     "value": {"nested": {"metadata": {"classification": "PUBLIC"}}}} }"#,
            r#"[{"metadata": {"classification": "PUBLIC"}}]"#,
            r#""just a string""#,
            "null",
            "{}",
            // Duplicate keys: a Value keeps the last value at the first position.
            r#"{"a": {"metadata": {"classification": "PUBLIC", "display": "public"}, "value": 1},
                "b": 2,
                "a": {"metadata": {"classification": "WORKGROUP CONFIDENTIAL", "display": "staff"}, "value": 3}}"#,
            r#"{"g": {"x": {"metadata": {"classification": "PUBLIC", "display": "public", "display": "staff"}}}}"#,
        ];
        for text in texts {
            assert_same_as_filter_profile(text.as_bytes());
        }
        // Many keys in one object (the sorted duplicate check), one repeated.
        let mut many: String = (0..40).map(|i| format!("\"k{i}\": {i},")).collect();
        many.push_str("\"k7\": {\"metadata\": {\"classification\": \"PUBLIC\"}}");
        assert_same_as_filter_profile(format!("{{{many}}}").as_bytes());
        let unique: String = (0..40)
            .map(|i| format!("\"k{i}\": {i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_same_as_filter_profile(format!("{{{unique}}}").as_bytes());
    }

    #[test]
    fn invalid_json_is_refused_like_serde_json_refuses_it() {
        for bad in [
            "",
            "{",
            "{\"a\": 1} x",
            "{\"a\" 1}",
            "[1,]",
            "\"\\ud800\"",
            "{1: 2}",
        ] {
            assert!(
                PreparedProfile::from_json(bad.as_bytes()).is_err(),
                "{bad:?} was accepted"
            );
            assert!(serde_json::from_str::<Value>(bad).is_err());
        }
    }

    #[test]
    fn the_prepared_index_is_small_next_to_the_json() {
        let profile = fake_profile(3, &FakeOptions::default());
        let prepared = PreparedProfile::from_value(&profile);
        let json = prepared.json().len();
        assert!(prepared.memory_size() > json);
        assert!(
            prepared.memory_size() < json + json / 2,
            "{}",
            prepared.memory_size()
        );
        assert_eq!(
            prepared.filtered_json(&ScopeGrant::full(), None),
            serde_json::to_vec(&profile).unwrap()
        );
        assert_eq!(
            PreparedProfile::from_json(br#"{"x": 1}"#)
                .unwrap()
                .filtered_json(&ScopeGrant::from_scopes::<&str>(&[]), None),
            serde_json::to_vec(&json!({"x": 1})).unwrap()
        );
    }
}
