use super::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn lower_cases_keys_and_sorts_them() {
    let out = from_params(&strings(&["userId", "lambda"]), &strings(&["42", "fn"]));
    assert_eq!(out, b"{\"lambda\":\"fn\",\"userid\":\"42\"}\n");
}

#[test]
fn no_placeholders_gives_an_empty_object() {
    assert_eq!(from_params(&[], &[]), b"{}\n");
}

#[test]
fn escapes_like_go_json_encoder() {
    let out = from_params(&strings(&["q"]), &strings(&["<a href=\"x\">&\u{2028}é"]));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"q\":\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u2028é\"}\n"
    );
}
