//! Random inputs for the property tests (tests only): a seeded generator, so every run tries
//! the same cases and a failure names the seed that found it.

use crate::retry::Jitter;
use serde_json::{json, Map, Value};

pub struct Gen(Jitter);

/// Characters that matter to parsers here: separators, escapes, quotes, multi-byte text.
const ALPHABET: &[&str] = &[
    "a",
    "Z",
    "0",
    "9",
    "-",
    "_",
    ":",
    "/",
    "%",
    "%FF",
    "%2F",
    "%C0%AF",
    "{",
    "}",
    "?",
    "#",
    ".",
    "*",
    " ",
    "\r\n",
    "\"",
    "\\",
    "é",
    "😀",
    "\u{0}",
    "$",
    "@",
    "arn:aws:lambda:",
    "$LATEST",
];

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(Jitter::new(seed))
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.0.sample() * n as f64) as usize).min(n.saturating_sub(1))
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.0.sample() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.below(256) as u8).collect()
    }

    pub fn text(&mut self, max_parts: usize) -> String {
        let parts = self.below(max_parts + 1);
        (0..parts).map(|_| *self.pick(ALPHABET)).collect()
    }

    /// A JSON value of any type, nested at most `depth`.
    pub fn json(&mut self, depth: u32) -> Value {
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.chance(0.5)),
            2 => json!(self.below(2000) as i64 - 1000),
            3 => json!(self.0.sample() * 1e6),
            4 => json!(self.text(6)),
            5 => Value::Array((0..self.below(4)).map(|_| self.json(depth - 1)).collect()),
            _ => {
                let mut map = Map::new();
                for _ in 0..self.below(4) {
                    map.insert(self.text(3), self.json(depth - 1));
                }
                Value::Object(map)
            }
        }
    }

    /// `value` with one random place replaced by random JSON (or a key added or removed).
    pub fn mutate(&mut self, value: &mut Value) {
        match value {
            Value::Object(map) if !map.is_empty() && self.chance(0.8) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                let key = self.pick(&keys).clone();
                match self.below(4) {
                    0 => {
                        map.remove(&key);
                    }
                    1 => {
                        map.insert(self.text(3), self.json(2));
                    }
                    _ => {
                        if let Some(v) = map.get_mut(&key) {
                            self.mutate(v);
                        }
                    }
                }
            }
            Value::Array(list) if !list.is_empty() && self.chance(0.8) => {
                let i = self.below(list.len());
                self.mutate(&mut list[i]);
            }
            other => *other = self.json(2),
        }
    }
}
