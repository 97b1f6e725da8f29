//! A simulated Envoy for the engine's unit tests: virtual time, shared data and metrics shared
//! by several VMs, every callout recorded for the test to answer (or not), every client answer
//! recorded. Deterministic: nothing here reads the real clock.

use super::{Engine, Flow, Host, Level, MetricKind, Refused, Reply};
use crate::response::ClientResponse;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// A callout a VM sent.
#[derive(Debug, Clone)]
pub struct Call {
    pub vm: usize,
    pub token: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
    pub at: SystemTime,
    pub answered: bool,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One client stream, as the simulated Envoy holds it.
#[derive(Debug, Clone, Default)]
pub struct SimStream {
    pub request_headers: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
    pub filter_state: Vec<(String, Vec<u8>)>,
    /// What the filter let through of a streamed body, and whether it reset the response.
    pub sent_body: Vec<u8>,
    pub reset: bool,
    /// The filter's own answers (more than one is a bug).
    pub answers: Vec<(ClientResponse, SystemTime)>,
}

/// What every VM of the simulated Envoy shares.
#[derive(Debug)]
pub struct World {
    pub now: SystemTime,
    pub shared: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
    pub logs: Vec<(usize, Level, String)>,
    metric_names: Vec<String>,
    pub metrics: HashMap<String, u64>,
    pub calls: Vec<Call>,
    next_token: u32,
    pub streams: HashMap<u32, SimStream>,
    /// The stream whose callback runs.
    pub current: u32,
    /// The callout answer being delivered.
    pub delivering: Reply,
    /// Clusters Envoy does not know (dispatch refused).
    pub unknown_clusters: Vec<String>,
    pub ticks: Vec<Duration>,
    /// Every host call made, by name: what the hot path costs in calls into Envoy.
    pub host_calls: Vec<&'static str>,
}

impl World {
    pub fn new(start: SystemTime) -> World {
        World {
            now: start,
            shared: HashMap::new(),
            next_cas: 1,
            logs: Vec::new(),
            metric_names: Vec::new(),
            metrics: HashMap::new(),
            calls: Vec::new(),
            next_token: 1,
            streams: HashMap::new(),
            current: 0,
            delivering: Reply::default(),
            unknown_clusters: Vec::new(),
            ticks: Vec::new(),
            host_calls: Vec::new(),
        }
    }
}

pub struct SimHost {
    pub vm: usize,
    pub world: Rc<RefCell<World>>,
}

impl SimHost {
    fn hit(&self, call: &'static str) {
        self.world.borrow_mut().host_calls.push(call);
    }

    fn stream<T>(&self, f: impl FnOnce(&mut SimStream) -> T) -> T {
        let mut world = self.world.borrow_mut();
        let current = world.current;
        f(world.streams.entry(current).or_default())
    }
}

impl Host for SimHost {
    fn now(&self) -> SystemTime {
        self.hit("now");
        self.world.borrow().now
    }

    fn log(&self, level: Level, message: &str) {
        self.hit("log");
        self.world
            .borrow_mut()
            .logs
            .push((self.vm, level, message.to_string()));
    }

