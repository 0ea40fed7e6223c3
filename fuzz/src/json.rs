//! The JSON oracle for the telemetry target.
//!
//! [`Tree`] is a JSON value as a strict parser (serde_json) reads it,
//! keeping every object member in order, repeated names included (serde's
//! own `Value` would keep one), so a reply that names a member twice is
//! caught.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value, members in order.
#[derive(Clone, Debug)]
pub enum Tree {
    /// null
    Null,
    /// true/false
    Bool(bool),
    /// a number, as serde_json read it (integers exact)
    Num(serde_json::Number),
    /// a string
    Str(String),
    /// an array
    Arr(Vec<Tree>),
    /// an object: every member, in order
    Obj(Vec<(String, Tree)>),
}

/// Parses `s` strictly (RFC 8259; serde_json stops at 128 levels of
/// nesting, so nothing here recurses deeper than that).
pub fn parse(s: &str) -> Result<Tree, serde_json::Error> {
    serde_json::from_str(s)
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tree, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Tree, E> {
        Ok(Tree::Num(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Tree, E> {
        Ok(Tree::Num(n.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Tree, E> {
        serde_json::Number::from_f64(n).map(Tree::Num).ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, s: &str) -> Result<Tree, E> {
        Ok(Tree::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Tree, E> {
        Ok(Tree::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Tree::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut m = Vec::new();
        while let Some((k, v)) = map.next_entry()? {
            m.push((k, v));
        }
        Ok(Tree::Obj(m))
    }
}

impl Tree {
    /// Whether some object, at any depth, names a member twice.
    pub fn has_repeated_keys(&self) -> bool {
        match self {
            Tree::Arr(a) => a.iter().any(Tree::has_repeated_keys),
            Tree::Obj(m) => {
                let mut names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
                names.sort_unstable();
                names.windows(2).any(|w| w[0] == w[1]) || m.iter().any(|(_, x)| x.has_repeated_keys())
            }
            _ => false,
        }
    }
}
