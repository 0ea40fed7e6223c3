//! The JSON oracle for the telemetry and pmdstat targets.
//!
//! [`Tree`] is a JSON value as a strict parser (serde_json) reads it,
//! keeping every object member in order, repeated names included (serde's
//! own `Value` would keep one). [`agree`] checks that a `pmdstat::Json`
//! reads the same, using only what pmdstat's callers use (`get`, `arr`,
//! `u64`, `f64`, `str`), so the checks hold whatever `Json` looks like
//! inside.

use std::fmt;

use ferrite_apps::json::JsonWriter;
use ferrite_apps::pmdstat::Json;
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

    /// Writes the value with testpmd's `JsonWriter` (objects must not repeat
    /// names: the writer refuses them in debug builds). Null is written the
    /// way the writer writes it, as a non-finite number.
    pub fn write(&self, w: &mut JsonWriter) {
        match self {
            Tree::Null => {
                w.f64(f64::NAN);
            }
            Tree::Bool(b) => {
                w.bool(*b);
            }
            Tree::Num(n) => match n.as_u64() {
                Some(u) => {
                    w.u64(u);
                }
                None => {
                    w.f64(n.as_f64().unwrap_or(f64::NAN));
                }
            },
            Tree::Str(s) => {
                w.str(s);
            }
            Tree::Arr(a) => {
                w.begin_array();
                for x in a {
                    x.write(w);
                }
                w.end_array();
            }
            Tree::Obj(m) => {
                w.begin_object();
                for (k, x) in m {
                    w.key(k);
                    x.write(w);
                }
                w.end_object();
            }
        }
    }
}

/// How closely numbers must agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbers {
    /// Bit for bit (the same text, read twice).
    Exact,
    /// Within 2 units in the last place: a number printed as decimal by
    /// the writer and read back need not come back bit for bit (serde_json
    /// without its `float_roundtrip` feature may be 1 ULP off), and a rate
    /// or an uptime does not need to.
    Close,
}

/// Checks that `j` reads like `t`: `Err` names the first place it does not.
pub fn agree(j: &Json, t: &Tree, numbers: Numbers) -> Result<(), String> {
    agree_at(j, t, numbers, &mut String::from("$"))
}

fn agree_at(j: &Json, t: &Tree, numbers: Numbers, path: &mut String) -> Result<(), String> {
    // What every accessor gives on a value of another kind.
    if !matches!(t, Tree::Str(_)) && !j.str().is_empty() {
        return fail(path, format!("str() is {:?} on a non-string", j.str()));
    }
    if !matches!(t, Tree::Arr(_)) && !j.arr().is_empty() {
        return fail(path, format!("arr() has {} elements on a non-array", j.arr().len()));
    }
    if !matches!(t, Tree::Num(_)) && (j.u64() != 0 || j.f64() != 0.0) {
        return fail(path, format!("u64()/f64() are {}/{} on a non-number", j.u64(), j.f64()));
    }
    if !matches!(t, Tree::Obj(_)) {
        let x = j.get("x");
        if !x.str().is_empty() || !x.arr().is_empty() || x.u64() != 0 {
            return fail(path, "get() found a member in a non-object".into());
        }
    }
    match t {
        Tree::Null | Tree::Bool(_) => Ok(()),
        Tree::Num(n) => {
            let want = n.as_f64().unwrap_or(f64::NAN);
            let got = j.f64();
            let exact = got.to_bits() == want.to_bits() || got == want;
            if !exact && (numbers == Numbers::Exact || ulps(got, want) > 2) {
                return fail(path, format!("f64() is {got:e}, the text says {n} ({want:e})"));
            }
            // u64(): the number truncated and clamped to 0..=u64::MAX, as
            // pmdstat documents; a whole number in range may come back
            // exact (as an integer) or as its f64 rounding truncated: both
            // are accepted, since the f64 is checked above.
            let via_f64 = want as u64;
            let got_u = j.u64();
            if exact && got_u != via_f64 && Some(got_u) != n.as_u64() {
                return fail(path, format!("u64() is {got_u}, the text says {n} (want {via_f64})"));
            }
            Ok(())
        }
        Tree::Str(s) => {
            if j.str() != s {
                return fail(path, format!("str() is {:?}, the text says {s:?}", j.str()));
            }
            Ok(())
        }
        Tree::Arr(a) => {
            let got = j.arr();
            if got.len() != a.len() {
                return fail(path, format!("arr() has {} elements, the text {}", got.len(), a.len()));
            }
            for (i, (x, y)) in got.iter().zip(a).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                agree_at(x, y, numbers, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Tree::Obj(m) => {
            for (i, (k, x)) in m.iter().enumerate() {
                // `get` gives the first member of a name.
                if m[..i].iter().any(|(n, _)| n == k) {
                    continue;
                }
                let len = path.len();
                path.push_str(&format!(".{k:?}"));
                agree_at(j.get(k), x, numbers, path)?;
                path.truncate(len);
            }
            let absent = "\u{1}not a member";
            if !m.iter().any(|(k, _)| k == absent) {
                let x = j.get(absent);
                if !x.str().is_empty() || !x.arr().is_empty() || x.u64() != 0 {
                    return fail(path, "get() of an absent member is not null".into());
                }
            }
            Ok(())
        }
    }
}

fn fail(path: &str, what: String) -> Result<(), String> {
    Err(format!("at {path}: {what}"))
}

/// Distance in units in the last place (huge across signs or for NaN).
fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() || (a.is_sign_negative() != b.is_sign_negative() && a != b) {
        return u64::MAX;
    }
    a.to_bits().abs_diff(b.to_bits())
}
