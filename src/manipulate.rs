//! KrakenD's response manipulation and merging, reproduced from the sources KrakenD CE 2.9
//! runs: lura v2.9.1, krakend-lambda v2.0.3, krakend/flatmap v1.1.1, gin v1.9.1.
//!
//! What KrakenD does with a Lambda answer, in order:
//!
//! 1. [`decode_backend`]: the result must be a JSON object (or `null`); numbers become `float64`.
//! 2. [`Manipulation::format`], the backend's formatter (krakend-lambda `backend.go:61,91-98`,
//!    lura `proxy/formatter.go`): `target`, then `allow` or `deny`, then `mapping`, then `group`;
//!    or, when the backend has a non-empty `extra_config.proxy.flatmap_filter`, `target`, the
//!    flatmap operations, then `group` (`allow`, `deny` and `mapping` are then ignored).
//! 3. [`Merger`]: with two or more backends, their formatted answers are merged shallowly in
//!    arrival order, the later answer winning a key; the endpoint's `flatmap_filter` then runs on
//!    the merged answer unless a backend failed. Shadow backends take no part.
//! 4. [`encode_json`]: the `json` output encoding (`json.Marshal`: sorted keys, HTML-escaped,
//!    numbers as Go prints a `float64`).
//!
//! # Output encodings
//!
//! An endpoint's `output_encoding` (default: the service's, else `json`: lura
//! `config/config.go:572-578`) picks the renderer (lura `router/gin/render.go:27-61`; KrakenD CE
//! 2.9 registers `xml` over lura's, `encoding.go:15`). An unknown value falls back to `json`, or,
//! for a one-backend endpoint, to the renderer named by the backend's `encoding` if that is one.
//!
//! | value | what KrakenD writes |
//! |---|---|
//! | `json` | [`encode_json`] of the answer; `application/json; charset=utf-8`. Go's nil map is `null`; no answer at all (every backend failed) is the error path below, not a body. |
//! | `json-collection` | [`encode_json_collection`]: the answer's `collection` member, whatever it is, else `[]` (`render.go:113-125`). A Lambda answer has a `collection` member only if the function put one there. |
//! | `string` | [`encode_string`]: the answer's `content` member if it is a string, else an empty body; `text/plain; charset=utf-8` (`render.go:84-102`). |
//! | `negotiate` | by `Accept` (gin's `NegotiateFormat` over JSON, plain text, XML, YAML): XML → `xml`, plain text or YAML → `yaml`, anything else → `json` (`render.go:73-82`). |
//! | `xml` | krakend-xml v2.1.1 `gin/render.go:14-23`: the whole answer through `mxj.Map(...).XmlWriter` (mxj's default root element), `application/xml`. |
//! | `yaml` | gin's YAML of the answer, `application/x-yaml; charset=utf-8` (`render.go:141-148`). |
//! | `no-op` | the backend's status and headers, and its raw body stream (`render.go:150-165`). krakend-lambda sets no body stream, so a Lambda endpoint answers 200 with an **empty body** (plus `X-Amz-Executed-Version`). `no-op` forces the backends' `encoding` to `no-op` and is a configuration error with more than one backend (`config/config.go:518-520,609-611`). |
//!
//! Whatever the encoding, KrakenD sets `X-Krakend-Completed` (see [`Answer::completed_header`])
//! and, on a complete non-empty answer with `cache_ttl`, `Cache-Control: public, max-age=N`
//! (`router/gin/endpoint.go:60-77`). When no backend answered, the status is 500
//! (`transport/http/server/server.go:32-34`), the body empty, and `X-Krakend-Completed: false`.
//!
//! # What KrakenD reads where
//!
//! Backend keys (`config/config.go:250-272`): `target`, `allow`, `deny`, `mapping`, `group`,
//! `is_collection`. The `proxy` namespace is `extra_config."proxy"` or its original name
//! `extra_config."github.com/devopsfaith/krakend/proxy"`; when both are present `proxy` wins
//! (KrakenD CE `cmd/krakend-ce/main.go:48-50,89`, lura `config/config.go:365-372`). In it:
//! `flatmap_filter` (`proxy/formatter.go:276-317`), `shadow` and `shadow_timeout`
//! (`proxy/shadow.go:126-157`).
//!
//! KrakenD reads the typed keys through viper and mapstructure with weak typing (krakend-viper
//! v2.0.1 `parser.go:33`, viper v1.12.0 `viper.go:1091-1105`): `"allow": "a,b"` becomes
//! `["a","b"]`, `"target": 5` becomes `"5"`. And it skips malformed `flatmap_filter` entries
//! (not an object, no string `type`) and ignores unknown operation types. This module is strict
//! instead: each of those is a [`ManipulateError`].

