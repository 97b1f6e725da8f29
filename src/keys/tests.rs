use super::*;

fn keys(id: &str, secret: &str, token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: id.to_string(),
        secret_access_key: secret.to_string(),
        session_token: token.map(str::to_string),
    }
}

#[test]
fn validate_accepts_printable_keys_and_names_the_bad_part_without_its_value() {
    assert!(keys("AKID", "secret/+=", Some("tok+/=")).validate().is_ok());
    assert!(keys("AKID", "secret", None).validate().is_ok());
    for (bad, part) in [
        (keys("AK\r\nID", "s", None), "access key id"),
        (keys("", "s", None), "access key id"),
        (keys("AKID", "se cret", None), "secret access key"),
        (keys("AKID", "s", Some("tok\n")), "session token"),
        (keys("AKID", "s", Some("")), "session token"),
        (keys("AKID", "sécret", None), "secret access key"),
    ] {
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains(part), "{e}");
        assert!(
            !e.contains("se cret") && !e.contains("tok\n") && !e.contains("AK\r"),
            "{e}"
        );
    }
}
