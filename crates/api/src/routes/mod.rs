//! The route table.

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
        web::resource("/p2core/key/server")
            .route(web::get().to(keys::server_key))
            .default_service(web::to(method_not_allowed("GET"))),
    )
    .service(
        web::resource("/p2core/key/actor/{fid}")
            .route(web::get().to(keys::actor_keys))
            .default_service(web::to(method_not_allowed("GET"))),
    );
}
