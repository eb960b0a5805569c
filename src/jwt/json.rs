//! JSON parsing that rejects duplicate object members (serde_json silently keeps the last one),
//! and a minimal, mostly borrowing parser for the JOSE header.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses a JSON object, rejecting duplicate members at every depth.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let map = de
        .deserialize_any(ObjectVisitor)
        .map_err(|e| describe(&e))?;
    de.end().map_err(|e| describe(&e))?;
    Ok(map)
}

/// A serde_json error, without the input.
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        // Our own messages (duplicate member, not an object) are safe to show in full.
        Category::Data => super::error::bounded_reason(e),
        Category::Syntax => format!("invalid JSON (line {}, column {})", e.line(), e.column()),
        Category::Eof => "truncated JSON".to_owned(),
        Category::Io => "invalid JSON".to_owned(),
    }
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!(
        "duplicate JSON member {:?}",
        super::error::echo(key)
    ))
}

/// Top level: must be an object.
struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        visit_object(map)
    }
}

fn visit_object<'de, A: MapAccess<'de>>(mut map: A) -> Result<Map<String, Value>, A::Error> {
    let mut out = Map::new();
    while let Some(key) = map.next_key::<String>()? {
        let value = map.next_value_seed(StrictValue)?;
        match out.entry(key) {
            serde_json::map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
            serde_json::map::Entry::Occupied(slot) => return Err(duplicate(slot.key())),
        }
    }
    Ok(out)
}

/// Any JSON value, objects checked for duplicate members.
#[derive(Clone, Copy)]
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never produces a non-finite number; `from` maps one to null.
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        visit_object(map).map(Value::Object)
    }
}

/// A JSON string borrowed from the input when it has no escapes; `NotString` for other values.
enum Str<'a> {
    Str(Cow<'a, str>),
    NotString,
}

impl<'de> serde::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str::Str(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Str::NotString)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Str::NotString)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Str::NotString)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Str::NotString)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Str::NotString)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Str::NotString)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                // Still reject duplicate members inside nested values.
                StrictSkip.visit_seq(seq).map(|_| Str::NotString)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                StrictSkip.visit_map(map).map(|_| Str::NotString)
            }
        }
        d.deserialize_any(V)
    }
}

/// An object key, borrowed when possible.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Rejects a repeated name among `names` (sorting when there are many, so an adversarial
/// object costs O(n log n)).
fn check_unique<T, E: de::Error>(items: &mut [T], name: impl Fn(&T) -> &str) -> Result<(), E> {
    if items.len() <= 8 {
        for (i, a) in items.iter().enumerate() {
            if items[..i].iter().any(|b| name(a) == name(b)) {
                return Err(duplicate(name(a)));
            }
        }
    } else {
        items.sort_unstable_by(|a, b| name(a).cmp(name(b)));
        if let Some(w) = items.windows(2).find(|w| name(&w[0]) == name(&w[1])) {
            return Err(duplicate(name(&w[0])));
        }
    }
    Ok(())
}

/// Walks any JSON value without building it, still rejecting duplicate members; yields whether
/// the value is non-null.
#[derive(Clone, Copy)]
struct StrictSkip;

impl<'de> DeserializeSeed<'de> for StrictSkip {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSkip {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_none<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut names: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            map.next_value_seed(self)?;
            names.push(key);
        }
        check_unique(&mut names, |n| n)?;
        Ok(true)
    }
}

/// The claims the verifier reads, each parsed into a slot of [`Claims`] in the shape it is
/// used in; every other member is walked (for duplicate members and syntax) but not built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    Exp,
    Nbf,
    Iat,
    Iss,
    Aud,
    Sub,
    OrganizationId,
    ParentApiKeyId,
    Jti,
    ApiKeyName,
    ServiceTier,
    Priority,
    Models,
    Origins,
    Constraints,
    RealtimeConcurrentSessionLimit,
    ZeroDataRetention,
    Attribution,
}

const CLAIM_COUNT: usize = 18;

impl Claim {
    fn of(name: &str) -> Option<Claim> {
        Some(match name {
            "exp" => Claim::Exp,
            "nbf" => Claim::Nbf,
            "iat" => Claim::Iat,
            "iss" => Claim::Iss,
            "aud" => Claim::Aud,
            "sub" => Claim::Sub,
            "organizationId" => Claim::OrganizationId,
            "parent_api_key_id" => Claim::ParentApiKeyId,
            "jti" => Claim::Jti,
            "api_key_name" => Claim::ApiKeyName,
            "service_tier" => Claim::ServiceTier,
            "priority" => Claim::Priority,
            "models" => Claim::Models,
            "origins" => Claim::Origins,
            "constraints" => Claim::Constraints,
            "realtimeConcurrentSessionLimit" => Claim::RealtimeConcurrentSessionLimit,
            "zeroDataRetention" => Claim::ZeroDataRetention,
            "attribution" => Claim::Attribution,
            _ => return None,
        })
    }

