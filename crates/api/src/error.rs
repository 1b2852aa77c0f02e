//! `ApiError`, the one error type of every handler, and the extractor error handlers that turn
//! actix-web's own refusals (bad JSON, oversized bodies, bad query strings) into the protocol's
//! `{"errcode", "error"}` body.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use polyhome_proto::{ErrorBody, ErrorCode};
use polyhome_store::StoreError;

/// An error answer: a code from `polyhome_proto` and a sentence for people.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// A failure inside the server. The cause goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed inside the server");
        ApiError::new(
            ErrorCode::Internal,
            "internal server error; the server log has the cause",
        )
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            ErrorCode::Unauthorized,
            "unknown actor, wrong password, or missing, unknown or revoked session token",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.code == ErrorCode::Unauthorized {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(ErrorBody::new(self.code, self.message.clone()))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                ApiError::new(
                    ErrorCode::Unavailable,
                    "the database is busy or unreachable; try again",
                )
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        ApiError::internal(err)
    }
}

pub(crate) fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the body is larger than {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonPayloadError::Deserialize(e) => {
            ApiError::new(ErrorCode::InvalidBody, format!("invalid JSON body: {e}"))
        }
        other => ApiError::new(
            ErrorCode::InvalidBody,
            format!("cannot read the body: {other}"),
        ),
    };
    api.into()
}

pub(crate) fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        ErrorCode::InvalidParameter,
        format!("invalid query string: {err}"),
    )
    .into()
}

pub(crate) fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(ErrorCode::InvalidParameter, format!("invalid path: {err}")).into()
}

/// Middleware that gives every error response the protocol's JSON body, including those that
/// actix-web makes itself (an oversized body on a route that reads raw bytes, a panic caught as
/// 500). Responses that already carry JSON pass unchanged.
pub fn protocol_error_bodies<B: 'static>() -> actix_web::middleware::ErrorHandlers<B> {
    actix_web::middleware::ErrorHandlers::new().default_handler(ensure_json_body)
}

fn ensure_json_body<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::http::header::{self, HeaderValue};
    use actix_web::middleware::ErrorHandlerResponse;

    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let code = match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        413 => ErrorCode::BodyTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        503 => ErrorCode::Unavailable,
        s if s >= 500 => ErrorCode::Internal,
        _ => ErrorCode::InvalidBody,
    };
    let body = ErrorBody {
        errcode: status.as_u16(),
        error: code.as_str().to_owned(),
        message: status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let (req, mut res) = res.into_parts();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let res = res.set_body(serde_json::to_string(&body).unwrap_or_default());
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, res)
            .map_into_boxed_body()
            .map_into_right_body(),
    ))
}

/// Answers 408 when the request — reading its body included — has not been answered within
/// `deadline`, so that a client that stops sending mid-body does not hold a connection forever.
/// For `App::wrap_fn`.
pub fn within_deadline<S, B>(
    deadline: std::time::Duration,
    req: actix_web::dev::ServiceRequest,
    service: &S,
) -> impl std::future::Future<
    Output = Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error>,
>
where
    S: actix_web::dev::Service<
        actix_web::dev::ServiceRequest,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody + 'static,
{
    // The request must not be cloned here: actix-web needs it unshared while it routes.
    let path = req.path().to_owned();
    let call = service.call(req);
    async move {
        match tokio::time::timeout(deadline, call).await {
            Ok(response) => response.map(actix_web::dev::ServiceResponse::map_into_boxed_body),
            Err(_) => {
                tracing::warn!(%path, "request timed out");
                Err(ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "the request was not completed within {} s",
                        deadline.as_secs()
                    ),
                )
                .into())
            }
        }
    }
}
