//! `ApiError`, the one error type of every handler, and the extractor error handlers that turn
//! actix-web's own refusals (bad JSON, oversized bodies, bad query strings) into the protocol's
//! `{"errcode", "error"}` body.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
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

    /// 400 for a body that is not the JSON a route takes. serde_json's message shows the value it
    /// did not expect (`invalid type: string "hunter2", expected …`), and that value may be a
    /// password sent in the wrong place: the message keeps the kind of value and drops the value.
    pub fn invalid_json(err: &serde_json::Error) -> Self {
        ApiError::new(
            ErrorCode::InvalidBody,
            format!("invalid JSON body: {}", without_values(&err.to_string())),
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
        JsonPayloadError::Deserialize(e) => ApiError::invalid_json(e),
        other => ApiError::new(
            ErrorCode::InvalidBody,
            format!("cannot read the body: {other}"),
        ),
    };
    api.into()
}

/// `message` with the values serde quotes in it left out: `string "…"`, ``integer `…` ``,
/// ``floating point `…` `` and ``character `…` `` become the kind of value alone.
fn without_values(message: &str) -> String {
    /// How each kind of value starts, and the mark that ends it.
    const KINDS: [(&str, char); 4] = [
        ("string \"", '"'),
        ("integer `", '`'),
        ("floating point `", '`'),
        ("character `", '`'),
    ];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some((at, start, close)) = KINDS
        .iter()
        .filter_map(|&(start, close)| rest.find(start).map(|at| (at, start, close)))
        .min_by_key(|&(at, ..)| at)
    {
        out.push_str(&rest[..at]);
        // The kind's name: the start without its space and opening mark.
        out.push_str(&start[..start.len() - 2]);
        let value = &rest[at + start.len()..];
        // The value ends at the first closing mark that is not escaped (serde writes strings
        // with Rust's escapes: a quote inside one is `\"`).
        let mut escaped = false;
        let end = value.char_indices().find(|&(_, c)| {
            let closes = c == close && !escaped;
            escaped = c == '\\' && !escaped;
            closes
        });
        rest = end.map_or("", |(i, c)| &value[i + c.len_utf8()..]);
    }
    out.push_str(rest);
    out
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

/// Answers 408 when the client has not sent the whole request body within `deadline`, so that
/// a client that stops sending mid-body does not hold a connection forever. For `App::wrap_fn`.
///
/// Only receiving is timed: once the body is in, the handler runs to its end, so a 408 never
/// comes from a request whose work was cut off half done (or done but not reported). The work
/// itself is bounded elsewhere: password hashing by its parameters, the database by its pool's
/// timeout, other servers by `federation.request_timeout_secs`.
pub fn within_deadline<S, B>(
    deadline: std::time::Duration,
    mut req: actix_web::dev::ServiceRequest,
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
    // Most requests (every GET of a key) have no body: they need no clock.
    let headers = req.headers();
    let has_body = headers.contains_key(actix_web::http::header::TRANSFER_ENCODING)
        || headers
            .get(actix_web::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let timed_out = has_body.then(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let body = DeadlineBody {
            inner: req.take_payload(),
            sleep: Box::pin(tokio::time::sleep(deadline)),
            timed_out: flag.clone(),
            done: false,
        };
        req.set_payload(actix_web::dev::Payload::Stream {
            payload: Box::pin(body),
        });
        flag
    });
    let call = service.call(req);
    async move {
        let response = call.await?.map_into_boxed_body();
        // Whatever an extractor made of the cut-off body (400, 413 …), the cause was the clock.
        let cut_off = timed_out.is_some_and(|flag| flag.load(Ordering::Relaxed));
        if cut_off && response.status().is_client_error() {
            tracing::warn!(path = %response.request().path(), "request body not received in time");
            let (req, _) = response.into_parts();
            let error = ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request body was not received within {} s",
                    deadline.as_secs()
                ),
            );
            return Ok(actix_web::dev::ServiceResponse::from_err(error, req));
        }
        Ok(response)
    }
}

/// A request body that ends with an error once its deadline has passed.
struct DeadlineBody {
    inner: actix_web::dev::Payload,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
    done: bool,
}

impl futures_core::Stream for DeadlineBody {
    type Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        use std::task::Poll;

        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            this.done = item.is_none();
            return Poll::Ready(item);
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.done = true;
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                std::io::Error::new(std::io::ErrorKind::TimedOut, "request body deadline"),
            ))));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_do_not_repeat_the_values_they_refuse() {
        let message = |body: &str| {
            let err =
                serde_json::from_str::<polyhome_proto::SensitiveActionBody>(body).unwrap_err();
            ApiError::invalid_json(&err).message
        };
        for (body, secret) in [
            (r#""hunter2""#, "hunter2"),
            (r#""a \" b`c""#, "b`c"),
            ("12345678", "12345678"),
            ("-1.5e300", "e300"),
            (r#"{"auth_payload": 987654}"#, "987654"),
            (r#"["x", "hunter2"]"#, "hunter2"),
        ] {
            let text = message(body);
            assert!(!text.contains(secret), "{body}: {text}");
            assert!(text.starts_with("invalid JSON body: "), "{text}");
        }
        let text = message(r#""hunter2""#);
        assert!(
            text.starts_with("invalid JSON body: invalid type: string, expected ")
                && text.ends_with(" at line 1 column 9"),
            "{text}"
        );
        assert!(message("{nope").contains("line 1 column 2"));
    }
}
