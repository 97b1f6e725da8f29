//! The one catalogue of the errors the filter itself answers with: each code, its status, and
//! the message a client sees. AWS's own errors keep AWS's type as their code (see `to_client`).

use super::ClientResponse;

/// An error raised by the filter, as the client sees it: `{"error": code, "message": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// The function named by the request is not a valid Lambda name (or is empty).
    InvalidFunctionName,
    InvalidQualifier,
    /// A data placeholder's value is empty or not UTF-8 once percent-decoded.
    InvalidPathParameter,
    /// The header that names the function is missing and there is no default.
    MissingFunction,
    /// The tenant id is not one Lambda accepts.
    InvalidTenantId,
    /// A tenant-isolated function's request carries no tenant id.
    MissingTenantId,
    FunctionNotAllowed,
    PayloadTooLarge,
    /// The request body did not arrive within the endpoint timeout.
    RequestTimeout,
    LambdaAccessDenied,
    MalformedProxyResponse,
    /// The function's result is not a JSON object, so it cannot be manipulated or merged.
    InvalidLambdaResult,
    LambdaUnreachable,
    LambdaConnectionReset,
    LambdaTimeout,
    CredentialsUnavailable,
    SigningFailed,
    CalloutFailed,
    LambdaRouteMissing,
    InternalError,
}

impl ClientError {
    pub const ALL: [ClientError; 20] = [
        ClientError::InvalidFunctionName,
        ClientError::InvalidQualifier,
        ClientError::InvalidPathParameter,
        ClientError::MissingFunction,
        ClientError::InvalidTenantId,
        ClientError::MissingTenantId,
        ClientError::FunctionNotAllowed,
        ClientError::PayloadTooLarge,
        ClientError::RequestTimeout,
        ClientError::LambdaAccessDenied,
        ClientError::MalformedProxyResponse,
        ClientError::InvalidLambdaResult,
        ClientError::LambdaUnreachable,
        ClientError::LambdaConnectionReset,
        ClientError::LambdaTimeout,
        ClientError::CredentialsUnavailable,
        ClientError::SigningFailed,
        ClientError::CalloutFailed,
        ClientError::LambdaRouteMissing,
        ClientError::InternalError,
    ];

    pub fn status(self) -> u16 {
        match self {
            ClientError::InvalidFunctionName
            | ClientError::InvalidQualifier
            | ClientError::InvalidPathParameter
            | ClientError::MissingFunction
            | ClientError::InvalidTenantId
            | ClientError::MissingTenantId => 400,
            ClientError::FunctionNotAllowed => 404,
            ClientError::RequestTimeout => 408,
            ClientError::PayloadTooLarge => 413,
            ClientError::SigningFailed
            | ClientError::CalloutFailed
            | ClientError::LambdaRouteMissing
            | ClientError::InternalError => 500,
            ClientError::LambdaAccessDenied
            | ClientError::MalformedProxyResponse
            | ClientError::InvalidLambdaResult
            | ClientError::LambdaConnectionReset => 502,
            ClientError::LambdaUnreachable | ClientError::CredentialsUnavailable => 503,
            ClientError::LambdaTimeout => 504,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ClientError::InvalidFunctionName => "invalid_function_name",
            ClientError::InvalidQualifier => "invalid_qualifier",
            ClientError::InvalidPathParameter => "invalid_path_parameter",
            ClientError::MissingFunction => "missing_function",
            ClientError::InvalidTenantId => "invalid_tenant_id",
            ClientError::MissingTenantId => "missing_tenant_id",
            ClientError::FunctionNotAllowed => "function_not_allowed",
            ClientError::PayloadTooLarge => "payload_too_large",
            ClientError::RequestTimeout => "request_timeout",
            ClientError::LambdaAccessDenied => "lambda_access_denied",
            ClientError::MalformedProxyResponse => "malformed_proxy_response",
            ClientError::InvalidLambdaResult => "invalid_lambda_result",
            ClientError::LambdaUnreachable => "lambda_unreachable",
            ClientError::LambdaConnectionReset => "lambda_connection_reset",
            ClientError::LambdaTimeout => "lambda_timeout",
            ClientError::CredentialsUnavailable => "credentials_unavailable",
            ClientError::SigningFailed => "signing_failed",
            ClientError::CalloutFailed => "callout_failed",
            ClientError::LambdaRouteMissing => "lambda_route_missing",
            ClientError::InternalError => "internal_error",
        }
    }

    /// The message when the situation needs no more words.
    pub fn message(self) -> &'static str {
        match self {
            ClientError::InvalidFunctionName => "the function name in the request is not valid",
            ClientError::InvalidQualifier => "the qualifier in the request is not valid",
            ClientError::InvalidPathParameter => "a path parameter is empty or not valid UTF-8",
            ClientError::MissingFunction => "the request does not name a function",
            ClientError::InvalidTenantId => "the tenant id is not valid",
            ClientError::MissingTenantId => "the request carries no tenant id",
            ClientError::FunctionNotAllowed => "the function is not one this endpoint may invoke",
            ClientError::PayloadTooLarge => "the payload is over Lambda's limit",
            ClientError::RequestTimeout => {
                "the request body did not arrive within the endpoint timeout"
            }
            ClientError::LambdaAccessDenied => {
                "AWS Lambda refused the gateway's credentials or permissions"
            }
            ClientError::MalformedProxyResponse => {
                "the function's result is not a valid API Gateway proxy response"
            }
            ClientError::InvalidLambdaResult => {
                "the function's result is not a JSON object: it cannot be manipulated or merged"
            }
            ClientError::LambdaUnreachable => "the Lambda endpoint could not be reached",
            ClientError::LambdaConnectionReset => {
                "the connection to the Lambda endpoint was reset before a complete response"
            }
            ClientError::LambdaTimeout => {
                "the Lambda invocation did not complete within the endpoint timeout"
            }
            ClientError::CredentialsUnavailable => {
                "AWS credentials are unavailable: the Lambda request was not sent"
            }
            ClientError::SigningFailed => "the Lambda request could not be signed",
            ClientError::CalloutFailed => "Envoy refused the callout to the Lambda cluster",
            ClientError::LambdaRouteMissing => "no Envoy route leads to the Lambda cluster",
            ClientError::InternalError => "the filter could not complete the request",
        }
    }

    /// The client's response, with the catalogue's message.
    pub fn response(self) -> ClientResponse {
        self.with_message(self.message())
    }

    /// The client's response with a more precise message (never a secret).
    pub fn with_message(self, message: &str) -> ClientResponse {
        ClientResponse::error(self.status(), self.code(), message)
    }
}
