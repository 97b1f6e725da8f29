use super::*;

#[test]
fn parses_krakend_forms() {
    assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse("3s"), Ok(Duration::from_secs(3)));
    assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
    assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
    assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
    assert_eq!(parse("250µs"), Ok(Duration::from_micros(250)));
}

#[test]
fn rejects_bad_durations() {
    assert_eq!(parse(""), Err(DurationError::Empty));
    assert!(matches!(parse("3"), Err(DurationError::Invalid(_))));
    assert!(matches!(parse("s"), Err(DurationError::Invalid(_))));
    assert!(matches!(parse("3 s"), Err(DurationError::Invalid(_))));
    assert!(matches!(parse("3sec"), Err(DurationError::Invalid(_))));
    assert!(matches!(parse("1..5s"), Err(DurationError::Invalid(_))));
    assert!(matches!(parse("0"), Err(DurationError::NotPositive(_))));
    assert!(matches!(parse("0s"), Err(DurationError::NotPositive(_))));
    assert!(matches!(parse("-1s"), Err(DurationError::NotPositive(_))));
    assert!(matches!(
        parse("99999999999h"),
        Err(DurationError::Overflow(_))
    ));
}
