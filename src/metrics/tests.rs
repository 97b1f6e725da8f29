use super::*;

#[test]
fn names_and_labels() {
    assert_eq!(
        per_function("invocations", "my-fn:live"),
        "lambda_wasm.invocations.function.my-fn:live"
    );
    assert_eq!(
        per_reason("rejected", "function_not_allowed"),
        "lambda_wasm.rejected.reason.function_not_allowed"
    );
    assert_eq!(
        plain("credential_refreshes"),
        "lambda_wasm.credential_refreshes"
    );
    assert_eq!(sanitize("My.Fn v2/x"), "My_Fn_v2_x");
    assert_eq!(
        sanitize("arn:aws:lambda:us-east-1:1:function:f:$LATEST"),
        "arn:aws:lambda:us-east-1:1:function:f:$LATEST"
    );
}

#[test]
fn labels_are_bounded() {
    let mut labels = FunctionLabels::default();
    for i in 0..MAX_FUNCTION_LABELS {
        assert_eq!(labels.label(&format!("f{i}")), format!("f{i}"));
    }
    assert_eq!(labels.label("one-too-many"), OTHER);
    assert_eq!(labels.label("f7"), "f7", "known labels stay");
}
