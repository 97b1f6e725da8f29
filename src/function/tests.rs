use super::*;

fn ok(s: &str) {
    assert_eq!(
        FunctionName::parse(s).map(|f| f.0),
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