use serde_json::{Map, Value};

mod flatmap;
mod gojson;
pub(crate) use gojson::write_string as write_go_string;

pub use gojson::{decode_backend, encode_json, encode_value, MAX_DEPTH};

/// A JSON object, as KrakenD's `map[string]interface{}`.
pub type Object = Map<String, Value>;

/// A response's data as KrakenD holds it (`proxy.Response.Data`): an object, or Go's nil map
/// (`None`), which is what a Lambda answering `null` decodes to.
///
/// `None` is not `{}`: it encodes as `null`; under a `group` it becomes `{"group": null}`; in a
/// merge it is skipped and makes the answer incomplete (lura `proxy/merging.go:455-458`). Like
/// `{}`, it gives `X-Krakend-Completed: false` and drops the backend's headers
/// (`router/gin/endpoint.go:62`).
pub type Data = Option<Object>;

const PROXY_NAMESPACE: &str = "proxy";
const PROXY_NAMESPACE_LONG: &str = "github.com/devopsfaith/krakend/proxy";

/// Why a Lambda answer is not what KrakenD accepts. KrakenD fails the backend (a 500 with one
/// backend; a partial answer in a merge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON: empty, truncated, invalid, or followed by more data.
    #[error("invalid JSON at byte {offset}: {message}")]
    Syntax {
        /// Where the problem was found.
        offset: usize,
        /// What it is.
        message: &'static str,
    },
    /// Valid JSON, but not an object or `null`.
    #[error("the answer is {0}, not a JSON object")]
    NotAnObject(&'static str),
    /// A number beyond the range of a `float64`.
    #[error("number at byte {offset} is out of the float64 range")]
    NumberOutOfRange {
        /// Where the number starts.
        offset: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels at byte {offset}")]
    TooDeep {
        /// Where the limit was passed.
        offset: usize,
    },
}

/// A backend or endpoint key that KrakenD would not read as intended. `key` is the path of the
/// key in the backend (or endpoint) object, e.g. `allow` or `extra_config.proxy.flatmap_filter`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManipulateError {
    /// Should be a string.
    #[error("`{key}` must be a string")]
    NotAString {
        /// The key.
        key: String,
    },
    /// Should be a boolean.
    #[error("`{key}` must be a boolean")]
    NotABool {
        /// The key.
        key: String,
    },
    /// Should be an array of strings.
    #[error("`{key}` must be an array of strings")]
    NotStringArray {
        /// The key.
        key: String,
    },
    /// Should be an object whose values are strings.
    #[error("`{key}` must be an object of strings")]
    NotStringObject {
        /// The key.
        key: String,
    },
    /// Should be an array.
    #[error("`{key}` must be an array")]
    NotAnArray {
        /// The key.
        key: String,
    },
    /// Should be an object.
    #[error("`{key}` must be an object")]
    NotAnObject {
        /// The key.
        key: String,
    },
    /// A `flatmap_filter` operation is malformed.
    #[error("`{key}[{index}]`: {reason}")]
    FlatmapOp {
        /// The `flatmap_filter` key.
        key: String,
        /// The operation's position in the list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// One `flatmap_filter` operation; paths are split on `.`, `*` is the wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FlatmapOp {
    Move(Vec<String>, Vec<String>),
    Del(Vec<Vec<String>>),
    Append(Vec<String>, Vec<String>),
}

/// A `flatmap_filter` list (krakend/flatmap v1.1.1 `tree/`, as lura v2.9.1 applies it in
/// `proxy/formatter.go:254-274`).
///
/// * `move [src, dst]`: see the rules in the `flatmap` submodule — relabel when both paths
///   have as many segments, promote when `dst` is shorter, embed when it is longer; wildcards
///   only in the prefix of `src` (and, in a promotion, of `dst`).
/// * `del [path, ...]`: each path; `*` matches every member of an object or array; a missing
///   path does nothing; a container emptied by deletions becomes `null`.
/// * `append [src, dst]`: when both are arrays (a wildcard path collects an array), `dst`
///   becomes `dst + src` and `src` is deleted; otherwise nothing happens.
///
/// Operations run in order on the same tree. `None` data (Go's nil map) stays `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flatmap {
    ops: Vec<FlatmapOp>,
}

