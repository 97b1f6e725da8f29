use super::*;

fn captures(pattern: &str, path: &str) -> Option<Vec<String>> {
    Pattern::parse(pattern)
        .unwrap()
        .matches(path)
        .map(|c| c.values)
}

#[test]
fn matches_placeholders_and_static_segments() {
    assert_eq!(
        captures("/call-a-lambda/{lambda}", "/call-a-lambda/my-fn"),
        Some(vec!["my-fn".into()])
    );
    assert_eq!(
        captures("/u/{id}/{lambda}", "/u/42/fn?x=1&y=2"),
        Some(vec!["42".into(), "fn".into()])
    );
    assert_eq!(captures("/static", "/static"), Some(vec![]));
    assert_eq!(captures("/", "/"), Some(vec![]));
}

#[test]
fn placeholder_takes_exactly_one_decoded_segment() {
    assert_eq!(
        captures("/f/{name}", "/f/my%20fn%3Av1"),
        Some(vec!["my fn:v1".into()])
    );
    // An encoded slash stays inside the segment: the split happens on the raw path.
    assert_eq!(captures("/f/{name}", "/f/a%2Fb"), Some(vec!["a/b".into()]));
    assert_eq!(captures("/f/{name}", "/f/a/b"), None);
    assert_eq!(captures("/f/{name}", "/f/"), None);
    assert_eq!(captures("/f/{name}", "/f"), None);
    assert_eq!(captures("/f/{name}", "/g/x"), None);
    assert_eq!(captures("/f/{name}", "/f/x/"), None);
    // Invalid UTF-8 after decoding never matches.
    assert_eq!(captures("/f/{name}", "/f/%FF"), None);
}

#[test]
fn query_and_fragment_do_not_affect_matching() {
    assert_eq!(captures("/a/{b}", "/a/x?/c/d"), Some(vec!["x".into()]));
    assert_eq!(captures("/a", "/a?b=c"), Some(vec![]));
    assert_eq!(captures("/a", "/a#frag"), Some(vec![]));
}

#[test]
fn static_segments_are_compared_decoded() {
    assert_eq!(
        captures("/my path/{x}", "/my%20path/1"),
        Some(vec!["1".into()])
    );
    assert_eq!(
        captures("/my%20path/{x}", "/my%20path/1"),
        Some(vec!["1".into()])
    );
}

#[test]
fn rejects_bad_patterns() {
    assert_eq!(Pattern::parse("nope"), Err(PatternError::NoLeadingSlash));
    assert_eq!(
        Pattern::parse("/a-{b}"),
        Err(PatternError::MixedSegment("a-{b}".into()))
    );
    assert_eq!(
        Pattern::parse("/{}"),
        Err(PatternError::BadPlaceholder("{}".into()))
    );
    assert_eq!(
        Pattern::parse("/{a b}"),
        Err(PatternError::BadPlaceholder("{a b}".into()))
    );
    assert_eq!(
        Pattern::parse("/{a}/{a}"),
        Err(PatternError::DuplicatePlaceholder("a".into()))
    );
}

#[test]
fn static_beats_placeholder() {
    let me = Pattern::parse("/users/me").unwrap().specificity();
    let id = Pattern::parse("/users/{id}").unwrap().specificity();
    assert!(me > id);
}
