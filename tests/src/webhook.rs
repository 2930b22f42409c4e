//! A webhook listener on loopback that keeps every POST it receives: where the alerts tests
//! point `[alerts] webhook_url`.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;

/// One POST: its body as JSON (`null` if it was not), the exact bytes, and the
/// `X-Muster-Signature` header.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: Value,
    pub raw: Bytes,
    pub signature: Option<String>,
}

pub struct Webhook {
    /// Where to POST.
    pub url: String,
    received: Arc<Mutex<Vec<Delivery>>>,
}

impl Webhook {
    pub async fn start() -> Webhook {
        let received: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let kept = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, raw: Bytes| {
                let kept = kept.clone();
                async move {
                    let signature = headers
                        .get(muster::alerts::SIGNATURE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                    kept.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Delivery {
                            body,
                            raw,
                            signature,
                        });
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Webhook { url, received }
    }

    /// What it received so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The `state` of each alert received with this `key`, oldest first.
    pub fn states(&self, key: &str) -> Vec<String> {
        self.deliveries()
            .iter()
            .filter(|d| d.body["key"] == key)
            .map(|d| d.body["state"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}