impl Flatmap {
    /// The endpoint-level `extra_config.proxy.flatmap_filter` of an endpoint object; `None`
    /// when absent or an empty list (lura `proxy/formatter.go:280-282`).
    pub fn from_endpoint(endpoint: &Object) -> Result<Option<Flatmap>, ManipulateError> {
        Ok(ProxyExtra::read(endpoint)?.flatmap)
    }

    /// Applies the operations.
    pub fn apply(&self, data: Data) -> Data {
        let mut tree = flatmap::Tree::new(data?);
        for op in &self.ops {
            match op {
                FlatmapOp::Move(src, dst) => tree.mv(src, dst),
                FlatmapOp::Del(paths) => paths.iter().for_each(|p| tree.del(p)),
                FlatmapOp::Append(src, dst) => tree.append(src, dst),
            }
        }
        tree.into_data()
    }

    fn parse(key: &str, v: &Value) -> Result<Option<Flatmap>, ManipulateError> {
        let list = match v {
            Value::Null => return Ok(None),
            Value::Array(list) => list,
            _ => return Err(ManipulateError::NotAnArray { key: key.into() }),
        };
        if list.is_empty() {
            return Ok(None);
        }
        let mut ops = Vec::with_capacity(list.len());
        for (index, item) in list.iter().enumerate() {
            let bad = |reason: String| ManipulateError::FlatmapOp {
                key: key.into(),
                index,
                reason,
            };
            let Value::Object(op) = item else {
                return Err(bad(
                    "must be an object {\"type\": ..., \"args\": [...]}".into()
                ));
            };
            let Some(Value::String(kind)) = op.get("type") else {
                return Err(bad("`type` must be a string: move, del or append".into()));
            };
            let args: Vec<Vec<String>> = match op.get("args") {
                Some(Value::Array(args)) => args
                    .iter()
                    .map(|a| a.as_str().map(split_path))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad("`args` must be an array of strings".into()))?,
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Err(bad("`args` must be an array of strings".into())),
            };
            let op = match kind.as_str() {
                "move" | "append" => {
                    let [src, dst]: [Vec<String>; 2] = args.try_into().map_err(|a: Vec<_>| {
                        bad(format!(
                            "`{kind}` needs exactly 2 args (source, destination), got {}",
                            a.len()
                        ))
                    })?;
                    if kind == "move" {
                        FlatmapOp::Move(src, dst)
                    } else {
                        FlatmapOp::Append(src, dst)
                    }
                }
                "del" if args.is_empty() => {
                    return Err(bad("`del` needs at least 1 arg".into()));
                }
                "del" => FlatmapOp::Del(args),
                other => return Err(bad(format!("unknown type `{other}` (move, del or append)"))),
            };
            ops.push(op);
        }
        Ok(Some(Flatmap { ops }))
    }
}

/// What a backend's or endpoint's `extra_config` proxy namespace holds for us.
#[derive(Debug, Default)]
struct ProxyExtra {
    flatmap: Option<Flatmap>,
    shadow: bool,
    shadow_timeout: Option<String>,
}

impl ProxyExtra {
    fn read(object: &Object) -> Result<ProxyExtra, ManipulateError> {
        let extra = match object.get("extra_config") {
            None | Some(Value::Null) => return Ok(ProxyExtra::default()),
            Some(Value::Object(e)) => e,
            Some(_) => {
                return Err(ManipulateError::NotAnObject {
                    key: "extra_config".into(),
                })
            }
        };
        let (name, ns) = match (extra.get(PROXY_NAMESPACE), extra.get(PROXY_NAMESPACE_LONG)) {
            (Some(v), _) => (PROXY_NAMESPACE, v),
            (None, Some(v)) => (PROXY_NAMESPACE_LONG, v),
            (None, None) => return Ok(ProxyExtra::default()),
        };
        let prefix = format!("extra_config.{name}");
        let ns = match ns {
            Value::Null => return Ok(ProxyExtra::default()),
            Value::Object(ns) => ns,
            _ => return Err(ManipulateError::NotAnObject { key: prefix }),
        };
        let flatmap = match ns.get("flatmap_filter") {
            Some(v) => Flatmap::parse(&format!("{prefix}.flatmap_filter"), v)?,
            None => None,
        };
        let shadow = match ns.get("shadow") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ManipulateError::NotABool {
                    key: format!("{prefix}.shadow"),
                })
            }
        };
        let shadow_timeout = match ns.get("shadow_timeout") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ManipulateError::NotAString {
                    key: format!("{prefix}.shadow_timeout"),
                })
            }
        };
        Ok(ProxyExtra {
            flatmap,
            shadow,
            shadow_timeout,
        })
    }
}

