use super::*;
use serde_json::json;

fn config(secret: &str) -> Config {
    let v = json!({
        "credentials": {"access_key_id": "AKID", "secret_access_key": secret,
                        "assume_role": {"role_arn": "arn:aws:iam::123456789012:role/r"}},
        "endpoints": []
    });
    config::parse(&serde_json::to_vec(&v).unwrap(), &|_| None).unwrap()
}

#[test]
fn shared_credentials_are_keyed_by_the_secret_too_without_showing_it() {
    let a = shared_key(&config("secret-one"));
    assert_eq!(a, shared_key(&config("secret-one")));
    assert_ne!(a, shared_key(&config("secret-two")));
    assert!(!a.contains("secret"), "{a}");
}
