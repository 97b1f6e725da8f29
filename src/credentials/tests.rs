use super::*;

fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn reads_the_standard_variables() {
    let c = Credentials::from_env(env(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("AWS_SESSION_TOKEN", "TOKEN"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(c.access_key_id, "AKID");
    assert_eq!(c.session_token.as_deref(), Some("TOKEN"));
    assert_eq!(c.secrets().collect::<Vec<_>>(), vec!["SECRET", "TOKEN"]);
}

#[test]
fn none_or_half_set() {
    assert_eq!(Credentials::from_env(env(&[])), Ok(None));
    assert_eq!(
        Credentials::from_env(env(&[("AWS_ACCESS_KEY_ID", "AKID")])),
        Err(CredentialsError::Incomplete(
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY"
        ))
    );
    assert_eq!(
        Credentials::from_env(env(&[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", "")
        ])),
        Ok(None)
    );
}

#[test]
fn debug_never_shows_secrets() {
    let c = Credentials {
        access_key_id: "AKID".into(),
        secret_access_key: "SECRET".into(),
        session_token: Some("TOKEN".into()),
    };
    let shown = format!("{c:?}");
    assert!(shown.contains("AKID"));
    assert!(!shown.contains("SECRET") && !shown.contains("TOKEN"));
}