    fn shape(self) -> Shape {
        match self {
            Claim::Iss
            | Claim::Sub
            | Claim::OrganizationId
            | Claim::ParentApiKeyId
            | Claim::Jti
            | Claim::ApiKeyName => Shape::Text,
            Claim::Aud => Shape::TextOrList,
            Claim::Models | Claim::Origins => Shape::TextList,
            Claim::Attribution => Shape::TextMap,
            Claim::Exp
            | Claim::Nbf
            | Claim::Iat
            | Claim::ServiceTier
            | Claim::Priority
            | Claim::Constraints
            | Claim::RealtimeConcurrentSessionLimit
            | Claim::ZeroDataRetention => Shape::Any,
        }
    }
}

/// The shape a claim is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A string.
    Text,
    /// An array of strings.
    TextList,
    /// A string or an array of strings.
    TextOrList,
    /// An object of strings.
    TextMap,
    /// Any JSON value.
    Any,
}

/// A claim as parsed. Strings borrow from the payload when they have no escapes.
#[derive(Debug, Default)]
pub(crate) enum Parsed<'de> {
    /// Not in the payload.
    #[default]
    Absent,
    /// `null`.
    Null,
    Text(Cow<'de, str>),
    TextList(Vec<Cow<'de, str>>),
    TextMap(Vec<(Cow<'de, str>, Cow<'de, str>)>),
    Value(Value),
    /// Present, not null, and not of the claim's shape.
    Wrong,
}

/// Reads one claim in its shape.
#[derive(Clone, Copy)]
struct ShapeSeed(Shape);

impl<'de> DeserializeSeed<'de> for ShapeSeed {
    type Value = Parsed<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parsed<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl ShapeSeed {
    fn scalar<'de>(self, value: impl FnOnce() -> Value) -> Parsed<'de> {
        match self.0 {
            Shape::Any => Parsed::Value(value()),
            _ => Parsed::Wrong,
        }
    }

    fn text<'de>(self, text: Cow<'de, str>) -> Parsed<'de> {
        match self.0 {
            Shape::Text | Shape::TextOrList => Parsed::Text(text),
            Shape::Any => Parsed::Value(Value::String(text.into_owned())),
            Shape::TextList | Shape::TextMap => Parsed::Wrong,
        }
    }
}

