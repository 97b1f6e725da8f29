//! A VM's credentials: the keys it signs with, the fetch it may have in flight, and how it
//! shares both with the other VMs of the plugin through shared data.
//!
//! - Requests sign with the current keys as long as they are valid; a refresh in flight never
//!   makes them wait. Only a VM with no valid keys (none fetched yet, expired, or rejected by
//!   AWS) makes its requests wait, bounded by their endpoint timeout.
//! - A fetch starts when the keys are missing or expire within `refresh_before`, and only when
//!   the shared [`Schedule`] allows it: one VM of the Envoy holds the lease, and after a failure
//!   (or keys not worth keeping) the whole Envoy waits out the backoff.
//! - Fetched keys go to shared data, where every VM finds them.

use super::{fnv, Host, Level, Reply};
use crate::config::Source;
use crate::credentials::fetch::{Base, Fetch, FetchError, Next, Provider};
use crate::credentials::schedule::{self, Schedule};
use crate::credentials::{Cache, Credentials, Expiring, Worth};
use crate::invoke::Signer;
use std::time::{Duration, SystemTime};

/// Time allowed for each HTTP request of a credentials fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What a fetch came to, for the requests waiting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    Refreshed,
    /// `usable`: whether valid keys are still held (they keep serving).
    Failed {
        cause: String,
        usable: bool,
    },
}

pub struct Keyring {
    provider: Option<Provider>,
    cache: Cache,
    /// The fetch in flight: its callout token and state.
    fetch: Option<(u32, Fetch)>,
    /// Shared-data key of these credentials (one per distinct provider).
    key: String,
    last_failure: String,
}

/// A seed for a VM's jitter.
pub fn seed(now: SystemTime) -> u64 {
    schedule::millis(now) ^ 0x9E37_79B9_7F4A_7C15
}

/// A stable name for a provider's shared credentials. The provider's `Debug` redacts static
/// secrets, so they are hashed in too: two providers that differ only in a base secret must not
/// share credentials. Only the hash is ever shown.
pub fn shared_key_for(provider: Option<&Provider>) -> String {
    let secret = match provider.map(|p| &p.base) {
        Some(Base::Fixed(keys)) => keys.secret_access_key.as_str(),
        _ => "",
    };
    let hash = fnv(format!("{provider:?}{secret}").as_bytes());
    format!("lambda-wasm.credentials.{hash:016x}")
}

impl Keyring {
    /// Static keys are ready at once; fetched ones are fetched on the first tick.
    pub fn new(source: &Source, now: SystemTime) -> Keyring {
        let mut keyring = Keyring {
            provider: source.provider.clone(),
            cache: Cache::new(source.refresh_before),
            fetch: None,
            key: shared_key_for(source.provider.as_ref()),
            last_failure: String::new(),
        };
        if let Some(provider) = keyring.provider.as_ref().filter(|p| !p.is_dynamic()) {
            if let (_, Next::Done(Ok(got))) = Fetch::start(provider, now) {
                keyring.cache.offer(got);
            }
        }
        keyring
    }

    /// Whether there is a source at all (else requests are refused, never sent unsigned).
    pub fn has_provider(&self) -> bool {
        self.provider.is_some()
    }

    /// Creates the shared schedule record if no VM has yet. The first VM configured (Envoy's
    /// main thread, before any worker) does it, so the lease is always taken by compare-and-swap
    /// on an existing record: two VMs can never both see "no record" and both fetch.
    pub fn prepare(&self, host: &impl Host) {
        if self.refreshable() && host.shared_get(&self.schedule_key()).is_none() {
            host.shared_set(&self.schedule_key(), &Schedule::default().encode(), None);
        }
    }

    pub fn refreshable(&self) -> bool {
        self.provider.as_ref().is_some_and(Provider::is_dynamic)
    }

    pub fn owns(&self, token: u32) -> bool {
        self.fetch.as_ref().is_some_and(|(t, _)| *t == token)
    }

