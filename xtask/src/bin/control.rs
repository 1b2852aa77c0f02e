//! The benchmark's control server: actix-web answering `GET /control` with a fixed 1 KiB body.
//!
//! `cargo xtask bench` measures it with the same load as polyhome's routes, pinned to the same
//! core, so that polyhome's numbers can be read as a fraction of what actix-web itself does on
//! this machine. It is set up like polyhome: actix-web's default worker count (one per core this
//! process may run on, so one under `taskset -c 0`), no middleware beyond what polyhome needs.
//!
//! Usage: `control [ADDRESS]` (default `127.0.0.1:0`, any free port). Prints
//! `control listening on http://ADDRESS` to standard output once it accepts connections.

use std::io::Write;

use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpResponse, HttpServer};

/// The answer: a JSON string of 1,022 characters, 1,024 bytes with its quotes.
static BODY: [u8; 1024] = {
    let mut body = [b'x'; 1024];
    body[0] = b'"';
    body[1023] = b'"';
    body
};

async fn control() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(&BODY[..])
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    actix_web::rt::System::new().block_on(async move {
        let server =
            HttpServer::new(|| App::new().route("/control", web::get().to(control))).bind(&addr)?;
        let mut out = std::io::stdout().lock();
        for addr in server.addrs() {
            writeln!(out, "control listening on http://{addr}")?;
        }
        out.flush()?;
        drop(out);
        server.run().await
    })
}