/// `allow` compiled as lura's allow dictionary (`proxy/formatter.go:121-156`: `true` keeps a
/// member, an object keeps some of its members), or `deny` as lura's deny tree
/// (`proxy/formatter.go:158-194`: `null` deletes a member, an object looks into it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    Allow(Map<String, Value>),
    Deny(Map<String, Value>),
}

/// A backend's response manipulation, as KrakenD's entity formatter for it
/// (lura v2.9.1 `proxy/formatter.go:36-58`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manipulation {
    target: Vec<String>,
    filter: Filter,
    /// `(former, new)` in former-key order.
    mapping: Vec<(String, String)>,
    group: Option<String>,
    flatmap: Option<Flatmap>,
    is_collection: bool,
    shadow: bool,
    shadow_timeout: Option<String>,
}

impl Manipulation {
    /// Reads a KrakenD backend object (`null` counts as absent, as in KrakenD).
    ///
    /// * `target`: string, dotted; `""` is none.
    /// * `allow`, `deny`: arrays of dotted strings. A non-empty `allow` wins and `deny` is then
    ///   ignored (`formatter.go:42-46`).
    /// * `mapping`: object of strings; only the part of a new name before its first `.` is used
    ///   (`formatter.go:47-51`: `{"a": "x.y"}` renames `a` to `x`).
    /// * `group`: string; `""` is none.
    /// * `is_collection`: boolean, read and without effect: krakend-lambda decodes the answer
    ///   itself into a map (`backend.go:87-90`), never through the collection decoder.
    /// * `extra_config.proxy.flatmap_filter`, `.shadow` (boolean), `.shadow_timeout` (string).
    pub fn from_backend(backend: &Object) -> Result<Manipulation, ManipulateError> {
        let target = opt_string(backend, "target")?
            .map(|t| split_path(&t))
            .unwrap_or_default();
        let allow = string_list(backend, "allow")?;
        let deny = string_list(backend, "deny")?;
        let filter = if allow.is_empty() {
            Filter::Deny(deny_tree(&deny))
        } else {
            Filter::Allow(allow_tree(&allow))
        };
        let mapping = match backend.get("mapping") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(former, new)| {
                    let new = new.as_str()?;
                    let new = new.split('.').next().unwrap_or(new);
                    Some((former.clone(), new.to_string()))
                })
                .collect::<Option<_>>()
                .ok_or_else(|| ManipulateError::NotStringObject {
                    key: "mapping".into(),
                })?,
            Some(_) => {
                return Err(ManipulateError::NotStringObject {
                    key: "mapping".into(),
                })
            }
        };
        let group = opt_string(backend, "group")?;
        let is_collection = match backend.get("is_collection") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ManipulateError::NotABool {
                    key: "is_collection".into(),
                })
            }
        };
        let extra = ProxyExtra::read(backend)?;
        Ok(Manipulation {
            target,
            filter,
            mapping,
            group,
            flatmap: extra.flatmap,
            is_collection,
            shadow: extra.shadow,
            shadow_timeout: extra.shadow_timeout,
        })
    }

    /// Whether [`format`](Self::format) leaves every answer as it is: no `target`, `allow`,
    /// `deny`, `mapping`, `group` or `flatmap_filter`. KrakenD still re-encodes such an answer
    /// ([`encode_json`]), so a byte-exact passthrough differs from KrakenD in key order,
    /// escaping and numbers, and accepts non-object answers that KrakenD fails.
    pub fn is_identity(&self) -> bool {
        let no_filter = match &self.filter {
            Filter::Allow(a) => a.is_empty(),
            Filter::Deny(d) => d.is_empty(),
        };
        self.target.is_empty()
            && no_filter
            && self.mapping.is_empty()
            && self.group.is_none()
            && self.flatmap.is_none()
    }

    /// `extra_config.proxy.shadow` is `true`: KrakenD calls this backend too but ignores its
    /// answer (lura `proxy/shadow.go:25-57,114-124`). It is no part of the merge: count only
    /// the other backends in [`Merger::new`]; an endpoint whose only other backend is one turns
    /// into a one-backend endpoint (no merge, no endpoint `flatmap_filter`).
    pub fn is_shadow(&self) -> bool {
        self.shadow
    }

    /// `extra_config.proxy.shadow_timeout` as written (a Go duration); KrakenD falls back to the
    /// backend's timeout when it is absent or invalid (`proxy/shadow.go:147-156`).
    pub fn shadow_timeout(&self) -> Option<&str> {
        self.shadow_timeout.as_deref()
    }

    /// `is_collection` as configured (no effect on a Lambda backend).
    pub fn is_collection(&self) -> bool {
        self.is_collection
    }

    /// Formats one decoded answer as KrakenD's backend formatter does.
    ///
    /// Without `flatmap_filter` (`formatter.go:61-80`):
    /// 1. `target`: each segment must name an object member (never an array element); if one
    ///    is missing or not an object the answer becomes `{}`.
    /// 2. if the answer is not empty, `allow` (keep only the listed paths; a path's parent must
    ///    be an object, so paths never enter arrays; a member left empty by its nested paths
    ///    goes; a later, longer path replaces an earlier shorter one: `["a.b","a"]` keeps all of
    ///    `a`, `["a","a.b"]` only `a.b`) or else `deny` (delete the listed paths, never through
    ///    arrays; a shorter path covers a longer one in any order).
    /// 3. if still not empty, `mapping`, top-level keys only, one pair at a time in former-key
    ///    order: the new key takes the value (replacing what was there) and the former key is
    ///    deleted — so `{"a": "a"}` deletes `a`. KrakenD iterates a Go map, so where pairs
    ///    interact (`{"a":"b","b":"a"}`, two keys to one name, a chain `a→b`, `b→c`) its result
    ///    depends on a random order; this is the result of former-key order, which KrakenD may
    ///    not produce for a given document (Go iterates small maps in a rotation of insertion
    ///    order).
    /// 4. `group`: the answer becomes `{group: answer}` (`{group: null}` for `None`).
    ///
    /// With `flatmap_filter` (`formatter.go:241-252`): `target`, the operations ([`Flatmap`]),
    /// `group`.
    pub fn format(&self, mut data: Data) -> Data {
        if !self.target.is_empty() {
            data = Some(extract_target(data, &self.target));
        }
        if let Some(fm) = &self.flatmap {
            data = fm.apply(data);
        } else {
            if let Some(m) = data.as_mut().filter(|m| !m.is_empty()) {
                match &self.filter {
                    Filter::Allow(allow) => {
                        prune_allowed(allow, m);
                    }
                    Filter::Deny(deny) => delete_denied(deny, m),
                }
            }
            if let Some(m) = data.as_mut().filter(|m| !m.is_empty()) {
                for (former, new) in &self.mapping {
                    if let Some(v) = m.remove(former) {
                        if former != new {
                            m.insert(new.clone(), v);
                        }
                    }
                }
            }
        }
        if let Some(g) = &self.group {
            let inner = data.map(Value::Object).unwrap_or(Value::Null);
            let mut m = Map::new();
            m.insert(g.clone(), inner);
            data = Some(m);
        }
        data
    }
}