    fn dispatch(
        &self,
        cluster: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<u32, Refused> {
        self.hit("dispatch");
        let mut world = self.world.borrow_mut();
        if world.unknown_clusters.iter().any(|c| c == cluster) {
            return Err(Refused("BadArgument".to_string()));
        }
        let token = world.next_token;
        world.next_token += 1;
        let at = world.now;
        world.calls.push(Call {
            vm: self.vm,
            token,
            cluster: cluster.to_string(),
            headers: headers.to_vec(),
            body: body.unwrap_or_default().to_vec(),
            timeout,
            at,
            answered: false,
        });
        Ok(token)
    }

    fn callout_reply(&self, _num_headers: usize, _body_size: usize) -> Reply {
        self.hit("callout_reply");
        self.world.borrow().delivering.clone()
    }

    fn set_tick(&self, period: Duration) {
        self.hit("set_tick");
        let mut world = self.world.borrow_mut();
        let vm = self.vm;
        if world.ticks.len() <= vm {
            world.ticks.resize(vm + 1, Duration::ZERO);
        }
        if let Some(t) = world.ticks.get_mut(vm) {
            *t = period;
        }
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.hit("shared_get");
        self.world.borrow().shared.get(key).cloned()
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        self.hit("shared_set");
        let mut world = self.world.borrow_mut();
        if let (Some(cas), Some((_, current))) = (cas, world.shared.get(key)) {
            if cas != *current {
                return false;
            }
        }
        let next = world.next_cas;
        world.next_cas += 1;
        world.shared.insert(key.to_string(), (value.to_vec(), next));
        true
    }

    fn define_metric(&self, _kind: MetricKind, name: &str) -> Option<u32> {
        self.hit("define_metric");
        let mut world = self.world.borrow_mut();
        if let Some(i) = world.metric_names.iter().position(|n| n == name) {
            return u32::try_from(i).ok();
        }
        world.metric_names.push(name.to_string());
        u32::try_from(world.metric_names.len() - 1).ok()
    }

    fn add_metric(&self, kind: MetricKind, id: u32, value: u64) {
        self.hit("add_metric");
        let mut world = self.world.borrow_mut();
        let Some(name) = world.metric_names.get(id as usize).cloned() else {
            return;
        };
        let entry = world.metrics.entry(name).or_default();
        match kind {
            MetricKind::Counter => *entry += value,
            // Histograms: the number of samples.
            MetricKind::Histogram => *entry += 1,
        }
    }

    fn request_headers(&self) -> Vec<(String, String)> {
        self.hit("request_headers");
        self.stream(|s| s.request_headers.clone())
    }

    fn property(&self, path: &[&str]) -> Option<String> {
        self.hit("property");
        match path {
            ["source", "address"] => Some("10.0.0.7:5555".to_string()),
            ["request", "protocol"] => Some("HTTP/1.1".to_string()),
            ["xds", "cluster_name"] => self.stream(|s| {
                s.filter_state
                    .iter()
                    .find(|(k, _)| k == crate::config::IN_PLACE_ROUTE_KEY)
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            }),
            _ => None,
        }
    }

    fn request_body(&self, size: usize) -> Vec<u8> {
        self.hit("request_body");
        self.stream(|s| s.request_body.iter().take(size).copied().collect())
    }

    fn response_headers(&self) -> Vec<(String, String)> {
        self.hit("response_headers");
        self.stream(|s| s.response_headers.clone())
    }

    fn response_body(&self, start: usize, size: usize) -> Vec<u8> {
        self.hit("response_body");
        self.stream(|s| {
            s.response_body
                .iter()
                .skip(start)
                .take(size)
                .copied()
                .collect()
        })
    }

    fn set_response_body(&self, size: usize, body: &[u8]) -> Result<(), Refused> {
        self.hit("set_response_body");
        self.stream(|s| {
            s.sent_body.extend_from_slice(body);
            s.response_body.drain(..size.min(s.response_body.len()));
        });
        Ok(())
    }

    fn reset_response(&self) {
        self.hit("reset_response");
        self.stream(|s| s.reset = true);
    }

    fn set_request_headers(&self, headers: &[(String, String)]) -> Result<(), Refused> {
        self.hit("set_request_headers");
        self.stream(|s| s.request_headers = headers.to_vec());
        Ok(())
    }

    fn set_filter_state(&self, key: &str, value: &[u8]) -> Result<(), Refused> {
        self.hit("set_filter_state");
        self.stream(|s| s.filter_state.push((key.to_string(), value.to_vec())));
        Ok(())
    }

    fn set_response_headers(&self, headers: &[(String, String)]) -> Result<(), Refused> {
        self.hit("set_response_headers");
        self.stream(|s| s.response_headers = headers.to_vec());
        Ok(())
    }

    fn respond(&self, context: u32, response: &ClientResponse) -> bool {
        self.hit("respond");
        let mut world = self.world.borrow_mut();
        let now = world.now;
        world
            .streams
            .entry(context)
            .or_default()
            .answers
            .push((response.clone(), now));
        true
    }
}

/// A simulated Envoy running `vms` VMs of the filter with one configuration.
pub struct Sim {
    pub world: Rc<RefCell<World>>,
    pub vms: Vec<Engine<SimHost>>,
    last_tick: Vec<SystemTime>,
    next_context: u32,
}

pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

impl Sim {
    pub fn new(config: &serde_json::Value, vms: usize) -> Sim {
        Sim::with_env(config, vms, &|_| None)
    }

    pub fn with_env(
        config: &serde_json::Value,
        vms: usize,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Sim {
        let world = Rc::new(RefCell::new(World::new(t0())));
        let bytes = serde_json::to_vec(config).unwrap_or_default();
        let engines = (0..vms)
            .map(|vm| {
                let host = SimHost {
                    vm,
                    world: Rc::clone(&world),
                };
                match Engine::configure(host, &bytes, env) {
                    Ok(e) => e,
                    Err(e) => panic!("configuration refused: {e}"),
                }
            })
            .collect();
        Sim {
            world,
            vms: engines,
            last_tick: vec![t0(); vms],
            next_context: 100,
        }
    }

    pub fn now(&self) -> SystemTime {
        self.world.borrow().now
    }

    /// Moves time on by `d`, running each VM's timer as Envoy would.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now() + d;
        loop {
            let next = (0..self.vms.len())
                .filter_map(|vm| {
                    let period = self.world.borrow().ticks.get(vm).copied()?;
                    (!period.is_zero()).then(|| (vm, self.last_tick[vm] + period))
                })
                .min_by_key(|(_, at)| *at);
            match next {
                Some((vm, at)) if at <= end => {
                    self.world.borrow_mut().now = at.max(self.now());
                    self.last_tick[vm] = at;
                    self.vms[vm].on_tick();
                }
                _ => break,
            }
        }
        self.world.borrow_mut().now = end;
    }

