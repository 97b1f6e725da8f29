use super::*;

#[test]
fn round_trips_through_the_calendar() {
    for text in [
        "1970-01-01T00:00:00Z",
        "2000-02-29T12:34:56Z",
        "2026-11-22T03:04:05Z",
        "2100-12-31T23:59:59Z",
    ] {
        let t = parse_time(text).unwrap();
        let u = Utc::from_time(t);
        assert_eq!(
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                u.year, u.month, u.day, u.hour, u.minute, u.second
            ),
            text
        );
    }
    let u = Utc::from_time(parse_time("2015-08-30T12:36:00Z").unwrap());
    assert_eq!(
        (u.date().as_str(), u.amz_date().as_str()),
        ("20150830", "20150830T123600Z")
    );
    assert_eq!(u.clf(), "30/Aug/2015:12:36:00 +0000");
}

#[test]
fn dates_are_written_as_format_would() {
    let mut secs: u64 = 1;
    for _ in 0..2000 {
        secs = secs
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            % 32_503_680_000;
        let u = Utc::from_time(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let date = format!("{:04}{:02}{:02}", u.year, u.month, u.day);
        assert_eq!(u.date(), date);
        let amz = format!("{date}T{:02}{:02}{:02}Z", u.hour, u.minute, u.second);
        assert_eq!(u.amz_date(), amz);
    }
    let mut out = String::new();
    push_digits(&mut out, -7, 2);
    push_digits(&mut out, 12345, 2);
    push_digits(&mut out, 0, 4);
    assert_eq!(out, "-07123450000");
}
