//! The Zoom simulator in the test's own process, so that it outlives every muster child a test
//! kills.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value as Json};
use zoom_sim::{SimConfig, SimState};

pub struct Sim {
    pub state: SimState,
    pub base_url: String,
    /// Serves the simulator until the test ends.
    _runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sim {
    pub fn start(token: &str) -> Sim {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the simulator");
        let base_url = format!("http://{}/scim2", listener.local_addr().expect("address"));
        let state = SimState::new(&SimConfig::new(token));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(zoom_sim::serve_state(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Sim {
            state,
            base_url,
            _runtime: runtime,
            stop: Some(stop),
        }
    }

    pub fn requests(&self) -> u64 {
        self.state.counters().requests
    }

    /// Every user as stored, with the write-only licence fields a GET never shows.
    pub fn raw_users(&self, dir: &Path) -> BTreeMap<String, Map<String, Json>> {
        let path = dir.join("sim-state.json");
        self.state.save(&path).expect("save the simulator's state");
        let saved: Json = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .expect("the simulator's state as JSON");
        let rows = saved["users"]["rows"]
            .as_object()
            .expect("users.rows in the simulator's state");
        rows.iter()
            .map(|(id, row)| {
                let attrs = row["attrs"].as_object().cloned().expect("a row's attrs");
                (id.clone(), attrs)
            })
            .collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