fn split_path(s: &str) -> Vec<String> {
    s.split('.').map(str::to_string).collect()
}

fn opt_string(object: &Object, key: &str) -> Result<Option<String>, ManipulateError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ManipulateError::NotAString { key: key.into() }),
    }
}

fn string_list(object: &Object, key: &str) -> Result<Vec<String>, ManipulateError> {
    let err = || ManipulateError::NotStringArray { key: key.into() };
    match object.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(err),
        Some(_) => Err(err()),
    }
}

/// `extractTarget` (formatter.go:82-95).
fn extract_target(data: Data, target: &[String]) -> Object {
    let mut cur = data.unwrap_or_default();
    for part in target {
        match cur.remove(part) {
            Some(Value::Object(m)) => cur = m,
            _ => return Map::new(),
        }
    }
    cur
}

/// `newAllowlistingFilter`/`buildDictPath` (formatter.go:121-156), with `true` as the leaf mark
/// and objects as branches.
fn allow_tree(paths: &[String]) -> Map<String, Value> {
    let mut root = Map::new();
    for path in paths {
        add_allowed(&mut root, &split_path(path));
    }
    root
}

fn add_allowed(node: &mut Map<String, Value>, path: &[String]) {
    match path.split_first() {
        None => {}
        Some((leaf, [])) => {
            node.insert(leaf.clone(), Value::Bool(true));
        }
        Some((first, rest)) => {
            let entry = node
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(next) = entry {
                add_allowed(next, rest);
            }
        }
    }
}

