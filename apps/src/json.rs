//! A small JSON writer: enough for the final report, no dependencies.

use std::fmt::Write;

/// Builds one JSON text. Call `key` before each value inside an object.
/// Debug builds panic on a key written twice in one object: readers
/// disagree on which value wins (jq and Python keep the last).
#[derive(Default)]
pub struct JsonWriter {
    out: String,
    /// Per open container: whether it already holds an element.
    stack: Vec<bool>,
    after_key: bool,
    /// Per open container: the keys written so far (debug builds only).
    #[cfg(debug_assertions)]
    keys: Vec<Vec<String>>,
}

impl JsonWriter {
    /// An empty writer.
    pub fn new() -> JsonWriter {
        JsonWriter::default()
    }

    fn sep(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        if let Some(has) = self.stack.last_mut() {
            if *has {
                self.out.push(',');
            }
            *has = true;
        }
    }

    /// Opens an object.
    pub fn begin_object(&mut self) -> &mut Self {
        self.sep();
        self.out.push('{');
        self.stack.push(false);
        #[cfg(debug_assertions)]
        self.keys.push(Vec::new());
        self
    }

    /// Closes an object.
    pub fn end_object(&mut self) -> &mut Self {
        self.stack.pop();
        #[cfg(debug_assertions)]
        self.keys.pop();
        self.out.push('}');
        self
    }

    /// Opens an array.
    pub fn begin_array(&mut self) -> &mut Self {
        self.sep();
        self.out.push('[');
        self.stack.push(false);
        #[cfg(debug_assertions)]
        self.keys.push(Vec::new());
        self
    }

    /// Closes an array.
    pub fn end_array(&mut self) -> &mut Self {
        self.stack.pop();
        #[cfg(debug_assertions)]
        self.keys.pop();
        self.out.push(']');
        self
    }

    /// Writes an object key.
    pub fn key(&mut self, k: &str) -> &mut Self {
        #[cfg(debug_assertions)]
        if let Some(keys) = self.keys.last_mut() {
            debug_assert!(!keys.iter().any(|x| x == k), "JSON key \"{k}\" written twice in one object");
            keys.push(k.to_string());
        }
        self.sep();
        self.string_raw(k);
        self.out.push(':');
        self.after_key = true;
        self
    }

    fn string_raw(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    /// A string value.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.sep();
        self.string_raw(s);
        self
    }

    /// An unsigned integer value.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.sep();
        let _ = write!(self.out, "{v}");
        self
    }

    /// A number value (non-finite numbers become null).
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.sep();
        if v.is_finite() {
            let _ = write!(self.out, "{v}");
        } else {
            self.out.push_str("null");
        }
        self
    }

    /// A boolean value.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    /// `"k": "v"`.
    pub fn field_str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k).str(v)
    }

    /// `"k": v`.
    pub fn field_u64(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k).u64(v)
    }

    /// `"k": v`.
    pub fn field_f64(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k).f64(v)
    }

    /// `"k": v`.
    pub fn field_bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k).bool(v)
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_and_escapes() {
        let mut w = JsonWriter::new();
        w.begin_object().field_str("a\"b", "x\ny").key("list").begin_array();
        w.u64(1).f64(2.5).f64(f64::NAN).begin_object().field_bool("t", true).end_object();
        w.end_array().field_u64("n", 7).end_object();
        assert_eq!(w.finish(), r#"{"a\"b":"x\ny","list":[1,2.5,null,{"t":true}],"n":7}"#);
    }

    #[test]
    fn same_key_in_sibling_and_nested_objects_is_fine() {
        let mut w = JsonWriter::new();
        w.begin_object().field_u64("n", 1).key("a").begin_array();
        w.begin_object().field_u64("n", 2).end_object().begin_object().field_u64("n", 3).end_object();
        w.end_array().end_object();
        assert_eq!(w.finish(), r#"{"n":1,"a":[{"n":2},{"n":3}]}"#);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "JSON key \"n\" written twice in one object")]
    fn duplicate_key_panics_in_debug_builds() {
        let mut w = JsonWriter::new();
        w.begin_object().field_u64("n", 1).key("a").begin_object().end_object().field_u64("n", 2);
    }
}
