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

#[test]
fn counts_whole_nanoseconds_as_go_does() {
    // Go's time.ParseDuration drops what is finer than a nanosecond, in every term.
    assert_eq!(parse("1.9ns"), Ok(Duration::from_nanos(1)));
    assert_eq!(parse("0.9999999999ms"), Ok(Duration::from_nanos(999_999)));
    assert_eq!(parse("1.5ns1.5ns"), Ok(Duration::from_nanos(2)));
    assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
    assert_eq!(parse("5.s"), Ok(Duration::from_secs(5)));
    assert_eq!(parse("+1h0.000000001s"), Ok(Duration::new(3600, 1)));
    assert_eq!(parse("0.000000000000277778h"), Ok(Duration::from_nanos(1)));
    assert!(matches!(parse("0.5ns"), Err(DurationError::NotPositive(_))));
    assert!(matches!(parse(".s"), Err(DurationError::Invalid(_))));
    assert!(matches!(parse("1.5"), Err(DurationError::Invalid(_))));
    // Digits past the 24th after the point are dropped, not an error.
    assert_eq!(
        parse("1.0000000000000000000000000009s"),
        Ok(Duration::from_secs(1))
    );
    // u64 nanoseconds is the ceiling, exactly.
    assert_eq!(
        parse("18446744073709551615ns"),
        Ok(Duration::from_nanos(u64::MAX))
    );
    assert!(matches!(
        parse("18446744073709551616ns"),
        Err(DurationError::Overflow(_))
    ));
    assert!(matches!(
        parse("99999999999999999999999999999999999999999ns"),
        Err(DurationError::Overflow(_))
    ));
}