/// `AllowlistPrune` (formatter.go:97-119): keeps allowed members; returns whether nothing was
/// kept.
fn prune_allowed(allow: &Map<String, Value>, data: &mut Object) -> bool {
    let old = std::mem::take(data);
    for (k, mut v) in old {
        let keep = match allow.get(&k) {
            Some(Value::Object(sub)) => match &mut v {
                Value::Object(inner) => !prune_allowed(sub, inner),
                _ => false,
            },
            Some(_) => true,
            None => false,
        };
        if keep {
            data.insert(k, v);
        }
    }
    data.is_empty()
}

/// `buildDenyTree` (formatter.go:158-194).
fn deny_tree(paths: &[String]) -> Map<String, Value> {
    let mut root = Map::new();
    for path in paths {
        let fields = split_path(path);
        add_denied(&mut root, &fields);
    }
    root
}

fn add_denied(tree: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        tree.insert(first.clone(), Value::Null);
        return;
    }
    // A member already deleted as a whole (`null`) stays so.
    if let Value::Object(child) = tree
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()))
    {
        add_denied(child, rest);
    }
}

/// `recDelete` (formatter.go:196-213).
fn delete_denied(deny: &Map<String, Value>, data: &mut Object) {
    for (k, rule) in deny {
        match rule {
            Value::Object(sub) => {
                if let Some(Value::Object(inner)) = data.get_mut(k) {
                    delete_denied(sub, inner);
                }
            }
            _ => {
                data.remove(k);
            }
        }
    }
}

/// `json-collection` output encoding: the answer's `collection` member encoded as
/// [`encode_value`] does, else `[]` (lura `router/gin/render.go:113-125`).
pub fn encode_json_collection(data: &Data) -> Vec<u8> {
    match data.as_ref().and_then(|m| m.get("collection")) {
        Some(v) => encode_value(v),
        None => b"[]".to_vec(),
    }
}

/// `string` output encoding: the answer's `content` member if it is a string, else nothing
/// (lura `router/gin/render.go:84-102`).
pub fn encode_string(data: &Data) -> Vec<u8> {
    match data.as_ref().and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

/// How long a merging endpoint gives its backends: 85% of the endpoint timeout, in whole
/// nanoseconds rounded down (lura `proxy/merging.go:29`). Only endpoints with two or more
/// (non-shadow) backends have it (`merging.go:26-28`); a one-backend endpoint's backend has the
/// whole endpoint timeout (`router/gin/endpoint.go:46`).
pub fn merge_timeout(endpoint_timeout: std::time::Duration) -> std::time::Duration {
    let nanos = endpoint_timeout.as_nanos().saturating_mul(85) / 100;
    std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// What an endpoint answers, as KrakenD's merge leaves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The data to encode.
    pub data: Data,
    /// `proxy.Response.IsComplete`.
    pub complete: bool,
    /// Which answer's backend headers (`X-Amz-Executed-Version`) KrakenD passes on, by its
    /// position among the [`Merger::answer`] calls: only a non-empty answer that no other answer
    /// was merged into keeps them (a merge builds a new response without metadata,
    /// `merging.go:461`; headers are copied only for non-empty data, `endpoint.go:62,70-74`).
    pub headers_from: Option<usize>,
}

impl Answer {
    /// The `X-Krakend-Completed` value: `"true"` only for complete, non-empty data
    /// (`router/gin/endpoint.go:60-77`). Note that `{}` and `null` answers are `"false"`.
    pub fn completed_header(&self) -> &'static str {
        if self.complete && self.data.as_ref().is_some_and(|m| !m.is_empty()) {
            "true"
        } else {
            "false"
        }
    }
}

