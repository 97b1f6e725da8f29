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