    fn schedule_key(&self) -> String {
        format!("{}.schedule", self.key)
    }

    fn read_schedule(&self, host: &impl Host) -> (Schedule, Option<u32>) {
        match host.shared_get(&self.schedule_key()) {
            Some((bytes, cas)) => (Schedule::decode(&bytes), Some(cas)),
            None => (Schedule::default(), None),
        }
    }

    fn write_schedule(&self, host: &impl Host, schedule: Schedule) {
        host.shared_set(&self.schedule_key(), &schedule.encode(), None);
    }

    fn read_shared(&self, host: &impl Host) -> Option<Expiring> {
        let (bytes, _) = host.shared_get(&self.key)?;
        Expiring::from_shared(&bytes)
    }

    /// What signs, for the decision after a reply.
    pub fn signer(&self) -> Signer<'_> {
        Signer {
            credentials: self.cache.current().map(|c| &c.credentials),
            refreshable: self.refreshable(),
        }
    }

    /// Keys to sign with now: this VM's, else fresher ones another VM shared.
    pub fn usable(&mut self, host: &impl Host, now: SystemTime) -> Option<Credentials> {
        if self.cache.usable(now).is_none() && self.refreshable() {
            if let Some(shared) = self.read_shared(host) {
                self.cache.offer(shared);
            }
        }
        self.cache.usable(now).cloned()
    }

    /// When a fetch may next start, if a backoff after failures runs now.
    pub fn unavailable_until(&self, host: &impl Host, now: SystemTime) -> Option<SystemTime> {
        let (schedule, _) = self.read_schedule(host);
        (schedule.failures > 0)
            .then(|| schedule.backing_off(now))
            .flatten()
    }

    pub fn last_failure(&self) -> &str {
        if self.last_failure.is_empty() {
            "no answer yet"
        } else {
            &self.last_failure
        }
    }

    /// AWS rejected these keys: stop using them here and in shared data, and fetch at once
    /// unless a backoff runs.
    pub fn reject(&mut self, host: &impl Host, access_key_id: &str, now: SystemTime) {
        self.cache.reject(access_key_id);
        if let Some((bytes, cas)) = host.shared_get(&self.key) {
            if Expiring::from_shared(&bytes)
                .is_some_and(|e| e.credentials.access_key_id == access_key_id)
            {
                host.shared_set(&self.key, b"", Some(cas));
            }
        }
        let (schedule, _) = self.read_schedule(host);
        self.write_schedule(host, schedule.rejected(now));
    }

    /// Starts a fetch when keys are wanted and the shared schedule allows this VM to.
    pub fn maybe_refresh(
        &mut self,
        host: &impl Host,
        now: SystemTime,
        random: f64,
    ) -> Option<FetchEvent> {
        if !self.refreshable() || self.fetch.is_some() {
            return None;
        }
        if let Some(shared) = self.read_shared(host) {
            self.cache.offer(shared);
        }
        if !self.cache.wants_refresh(now) {
            return None;
        }
        let (schedule, cas) = self.read_schedule(host);
        if !schedule.may_start(now)
            || !host.shared_set(&self.schedule_key(), &schedule.leased(now).encode(), cas)
        {
            return None;
        }
        let provider = self.provider.clone()?;
        let (fetch, next) = Fetch::start(&provider, now);
        self.advance(host, fetch, next, now, random)
    }

    /// The answer to this VM's fetch request.
    pub fn on_reply(
        &mut self,
        host: &impl Host,
        token: u32,
        reply: &Reply,
        now: SystemTime,
        random: f64,
    ) -> Option<FetchEvent> {
        let (_, mut fetch) = self.fetch.take().filter(|(t, _)| *t == token)?;
        let next = fetch.on_response(reply.status, &reply.body, now);
        self.advance(host, fetch, next, now, random)
    }

    /// Sends the fetch's next request, or takes its result.
    fn advance(
        &mut self,
        host: &impl Host,
        fetch: Fetch,
        next: Next,
        now: SystemTime,
        random: f64,
    ) -> Option<FetchEvent> {
        match next {
            Next::Send(request) => {
                let body = (!request.body.is_empty()).then_some(request.body.as_slice());
                match host.dispatch(&request.cluster, &request.headers, body, FETCH_TIMEOUT) {
                    Ok(token) => {
                        self.fetch = Some((token, fetch));
                        None
                    }
                    Err(e) => {
                        host.log(
                            Level::Debug,
                            &format!("credentials callout refused: {}", e.0),
                        );
                        let cause = FetchError::Callout(request.cluster.clone()).to_string();
                        Some(self.failed(host, cause, now, random))
                    }
                }
            }
            Next::Done(Ok(got)) => Some(self.fetched(host, got, now, random)),
            Next::Done(Err(e)) => Some(self.failed(host, e.to_string(), now, random)),
        }
    }

    fn fetched(
        &mut self,
        host: &impl Host,
        got: Expiring,
        now: SystemTime,
        random: f64,
    ) -> FetchEvent {
        if let Err(e) = got.credentials.validate() {
            return self.failed(
                host,
                format!("the source answered with unusable keys: {e}"),
                now,
                random,
            );
        }
        let provider = self.provider_name();
        let valid_for = got
            .expires
            .and_then(|e| e.duration_since(now).ok())
            .map(|d| d.as_secs());
        match self.cache.assess(&got, now) {
            Worth::Useless => {
                return self.failed(
                    host,
                    "the source answered with keys that are already expired (is its clock, or \
                     this host's, wrong?)"
                        .to_string(),
                    now,
                    random,
                )
            }
            Worth::ShortLived => {
                let (schedule, _) = self.read_schedule(host);
                let next = schedule.failed(now, random);
                self.write_schedule(host, next);
                host.log(
                    Level::Warn,
                    &format!(
                        "credentials from {provider}: valid for {}s only, within refresh_before; \
                         used, and asked for again in {}s",
                        valid_for.unwrap_or(0),
                        schedule::from_millis(next.next_attempt)
                            .duration_since(now)
                            .map(|d| d.as_secs())
                            .unwrap_or(0)
                    ),
                );
            }
            Worth::Good => {
                self.write_schedule(host, Schedule::default().succeeded());
                match valid_for {
                    Some(s) => host.log(
                        Level::Info,
                        &format!("credentials from {provider}: refreshed, valid for {s}s"),
                    ),
                    None => host.log(Level::Debug, &format!("credentials from {provider}")),
                }
            }
        }
        host.shared_set(&self.key, &got.to_shared(), None);
        self.cache.offer(got);
        self.last_failure.clear();
        FetchEvent::Refreshed
    }

    fn failed(
        &mut self,
        host: &impl Host,
        cause: String,
        now: SystemTime,
        random: f64,
    ) -> FetchEvent {
        let (schedule, _) = self.read_schedule(host);
        let next = schedule.failed(now, random);
        self.write_schedule(host, next);
        let wait = schedule::from_millis(next.next_attempt)
            .duration_since(now)
            .unwrap_or(Duration::ZERO);
        // Tenths of a second, rounded, in integers: float formatting would cost the module ~18 KB.
        let tenths = (wait.as_millis() + 50) / 100;
        host.log(
            Level::Warn,
            &format!(
                "credentials from {} unavailable: {cause}; attempt {} failed, next in {}.{}s",
                self.provider_name(),
                next.failures,
                tenths / 10,
                tenths % 10
            ),
        );
        let usable = self.usable(host, now).is_some();
        self.last_failure = cause.clone();
        FetchEvent::Failed { cause, usable }
    }

    fn provider_name(&self) -> String {
        self.provider
            .as_ref()
            .map(Provider::describe)
            .unwrap_or_default()
    }
}