    /// Sends a request to VM `vm`: headers, then the body (if any) in one piece. Returns the
    /// stream's context id and what the headers callback answered.
    pub fn request(
        &mut self,
        vm: usize,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u32, Flow) {
        let context = self.next_context;
        self.next_context += 1;
        let mut all = vec![
            (":method".to_string(), method.to_string()),
            (":path".to_string(), path.to_string()),
            (":authority".to_string(), "gateway".to_string()),
        ];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        {
            let mut world = self.world.borrow_mut();
            world.current = context;
            let stream = world.streams.entry(context).or_default();
            stream.request_headers = all;
            stream.request_body = body.unwrap_or_default().to_vec();
        }
        let flow = self.vms[vm].on_request_headers(context, body.is_none());
        if let (Some(body), Flow::Pause) = (body, flow) {
            self.world.borrow_mut().current = context;
            self.vms[vm].on_request_body(context, body.len(), true);
        }
        (context, flow)
    }

    /// Callouts not answered yet, oldest first.
    pub fn open_calls(&self) -> Vec<Call> {
        self.world
            .borrow()
            .calls
            .iter()
            .filter(|c| !c.answered)
            .cloned()
            .collect()
    }

    pub fn calls_to(&self, cluster: &str) -> Vec<Call> {
        self.world
            .borrow()
            .calls
            .iter()
            .filter(|c| c.cluster == cluster)
            .cloned()
            .collect()
    }

    /// Delivers `reply` for callout `token` to the VM that sent it.
    pub fn reply(&mut self, token: u32, reply: Reply) {
        let vm = {
            let mut world = self.world.borrow_mut();
            let Some(call) = world.calls.iter_mut().find(|c| c.token == token) else {
                return;
            };
            call.answered = true;
            let vm = call.vm;
            world.delivering = reply;
            vm
        };
        self.vms[vm].on_callout(token, 1, 0);
    }

    /// Answers every open callout with what `serve` says (`None`: leave it open).
    pub fn serve(&mut self, mut serve: impl FnMut(&Call) -> Option<Reply>) {
        for call in self.open_calls() {
            if let Some(reply) = serve(&call) {
                self.reply(call.token, reply);
            }
        }
    }

    /// The one answer of stream `context` and when it came.
    pub fn answer(&self, context: u32) -> Option<(ClientResponse, SystemTime)> {
        let world = self.world.borrow();
        let answers = &world.streams.get(&context)?.answers;
        assert!(answers.len() <= 1, "answered twice: {answers:?}");
        answers.first().cloned()
    }

    pub fn metric(&self, name: &str) -> u64 {
        self.world.borrow().metrics.get(name).copied().unwrap_or(0)
    }

    pub fn logs_containing(&self, text: &str) -> usize {
        self.world
            .borrow()
            .logs
            .iter()
            .filter(|(_, _, m)| m.contains(text))
            .count()
    }

    pub fn done(&mut self, vm: usize, context: u32) {
        self.vms[vm].on_done(context);
    }
}

/// A Lambda success.
pub fn ok(body: &str) -> Reply {
    Reply {
        status: Some(200),
        headers: vec![
            (":status".to_string(), "200".to_string()),
            ("x-amzn-requestid".to_string(), "req-1".to_string()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// Envoy's local reply for a failed upstream attempt with this reset reason.
pub fn envoy_reset(reason: &str) -> Reply {
    Reply {
        status: Some(503),
        headers: vec![
            (":status".to_string(), "503".to_string()),
            ("content-type".to_string(), "text/plain".to_string()),
        ],
        body: format!(
            "upstream connect error or disconnect/reset before headers. reset reason: {reason}"
        )
        .into_bytes(),
    }
}

/// A callout that ended without headers (reset after the headers, or its timer fired).
pub fn no_headers() -> Reply {
    Reply::default()
}

/// A container credentials answer: keys valid for `valid_for` from `now`.
pub fn container_keys(key: &str, now: SystemTime, valid_for: Duration) -> Reply {
    let amz = crate::clock::Utc::from_time(now + valid_for).amz_date();
    let expires = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &amz[0..4],
        &amz[4..6],
        &amz[6..8],
        &amz[9..11],
        &amz[11..13],
        &amz[13..15]
    );
    let body = serde_json::json!({
        "AccessKeyId": key, "SecretAccessKey": "secret-of-".to_string() + key,
        "Token": "token-of-".to_string() + key, "Expiration": expires
    });
    Reply {
        status: Some(200),
        headers: vec![(":status".to_string(), "200".to_string())],
        body: body.to_string().into_bytes(),
    }
}

pub fn status(code: u16) -> Reply {
    Reply {
        status: Some(code),
        headers: vec![(":status".to_string(), code.to_string())],
        body: Vec::new(),
    }
}
