//! Serves the live QA page and API over an in-memory store holding one
//! example batch of the Xing 2010 reference process, forecast from real
//! simulations (see `biotwin::live::web::demo`).
//!
//! ```text
//! cargo run --release --example serve_demo -- [ADDR]   # default 127.0.0.1:8080
//! ```
//! The token is taken from `BIOTWIN_DEMO_TOKEN`, or made up at random and
//! printed; open the printed URL (the token travels in the URL fragment,
//! which the browser never sends to the server).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use biotwin::live::Store;
use biotwin::live::memory_store::MemoryStore;
use biotwin::live::web::auth::token_sha256_hex;
use biotwin::live::web::demo::{DemoBatch, fill};
use biotwin::live::web::serve;

fn random_token() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect()
}

#[tokio::main]
async fn main() {
    let addr: SocketAddr = match std::env::args()
        .nth(1)
        .unwrap_or("127.0.0.1:8080".into())
        .parse()
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "<command line>: ADDR: expected host:port such as 127.0.0.1:8080, found an invalid address ({e})"
            );
            std::process::exit(2);
        }
    };
    let token = std::env::var("BIOTWIN_DEMO_TOKEN").unwrap_or_else(|_| random_token());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let store = Arc::new(MemoryStore::new());
    let demo = DemoBatch {
        tenant: "demo-sponsor".into(),
        batch_id: "XING-2026-001".into(),
        unit: "BR-2000-01".into(),
        process: PathBuf::from("process-models/processes/xing2010-reference.toml"),
        members: 200,
        seed: 2026,
        now_h: 168.0,
        forecast_every_h: 6.0,
        rel_sd: 0.05,
        alert_below: 0.95,
        start_unix_s: now - 168.0 * 3600.0,
    };
    match fill(store.as_ref() as &dyn Store, &demo) {
        Ok(s) => eprintln!(
            "example batch {}: {} forecasts, {} readings, {} alerts; plant end-of-batch {:?}",
            demo.batch_id, s.predictions, s.readings, s.alerts, s.plant_quality
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(e.exit_code());
        }
    }
    println!("open http://{addr}/#token={token}");
    let tenants = vec![("demo-sponsor".to_string(), token_sha256_hex(&token))];
    if let Err(e) = serve(addr, store, tenants).await {
        eprintln!("{e}");
        std::process::exit(e.exit_code());
    }
}
