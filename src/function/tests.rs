use super::*;

fn ok(s: &str) {
    assert_eq!(
        FunctionName::parse(s).map(|f| f.text),
        Ok(s.to_string()),
        "{s}"
    );
}

fn bad(s: &str) -> FunctionNameError {
    FunctionName::parse(s).expect_err(s)
}

#[test]
fn accepts_the_four_documented_forms() {
    ok("my-function");
    ok("my-function:v1");
    ok("my-function:$LATEST");
    ok("my-function:7");
    ok("arn:aws:lambda:us-west-2:123456789012:function:my-function");
    ok("arn:aws:lambda:us-west-2:123456789012:function:my-function:prod");
    ok("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f");
    ok("arn:aws-cn:lambda:cn-north-1:123456789012:function:f");
    ok("arn:aws-iso-b:lambda:us-isob-east-1:123456789012:function:f");
    ok("123456789012:function:my-function");
    ok("123456789012:function:my-function:v2");
    ok("us-east-1:123456789012:function:my-function");
    ok("My_Function.v2");
    ok(&"a".repeat(64));
}

#[test]
fn rejects_what_lambda_rejects() {
    assert_eq!(bad(""), FunctionNameError::Empty);
    assert_eq!(bad(&"a".repeat(65)), FunctionNameError::NameTooLong(65));
    assert_eq!(bad(&"a".repeat(257)), FunctionNameError::TooLong(257));
    assert_eq!(
        bad(&format!("f:{}", "q".repeat(129))),
        FunctionNameError::QualifierTooLong(129)
    );
    for s in [
        "my function",
        "my/function",
        "fn:a:b:c:d",
        "fn:",
        ":fn",
        "fn:$LATEST2",
        "fn:v.1",
        "arn:aws:s3:::bucket",
        "arn:aws:lambda:us-west-2:12345:function:f",
        "arn:aws:lambda:US-WEST-2:123456789012:function:f",
        "../etc/passwd",
        "fn?x=1",
        "fn%3Av1",
        "ünïcode",
        ".",
        "..",
        "...:v1",
        "123456789012:function:..",
    ] {
        assert_eq!(bad(s), FunctionNameError::Grammar, "{s}");
    }
}

#[test]
fn encodes_the_name_as_an_sdk_uri_label() {
    let f =
        FunctionName::parse("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST").unwrap();
    assert_eq!(
        f.path_segment(),
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af%3A%24LATEST"
    );
    assert_eq!(
        FunctionName::parse("a-b_c.d").unwrap().path_segment(),
        "a-b_c.d"
    );
}

#[test]
fn krakend_capitalises_the_first_letter_only() {
    assert_eq!(krakend_param_key("lambda"), "Lambda");
    assert_eq!(krakend_param_key("function_name"), "Function_name");
    assert_eq!(krakend_param_key("userId"), "UserId");
    assert_eq!(krakend_param_key("9x"), "9x");
}

#[test]
fn knows_the_qualifier_a_name_carries() {
    let q = |s: &str| {
        FunctionName::parse(s)
            .unwrap()
            .qualifier()
            .map(str::to_string)
    };
    assert_eq!(q("f"), None);
    assert_eq!(q("f:live"), Some("live".into()));
    assert_eq!(q("f:$LATEST"), Some("$LATEST".into()));
    assert_eq!(q("arn:aws:lambda:us-east-1:123456789012:function:f"), None);
    assert_eq!(
        q("arn:aws:lambda:us-east-1:123456789012:function:f:7"),
        Some("7".into())
    );
    assert_eq!(q("123456789012:function:f"), None);
}

#[test]
fn qualifiers_on_their_own() {
    assert_eq!(validate_qualifier("live"), Ok(()));
    assert_eq!(validate_qualifier("$LATEST"), Ok(()));
    assert_eq!(validate_qualifier("12"), Ok(()));
    assert_eq!(validate_qualifier(""), Err(FunctionNameError::Grammar));
    assert_eq!(validate_qualifier("a:b"), Err(FunctionNameError::Grammar));
    assert_eq!(validate_qualifier("a.b"), Err(FunctionNameError::Grammar));
    assert_eq!(
        validate_qualifier(&"q".repeat(129)),
        Err(FunctionNameError::QualifierTooLong(129))
    );
}

#[test]
fn allow_list_globs() {
    let list = AllowList::new(vec![
        "orders-*".into(),
        "users:live".into(),
        "*:canary".into(),
    ])
    .unwrap();
    for yes in [
        "orders-",
        "orders-v2",
        "orders-v2:live",
        "users:live",
        "x:canary",
        "a:b:canary",
    ] {
        assert!(list.allows(yes), "{yes}");
    }
    for no in ["users", "users:live2", "xorders-v2", "canary", "orders"] {
        assert!(!list.allows(no), "{no}");
    }
    assert!(AllowList::new(vec!["*".into()])
        .unwrap()
        .allows("anything:at-all"));
    assert!(AllowList::new(vec!["a*b*c".into()])
        .unwrap()
        .allows("aXXbYYc"));
    assert!(!AllowList::new(vec!["a*b*c".into()])
        .unwrap()
        .allows("aXXbYY"));
    assert_eq!(
        AllowList::new(vec!["a b".into()]),
        Err(BadPattern("a b".into()))
    );
    assert_eq!(AllowList::new(vec!["".into()]), Err(BadPattern("".into())));
}

#[test]
fn weighted_choice_follows_the_weights() {
    let f = |s: &str| FunctionName::parse(s).unwrap();
    let targets = vec![(f("fn:3"), 20), (f("fn:2"), 80), (f("never"), 0)];
    assert_eq!(choose_weighted(&targets, 0.0).unwrap().as_str(), "fn:3");
    assert_eq!(choose_weighted(&targets, 0.1999).unwrap().as_str(), "fn:3");
    assert_eq!(choose_weighted(&targets, 0.2).unwrap().as_str(), "fn:2");
    assert_eq!(choose_weighted(&targets, 0.99999).unwrap().as_str(), "fn:2");
    assert_eq!(choose_weighted(&targets, 1.0).unwrap().as_str(), "fn:2");
    assert_eq!(choose_weighted(&[(f("x"), 0)], 0.5), None);
    let mut jitter = crate::retry::Jitter::new(7);
    let canary = (0..100_000)
        .filter(|_| choose_weighted(&targets, jitter.sample()).unwrap().as_str() == "fn:3")
        .count();
    // 20 % of 100 000, within 5 standard deviations (σ ≈ 126).
    assert!((19_370..=20_630).contains(&canary), "{canary}");
}

#[test]
fn property_names_are_refused_or_safe_to_put_in_a_path() {
    let mut g = crate::testkit::Gen::new(3);
    for _ in 0..5000 {
        let text = g.text(8);
        if let Ok(name) = FunctionName::parse(&text) {
            let segment = name.path_segment();
            assert!(
                segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.%~".contains(&b)),
                "{text:?} → {segment}"
            );
        }
        let _ = validate_qualifier(&text);
    }
}
