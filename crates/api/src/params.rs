//! Optional parameters of GET routes, read from the query string or, as the spec writes them,
//! from a JSON body.

use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use polyhome_proto::ErrorCode;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The query string's parameters if it has any, else the JSON body's, else the defaults.
pub fn read<T: DeserializeOwned + Default>(req: &HttpRequest, body: &Bytes) -> Result<T, ApiError> {
    if !req.query_string().is_empty() {
        return web::Query::<T>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("invalid query string: {e}"),
                )
            });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(&e))
}
