//! The VM's metric ids: defined through the host on first use, per-function labels bounded.

use super::fastmap::FastMap;
use super::{Host, MetricKind};
use crate::metrics::{self, Counter, FunctionLabels, Histogram};

#[derive(Default)]
pub struct Stats {
    ids: FastMap<String, u32>,
    labels: FunctionLabels,
    /// Per-function ids by function name and metric, found without building names; bounded.
    per_function: FastMap<String, FastMap<&'static str, u32>>,
}

impl Stats {
    fn id(&mut self, host: &impl Host, name: String, kind: MetricKind) -> Option<u32> {
        if let Some(id) = self.ids.get(&name) {
            return Some(*id);
        }
        let id = host.define_metric(kind, &name)?;
        self.ids.insert(name, id);
        Some(id)
    }

    fn function_id(
        &mut self,
        host: &impl Host,
        metric: &'static str,
        kind: MetricKind,
        function: &str,
    ) -> Option<u32> {
        if let Some(id) = self
            .per_function
            .get(function)
            .and_then(|ids| ids.get(metric))
        {
            return Some(*id);
        }
        let label = self.labels.label(function);
        let id = self.id(host, metrics::per_function(metric, &label), kind)?;
        if self.per_function.contains_key(function)
            || self.per_function.len() < metrics::MAX_FUNCTION_LABELS
        {
            self.per_function
                .entry(function.to_string())
                .or_default()
                .insert(metric, id);
        }
        Some(id)
    }

    pub fn count(&mut self, host: &impl Host, counter: Counter, function: &str) {
        if let Some(id) = self.function_id(host, counter.name(), MetricKind::Counter, function) {
            host.add_metric(MetricKind::Counter, id, 1);
        }
    }

    pub fn record(&mut self, host: &impl Host, histogram: Histogram, function: &str, value: u64) {
        if let Some(id) = self.function_id(host, histogram.name(), MetricKind::Histogram, function)
        {
            host.add_metric(MetricKind::Histogram, id, value);
        }
    }

    pub fn count_named(&mut self, host: &impl Host, name: &str) {
        if let Some(id) = self.id(host, name.to_string(), MetricKind::Counter) {
            host.add_metric(MetricKind::Counter, id, 1);
        }
    }
}
