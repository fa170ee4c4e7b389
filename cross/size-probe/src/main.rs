//! Size probe: exercises each dependency of record so the linker keeps what the daemon will.

use std::convert::Infallible;
use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let q = req.uri().query().unwrap_or("").to_owned();
    let xml = format!("<CGI_Result><result>0</result><q>{}</q></CGI_Result>", quick_xml::escape::escape(&q));
    Ok(Response::new(Full::new(Bytes::from(xml))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args: Vec<String> = std::env::args().collect();
    let data = Path::new(args.get(1).map(String::as_str).unwrap_or("/tmp"));
    let board = ipcamd_hal::board::BoardSpec::load(&data.join("board.toml"))?;
    let hal = ipcamd_hal::Hal::open(board, data)?;
    let db = rusqlite::Connection::open(data.join("settings.db"))?;
    db.execute_batch("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT)")?;
    db.execute("INSERT OR REPLACE INTO kv VALUES (?1, ?2)", ("dev", hal.board.board.name.as_str()))?;
    let salt = SaltString::encode_b64(b"0123456789abcdef").map_err(|e| e.to_string())?;
    let hash = argon2::Argon2::default().hash_password(b"pw", &salt).map_err(|e| e.to_string())?.to_string();
    let parsed = PasswordHash::new(&hash).map_err(|e| e.to_string())?;
    argon2::Argon2::default().verify_password(b"pw", &parsed).map_err(|e| e.to_string())?;
    if let Ok(trust) = ipcamd::firmware::keys::UpgradeTrust::for_board(&hal.board) {
        let verified = ipcamd::firmware::verify_image(&data.join("fw.img"), &trust.public_key, &trust.board_id)?;
        ipcamd::firmware::install(verified, &data.join("firmware"))?;
    }
    if let Some(n) = ipcamd::systemd::Notifier::from_env()? {
        n.ready()?;
    }
    tracing::info!("listening");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8088").await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}
