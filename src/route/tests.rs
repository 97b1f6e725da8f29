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
    assert_eq!(captures("/f/{name}", "/f"), None);
    assert_eq!(captures("/f/{name}", "/g/x"), None);
    assert_eq!(captures("/f/{name}", "/f/x/"), None);
}

fn bad(pattern: &str, path: &str) -> Option<(usize, BadValue)> {
    Pattern::parse(pattern).unwrap().matches(path).unwrap().bad
}

#[test]
fn a_path_with_the_shape_matches_even_when_a_value_is_unusable() {
    // Never a fall-through to Envoy's other routes: the endpoint answers these with a 400.
    assert_eq!(bad("/f/{name}", "/f/%FF"), Some((0, BadValue::NotUtf8)));
    assert_eq!(bad("/f/{name}", "/f/echo%FF"), Some((0, BadValue::NotUtf8)));
    assert_eq!(bad("/f/{name}", "/f/%C0%AF"), Some((0, BadValue::NotUtf8)));
    assert_eq!(bad("/f/{name}", "/f/"), Some((0, BadValue::Empty)));
    assert_eq!(
        bad("/u/{id}/{fn}", "/u/%FF%FE/echo"),
        Some((0, BadValue::NotUtf8))
    );
    assert_eq!(
        bad("/u/{id}/{fn}", "/u/1/%FF"),
        Some((1, BadValue::NotUtf8))
    );
    assert_eq!(bad("/u/{id}/{fn}", "/u//%FF"), Some((0, BadValue::Empty)));
    assert_eq!(bad("/u/{id}/{fn}", "/u/1/fn"), None);
    // Static segments must still be valid and equal.
    assert_eq!(captures("/a/{x}", "/%FF/1"), None);
}

fn route(patterns: &[(&str, &str)], method: &str, path: &str) -> Option<(usize, Match)> {
    let compiled: Vec<(String, Pattern)> = patterns
        .iter()
        .map(|(m, p)| (m.to_string(), Pattern::parse(p).unwrap()))
        .collect();
    find(compiled.iter().map(|(m, p)| (m.as_str(), p)), method, path)
}

#[test]
fn a_trailing_slash_redirects_like_krakend_unless_a_pattern_has_it() {
    assert_eq!(
        route(&[("GET", "/f/{fn}")], "GET", "/f/echo/?a=1"),
        Some((
            0,
            Match::TrailingSlash {
                location: "/f/echo?a=1".into()
            }
        ))
    );
    assert_eq!(
        route(&[("GET", "/f/{fn}")], "GET", "/f/echo/#x"),
        Some((
            0,
            Match::TrailingSlash {
                location: "/f/echo".into()
            }
        ))
    );
    // A pattern that has the shape wins over a redirect.
    let both = [("GET", "/f/{fn}"), ("GET", "/f/{fn}/{x}")];
    assert!(matches!(
        route(&both, "GET", "/f/echo/"),
        Some((1, Match::Exact(_)))
    ));
    // `/f/` has the shape of `/f/{fn}` (an empty name): answered, not redirected.
    assert!(matches!(
        route(&[("GET", "/f/{fn}")], "GET", "/f/"),
        Some((0, Match::Exact(_)))
    ));
    // Never a redirect to a path whose values are unusable, nor for another method.
    assert_eq!(route(&[("GET", "/f/{fn}")], "GET", "/f/%FF/"), None);
    assert_eq!(route(&[("GET", "/f/{fn}")], "POST", "/f/echo/"), None);
    assert_eq!(route(&[("GET", "/f/{fn}")], "GET", "/f/echo//"), None);
}

#[test]
fn the_most_specific_pattern_wins_then_the_first() {
    let pats = [
        ("GET", "/users/{id}"),
        ("GET", "/users/me"),
        ("GET", "/users/{x}"),
    ];
    assert!(matches!(route(&pats, "GET", "/users/me"), Some((1, _))));
    assert!(matches!(route(&pats, "GET", "/users/7"), Some((0, _))));
    assert_eq!(route(&pats, "GET", "no-slash"), None);
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

#[test]
fn property_matching_never_panics_and_keeps_its_promises() {
    let mut g = crate::testkit::Gen::new(11);
    for case in 0..3000 {
        let pattern = format!("/{}", g.text(6));
        let path = if g.chance(0.5) {
            pattern.replace(['{', '}'], "")
        } else {
            format!("/{}", g.text(8))
        };
        let Ok(p) = Pattern::parse(&pattern) else {
            continue;
        };
        let candidates = [("GET", &p)];
        match find(candidates.into_iter(), "GET", &path) {
            Some((_, Match::Exact(c))) => {
                assert_eq!(
                    c.values.len(),
                    p.params().len(),
                    "case {case}: {pattern} {path}"
                );
                if c.bad.is_none() {
                    assert!(c.values.iter().all(|v| !v.is_empty()), "case {case}");
                }
            }
            Some((_, Match::TrailingSlash { location })) => {
                let before_query = location.split('?').next().unwrap_or("");
                assert!(
                    !before_query.ends_with('/') || before_query == "/",
                    "case {case}"
                );
                assert!(
                    p.matches(&location).is_some_and(|c| c.bad.is_none()),
                    "case {case}"
                );
            }
            None => {}
        }
    }
}
