//! Go's `encoding/json`, as far as KrakenD's handling of a Lambda answer depends on it.
//!
//! KrakenD decodes a Lambda result with `json.Unmarshal` into a `map[string]interface{}`
//! (krakend-lambda v2.0.3 `backend.go:87-90`) and the `json` output encoding writes the final
//! answer with `json.Marshal` (lura v2.9.1 `router/gin/render.go:104-111`, gin v1.9.1
//! `render/json.go:66-74`). This module does both the way Go does, on `serde_json` values.

use serde_json::{Map, Number, Value};

use super::{Data, DecodeError};

/// Nesting deeper than this is rejected. Go accepts up to 10,000 levels; this bound keeps every
/// recursive walk of a decoded answer (formatting, flatmap, encoding) well inside a Wasm stack.
pub const MAX_DEPTH: usize = 128;

/// Decodes a Lambda result body as krakend-lambda does (`json.Unmarshal` into a map,
/// `backend.go:87-90`).
///
/// * A JSON object is the answer; `null` is Go's nil map, returned as `None` (it is not `{}`:
///   see [`Data`]).
/// * An array, string, number or boolean is [`DecodeError::NotAnObject`]: KrakenD fails the
///   backend (`json: cannot unmarshal array into Go value of type map[string]interface {}`), so
///   `is_collection` never wraps a Lambda array.
/// * Invalid JSON, an empty body or trailing data is [`DecodeError::Syntax`].
///
/// Go's decoding rules are followed exactly, not serde_json's:
/// * every number becomes a `float64` (krakend-lambda does not `UseNumber`, unlike lura's HTTP
///   decoder `encoding/encoding.go:47-51`): the text is rounded once to the nearest `f64`
///   (`9007199254740993` → `9007199254740992`, `12345678901234567890` →
///   `12345678901234567000` once encoded); a number beyond the `f64` range (`1e400`) is an error
///   ([`DecodeError::NumberOutOfRange`]), one below it (`1e-400`) is `0`; `-0` stays `-0`.
///   The decoded values therefore hold only `f64` numbers.
/// * invalid UTF-8 inside a string becomes U+FFFD, one per invalid byte, and an unpaired
///   surrogate escape (`\ud800`) becomes U+FFFD, where serde_json would fail.
/// * a repeated key keeps its last value.
/// * nesting deeper than [`MAX_DEPTH`] is [`DecodeError::TooDeep`] (Go: 10,000).
pub fn decode_backend(body: &[u8]) -> Result<Data, DecodeError> {
    let mut p = Parser {
        b: body,
        i: 0,
        depth: 0,
        out_of_range: None,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i < p.b.len() {
        return Err(p.syntax("data after the top-level value"));
    }
    let data = match v {
        Value::Object(m) => Some(m),
        Value::Null => None,
        Value::Array(_) => return Err(DecodeError::NotAnObject("an array")),
        Value::String(_) => return Err(DecodeError::NotAnObject("a string")),
        Value::Number(_) => return Err(DecodeError::NotAnObject("a number")),
        Value::Bool(_) => return Err(DecodeError::NotAnObject("a boolean")),
    };
    // Go reports a number out of range only after the whole document proved valid.
    if let Some(offset) = p.out_of_range {
        return Err(DecodeError::NumberOutOfRange { offset });
    }
    Ok(data)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
    out_of_range: Option<usize>,
}

impl Parser<'_> {
    fn syntax(&self, message: &'static str) -> DecodeError {
        DecodeError::Syntax {
            offset: self.i,
            message,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        match self.peek() {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.syntax("invalid character looking for the beginning of a value")),
            None => Err(self.syntax("unexpected end of JSON input")),
        }
    }

    fn nested(
        &mut self,
        f: fn(&mut Self) -> Result<Value, DecodeError>,
    ) -> Result<Value, DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { offset: self.i });
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, DecodeError> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    fn object(&mut self) -> Result<Value, DecodeError> {
        self.i += 1; // '{'
        let mut m = Map::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(m));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string key"));
            }
            let k = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected ':' after an object key"));
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            m.insert(k, v); // a repeated key keeps its last value, as in Go
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(m));
                }
                _ => return Err(self.syntax("expected ',' or '}' after an object value")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, DecodeError> {
        self.i += 1; // '['
        let mut a = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(a));
        }
        loop {
            self.ws();
            a.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(a));
                }
                _ => return Err(self.syntax("expected ',' or ']' after an array element")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, DecodeError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax("invalid character in numeric literal")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.syntax("expected a digit after the decimal point"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax("expected a digit in the exponent"));
            }
        }
        // The grammar above is ASCII, and Rust's float parsing rounds correctly, like Go's
        // strconv.ParseFloat.
        let parsed = std::str::from_utf8(self.b.get(start..self.i).unwrap_or_default())
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64);
        match parsed {
            Some(n) => Ok(Value::Number(n)),
            None => {
                self.out_of_range.get_or_insert(start);
                Ok(Value::Null)
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.b.get(at..at + 4)?;
        let text = std::str::from_utf8(h).ok()?;
        if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        self.i += 1; // '"'
        let mut s = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.syntax("unexpected end of JSON input in a string"));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(s);
                }
                b'\\' => self.escape(&mut s)?,
                0..=0x1f => return Err(self.syntax("control character in a string")),
                0x20..=0x7f => {
                    s.push(char::from(c));
                    self.i += 1;
                }
                _ => {
                    // Go's utf8.DecodeRune: a valid sequence is kept, anything else costs one
                    // byte and becomes U+FFFD.
                    let width = match c {
                        0xc2..=0xdf => 2,
                        0xe0..=0xef => 3,
                        0xf0..=0xf4 => 4,
                        _ => 0,
                    };
                    let valid = self
                        .b
                        .get(self.i..self.i + width)
                        .filter(|_| width > 0)
                        .and_then(|seq| std::str::from_utf8(seq).ok());
                    match valid {
                        Some(text) => {
                            s.push_str(text);
                            self.i += width;
                        }
                        None => {
                            s.push(char::REPLACEMENT_CHARACTER);
                            self.i += 1;
                        }
                    }
                }
            }
        }
    }

    fn escape(&mut self, s: &mut String) -> Result<(), DecodeError> {
        self.i += 1; // '\\'
        let Some(e) = self.peek() else {
            return Err(self.syntax("unexpected end of JSON input in a string escape"));
        };
        self.i += 1;
        let c = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let Some(u) = self.hex4(self.i) else {
                    return Err(self.syntax("invalid \\u escape"));
                };
                self.i += 4;
                if (0xd800..0xe000).contains(&u) {
                    // Go's unquote: a high surrogate followed by an escaped low surrogate is one
                    // character; any other surrogate is U+FFFD and what follows is read anew.
                    let low = (self.b.get(self.i..self.i + 2) == Some(b"\\u"))
                        .then(|| self.hex4(self.i + 2))
                        .flatten();
                    match low {
                        Some(l) if u < 0xdc00 && (0xdc00..0xe000).contains(&l) => {
                            self.i += 6;
                            char::from_u32(0x10000 + ((u - 0xd800) << 10) + (l - 0xdc00))
                                .unwrap_or(char::REPLACEMENT_CHARACTER)
                        }
                        _ => char::REPLACEMENT_CHARACTER,
                    }
                } else {
                    char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
            }
            _ => return Err(self.syntax("invalid escape in a string")),
        };
        s.push(c);
        Ok(())
    }
}

