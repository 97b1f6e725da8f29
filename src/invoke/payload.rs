//! The Invoke's payload: KrakenD's (the placeholders, or the body), an API Gateway event, or the
//! body as it is.

use super::Request;
use crate::config::{Endpoint, Lambda};
use crate::event::{self, EventFormat, HttpInput};

/// The payload for `endpoint` from the request and its body.
pub(super) fn build(
    endpoint: &Endpoint,
    lambda: &Lambda,
    request: &Request,
    body: Vec<u8>,
) -> Vec<u8> {
    let event = match (lambda.event_format, &request.meta) {
        (EventFormat::Krakend, _) if lambda.payload_from_params => {
            return event::from_params(endpoint.path.params(), &request.captures.values)
        }
        (EventFormat::Krakend | EventFormat::Raw, _) | (_, None) => return body,
        (format, Some(meta)) => {
            let header = |name: &str| {
                meta.headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let input = HttpInput {
                method: &meta.method,
                pattern: endpoint.path.as_str(),
                path: &meta.path,
                headers: meta
                    .headers
                    .iter()
                    .filter(|(k, _)| lambda.event.shows_header(k))
                    .cloned()
                    .collect(),
                params: endpoint
                    .path
                    .params()
                    .iter()
                    .cloned()
                    .zip(request.captures.values.iter().cloned())
                    .collect(),
                host: header(":authority")
                    .or_else(|| header("host"))
                    .unwrap_or(""),
                protocol: &meta.protocol,
                source_ip: &meta.source_ip,
                request_id: &meta.request_id,
                time: meta.time,
            };
            let encoded = event::encode_body(&body, header("content-type"), &lambda.event);
            if format == EventFormat::ApigwV1 {
                event::apigw::v1(&input, &encoded)
            } else {
                event::apigw::v2(&input, &encoded)
            }
        }
    };
    serde_json::to_vec(&event).unwrap_or_default()
}
