use super::*;

fn at(ms: u64) -> SystemTime {
    from_millis(1_700_000_000_000 + ms)
}

#[test]
fn backoff_doubles_from_one_second_to_the_cap_with_jitter() {
    assert_eq!(
        backoff(1, 0.999_999),
        Duration::from_millis(999) + Duration::from_nanos(999_500)
    );
    assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
    assert_eq!(backoff(2, 0.0), Duration::from_secs(1));
    assert_eq!(backoff(3, 0.0), Duration::from_secs(2));
    assert_eq!(backoff(6, 0.0), Duration::from_secs(15));
    assert_eq!(backoff(7, 0.0), Duration::from_secs(15));
    assert_eq!(backoff(u32::MAX, 1.0), MAX_BACKOFF);
    for failures in 1..40 {
        for r in [0.0, 0.3, 0.99] {
            let d = backoff(failures, r);
            assert!(
                d >= FIRST_BACKOFF / 2 && d <= MAX_BACKOFF,
                "{failures} {r} {d:?}"
            );
        }
    }
}

#[test]
fn lease_and_backoff_decide_who_may_fetch() {
    let s = Schedule::default();
    assert!(s.may_start(at(0)));
    let leased = s.leased(at(0));
    assert!(!leased.may_start(at(14_999)));
    assert!(leased.may_start(at(15_000)), "a lease expires");
    let failed = leased.failed(at(100), 0.0);
    assert_eq!(failed.failures, 1);
    assert!(!failed.may_start(at(599)));
    assert!(failed.may_start(at(600)));
    assert_eq!(failed.backing_off(at(100)), Some(at(600)));
    let again = failed.leased(at(600)).failed(at(700), 0.0);
    assert_eq!(again.failures, 2);
    assert!(!again.may_start(at(1_699)));
    assert!(again.may_start(at(1_700)));
    assert_eq!(again.succeeded(), Schedule::default());
}

#[test]
fn rejected_keys_are_fetched_again_at_once_unless_a_backoff_runs() {
    let s = Schedule {
        lease_until: 0,
        next_attempt: 0,
        failures: 0,
    };
    assert!(s.rejected(at(0)).may_start(at(0)));
    let backing_off = s.failed(at(0), 0.0);
    assert_eq!(backing_off.rejected(at(10)), backing_off);
}

#[test]
fn the_shared_record_round_trips_and_garbage_is_empty() {
    let s = Schedule {
        lease_until: 5,
        next_attempt: 7,
        failures: 3,
    };
    assert_eq!(Schedule::decode(&s.encode()), s);
    for garbage in [&b""[..], b"1 2", b"a b c", b"\xff\xfe", b"1 2 99999999999"] {
        let d = Schedule::decode(garbage);
        assert!(
            d == Schedule::default() || d.failures == u32::MAX,
            "{garbage:?}"
        );
    }
}
