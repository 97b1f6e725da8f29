//! Each test names the KrakenD source it reproduces: lura v2.9.1 (`proxy/`, `router/gin/`,
//! `config/`), krakend-lambda v2.0.3 (`backend.go`), krakend/flatmap v1.1.1 (`tree/`), KrakenD
//! CE v2.9.4 (`cmd/krakend-ce/main.go`). The expected outputs were checked against that Go code
//! (the formatter, the flatmap tree and the merge accumulator run under Go with a stub config),
//! except `\b`/`\f` escaping, which follows Go ≥ 1.22.

use super::*;
use serde_json::{json, Number};

fn object(v: Value) -> Object {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn manipulation(backend: Value) -> Manipulation {
    Manipulation::from_backend(&object(backend)).unwrap()
}

fn encoded(data: &Data) -> String {
    String::from_utf8(encode_json(data)).unwrap()
}

/// Decode `body` as krakend-lambda does, format it with `backend`, encode as `json`.
fn run(backend: Value, body: &str) -> String {
    let data = decode_backend(body.as_bytes()).unwrap();
    encoded(&manipulation(backend).format(data))
}

fn flatmap(ops: Value) -> Value {
    json!({"extra_config": {"proxy": {"flatmap_filter": ops}}})
}

fn mv(src: &str, dst: &str) -> Value {
    json!({"type": "move", "args": [src, dst]})
}

fn del(paths: &[&str]) -> Value {
    json!({"type": "del", "args": paths})
}

fn append(src: &str, dst: &str) -> Value {
    json!({"type": "append", "args": [src, dst]})
}

// ---------------------------------------------------------------------------------------------
// Decoding a Lambda answer: krakend-lambda v2.0.3 backend.go:87-90 (`json.Unmarshal` into a
// `map[string]interface{}`, no UseNumber).

#[test]
fn decode_object_and_null() {
    // backend.go:87-90: an object decodes into the map; JSON null sets the map to nil.
    assert_eq!(
        decode_backend(br#" {"a": 1} "#).unwrap(),
        Some(object(json!({"a": 1.0})))
    );
    assert_eq!(decode_backend(b"null").unwrap(), None);
    assert_eq!(decode_backend(b" \t\r\nnull\n").unwrap(), None);
}

#[test]
fn decode_rejects_non_objects_so_is_collection_never_wraps() {
    // backend.go:87-90: `json: cannot unmarshal array into Go value of type map[string]interface {}`;
    // the collection decoder (lura encoding/encoding.go:53-63) is never used for Lambda.
    for (body, kind) in [
        ("[1,2]", "an array"),
        ("\"s\"", "a string"),
        ("1", "a number"),
        ("true", "a boolean"),
    ] {
        assert_eq!(
            decode_backend(body.as_bytes()),
            Err(DecodeError::NotAnObject(kind)),
            "{body}"
        );
    }
    let m = manipulation(json!({"is_collection": true}));
    assert!(m.is_collection());
    assert!(m.is_identity());
}

#[test]
fn decode_rejects_invalid_json() {
    // backend.go:88-89: `unexpected end of JSON input`, `invalid character '{' after top-level
    // value`, and Go's grammar (no BOM, no leading zeros, no `1.`, `.5`, `+1`, no controls).
    for body in [
        &b""[..],
        b"{} {}",
        b"\xef\xbb\xbf{}",
        b"{\"a\":01}",
        b"{\"a\":1.}",
        b"{\"a\":.5}",
        b"{\"a\":+1}",
        b"{\"a\":\"\x01\"}",
        b"{\"a\":1,}",
        b"{a:1}",
        b"nul",
        b"{\"a\":\"\\x\"}",
        b"{\"a\":\"\\u12\"}",
        b"[1,",
    ] {
        assert!(
            matches!(decode_backend(body), Err(DecodeError::Syntax { .. })),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    // Syntax comes before type, as Go validates the whole input first.
    assert!(matches!(
        decode_backend(b"[1e400,"),
        Err(DecodeError::Syntax { .. })
    ));
}

#[test]
fn decode_numbers_as_float64() {
    // backend.go:87-88: numbers into interface{} are float64 (strconv.ParseFloat); Go's
    // encoder then prints them as float64 (checked: `{"b":1e+23,"d":12345678901234567000}`).
    let body = br#"{"a":9007199254740993,"b":100000000000000000000000,"c":1E+2,"d":12345678901234567890,"e":-0,"f":-0.0,"g":1e-400,"h":2.5e-7}"#;
    let data = decode_backend(body).unwrap();
    assert!(data
        .as_ref()
        .unwrap()
        .values()
        .all(|v| v.as_number().is_some_and(Number::is_f64)));
    assert_eq!(
        encoded(&data),
        r#"{"a":9007199254740992,"b":1e+23,"c":100,"d":12345678901234567000,"e":-0,"f":-0,"g":0,"h":2.5e-7}"#
    );
}

#[test]
fn decode_number_out_of_range_is_an_error() {
    // backend.go:88-89: `json: cannot unmarshal number 1e400 into Go value of type float64`.
    assert_eq!(
        decode_backend(br#"{"a":1e400}"#),
        Err(DecodeError::NumberOutOfRange { offset: 5 })
    );
    assert!(matches!(
        decode_backend(br#"{"a":[-1e309]}"#),
        Err(DecodeError::NumberOutOfRange { .. })
    ));
}

#[test]
fn decode_strings_like_go() {
    // Go's unquote: invalid UTF-8 costs one byte each and becomes U+FFFD; an unpaired surrogate
    // escape becomes U+FFFD; a valid pair is one character (checked against Go).
    let cases: [(&[u8], &str); 9] = [
        (b"{\"a\":\"\xff\"}", "\u{fffd}"),
        (b"{\"a\":\"\xe2\x82A\"}", "\u{fffd}\u{fffd}A"),
        (b"{\"a\":\"\xed\xa0\x80\"}", "\u{fffd}\u{fffd}\u{fffd}"),
        (br#"{"a":"\ud800"}"#, "\u{fffd}"),
        (br#"{"a":"\ud800\ud800"}"#, "\u{fffd}\u{fffd}"),
        (br#"{"a":"\ud83d\ude00"}"#, "\u{1f600}"),
        (br#"{"a":"\udc00x"}"#, "\u{fffd}x"),
        (br#"{"a":"\ud800\u0041"}"#, "\u{fffd}A"),
        (b"{\"a\":\"\\u00e9\xc3\xa9\\/\"}", "\u{e9}\u{e9}/"),
    ];
    for (body, want) in cases {
        let data = decode_backend(body).unwrap().unwrap();
        assert_eq!(data.get("a"), Some(&json!(want)), "{body:?}");
    }
    let data = decode_backend(b"{\"\xff\":1}").unwrap().unwrap();
    assert!(data.contains_key("\u{fffd}"));
}

#[test]
fn decode_repeated_key_keeps_the_last_value() {
    // Go map assignment: `{"a":{"x":1},"a":{"y":2}}` decodes to `{"a":{"y":2}}` (no merging).
    assert_eq!(
        encoded(&decode_backend(br#"{"a":{"x":1},"a":{"y":2},"b":1,"b":2}"#).unwrap()),
        r#"{"a":{"y":2},"b":2}"#
    );
}

#[test]
fn decode_depth_limit() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    let ok = format!("{{\"a\":{}}}", &ok[1..ok.len() - 1]);
    assert!(decode_backend(ok.as_bytes()).is_ok());
    let deep = format!(
        "{{\"a\":{}{}}}",
        "[".repeat(MAX_DEPTH),
        "]".repeat(MAX_DEPTH)
    );
    assert!(matches!(
        decode_backend(deep.as_bytes()),
        Err(DecodeError::TooDeep { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Encoding: lura router/gin/render.go:104-111 → gin v1.9.1 render/json.go:66-74 → json.Marshal.

#[test]
fn encode_escapes_like_go() {
    // json.Marshal escapes HTML characters and U+2028/U+2029; `/` and DEL stay; Go ≥ 1.22
    // writes \b and \f short; other controls as \u00XX.
    let data = Some(object(json!({
        "s": "<a href=\"x\">&</a>\u{2028}\u{2029}\u{7f}\u{1}\u{1f}\u{8}\u{c}\n\r\t\\/é😀"
    })));
    assert_eq!(
        encoded(&data),
        r#"{"s":"\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e\u2028\u2029"#.to_string()
            + "\u{7f}"
            + r#"\u0001\u001f\b\f\n\r\t\\/é😀"}"#
    );
}

#[test]
fn encode_sorts_keys_without_whitespace_or_newline() {
    // Go sorts map keys bytewise; json.Marshal adds no newline (render/json.go:68-72).
    let data =
        decode_backend(br#"{ "b": [1, {"z": null, "a": true}], "a": {}, "B": [] }"#).unwrap();
    assert_eq!(
        encoded(&data),
        r#"{"B":[],"a":{},"b":[1,{"a":true,"z":null}]}"#
    );
    assert_eq!(encoded(&None), "null");
}

#[test]
fn encode_floats_like_go() {
    // encoding/json floatEncoder: 'f' for 1e-6 <= |x| < 1e21, else 'e' with e-07 → e-7
    // (checked against Go).
    let cases = [
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345678.0, "123456789012345680"),
        (0.000001, "0.000001"),
        (0.0000001, "1e-7"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (100.0, "100"),
        (-1.5e-10, "-1.5e-10"),
        (-0.0, "-0"),
        (1.5e300, "1.5e+300"),
        // Exactly halfway between two 17-digit strings: Go's strconv rounds to even.
        (1658206780088562.0 + 0.25, "1658206780088562.2"),
    ];
    for (f, want) in cases {
        assert_eq!(gojson::go_float(f), want, "{f:e}");
    }
    // Across the whole range, the digits agree with Rust's own shortest formatting laid out the
    // Go way (the form the cases above were checked against Go with).
    let reference = |f: f64| {
        let abs = f.abs();
        if abs == 0.0 || (1e-6..1e21).contains(&abs) {
            return format!("{f}");
        }
        let e = format!("{f:e}");
        match e.split_once('e') {
            Some((m, x)) if x.starts_with('-') => format!("{m}e{x}"),
            Some((m, x)) => format!("{m}e+{x}"),
            None => e,
        }
    };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let (mut checked, mut ties) = (0, 0);
    while checked < 200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Random bit patterns cover every exponent; scaled integers cover the 'f' range's edges.
        for f in [
            f64::from_bits(state),
            (state % 1_000_000_000) as f64 / 1e9 * 1e21,
        ] {
            if f.is_finite() {
                let (ours, theirs) = (gojson::go_float(f), reference(f));
                if ours != theirs {
                    // Rust rounds an exact tie in the last digit up; Go (and zmij) to even.
                    assert_eq!(ours.parse::<f64>(), Ok(f), "{f:e}");
                    assert_eq!(ours.len(), theirs.len(), "{f:e}");
                    ties += 1;
                }
                checked += 1;
            }
        }
    }
    assert!(ties < checked / 100, "{ties} of {checked} differ");
    // Integers that did not come from decode_backend are written as integers.
    assert_eq!(
        encode_value(&json!([1, -2, u64::MAX])),
        b"[1,-2,18446744073709551615]"
    );
}

#[test]
fn other_output_encodings() {
    // render.go:113-125 (json-collection) and 84-102 (string).
    let data = Some(object(json!({"collection": [1, "<"], "content": "hi"})));
    assert_eq!(encode_json_collection(&data), br#"[1,"\u003c"]"#);
    assert_eq!(encode_json_collection(&Some(Map::new())), b"[]");
    assert_eq!(encode_json_collection(&None), b"[]");
    assert_eq!(encode_string(&data), b"hi");
    assert_eq!(encode_string(&Some(object(json!({"content": 1})))), b"");
    assert_eq!(encode_string(&None), b"");
}

// ---------------------------------------------------------------------------------------------
// The backend formatter: lura proxy/formatter.go:36-95 (target, filter, mapping, group).

#[test]
fn target_extracts_nested_objects() {
    // formatter.go:82-95.
    assert_eq!(
        run(json!({"target": "a.b"}), r#"{"a":{"b":{"c":1}},"x":2}"#),
        r#"{"c":1}"#
    );
}

#[test]
fn target_missing_or_not_an_object_is_empty() {
    // formatter.go:84-92: a missing part or a non-object value → `{}`; so is a nil map.
    assert_eq!(run(json!({"target": "x"}), r#"{"a":1}"#), "{}");
    assert_eq!(run(json!({"target": "a"}), r#"{"a":[1]}"#), "{}");
    assert_eq!(run(json!({"target": "a"}), r#"{"a":null}"#), "{}");
    assert_eq!(run(json!({"target": "a.b"}), r#"{"a":{"b":5}}"#), "{}");
    assert_eq!(run(json!({"target": "a"}), "null"), "{}");
    // formatter.go:62: an empty target is none.
    assert_eq!(run(json!({"target": ""}), r#"{"a":1}"#), r#"{"a":1}"#);
}

#[test]
fn null_answer_is_a_nil_map() {
    // backend.go:87-88 leaves Data nil; formatter.go:65,68 skip the filter and mapping on it;
    // formatter.go:76-78 groups it as a null member.
    assert_eq!(run(json!({}), "null"), "null");
    assert_eq!(
        run(json!({"deny": ["a"], "mapping": {"a": "b"}}), "null"),
        "null"
    );
    assert_eq!(run(json!({"group": "g"}), "null"), r#"{"g":null}"#);
    assert_eq!(run(json!({"group": "g"}), "{}"), r#"{"g":{}}"#);
    assert_eq!(
        run(json!({"target": "nope", "group": "g"}), r#"{"a":1}"#),
        r#"{"g":{}}"#
    );
}

#[test]
fn allow_wins_over_deny() {
    // formatter.go:42-46: with a non-empty allow list, deny is not used.
    assert_eq!(
        run(json!({"allow": ["a"], "deny": ["a"]}), r#"{"a":1,"b":2}"#),
        r#"{"a":1}"#
    );
    // An empty allow list leaves deny in charge.
    assert_eq!(
        run(json!({"allow": [], "deny": ["a"]}), r#"{"a":1,"b":2}"#),
        r#"{"b":2}"#
    );
}

#[test]
fn allow_nested_paths() {
    // formatter.go:97-136: dotted paths keep nested members; a member left empty goes; nothing
    // kept → `{}`.
    assert_eq!(
        run(
            json!({"allow": ["a.b", "c"]}),
            r#"{"a":{"b":1,"x":2},"c":{"d":3},"e":4}"#
        ),
        r#"{"a":{"b":1},"c":{"d":3}}"#
    );
    assert_eq!(
        run(json!({"allow": ["a.b"]}), r#"{"a":{"x":1},"c":1}"#),
        "{}"
    );
    assert_eq!(run(json!({"allow": ["a.b"]}), r#"{"a":5,"c":1}"#), "{}");
    assert_eq!(run(json!({"allow": ["z"]}), r#"{"a":1}"#), "{}");
    assert_eq!(
        run(json!({"allow": ["z"], "group": "g"}), r#"{"a":1}"#),
        r#"{"g":{}}"#
    );
}

#[test]
fn allow_never_enters_arrays() {
    // formatter.go:103-104: only a map value is pruned further; an array under a nested path
    // is dropped, even with an index segment.
    assert_eq!(
        run(json!({"allow": ["a.b"]}), r#"{"a":[{"b":1}],"c":1}"#),
        "{}"
    );
    assert_eq!(
        run(json!({"allow": ["a.0"]}), r#"{"a":[{"b":1}],"c":1}"#),
        "{}"
    );
    assert_eq!(
        run(json!({"allow": ["a"]}), r#"{"a":[{"b":1}],"c":1}"#),
        r#"{"a":[{"b":1}]}"#
    );
}

#[test]
fn allow_later_path_replaces_earlier() {
    // formatter.go:123-127 with buildDictPath (138-156): `a` after `a.b` keeps all of `a`;
    // `a.b` after `a` replaces the leaf with a branch.
    assert_eq!(
        run(json!({"allow": ["a.b", "a"]}), r#"{"a":{"b":1,"x":2}}"#),
        r#"{"a":{"b":1,"x":2}}"#
    );
    assert_eq!(
        run(json!({"allow": ["a", "a.b"]}), r#"{"a":{"b":1,"x":2}}"#),
        r#"{"a":{"b":1}}"#
    );
}

#[test]
fn deny_nested_paths() {
    // formatter.go:158-225: nested members deleted, parents kept even when emptied.
    assert_eq!(
        run(
            json!({"deny": ["a.b", "c"]}),
            r#"{"a":{"b":1,"x":2},"c":{"d":3},"e":4}"#
        ),
        r#"{"a":{"x":2},"e":4}"#
    );
    assert_eq!(
        run(json!({"deny": ["a.b"]}), r#"{"a":{"b":1}}"#),
        r#"{"a":{}}"#
    );
    // formatter.go:171-177: a shorter path covers a longer one in any order.
    assert_eq!(
        run(json!({"deny": ["a", "a.b"]}), r#"{"a":{"b":1},"c":1}"#),
        r#"{"c":1}"#
    );
    assert_eq!(
        run(json!({"deny": ["a.b", "a"]}), r#"{"a":{"b":1},"c":1}"#),
        r#"{"c":1}"#
    );
}

#[test]
fn deny_never_enters_arrays() {
    // formatter.go:196-200: recDelete only descends into maps.
    assert_eq!(
        run(json!({"deny": ["a.b", "a.0"]}), r#"{"a":[{"b":1}],"c":1}"#),
        r#"{"a":[{"b":1}],"c":1}"#
    );
}

#[test]
fn mapping_renames_top_level_keys() {
    // formatter.go:68-75.
    assert_eq!(
        run(json!({"mapping": {"a": "b"}}), r#"{"a":1,"c":2}"#),
        r#"{"b":1,"c":2}"#
    );
    // formatter.go:47-51: only the part of the new name before the first dot is used; the
    // former name is a literal top-level key, dots included.
    assert_eq!(
        run(json!({"mapping": {"a": "x.y"}}), r#"{"a":1}"#),
        r#"{"x":1}"#
    );
    assert_eq!(
        run(json!({"mapping": {"a.b": "x"}}), r#"{"a":{"b":1},"a.b":2}"#),
        r#"{"a":{"b":1},"x":2}"#
    );
    // Missing former key: nothing happens.
    assert_eq!(
        run(json!({"mapping": {"z": "y"}}), r#"{"a":1}"#),
        r#"{"a":1}"#
    );
}

#[test]
fn mapping_collisions() {
    // formatter.go:70-72: the new key is overwritten, then the former key deleted.
    assert_eq!(
        run(json!({"mapping": {"a": "b"}}), r#"{"a":1,"b":2}"#),
        r#"{"b":1}"#
    );
    // Mapping a key to itself deletes it.
    assert_eq!(
        run(json!({"mapping": {"a": "a"}}), r#"{"a":1,"b":2}"#),
        r#"{"b":2}"#
    );
    // Interacting pairs: Go's map order makes KrakenD return either {"a":1} or {"b":2} (and
    // {"x":1} or {"x":2}); here pairs apply in former-key order.
    assert_eq!(
        run(json!({"mapping": {"a": "b", "b": "a"}}), r#"{"a":1,"b":2}"#),
        r#"{"a":1}"#
    );
    assert_eq!(
        run(json!({"mapping": {"a": "x", "b": "x"}}), r#"{"a":1,"b":2}"#),
        r#"{"x":2}"#
    );
}

#[test]
fn mapping_runs_after_the_filter() {
    // formatter.go:65-75: the filter first, so a mapping can only rename what was allowed.
    assert_eq!(
        run(
            json!({"allow": ["a"], "mapping": {"a": "b", "c": "d"}}),
            r#"{"a":1,"c":2}"#
        ),
        r#"{"b":1}"#
    );
}

#[test]
fn all_steps_in_order() {
    // formatter.go:61-80: target, deny, mapping, group.
    assert_eq!(
        run(
            json!({"target": "data", "deny": ["secret"], "mapping": {"id": "ID"}, "group": "user"}),
            r#"{"data":{"id":1,"secret":2,"n":"x"},"other":3}"#
        ),
        r#"{"user":{"ID":1,"n":"x"}}"#
    );
}

#[test]
fn identity() {
    assert!(manipulation(json!({})).is_identity());
    assert!(manipulation(
        json!({"deny": [], "allow": [], "mapping": {}, "target": "", "group": ""})
    )
    .is_identity());
    // formatter.go:280-282: an empty flatmap_filter is none.
    assert!(manipulation(flatmap(json!([]))).is_identity());
    for b in [
        json!({"target": "a"}),
        json!({"allow": ["a"]}),
        json!({"deny": ["a"]}),
        json!({"mapping": {"a": "b"}}),
        json!({"group": "g"}),
        flatmap(json!([del(&["a"])])),
    ] {
        assert!(!manipulation(b.clone()).is_identity(), "{b}");
    }
}

// ---------------------------------------------------------------------------------------------
// flatmap_filter on a backend: formatter.go:37-39 and 241-317; flatmap v1.1.1 tree/.

#[test]
fn backend_flatmap_replaces_allow_deny_mapping() {
    // formatter.go:37-39 returns the flatmap formatter, which only knows target and group
    // (241-252).
    assert_eq!(
        run(
            json!({"allow": ["a"], "deny": ["c"], "mapping": {"a": "z"}, "target": "t", "group": "g",
                   "extra_config": {"proxy": {"flatmap_filter": [del(&["b"])]}}}),
            r#"{"t":{"a":1,"b":2,"c":3}}"#
        ),
        r#"{"g":{"a":1,"c":3}}"#
    );
    // formatter.go:280-282: an empty list keeps the ordinary formatter.
    let mut b = flatmap(json!([]));
    b["allow"] = json!(["a"]);
    assert_eq!(run(b, r#"{"a":1,"b":2}"#), r#"{"a":1}"#);
}

#[test]
fn proxy_namespace_names() {
    // CE main.go:48-50,89 alias `proxy` to lura's namespace (proxy/proxy.go:18); config.go:365-372
    // copies the alias over the long name.
    let long = json!({"extra_config": {"github.com/devopsfaith/krakend/proxy": {"flatmap_filter": [del(&["a"])]}}});
    assert_eq!(run(long, r#"{"a":1,"b":2}"#), r#"{"b":2}"#);
    let both = json!({"extra_config": {
        "github.com/devopsfaith/krakend/proxy": {"flatmap_filter": [del(&["a"])]},
        "proxy": {"flatmap_filter": [del(&["b"])]}
    }});
    assert_eq!(run(both, r#"{"a":1,"b":2}"#), r#"{"a":1}"#);
}

#[test]
fn flatmap_on_null_stays_null() {
    // formatter.go:254-274 on a nil map: nothing to operate on, Data stays nil.
    assert_eq!(
        run(flatmap(json!([del(&["a"]), mv("a", "b.c")])), "null"),
        "null"
    );
    // tree.go:17-29 on `{}`: the empty map comes back.
    assert_eq!(run(flatmap(json!([mv("a", "b.c")])), "{}"), "{}");
    assert_eq!(run(flatmap(json!([del(&["a"])])), "{}"), "{}");
}

#[test]
fn flatmap_move_relabel() {
    // tree.go:82-108: same number of segments → only the last label changes.
    let f = |ops: Value, body: &str| run(flatmap(ops), body);
    assert_eq!(
        f(json!([mv("a", "b")]), r#"{"a":1,"c":2}"#),
        r#"{"b":1,"c":2}"#
    );
    assert_eq!(
        f(json!([mv("a.b", "a.c")]), r#"{"a":{"b":1,"d":2}}"#),
        r#"{"a":{"c":1,"d":2}}"#
    );
    // The rest of dst is ignored.
    assert_eq!(
        f(json!([mv("a.b", "x.c")]), r#"{"a":{"b":1},"x":{"y":2}}"#),
        r#"{"a":{"c":1},"x":{"y":2}}"#
    );
    // Missing source: nothing happens (tree.go:85-89).
    assert_eq!(f(json!([mv("z", "y")]), r#"{"a":1}"#), r#"{"a":1}"#);
    assert_eq!(f(json!([mv("q.b", "q.c")]), r#"{"a":1}"#), r#"{"a":1}"#);
    // Wildcards in the prefix (tree.go:127-149) reach every element.
    assert_eq!(
        f(
            json!([mv("a.*.b", "a.*.c")]),
            r#"{"a":[{"b":1,"d":0},{"b":2},{"x":3}]}"#
        ),
        r#"{"a":[{"c":1,"d":0},{"c":2},{"x":3}]}"#
    );
    // Relabelling an array element changes nothing visible (node.go:131-137).
    assert_eq!(
        f(json!([mv("a.0", "a.x")]), r#"{"a":[1,2]}"#),
        r#"{"a":[1,2]}"#
    );
    // The last segment of src is literal, even `*`.
    assert_eq!(
        f(json!([mv("a.*", "a.b")]), r#"{"a":{"*":1,"x":2}}"#),
        r#"{"a":{"b":1,"x":2}}"#
    );
}

#[test]
fn flatmap_move_relabel_collision() {
    // tree.go:91-93 leaves two edges with one label; node.go:140-143 keeps the later. Go's edge
    // order is its random map order (KrakenD returns 1 or 2); here the key that sorts later.
    let f = |ops: Value, body: &str| run(flatmap(ops), body);
    assert_eq!(f(json!([mv("a", "b")]), r#"{"a":1,"b":2}"#), r#"{"b":2}"#);
    assert_eq!(f(json!([mv("b", "a")]), r#"{"a":1,"b":2}"#), r#"{"a":2}"#);
}

#[test]
fn flatmap_move_promote() {
    // tree.go:113-116,151-182: a shorter dst re-attaches the edge from the root; the emptied
    // parent becomes null (node.go:126-129); the moved edge lands last, so it wins a collision.
    let f = |ops: Value, body: &str| run(flatmap(ops), body);
    assert_eq!(
        f(json!([mv("a.b.c", "x")]), r#"{"a":{"b":{"c":1,"d":2}}}"#),
        r#"{"a":{"b":{"d":2}},"x":1}"#
    );
    assert_eq!(
        f(json!([mv("a.b.c", "a.x")]), r#"{"a":{"b":{"c":1,"d":2}}}"#),
        r#"{"a":{"b":{"d":2},"x":1}}"#
    );
    assert_eq!(
        f(json!([mv("a.b", "x")]), r#"{"a":{"b":1}}"#),
        r#"{"a":null,"x":1}"#
    );
    assert_eq!(
        f(json!([mv("a.b", "c")]), r#"{"a":{"b":1},"c":2}"#),
        r#"{"a":null,"c":1}"#
    );
    // tree.go:173-175: a missing step stops the walk; nothing is created.
    assert_eq!(
        f(json!([mv("a.b.c", "x.y")]), r#"{"a":{"b":{"c":1}}}"#),
        r#"{"a":{"b":null},"y":1}"#
    );
    // Wildcard source: every match lands on the same label; the last one wins.
    assert_eq!(
        f(json!([mv("a.*.b", "c")]), r#"{"a":[{"b":1},{"b":2}]}"#),
        r#"{"a":[null,null],"c":2}"#
    );
    // tree.go:157-158: a wildcard in dst takes the source's own path segment.
    assert_eq!(
        f(
            json!([mv("a.*.b.c", "a.*.d")]),
            r#"{"a":[{"b":{"c":1}},{"b":{"c":2}}]}"#
        ),
        r#"{"a":[{"b":null,"d":1},{"b":null,"d":2}]}"#
    );
}

#[test]
fn flatmap_move_embed() {
    // tree.go:118-119,184-209: a longer dst creates what is missing, from the edge's own parent.
    let f = |ops: Value, body: &str| run(flatmap(ops), body);
    assert_eq!(
        f(json!([mv("a", "x.y")]), r#"{"a":1,"b":2}"#),
        r#"{"b":2,"x":{"y":1}}"#
    );
    assert_eq!(
        f(json!([mv("a", "b.y")]), r#"{"a":1,"b":{"z":2}}"#),
        r#"{"b":{"y":1,"z":2}}"#
    );
    // Into a leaf: the leaf gains members and its value is no longer visible.
    assert_eq!(
        f(json!([mv("a", "b.y")]), r#"{"a":1,"b":5}"#),
        r#"{"b":{"y":1}}"#
    );
    // The first len(src)-1 segments of dst are ignored: `a.b → x.y.z` lands in `a.y.z`.
    assert_eq!(
        f(json!([mv("a.b", "x.y.z")]), r#"{"a":{"b":1},"x":{}}"#),
        r#"{"a":{"y":{"z":1}},"x":{}}"#
    );
    assert_eq!(f(json!([mv("a", "a.b")]), r#"{"a":1}"#), r#"{"a":{"b":1}}"#);
    assert_eq!(
        f(
            json!([mv("a.*.b", "a.*.c.d")]),
            r#"{"a":[{"b":1},{"b":2}]}"#
        ),
        r#"{"a":[{"c":{"d":1}},{"c":{"d":2}}]}"#
    );
    // Collision: the moved edge is appended last and wins.
    assert_eq!(
        f(json!([mv("a", "b.c")]), r#"{"a":1,"b":{"c":2}}"#),
        r#"{"b":{"c":1}}"#
    );
}

#[test]
fn flatmap_del() {
    // node.go:46-80.
    let f = |ops: Value, body: &str| run(flatmap(ops), body);
    assert_eq!(f(json!([del(&["a"])]), r#"{"a":1,"b":2}"#), r#"{"b":2}"#);
    assert_eq!(
        f(json!([del(&["a", "b.c"])]), r#"{"a":1,"b":{"c":1,"d":2}}"#),
        r#"{"b":{"d":2}}"#
    );
    // Missing paths and paths through a leaf do nothing.
    assert_eq!(f(json!([del(&["z.y"])]), r#"{"a":1}"#), r#"{"a":1}"#);
    assert_eq!(f(json!([del(&["a.b"])]), r#"{"a":1}"#), r#"{"a":1}"#);
    // An emptied container becomes null; an emptied root makes the whole answer null.
    assert_eq!(
        f(json!([del(&["a.b"])]), r#"{"a":{"b":1}}"#),
        r#"{"a":null}"#
    );
    assert_eq!(f(json!([del(&["a"])]), r#"{"a":1}"#), "null");
    assert_eq!(f(json!([del(&["*"])]), r#"{"a":1}"#), "null");
    // Wildcards: the last segment empties the node; inner ones visit every child.
    assert_eq!(f(json!([del(&["a.*"])]), r#"{"a":[1,2]}"#), r#"{"a":null}"#);
    assert_eq!(
        f(json!([del(&["a.*.b"])]), r#"{"a":[{"b":1,"c":2},{"b":3}]}"#),
        r#"{"a":[{"c":2},null]}"#
    );
    // Array elements by index close the gap; empty containers that were empty stay so.
    assert_eq!(
        f(json!([del(&["a.1"])]), r#"{"a":[0,1,2]}"#),
        r#"{"a":[0,2]}"#
    );
    assert_eq!(f(json!([del(&["a.0"])]), r#"{"a":[]}"#), r#"{"a":[]}"#);
    assert_eq!(
        f(json!([del(&["x"])]), r#"{"a":{},"b":[],"c":null,"x":1}"#),
        r#"{"a":{},"b":[],"c":null}"#
    );
}

#[test]
fn flatmap_append() {
    // tree.go:45-58.
    let f = |ops: Value, body: &str| run(flatmap(ops), body);
    assert_eq!(
        f(json!([append("a", "b")]), r#"{"a":[1,2],"b":[3]}"#),
        r#"{"b":[3,1,2]}"#
    );
    assert_eq!(
        f(
            json!([append("a", "b")]),
            r#"{"a":[{"x":1}],"b":[{"y":2}]}"#
        ),
        r#"{"b":[{"y":2},{"x":1}]}"#
    );
    assert_eq!(
        f(json!([append("a", "b")]), r#"{"a":[1],"b":[]}"#),
        r#"{"b":[1]}"#
    );
    // Either side not an array (or missing): nothing happens.
    assert_eq!(
        f(json!([append("a", "b")]), r#"{"a":1,"b":[3]}"#),
        r#"{"a":1,"b":[3]}"#
    );
    assert_eq!(f(json!([append("a", "b")]), r#"{"a":[1]}"#), r#"{"a":[1]}"#);
    // A wildcard source collects an array (node.go:94-100), nulls for missing members.
    assert_eq!(
        f(
            json!([append("a.*.x", "b")]),
            r#"{"a":[{"x":1},{"y":2}],"b":[0]}"#
        ),
        r#"{"a":[null,{"y":2}],"b":[0,1,null]}"#
    );
    // Same path: doubled, then deleted.
    assert_eq!(f(json!([append("a", "a")]), r#"{"a":[1]}"#), "null");
    // The joined array is flattened into the existing dst node by position labels
    // (node.go:28-44,159-168): after a deletion, elements merge into their neighbours.
    assert_eq!(
        f(
            json!([del(&["b.0"]), append("a", "b")]),
            r#"{"a":[9],"b":[{"p":1},{"q":2},{"r":3}]}"#
        ),
        r#"{"b":[{"q":2,"r":3},{"r":3},{"q":2}]}"#
    );
}

#[test]
fn flatmap_ops_run_in_order() {
    // formatter.go:259-271; after a promotion the older duplicate is found first (node.go:68-79).
    let f = |ops: Value, body: &str| run(flatmap(ops), body);
    assert_eq!(
        f(
            json!([mv("a", "b"), del(&["c"]), mv("b", "c")]),
            r#"{"a":1,"c":2,"d":3}"#
        ),
        r#"{"c":1,"d":3}"#
    );
    assert_eq!(
        f(
            json!([mv("a.b", "c"), del(&["c"])]),
            r#"{"a":{"b":1},"c":2}"#
        ),
        r#"{"a":null,"c":1}"#
    );
}

#[test]
fn flatmap_keeps_numbers() {
    let f = |ops: Value, body: &str| run(flatmap(ops), body);
    assert_eq!(
        f(
            json!([del(&["x"])]),
            r#"{"a":1.5,"b":100000000000000000000000,"c":1e-7,"d":12345678901234567890,"x":0}"#
        ),
        r#"{"a":1.5,"b":1e+23,"c":1e-7,"d":12345678901234567000}"#
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration errors (KrakenD would coerce, skip or panic: see the module docs).

#[test]
fn config_errors_name_the_key() {
    let err = |b: Value| {
        Manipulation::from_backend(&object(b))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(err(json!({"target": 1})), "`target` must be a string");
    assert_eq!(err(json!({"group": []})), "`group` must be a string");
    assert_eq!(
        err(json!({"allow": "a,b"})),
        "`allow` must be an array of strings"
    );
    assert_eq!(
        err(json!({"deny": [1]})),
        "`deny` must be an array of strings"
    );
    assert_eq!(
        err(json!({"mapping": {"a": 1}})),
        "`mapping` must be an object of strings"
    );
    assert_eq!(
        err(json!({"mapping": ["a"]})),
        "`mapping` must be an object of strings"
    );
    assert_eq!(
        err(json!({"is_collection": "yes"})),
        "`is_collection` must be a boolean"
    );
    assert_eq!(
        err(json!({"extra_config": []})),
        "`extra_config` must be an object"
    );
    assert_eq!(
        err(json!({"extra_config": {"proxy": 1}})),
        "`extra_config.proxy` must be an object"
    );
    assert_eq!(
        err(json!({"extra_config": {"proxy": {"shadow": "true"}}})),
        "`extra_config.proxy.shadow` must be a boolean"
    );
    assert_eq!(
        err(flatmap(json!({"type": "del"}))),
        "`extra_config.proxy.flatmap_filter` must be an array"
    );
    // formatter.go:262-263 would panic on a short move/append at request time.
    assert_eq!(
        err(flatmap(json!([del(&["a"]), {"type": "move", "args": ["a"]}]))),
        "`extra_config.proxy.flatmap_filter[1]`: `move` needs exactly 2 args (source, destination), got 1"
    );
    assert_eq!(
        err(flatmap(json!([{"type": "append", "args": ["a", "b", "c"]}]))),
        "`extra_config.proxy.flatmap_filter[0]`: `append` needs exactly 2 args (source, destination), got 3"
    );
    assert_eq!(
        err(flatmap(json!([{"type": "del", "args": []}]))),
        "`extra_config.proxy.flatmap_filter[0]`: `del` needs at least 1 arg"
    );
    // formatter.go:269-270 would ignore it silently (and still drop allow/deny/mapping).
    assert_eq!(
        err(flatmap(json!([{"type": "rename", "args": ["a", "b"]}]))),
        "`extra_config.proxy.flatmap_filter[0]`: unknown type `rename` (move, del or append)"
    );
    // formatter.go:285-294 would skip these.
    assert_eq!(
        err(flatmap(json!(["del"]))),
        "`extra_config.proxy.flatmap_filter[0]`: must be an object {\"type\": ..., \"args\": [...]}"
    );
    assert_eq!(
        err(flatmap(json!([{"args": ["a"]}]))),
        "`extra_config.proxy.flatmap_filter[0]`: `type` must be a string: move, del or append"
    );
    assert_eq!(
        err(flatmap(json!([{"type": "del", "args": [1]}]))),
        "`extra_config.proxy.flatmap_filter[0]`: `args` must be an array of strings"
    );
    let long = json!({"extra_config": {"github.com/devopsfaith/krakend/proxy": {"flatmap_filter": [{"type": "x"}]}}});
    assert!(err(long)
        .starts_with("`extra_config.github.com/devopsfaith/krakend/proxy.flatmap_filter[0]`"));
}

#[test]
fn nulls_are_absent() {
    // mapstructure leaves a field at its zero value for a nil input.
    let m = manipulation(
        json!({"target": null, "allow": null, "deny": null, "mapping": null,
        "group": null, "is_collection": null, "extra_config": {"proxy": {"flatmap_filter": null, "shadow": null}}}),
    );
    assert!(m.is_identity());
    assert!(!m.is_shadow());
}

#[test]
fn shadow_flag() {
    // shadow.go:126-157: `shadow: true` in the proxy namespace; shadow_timeout as a string.
    let m =
        manipulation(json!({"extra_config": {"proxy": {"shadow": true, "shadow_timeout": "3s"}}}));
    assert!(m.is_shadow());
    assert_eq!(m.shadow_timeout(), Some("3s"));
    assert!(!manipulation(json!({"extra_config": {"proxy": {"shadow": false}}})).is_shadow());
    assert!(!manipulation(json!({"shadow": true})).is_shadow());
}

// ---------------------------------------------------------------------------------------------
// Merging: lura proxy/merging.go (parallelMerge 157-182, accumulator 298-342, combineData
// 451-475), proxy/factory.go:58-88, router/gin/endpoint.go:60-77.

fn data(v: Value) -> Data {
    Some(object(v))
}

fn merged_json(m: &Merged) -> String {
    encoded(&m.answer.as_ref().unwrap().data)
}

#[test]
fn merge_is_shallow_and_later_answer_wins() {
    // merging.go:330 combines [accumulated, arriving]; 464-466 copies the later keys over.
    let mut m = Merger::new(2);
    m.answer(data(json!({"a": 1, "b": 1, "n": {"x": 1}})));
    m.answer(data(json!({"b": 2, "c": 2, "n": {"y": 2}})));
    let out = m.finish(None);
    assert_eq!(merged_json(&out), r#"{"a":1,"b":2,"c":2,"n":{"y":2}}"#);
    let a = out.answer.unwrap();
    assert!(a.complete);
    assert_eq!(a.completed_header(), "true");
    // merging.go:461: the merged response carries no backend headers.
    assert_eq!(a.headers_from, None);
    assert_eq!(out.failures, 0);

    // Arrival order decides (merging.go:169-176), not configuration order.
    let mut m = Merger::new(2);
    m.answer(data(json!({"b": 2, "c": 2})));
    m.answer(data(json!({"a": 1, "b": 1})));
    assert_eq!(merged_json(&m.finish(None)), r#"{"a":1,"b":1,"c":2}"#);
}

#[test]
fn merge_groups_side_by_side() {
    let g1 = manipulation(json!({"group": "g1"}));
    let g2 = manipulation(json!({"group": "g2"}));
    let mut m = Merger::new(2);
    m.answer(g1.format(decode_backend(br#"{"a":1}"#).unwrap()));
    m.answer(g2.format(decode_backend(br#"{"a":2}"#).unwrap()));
    assert_eq!(
        merged_json(&m.finish(None)),
        r#"{"g1":{"a":1},"g2":{"a":2}}"#
    );
}

#[test]
fn merge_partial_when_a_backend_fails() {
    // merging.go:313-321,338-340: a failure marks the result incomplete, whenever it arrives.
    for fail_first in [false, true] {
        let mut m = Merger::new(2);
        if fail_first {
            m.failure();
        }
        m.answer(data(json!({"a": 1})));
        if !fail_first {
            m.failure();
        }
        let out = m.finish(None);
        let a = out.answer.clone().unwrap();
        assert_eq!(encoded(&a.data), r#"{"a":1}"#);
        assert!(!a.complete);
        assert_eq!(a.completed_header(), "false");
        // The lone answer is still the backend's own response, headers included.
        assert_eq!(a.headers_from, Some(0));
        assert_eq!(out.failures, 1);
    }
    let mut m = Merger::new(3);
    m.answer(data(json!({"a": 1})));
    m.failure();
    m.answer(data(json!({"b": 2})));
    let out = m.finish(None);
    assert_eq!(merged_json(&out), r#"{"a":1,"b":2}"#);
    assert!(!out.answer.unwrap().complete);
}

#[test]
fn merge_all_failed_is_no_answer() {
    // merging.go:333-336: no data → nil response and the error (endpoint.go:94-104: 500).
    let mut m = Merger::new(2);
    m.failure();
    m.failure();
    assert_eq!(
        m.finish(None),
        Merged {
            answer: None,
            failures: 2
        }
    );
}

#[test]
fn merge_unreported_backends_count_as_failures() {
    // merging.go:29,159: at 85% of the endpoint timeout the context cancels the rest, which
    // report errors (requestPart 344-364).
    let mut m = Merger::new(3);
    m.answer(data(json!({"a": 1})));
    let out = m.finish(None);
    assert_eq!(out.failures, 2);
    assert!(!out.answer.unwrap().complete);
    assert_eq!(
        merge_timeout(std::time::Duration::from_millis(2000)),
        std::time::Duration::from_millis(1700)
    );
    assert_eq!(
        merge_timeout(std::time::Duration::from_nanos(7)),
        std::time::Duration::from_nanos(5)
    );
}

#[test]
fn merge_null_answers() {
    // merging.go:455-458: a nil Data part is skipped and makes the result incomplete, without
    // an error.
    let mut m = Merger::new(2);
    m.answer(None);
    m.answer(data(json!({"a": 1})));
    let a = m.finish(None).answer.unwrap();
    assert_eq!(encoded(&a.data), r#"{"a":1}"#);
    assert!(!a.complete);

    let mut m = Merger::new(2);
    m.answer(data(json!({"a": 1})));
    m.answer(None);
    assert!(!m.finish(None).answer.unwrap().complete);

    // merging.go:469-472: nothing to merge → `{}`.
    let mut m = Merger::new(2);
    m.answer(None);
    m.answer(None);
    let a = m.finish(None).answer.unwrap();
    assert_eq!(encoded(&a.data), "{}");
    assert!(!a.complete);

    // A null answer with a failure stays nil: rendered `null`.
    let mut m = Merger::new(2);
    m.answer(None);
    m.failure();
    let a = m.finish(None).answer.unwrap();
    assert_eq!(encoded(&a.data), "null");
    assert_eq!(a.headers_from, None);
}

#[test]
fn empty_answers_are_complete_but_flagged_false() {
    // endpoint.go:62: X-Krakend-Completed is "true" only for non-empty data.
    let mut m = Merger::new(2);
    m.answer(data(json!({})));
    m.answer(data(json!({})));
    let a = m.finish(None).answer.unwrap();
    assert!(a.complete);
    assert_eq!(a.completed_header(), "false");
    assert_eq!(a.headers_from, None);
}

#[test]
fn single_backend_is_not_merged() {
    // factory.go:62-63,86-88: one backend → its answer, no merge, no endpoint flatmap.
    let fm = Flatmap::from_endpoint(&object(flatmap(json!([del(&["a"])]))))
        .unwrap()
        .unwrap();
    let mut m = Merger::new(1);
    m.answer(data(json!({"a": 1, "b": 2})));
    let out = m.finish(Some(&fm));
    let a = out.answer.unwrap();
    assert_eq!(encoded(&a.data), r#"{"a":1,"b":2}"#);
    assert!(a.complete);
    assert_eq!(a.headers_from, Some(0));
    assert_eq!(a.completed_header(), "true");

    let mut m = Merger::new(1);
    m.answer(None);
    let a = m.finish(None).answer.unwrap();
    assert!(a.complete);
    assert_eq!(a.completed_header(), "false");
    assert_eq!(encoded(&a.data), "null");

    let mut m = Merger::new(1);
    m.failure();
    assert_eq!(m.finish(None).answer, None);
}

#[test]
fn endpoint_flatmap_only_on_full_merges() {
    // factory.go:81-82 wraps the merge in NewFlatmapMiddleware (formatter.go:320-349), which
    // returns the response untouched when the merge reports an error (341-344).
    let fm = Flatmap::from_endpoint(&object(flatmap(json!([del(&["a"])]))))
        .unwrap()
        .unwrap();
    let mut m = Merger::new(2);
    m.answer(data(json!({"a": 1, "b": 1})));
    m.answer(data(json!({"c": 2})));
    let out = m.finish(Some(&fm));
    assert_eq!(merged_json(&out), r#"{"b":1,"c":2}"#);
    assert!(out.answer.unwrap().complete);

    let mut m = Merger::new(2);
    m.answer(data(json!({"a": 1, "b": 1})));
    m.failure();
    let out = m.finish(Some(&fm));
    assert_eq!(merged_json(&out), r#"{"a":1,"b":1}"#);

    // Incomplete only through a null answer: no error, so the operations run.
    let mut m = Merger::new(2);
    m.answer(None);
    m.answer(data(json!({"a": 1, "c": 2})));
    let out = m.finish(Some(&fm));
    assert_eq!(merged_json(&out), r#"{"c":2}"#);
    assert!(!out.answer.unwrap().complete);

    // Deleting every key leaves Go's nil map: `null`, X-Krakend-Completed false.
    let mut m = Merger::new(2);
    m.answer(data(json!({"a": 1})));
    m.answer(data(json!({"a": 2})));
    let a = m.finish(Some(&fm)).answer.unwrap();
    assert_eq!(encoded(&a.data), "null");
    assert!(a.complete);
    assert_eq!(a.completed_header(), "false");
}

#[test]
fn endpoint_flatmap_parsing() {
    // formatter.go:321: the endpoint's extra_config, same namespace and rules.
    assert_eq!(Flatmap::from_endpoint(&object(json!({}))).unwrap(), None);
    assert_eq!(
        Flatmap::from_endpoint(&object(flatmap(json!([])))).unwrap(),
        None
    );
    assert!(Flatmap::from_endpoint(&object(flatmap(json!([{"type": "x"}])))).is_err());
}

#[test]
fn shadow_backends_take_no_part() {
    // shadow.go:36-48: shadow backends are removed before the merge is built, so an endpoint
    // with one regular and one shadow backend is a one-backend endpoint.
    let backends = [
        manipulation(json!({})),
        manipulation(json!({"extra_config": {"proxy": {"shadow": true}}})),
    ];
    let regular = backends.iter().filter(|b| !b.is_shadow()).count();
    let fm = Flatmap::from_endpoint(&object(flatmap(json!([del(&["a"])]))))
        .unwrap()
        .unwrap();
    let mut m = Merger::new(regular);
    m.answer(data(json!({"a": 1})));
    // The shadow answer is never fed; extra calls would be ignored anyway.
    m.answer(data(json!({"z": 9})));
    let a = m.finish(Some(&fm)).answer.unwrap();
    assert_eq!(encoded(&a.data), r#"{"a":1}"#);
    assert!(a.complete);
}

#[test]
fn decode_error_is_a_backend_failure_in_a_merge() {
    // backend.go:88-90 returns the error; merging.go:171-172 counts it as a failure.
    let mut m = Merger::new(2);
    m.answer(data(json!({"a": 1})));
    match decode_backend(b"[1]") {
        Ok(d) => m.answer(d),
        Err(_) => m.failure(),
    }
    let out = m.finish(None);
    assert_eq!(merged_json(&out), r#"{"a":1}"#);
    assert_eq!(out.failures, 1);
}