/// Go's `json.Marshal` of a KrakenD answer: what the `json` output encoding writes.
///
/// Object keys sorted bytewise (Go sorts map keys; `serde_json::Map` is a `BTreeMap` here), no
/// whitespace, no trailing newline (gin v1.9.1 `render/json.go:68-72` writes `json.Marshal`'s
/// bytes). Strings: `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`; U+2028 and U+2029 as
/// `\u2028`, `\u2029`; `\b`, `\f`, `\n`, `\r`, `\t` as such (Go ≥ 1.22; KrakenD CE 2.9 is built
/// with Go 1.24); other control characters as `\u00XX` (lower-case hex); `/` and DEL as they
/// are. Numbers stored as `f64` are written as Go writes a `float64`: shortest round-trip digits,
/// plain decimal for 1e-6 ≤ |x| < 1e21 (`100000000000000000000`, `0.000001`, `-0`), otherwise
/// exponent form with a signed exponent (`1e+21`, `1e-7`, `1.5e+300`). Numbers stored as
/// integers (never produced by [`decode_backend`]) are written as integers.
/// `None` (Go's nil map) is `null`.
pub fn encode_json(data: &Data) -> Vec<u8> {
    let mut out = Vec::new();
    match data {
        Some(m) => write_object(&mut out, m),
        None => out.extend_from_slice(b"null"),
    }
    out
}