impl<'de> Visitor<'de> for ShapeSeed {
    type Value = Parsed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Parsed<'de>, E> {
        Ok(self.scalar(|| Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Parsed<'de>, E> {
        Ok(self.scalar(|| Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Parsed<'de>, E> {
        Ok(self.scalar(|| Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Parsed<'de>, E> {
        Ok(self.scalar(|| Value::from(v)))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Parsed<'de>, E> {
        Ok(self.text(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Parsed<'de>, E> {
        Ok(self.text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Parsed<'de>, E> {
        Ok(self.text(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Null)
    }

    fn visit_none<E>(self) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Parsed<'de>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed<'de>, A::Error> {
        match self.0 {
            Shape::TextList | Shape::TextOrList => {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(32));
                let mut all_text = true;
                while let Some(item) = seq.next_element_seed(ShapeSeed(Shape::Text))? {
                    match item {
                        Parsed::Text(s) if all_text => items.push(s),
                        _ => all_text = false,
                    }
                }
                Ok(if all_text {
                    Parsed::TextList(items)
                } else {
                    Parsed::Wrong
                })
            }
            Shape::Any => StrictValue.visit_seq(seq).map(Parsed::Value),
            Shape::Text | Shape::TextMap => StrictSkip.visit_seq(seq).map(|_| Parsed::Wrong),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed<'de>, A::Error> {
        match self.0 {
            Shape::TextMap => {
                let mut entries: Vec<(Cow<'de, str>, Cow<'de, str>)> = Vec::new();
                let mut all_text = true;
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    match map.next_value_seed(ShapeSeed(Shape::Text))? {
                        Parsed::Text(value) => entries.push((key, value)),
                        // Keep the key for the duplicate check.
                        _ => {
                            all_text = false;
                            entries.push((key, Cow::Borrowed("")));
                        }
                    }
                }
                check_unique(&mut entries, |(k, _)| k)?;
                Ok(if all_text {
                    Parsed::TextMap(entries)
                } else {
                    Parsed::Wrong
                })
            }
            Shape::Any => StrictValue.visit_map(map).map(Parsed::Value),
            Shape::Text | Shape::TextList | Shape::TextOrList => {
                StrictSkip.visit_map(map).map(|_| Parsed::Wrong)
            }
        }
    }
}

/// A claims set parsed in one pass: the known claims in their shapes, the names of the others.
#[derive(Debug, Default)]
pub(crate) struct Claims<'de> {
    slots: [Parsed<'de>; CLAIM_COUNT],
    /// Every other top-level member, and whether its value is non-null.
    others: Vec<(Cow<'de, str>, bool)>,
}

impl<'de> Claims<'de> {
    /// A known claim as parsed.
    pub(crate) fn get(&self, claim: Claim) -> &Parsed<'de> {
        &self.slots[claim as usize]
    }

    /// A known claim of shape "any JSON value", when present and not null.
    pub(crate) fn value(&self, claim: Claim) -> Option<&Value> {
        match self.get(claim) {
            Parsed::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Takes a known claim out.
    pub(crate) fn take(&mut self, claim: Claim) -> Parsed<'de> {
        std::mem::take(&mut self.slots[claim as usize])
    }

    /// Whether a member named `name` is present with a non-null value.
    pub(crate) fn has(&self, name: &str) -> bool {
        match Claim::of(name) {
            Some(claim) => !matches!(self.get(claim), Parsed::Absent | Parsed::Null),
            None => self
                .others
                .iter()
                .any(|(n, non_null)| *non_null && n == name),
        }
    }
}

/// Parses a claims set: a JSON object without duplicate members at any depth.
pub(crate) fn parse_claims(bytes: &[u8]) -> Result<Claims<'_>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let claims = de
        .deserialize_map(ClaimsVisitor)
        .map_err(|e| describe(&e))?;
    de.end().map_err(|e| describe(&e))?;
    Ok(claims)
}

struct ClaimsVisitor;

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = Claims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut claims = Claims::default();
        // Known claims are checked for repeats with a bit set, the others with a sort.
        let mut seen = 0u32;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match Claim::of(&key) {
                Some(claim) => {
                    let bit = 1u32 << (claim as u32);
                    if seen & bit != 0 {
                        return Err(duplicate(&key));
                    }
                    seen |= bit;
                    claims.slots[claim as usize] = map.next_value_seed(ShapeSeed(claim.shape()))?;
                }
                None => {
                    let non_null = map.next_value_seed(StrictSkip)?;
                    claims.others.push((key, non_null));
                }
            }
        }
        check_unique(&mut claims.others, |(n, _)| n)?;
        Ok(claims)
    }
}

/// A member of the header that is present but not a string.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Member<T> {
    #[default]
    Absent,
    NotString,
    Present(T),
}

/// The JOSE header members the verifier looks at. Everything else (`typ`, `jwk`, `jku`, `x5u`,
/// `x5c`, …) is skipped without being interpreted.
#[derive(Debug, Default)]
pub(crate) struct Header<'a> {
    pub(crate) alg: Member<Cow<'a, str>>,
    pub(crate) kid: Member<Cow<'a, str>>,
    pub(crate) crit: bool,
}

/// Parses the header: a JSON object without duplicate members.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header<'_>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let header = de
        .deserialize_map(HeaderVisitor)
        .map_err(|e| describe(&e))?;
    de.end().map_err(|e| describe(&e))?;
    Ok(header)
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = Header::default();
        // Keys seen so far; a header has a handful, so a small vector is enough, with a sort
        // at the end to keep the duplicate check cheap for an adversarial header.
        let mut seen: Vec<Cow<'de, str>> = Vec::with_capacity(4);
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                "alg" => header.alg = member(map.next_value::<Str<'de>>()?),
                "kid" => header.kid = member(map.next_value::<Str<'de>>()?),
                "crit" => {
                    header.crit = true;
                    map.next_value_seed(StrictSkip)?;
                }
                _ => {
                    map.next_value_seed(StrictSkip)?;
                }
            }
            seen.push(key);
        }
        check_unique(&mut seen, |n| n)?;
        Ok(header)
    }
}

fn member(s: Str<'_>) -> Member<Cow<'_, str>> {
    match s {
        Str::Str(s) => Member::Present(s),
        Str::NotString => Member::NotString,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_rejected_at_every_depth() {
        assert!(parse_object(br#"{"a":1,"b":2}"#).is_ok());
        let e = parse_object(br#"{"a":1,"a":2}"#).unwrap_err();
        assert!(e.contains("duplicate JSON member \"a\""), "{e}");
        let e = parse_object(br#"{"a":{"b":1,"b":1}}"#).unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
        let e = parse_object(br#"{"a":[{"b":1,"b":1}]}"#).unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
        // Escaped and unescaped spellings of the same name are the same member.
        let e = parse_object(br#"{"a":1,"\u0061":2}"#).unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn claims_in_one_pass() {
        let c = parse_claims(
            br#"{"sub":"u","exp":5,"custom":{"a":[1,{"b":null}]},"nil":null,"aud":["x"],"iss":7,"models":"m","attribution":{"a":"b"}}"#,
        )
        .unwrap();
        assert!(matches!(
            c.get(Claim::Sub),
            Parsed::Text(Cow::Borrowed("u"))
        ));
        assert_eq!(c.value(Claim::Exp), Some(&Value::from(5)));
        assert!(matches!(c.get(Claim::Aud), Parsed::TextList(v) if v == &["x"]));
        assert!(matches!(c.get(Claim::Iss), Parsed::Wrong));
        assert!(matches!(c.get(Claim::Models), Parsed::Wrong));
        assert!(matches!(c.get(Claim::Attribution), Parsed::TextMap(v) if v.len() == 1));
        assert!(matches!(c.get(Claim::Jti), Parsed::Absent));
        assert!(c.has("sub") && c.has("custom") && c.has("aud") && c.has("iss"));
        assert!(!c.has("nil") && !c.has("jti") && !c.has("other"));
        let c = parse_claims(br#"{"sub":null,"aud":"a","s\u0075b2":1,"models":["a",1]}"#).unwrap();
        assert!(matches!(c.get(Claim::Sub), Parsed::Null));
        assert!(!c.has("sub") && c.has("sub2"));
        assert!(matches!(c.get(Claim::Aud), Parsed::Text(_)));
        assert!(matches!(c.get(Claim::Models), Parsed::Wrong));
        for bad in [
            &br#"{"sub":"a","sub":"b"}"#[..],
            br#"{"x":1,"x":2}"#,
            br#"{"x":{"y":1,"y":2}}"#,
            br#"{"x":[{"y":1,"y":2}]}"#,
            br#"{"models":[{"y":1,"y":2}]}"#,
            br#"{"attribution":{"a":"1","a":"2"}}"#,
            br#"{"attribution":{"a":1,"a":"2"}}"#,
            br#"{"sub":"a","\u0073ub":"b"}"#,
            br#"{"iss":{"y":1,"y":2}}"#,
            br#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"a":0}"#,
            br#"{"x":1,"x":2}"#,
            b"[]",
            b"{}}",
        ] {
            assert!(
                parse_claims(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn only_objects() {
        assert!(parse_object(b"[1]").is_err());
        assert!(parse_object(b"1").is_err());
        assert!(parse_object(b"\"x\"").is_err());
        assert!(parse_object(b"{} x").is_err());
        assert!(parse_object(b"{").is_err());
        assert!(parse_object(b"").is_err());
    }

    #[test]
    fn header() {
        let h = parse_header(br#"{"alg":"EdDSA","kid":"k1","typ":"JWT","jwk":{"x":1}}"#).unwrap();
        assert_eq!(h.alg, Member::Present(Cow::Borrowed("EdDSA")));
        assert_eq!(h.kid, Member::Present(Cow::Borrowed("k1")));
        assert!(!h.crit);
        let h = parse_header(br#"{"alg":1,"crit":["exp"]}"#).unwrap();
        assert_eq!(h.alg, Member::NotString);
        assert_eq!(h.kid, Member::Absent);
        assert!(h.crit);
        assert!(parse_header(br#"{"alg":"EdDSA","alg":"none"}"#).is_err());
        assert!(parse_header(br#"{"x":{"y":1,"y":2}}"#).is_err());
        let many: String = (0..20).map(|i| format!("\"k{i}\":0,")).collect();
        assert!(parse_header(format!("{{{many}\"k3\":1}}").as_bytes()).is_err());
        assert!(parse_header(format!("{{{many}\"z\":1}}").as_bytes()).is_ok());
        assert!(parse_header(b"[]").is_err());
    }
}
