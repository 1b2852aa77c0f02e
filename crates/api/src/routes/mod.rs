//! The route table.

mod federation;
mod keys;
mod register;
mod session;

use actix_web::web;

use crate::method_not_allowed;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/p2core/register")
            .route(web::post().to(register::register))
            .default_service(web::to(method_not_allowed("POST"))),
    )
    .service(
        web::resource("/p2core/session/trust")
            .route(web::post().to(session::trust))
            .default_service(web::to(method_not_allowed("POST"))),
    )
    .service(
        web::resource("/p2core/session/revoke")
            .route(web::put().to(session::revoke))
            .default_service(web::to(method_not_allowed("PUT"))),
    )
    .service(
        web::resource("/p2core/session")
            .route(web::delete().to(session::delete))
            .default_service(web::to(method_not_allowed("DELETE"))),
    )
    .service(
        web::resource("/p2core/session/idcert")
            .route(web::post().to(session::rotate))
            .default_service(web::to(method_not_allowed("POST"))),
    )
    .service(
        web::resource("/p2core/session/idcert/extern")
            .route(web::post().to(federation::idcert_extern))
            .default_service(web::to(method_not_allowed("POST"))),
    )
    .service(
        web::resource("/p2core/session/identify")
            .route(web::post().to(federation::identify))
            .default_service(web::to(method_not_allowed("POST"))),
    )
    .service(
        web::resource("/p2core/challenge")
            .route(web::get().to(federation::challenge))
            .default_service(web::to(method_not_allowed("GET"))),
    )
    .service(
        web::resource("/p2core/key/server")
            .route(web::get().to(keys::server_key))
            .route(web::head().to(keys::server_key))
            .route(web::put().to(keys::rotate_server_key))
            .default_service(web::to(method_not_allowed("GET, HEAD, PUT"))),
    )
    .service(
        web::resource("/p2core/key/actor/{fid}")
            .route(web::get().to(keys::actor_keys))
            .route(web::head().to(keys::actor_keys))
            .default_service(web::to(method_not_allowed("GET, HEAD"))),
    );
}