/// [`encode_json`] for any value.
pub fn encode_value(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, e);
            }
            out.push(b']');
        }
        Value::Object(m) => write_object(out, m),
    }
}

fn write_object(out: &mut Vec<u8>, m: &Map<String, Value>) {
    out.push(b'{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if n.is_f64() {
        if let Some(f) = n.as_f64() {
            out.extend_from_slice(go_float(f).as_bytes());
            return;
        }
    }
    out.extend_from_slice(n.to_string().as_bytes());
}

/// Go's `encoding/json` float64 format (`strconv.AppendFloat(f, 'f' or 'e', -1, 64)` plus the
/// `e-07` → `e-7` clean-up).
///
/// The shortest round-trip digits come from `zmij`, which serde_json links already; they are laid
/// out here as Go lays them out. (Rust's own float formatting would add some 18 KB of code to the
/// module for the same digits.)
pub(crate) fn go_float(f: f64) -> String {
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format(f);
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    // zmij writes `<mantissa>[e<exponent>]`; read it back as digits d1 d2 … dn and a point such
    // that the value is 0.d1d2…dn × 10^point.
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => match e.parse::<i32>() {
            Ok(e) => (m, e),
            Err(_) => return text.to_string(),
        },
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return text.to_string(); // not a finite number: JSON holds none
    }
    let all = [whole, fraction].concat();
    let significant = all.trim_start_matches('0');
    let digits = significant.trim_end_matches('0');
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if digits.is_empty() {
        out.push('0');
        return out;
    }
    let point = whole.len() as i32 - (all.len() - significant.len()) as i32 + exponent;
    // 1e-6 <= |f| < 1e21, i.e. the leading digit's power of ten (point - 1) is in -6..=20.
    if (-5..=21).contains(&point) {
        match usize::try_from(point) {
            Err(_) | Ok(0) => {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
                out.push_str(digits);
            }
            Ok(p) => match (digits.get(..p), digits.get(p..)) {
                (Some(int), Some(frac)) if !frac.is_empty() => {
                    out.push_str(int);
                    out.push('.');
                    out.push_str(frac);
                }
                _ => {
                    out.push_str(digits);
                    out.extend(std::iter::repeat_n('0', p.saturating_sub(digits.len())));
                }
            },
        }
        return out;
    }
    if let Some((first, rest)) = digits.split_at_checked(1) {
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
    }
    let power = point - 1;
    out.push_str(if power < 0 { "e-" } else { "e+" });
    out.push_str(&power.unsigned_abs().to_string());
    out
}

/// A JSON string as Go's `encoding/json` writes it (see [`encode_json`]).
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut buf = [0u8; 4];
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' => {
                let b = c as u32;
                out.extend_from_slice(b"\\u00");
                for shift in [4u32, 0] {
                    let digit = HEX
                        .get(((b >> shift) & 0xf) as usize)
                        .copied()
                        .unwrap_or(b'0');
                    out.push(digit);
                }
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            _ => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    out.push(b'"');
}
