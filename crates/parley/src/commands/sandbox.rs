//! `parley sandbox`: the Meta Cloud API simulator on its own, for trying Parley against it by
//! hand or from another program. Register a number, point a Parley channel at it, make
//! customers write:
//!
//! ```text
//! curl -X POST localhost:9090/sandbox/numbers -H 'content-type: application/json' -d '{"phone_number_id":"1001",
//!   "waba_id":"2001","display_phone_number":"15550001111","access_token":"tok","app_secret":"sec",
//!   "webhook_url":"http://127.0.0.1:8080/webhooks/meta/<key>"}'
//! curl -X POST localhost:9090/sandbox/say -H 'content-type: application/json' -d '{"phone_number_id":"1001",
//!   "customer":{"wa_id":"33612345678","name":"Ana"},"message":{"type":"text","text":{"body":"hi"}}}'
//! ```

use std::net::SocketAddr;

use parley_sandbox::{Sandbox, SandboxConfig};

use crate::commands::serve::shutdown_signal;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9090";

pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxConfig { listen, ..SandboxConfig::default() }).await?;
    println!("Parley sandbox (Meta Cloud API simulator) at http://{}", sandbox.addr);
    println!("  Graph API base URL for channels: {}", sandbox.graph_base_url());
    println!("  control API: POST /sandbox/numbers, POST /sandbox/say, POST /sandbox/media, GET /sandbox/stats,");
    println!("    POST /sandbox/templates/review|quality|category, POST /sandbox/review-policy,");
    println!("    POST /sandbox/numbers/{{id}}/quality|status|tier, POST /sandbox/limit-rules, POST /sandbox/tick");
    println!("Press Ctrl-C to stop.");
    shutdown_signal().await;
    Ok(())
}
