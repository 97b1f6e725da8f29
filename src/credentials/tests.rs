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

#[test]
fn parses_aws_times() {
    let t = |s: &str| {
        parse_time(s).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
    };
    assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(t("2015-08-30T12:36:00Z"), Some(1_440_938_160));
    assert_eq!(t("2026-11-22T04:00:00.000Z"), Some(1_795_320_000));
    assert_eq!(t("2026-11-22T04:00:00+00:00"), Some(1_795_320_000));
    assert_eq!(t("2024-02-29T23:59:59Z"), Some(1_709_251_199));
    for bad in [
        "",
        "2026-11-22",
        "2026-13-01T00:00:00Z",
        "2026-11-22T04:00:00+02:00",
        "2026-11-22T4:00:00Z",
        "yesterday",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}

fn expiring(key: &str, expires_in: Option<u64>) -> Expiring {
    Expiring {
        credentials: Credentials {
            access_key_id: key.into(),
            secret_access_key: "S".into(),
            session_token: Some("T".into()),
        },
        expires: expires_in.map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + s)),
    }
}

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + s)
}

#[test]
fn cache_refreshes_ahead_and_stops_using_expired_keys() {
    let mut cache = Cache::new(Duration::from_secs(300));
    assert!(cache.usable(at(0)).is_none());
    assert!(cache.wants_refresh(at(0)));
    assert!(cache.offer(expiring("A", Some(3600))));
    assert_eq!(cache.usable(at(0)).unwrap().access_key_id, "A");
    assert!(!cache.wants_refresh(at(3000)));
    assert!(cache.wants_refresh(at(3300)), "five minutes before expiry");
    assert!(
        cache.usable(at(3300)).is_some(),
        "still signs while refreshing"
    );
    assert!(
        cache.usable(at(3596)).is_none(),
        "not within the expiry margin"
    );
    // Older credentials shared by another VM do not replace newer ones.
    assert!(!cache.offer(expiring("OLD", Some(1800))));
    assert!(cache.offer(expiring("B", Some(7200))));
    assert_eq!(cache.usable(at(0)).unwrap().access_key_id, "B");
}

#[test]
fn cache_drops_rejected_keys_and_assesses_what_a_fetch_brought() {
    let mut cache = Cache::new(Duration::from_secs(300));
    assert!(cache.wants_refresh(at(0)));
    assert_eq!(cache.assess(&expiring("A", Some(3600)), at(0)), Worth::Good);
    assert_eq!(cache.assess(&expiring("A", None), at(0)), Worth::Good);
    assert_eq!(
        cache.assess(&expiring("A", Some(300)), at(0)),
        Worth::ShortLived
    );
    assert_eq!(
        cache.assess(&expiring("A", Some(60)), at(0)),
        Worth::ShortLived
    );
    assert_eq!(cache.assess(&expiring("A", Some(5)), at(0)), Worth::Useless);
    assert_eq!(
        cache.assess(&expiring("A", Some(60)), at(61)),
        Worth::Useless
    );
    cache.offer(expiring("A", Some(3600)));
    assert!(!cache.reject("OTHER"));
    assert!(cache.usable(at(0)).is_some());
    assert!(cache.reject("A"));
    assert!(cache.usable(at(0)).is_none());
    assert!(cache.wants_refresh(at(0)));
}

#[test]
fn shared_record_round_trips() {
    for e in [expiring("A", Some(3600)), expiring("B", None)] {
        assert_eq!(Expiring::from_shared(&e.to_shared()), Some(e));
    }
    assert_eq!(Expiring::from_shared(b"garbage"), None);
    assert!(is_rejected_credentials("ExpiredTokenException"));
    assert!(!is_rejected_credentials("AccessDeniedException"));
}
