//! The Zoom simulator on an ephemeral port, for one test.

use tokio::sync::oneshot;
use zoom_sim::{SimConfig, SimState};

use serde_json::Value;

/// The Zoom user extension's schema URN.
pub const ZOOM_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:zoom:1.0:User";

/// A running simulator; stops when dropped.
pub struct Sim {
    /// The handle to inspect and steer it (users, counters, faults).
    pub state: SimState,
    /// The SCIM base URL, `http://127.0.0.1:PORT/scim2`.
    pub url: String,
    pub token: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Sim {
    pub async fn start() -> Sim {
        let token = "e2e-token".to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let state = SimState::new(&SimConfig::new(token.clone()));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(zoom_sim::serve_state(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Sim {
            url: format!("http://{addr}{}", state.base_path()),
            state,
            token,
            stop: Some(stop),
        }
    }

    /// The user as a GET by id shows it; panics naming the users there are when it is missing.
    pub fn user(&self, user_name: &str) -> Value {
        self.state.user_by_name(user_name).unwrap_or_else(|| {
            let names: Vec<Value> = self
                .state
                .users()
                .iter()
                .map(|u| u["userName"].clone())
                .collect();
            panic!("the simulator has no user {user_name}; it has {names:?}")
        })
    }

    pub fn has_user(&self, user_name: &str) -> bool {
        self.state.user_by_name(user_name).is_some()
    }

    /// The value of a Zoom-extension field as muster last set it for a user, replayed from
    /// the accepted POSTs and PATCHes: Zoom (and so the simulator) never returns
    /// `zoomPhoneCallingPlan`, so a GET cannot show it.
    pub fn zoom_field_sent(&self, user_name: &str, field: &str) -> Option<Value> {
        let id = self.user(user_name)["id"].as_str().expect("id").to_string();
        let path = format!("{ZOOM_USER_SCHEMA}:{field}");
        let mut value = None;
        for r in self.state.request_log() {
            let Some(body) = r.json().filter(|_| (200..300).contains(&r.status)) else {
                continue;
            };
            match r.method.as_str() {
                "POST" if body["userName"] == user_name => {
                    value = body[ZOOM_USER_SCHEMA].get(field).cloned();
                }
                "PATCH" if r.path.replace("%26", "&").ends_with(&id) => {
                    let ops = body["Operations"].as_array().cloned().unwrap_or_default();
                    for op in ops.iter().filter(|op| op["path"] == path.as_str()) {
                        value = match op["op"].as_str().map(str::to_lowercase).as_deref() {
                            Some("remove") => None,
                            _ => Some(op["value"].clone()),
                        };
                    }
                }
                _ => {}
            }
        }
        value
    }

    /// Successful POST/PUT/PATCH/DELETE requests so far.
    pub fn writes(&self) -> u64 {
        self.state.counters().writes
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