/// What the merge ends with.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// `None` when no backend answered: KrakenD's error path (500, empty body,
    /// `X-Krakend-Completed: false`).
    pub answer: Option<Answer>,
    /// How many backends failed (or had not answered when [`Merger::finish`] was called).
    pub failures: usize,
}

/// An endpoint's merge of its backends' formatted answers (lura v2.9.1 `proxy/merging.go`,
/// parallel mode: `parallelMerge`, `incrementalMergeAccumulator`, `combineData`).
///
/// Feed every non-shadow backend's outcome in the order it arrives ([`answer`](Self::answer)
/// with the [`Manipulation::format`]ted data, or [`failure`](Self::failure) for an invocation
/// error, a timeout or a [`DecodeError`]), then [`finish`](Self::finish). KrakenD's rules:
///
/// * The first answer is kept as it is; each later one is merged into it shallowly, top-level
///   keys only, the later answer replacing a key (`merging.go:330,451-475`). Arrival order, not
///   configuration order, decides; with `extra_config.proxy.sequential` KrakenD instead calls
///   the backends one after another in configuration order and stops at the first failure
///   (`merging.go:184-296`): feed them in that order and stop there.
/// * A `None` (null) answer is skipped and makes the result incomplete; two answers that are both
///   `None` merge into `{}`.
/// * A failure makes the result incomplete; if every backend failed there is no answer.
/// * With one backend nothing is merged: its answer is the endpoint's (`factory.go:62-63,86-88`).
/// * The endpoint's `flatmap_filter` runs on the merged answer only with two or more backends and
///   only if none failed (`formatter.go:340-347`: skipped when the merge returns an error,
///   `factory.go:81-82`); an answer incomplete only because of a `None` is still processed.
#[derive(Debug, Clone)]
pub struct Merger {
    backends: usize,
    pending: usize,
    answers: usize,
    failures: usize,
    acc: Option<Answer>,
}

impl Merger {
    /// A merge of `backends` non-shadow backends.
    pub fn new(backends: usize) -> Merger {
        Merger {
            backends,
            pending: backends,
            answers: 0,
            failures: 0,
            acc: None,
        }
    }

    /// One backend answered (krakend-lambda marks its answers complete, `backend.go:97`).
    /// Calls beyond the number of backends are ignored.
    pub fn answer(&mut self, data: Data) {
        if self.pending == 0 {
            return;
        }
        self.pending -= 1;
        let index = self.answers;
        self.answers += 1;
        self.acc = Some(match self.acc.take() {
            None => Answer {
                data,
                complete: true,
                headers_from: Some(index),
            },
            Some(prev) => combine(prev, data),
        });
    }

    /// One backend failed. Calls beyond the number of backends are ignored.
    pub fn failure(&mut self) {
        if self.pending == 0 {
            return;
        }
        self.pending -= 1;
        self.failures += 1;
        if let Some(acc) = self.acc.as_mut() {
            acc.complete = false;
        }
    }

    /// Ends the merge. Backends that have not reported count as failed, as in KrakenD where the
    /// merge deadline cancels them into errors.
    pub fn finish(self, endpoint_flatmap: Option<&Flatmap>) -> Merged {
        let failures = self.failures + self.pending;
        let Some(mut answer) = self.acc else {
            return Merged {
                answer: None,
                failures,
            };
        };
        if failures > 0 {
            answer.complete = false;
        }
        if self.backends >= 2 && failures == 0 {
            if let Some(fm) = endpoint_flatmap {
                answer.data = fm.apply(answer.data);
            }
        }
        if answer.data.as_ref().is_none_or(Map::is_empty) {
            answer.headers_from = None;
        }
        Merged {
            answer: Some(answer),
            failures,
        }
    }
}

/// `combineData(2, [prev, next])` (merging.go:451-475).
fn combine(prev: Answer, next: Data) -> Answer {
    let mut complete = true;
    let mut merged: Option<Object> = None;
    match prev.data {
        None => complete = false,
        Some(m) => {
            complete &= prev.complete;
            merged = Some(m);
        }
    }
    match (next, merged.as_mut()) {
        (None, _) => complete = false,
        (Some(n), None) => merged = Some(n),
        (Some(n), Some(m)) => m.extend(n),
    }
    Answer {
        data: Some(merged.unwrap_or_default()),
        complete,
        headers_from: None,
    }
}

#[cfg(test)]
mod tests;
