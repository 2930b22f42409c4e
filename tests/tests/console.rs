//! The console (`/ui`) in a real browser: Debian's chromium, driven through chromedriver over
//! WebDriver, against `muster serve` with the demo's directory and plugins, provisioning into
//! the simulator. A screenshot of each page goes to `target/console-screenshots/`.
//!
//! `.ci/test` installs the `chromium` and `chromium-driver` packages; without them these tests
//! fail, naming them.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use muster::commands::serve;
use muster::http::AppState;
use muster_tests::webhook::Webhook;
use muster_tests::{Harness, component_variant, console_sign_in, wait_until};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use zoom_sim::Fault;

const ADMIN: &str = "console-admin-token";
const VIEWER: &str = "console-viewer-token";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and a headless chromium session; both end when this is dropped.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    async fn start() -> Browser {
        for needed in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(needed).exists(),
                "{needed} is missing: the console tests need Debian's chromium and chromium-driver packages (.ci/test installs them as root)"
            );
        }
        let port = free_port();
        // In a process group of its own, with the browsers it starts: dropping the Browser
        // kills them all, also when a test fails before it closes its session.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("starting chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let up = wait_until_async(Duration::from_secs(30), || {
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(format!("{url}/status")).send().await.is_ok() }
        })
        .await;
        assert!(up, "chromedriver did not start on port {port}");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                // The machine's network is closed: no background connections, no first-run
                // pages. A fresh profile per session.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,800", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--no-first-run", "--disable-quic"],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a chromium session");
        Browser { client, driver }
    }

    async fn go(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Clicks the button labelled `label` and waits for the page it submits to.
    async fn click_button(&self, label: &str) {
        let xpath = format!("//button[normalize-space()='{label}']");
        self.click(Locator::XPath(&xpath)).await;
    }

    /// Clicks what `locator` finds (a link or a submit button) and waits until the next page
    /// has replaced this one: until this page's root element is gone (stale).
    async fn click(&self, locator: Locator<'_>) {
        let old = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("a page");
        self.client
            .find(locator)
            .await
            .unwrap_or_else(|e| panic!("nothing to click at {locator:?}: {e}"))
            .click()
            .await
            .expect("click");
        let replaced = wait_until_async(Duration::from_secs(30), || {
            let old = old.clone();
            async move { old.tag_name().await.is_err() }
        })
        .await;
        assert!(replaced, "clicking {locator:?} led nowhere");
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .send_keys(text)
            .await
            .expect("type");
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        url.path().to_string()
    }

    /// Scrolls the element `css` finds to the top of the window.
    async fn scroll_to(&self, css: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView()",
                vec![json!(css)],
            )
            .await
            .expect("scroll");
    }

    /// Saves the page as `target/console-screenshots/{name}.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("save the screenshot");
    }

    async fn sign_in(&self, base: &str, token: &str) {
        self.go(&format!("{base}/ui")).await;
        assert_eq!(
            self.path().await,
            "/ui/sign-in",
            "signed out: the sign-in page"
        );
        self.type_into("#token", token).await;
        self.click_button("Sign in").await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group: chromedriver's own
            // (`process_group(0)` above), holding only it and the browsers it started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.driver.wait();
    }
}

fn screenshots() -> PathBuf {
    muster_tests::harness::workspace_root()
        .join("target")
        .join("console-screenshots")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_until_async<F, Fut>(deadline: Duration, mut ready: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + deadline;
    while tokio::time::Instant::now() < until {
        if ready().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// `muster serve` on the demo's configuration and directory, pointed at the simulator, with
/// an admin and a viewer token and a webhook alert.
struct Served {
    base: String,
    http: reqwest::Client,
    harness_dir: tempfile::TempDir,
    sim: muster_tests::Sim,
    alerts: Webhook,
    _stop: oneshot::Sender<()>,
}

/// The demo's directory.
fn demo_directory() -> Value {
    let text = std::fs::read_to_string(
        muster_tests::harness::workspace_root().join("examples/directory.json"),
    )
    .expect("examples/directory.json");
    serde_json::from_str(&text).expect("the demo directory is JSON")
}

/// `examples/demo.toml` with a bearer token for the simulator instead of its OAuth app, no
/// schedule, quick probes, and `[alerts]` to `webhook`.
fn demo_config(webhook: &str) -> String {
    let text =
        std::fs::read_to_string(muster_tests::harness::workspace_root().join("examples/demo.toml"))
            .expect("examples/demo.toml");
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line.trim() == "[target.auth]";
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
        if line.trim() == "[target]" {
            out.push_str("token_env = \"MUSTER_TARGET_TOKEN\"\n");
        }
    }
    out.push_str(&format!(
        "\n[server]\nscheduled_sync = false\nprobe_interval_secs = 1\n\n[alerts]\n\
         webhook_url = \"{webhook}\"\ncheck_interval_secs = 1\nbase_url = \"http://muster.example\"\n"
    ));
    out
}

impl Served {
    async fn start() -> Served {
        let alerts = Webhook::start().await;
        let harness = Harness::start(&demo_config(&alerts.url), &[]).await;
        write_directory(harness.dir.path(), &demo_directory());
        let Harness { dir, sim, job } = harness;
        let state = AppState::new(Arc::new(job), Some(ADMIN.into()))
            .expect("app state")
            .with_viewer_token(Some(VIEWER.into()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve::run(listener, state, async move {
            let _ = stopped.await;
        }));
        Served {
            base,
            http: reqwest::Client::new(),
            harness_dir: dir,
            sim,
            alerts,
            _stop: stop,
        }
    }

    async fn api(&self, path: &str) -> Value {
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("admin API");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.expect("JSON")
    }

    /// Waits for `n` finished cycles; returns the status.
    async fn cycles_finished(&self, n: usize) -> Value {
        let mut status = Value::Null;
        for _ in 0..600 {
            status = self.api("/admin/status").await;
            let done = status["cycles"]
                .as_array()
                .is_some_and(|c| c.len() >= n && c[0]["status"] != "running");
            if done && status["current"].is_null() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no finished cycle: {status}");
    }
}

fn write_directory(dir: &Path, directory: &Value) {
    std::fs::write(
        dir.join("directory.json"),
        serde_json::to_vec_pretty(directory).expect("JSON"),
    )
    .expect("write the directory");
}

/// Someone the demo licenses without the phone add-on: directly in Zoom-Licensed, not in
/// Zoom-Phone (nor through a nested group), enabled. Their id and userPrincipalName.
fn licensed_without_phone(directory: &Value) -> (String, String) {
    let members = |name: &str| -> Vec<String> {
        directory["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["displayName"] == name)
            .and_then(|g| g["members"].as_array())
            .map(|m| {
                m.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let phone = members("Zoom-Phone");
    let phone_groups: Vec<String> = phone
        .iter()
        .filter(|m| m.starts_with("g-"))
        .cloned()
        .collect();
    let in_phone_group = |id: &str| {
        phone_groups.iter().any(|g| {
            directory["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|x| x["id"] == g.as_str())
                .and_then(|x| x["members"].as_array())
                .is_some_and(|m| m.iter().any(|v| v == id))
        })
    };
    let person = members("Zoom-Licensed")
        .into_iter()
        .filter(|m| m.starts_with("u-"))
        .find(|id| !phone.contains(id) && !in_phone_group(id))
        .and_then(|id| {
            directory["people"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["id"] == id.as_str() && p["accountEnabled"] == true)
                .cloned()
        })
        .expect("a licensed person without the phone add-on in the demo directory");
    (
        person["id"].as_str().unwrap_or_default().to_string(),
        person["attributes"]["userPrincipalName"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// "Why does this person have no phone license, and fix it", in the console alone: sign-in
/// (and its refusal), a cycle started from the overview, the overview's counts, the person's
/// log entry with its steps, the person's view with the license and why, and, once they are in
/// Zoom-Phone, "provision now".
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_finds_why_someone_has_no_phone_license_and_fixes_it() {
    let served = Served::start().await;
    let browser = Browser::start().await;
    let base = &served.base;

    // Signed out, every page leads to the sign-in; a wrong token is refused there.
    browser.go(&format!("{base}/ui/logs")).await;
    assert_eq!(browser.path().await, "/ui/sign-in");
    browser.screenshot("sign-in").await;
    browser.type_into("#token", "not-the-token").await;
    browser.click_button("Sign in").await;
    assert!(
        browser.text("#sign-in-error").await.contains("neither"),
        "a wrong token is refused"
    );
    browser.type_into("#token", ADMIN).await;
    browser.click_button("Sign in").await;
    assert_eq!(
        browser.path().await,
        "/ui/logs",
        "back where they were going"
    );

    // A cycle from the overview's controls, confirmed first.
    browser.go(&format!("{base}/ui")).await;
    assert!(browser.page_text().await.contains("No cycle has run yet."));
    browser.click_button("Run a cycle now").await;
    assert_eq!(
        browser.path().await,
        "/ui/controls/sync",
        "a confirmation first"
    );
    assert!(browser.page_text().await.contains("reads the source"));
    browser.click_button("Run the cycle").await;
    assert!(browser.text(".notice").await.contains("started"));
    let status = served.cycles_finished(1).await;
    let counts = &status["cycles"][0]["counts"];
    let created = counts["created"].as_u64().expect("created");
    assert!(created > 100, "the demo creates its people: {counts}");

    // The overview shows what the API says.
    browser.go(&format!("{base}/ui")).await;
    let row = browser.text("#cycles tbody tr").await;
    assert!(
        row.contains(&created.to_string()),
        "{row} shows {created} created"
    );
    let licensed = status["licenses"]["plans"]["licensed"]
        .as_u64()
        .expect("licensed");
    let licenses = browser.text("#licenses").await;
    assert!(
        licenses.contains("licensed") && licenses.contains(&licensed.to_string()),
        "{licenses} shows {licensed} licensed"
    );
    assert!(browser.text("#target-connection").await.contains("ok"));
    browser.screenshot("overview").await;

    // Their log entry, with its steps: the license rule says what it decided.
    let directory = demo_directory();
    let (id, name) = licensed_without_phone(&directory);
    browser.go(&format!("{base}/ui/logs?person={id}")).await;
    browser.screenshot("logs").await;
    browser
        .click(Locator::Css("#log-entries tbody tr td a"))
        .await;
    assert!(browser.path().await.starts_with("/ui/logs/"));
    let steps = browser.text("#steps").await;
    assert!(steps.contains("license-by-group"), "{steps}");
    assert!(browser.text("#entry-summary").await.contains("create"));
    browser.screenshot("log-entry").await;

    // The person, found by their UPN: licensed, no phone, and why.
    browser.go(&format!("{base}/ui/people")).await;
    browser.type_into("#q", &name).await;
    browser.click_button("Search").await;
    let page = browser.page_text().await;
    assert!(page.contains(&name) && !page.contains("Nobody"), "{page}");
    let results = match browser.client.find(Locator::Css("#people")).await {
        Ok(table) => table.text().await.expect("text"),
        Err(e) => panic!("{e}: {page}"),
    };
    assert!(results.contains(&name), "{results}");
    browser
        .click(Locator::Css(&format!("#people a[href='/ui/people/{id}']")))
        .await;
    let now = browser.text("#license-now").await;
    assert!(now.contains("licensed") && !now.contains("phone"), "{now}");
    assert!(browser.text("#person").await.contains("Zoom-Licensed"));
    browser.screenshot("person").await;

    // The fix happens in the directory (they join Zoom-Phone); "provision now" sends it.
    let mut changed = directory.clone();
    if let Some(groups) = changed["groups"].as_array_mut()
        && let Some(phone) = groups.iter_mut().find(|g| g["displayName"] == "Zoom-Phone")
        && let Some(members) = phone["members"].as_array_mut()
    {
        members.push(json!(id));
    }
    write_directory(served.harness_dir.path(), &changed);
    browser.go(&format!("{base}/ui/people/{id}")).await;
    assert!(
        browser.text("#license-now").await.contains("phone"),
        "the plan now gives the add-on"
    );
    browser.click_button("Provision now").await;
    browser.click_button("Provision now").await;
    let notice = browser.text(".notice").await;
    assert!(
        notice.contains("update") && notice.contains("success"),
        "{notice}"
    );
    let person = served.api(&format!("/admin/people/{id}")).await;
    assert_eq!(
        person["record"]["license"]["add_ons"],
        json!(["phone"]),
        "{}",
        person["record"]
    );
    browser.screenshot("person-provisioned").await;

    // Someone who left the source: their page still shows what muster knows of them.
    let mut gone = changed.clone();
    if let Some(people) = gone["people"].as_array_mut() {
        people.retain(|p| p["id"] != id.as_str());
    }
    write_directory(served.harness_dir.path(), &gone);
    browser.go(&format!("{base}/ui/people/{id}")).await;
    let page = browser.text("#person").await;
    assert!(
        page.contains("Not in the source any more") && page.contains("licensed + phone"),
        "{page}"
    );
    assert!(browser.text("#recent").await.contains("update"));
    write_directory(served.harness_dir.path(), &changed);

    // A second cycle: the overview draws the licenses held over the cycles.
    browser.go(&format!("{base}/ui")).await;
    browser.click_button("Run a cycle now").await;
    browser.click_button("Run the cycle").await;
    served.cycles_finished(3).await;
    browser.go(&format!("{base}/ui")).await;
    browser
        .client
        .find(Locator::Css("#licenses svg.chart polyline"))
        .await
        .expect("the licenses chart");
    assert!(
        browser
            .text("#licenses .legend")
            .await
            .contains("phone (add-on)")
    );
    browser.scroll_to("#licenses").await;
    browser.screenshot("overview-licenses").await;

    // At a phone's width nothing runs off the side of the page.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    for page in [
        "/ui",
        "/ui/logs",
        &format!("/ui/people/{id}"),
        "/ui/plugins",
    ] {
        browser.go(&format!("{base}{page}")).await;
        let wider = browser
            .client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth",
                vec![],
            )
            .await
            .expect("measure");
        assert_eq!(wider, json!(false), "{page} is wider than a phone");
    }
    browser.go(&format!("{base}/ui")).await;
    browser.screenshot("overview-phone").await;
    let _ = browser.client.clone().close().await;
}

/// Plugins (upload with its preview, activate, roll back), pause and resume, and an alert when
/// the target fails; and what a viewer may not do.
#[tokio::test(flavor = "multi_thread")]
async fn plugins_pause_alerts_and_the_viewer_role() {
    let served = Served::start().await;
    let browser = Browser::start().await;
    let base = &served.base;
    browser.sign_in(base, ADMIN).await;
    let first = served.api("/admin/plugins").await;
    let license = |plugins: &Value| -> String {
        plugins
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "license-by-group")
            .map(|p| p["active"].as_str().unwrap_or_default().to_string())
            .expect("the license rule")
    };
    let original = license(&first);

    // Upload a new version: staged with its preview, then activated, then rolled back.
    let bytes = muster_artifacts::builtin("license-by-group").expect("built-in");
    let file = served.harness_dir.path().join("license-v2.wasm");
    std::fs::write(&file, component_variant(bytes, "v2")).expect("write the upload");
    browser.go(&format!("{base}/ui/plugins")).await;
    browser
        .type_into("#wasm-license-by-group", &file.display().to_string())
        .await;
    browser
        .click(Locator::Css("#plugin-license-by-group form.upload button"))
        .await;
    let page = browser.page_text().await;
    assert!(page.contains("is staged"), "{page}");
    let preview = browser.text("#preview").await;
    assert!(preview.contains("people planned"), "{preview}");
    browser.scroll_to("#staged").await;
    browser.screenshot("plugins-preview").await;
    browser.click_button("Activate this version").await;
    browser.click_button("Activate").await;
    let second = license(&served.api("/admin/plugins").await);
    assert_ne!(second, original, "the upload is active");
    browser
        .click_button("Roll back to the previous version")
        .await;
    assert!(browser.page_text().await.contains(&original[..12]));
    browser.click_button("Roll back").await;
    assert!(browser.text(".notice").await.contains("now runs"));
    assert_eq!(license(&served.api("/admin/plugins").await), original);
    // The history says who or what activated each version: the rollback, the staged upload
    // activated by the admin token, the version loaded at start.
    let activations = browser
        .text("#plugin-license-by-group .activations tbody")
        .await;
    let hows: Vec<&str> = activations
        .lines()
        .filter_map(|row| {
            ["rollback", "staged", "start"]
                .into_iter()
                .find(|h| row.contains(h))
        })
        .collect();
    assert_eq!(hows, ["rollback", "staged", "start"], "{activations}");
    assert!(
        activations.contains("sha256:"),
        "the admin token's id: {activations}"
    );

    // Pause, with a reason, and resume.
    browser.go(&format!("{base}/ui")).await;
    browser.click_button("Pause the job").await;
    browser.type_into("#reason", "change freeze").await;
    browser.click_button("Pause").await;
    assert!(browser.text("#job-state").await.contains("change freeze"));
    assert_eq!(
        served.api("/admin/status").await["paused"]["reason"],
        "change freeze"
    );
    browser.screenshot("overview-paused").await;
    browser.click_button("Resume the job").await;
    browser.click_button("Resume").await;
    assert!(served.api("/admin/status").await["paused"].is_null());

    // The target refuses muster: the webhook hears it, and the overview shows it.
    served
        .sim
        .state
        .inject_failures(Fault::status(401), 100_000);
    let alerted = wait_until(Duration::from_secs(30), || {
        served
            .alerts
            .states("target")
            .contains(&"firing".to_string())
    })
    .await;
    assert!(alerted, "no alert: {:?}", served.alerts.deliveries());
    browser.go(&format!("{base}/ui")).await;
    assert!(browser.text("#target-connection").await.contains("failed"));
    browser.screenshot("overview-target-failing").await;
    served.sim.state.clear_faults();

    // A viewer reads, and sees no controls.
    browser.click_button("Sign out").await;
    assert_eq!(browser.path().await, "/ui/sign-in");
    browser.type_into("#token", VIEWER).await;
    browser.click_button("Sign in").await;
    assert_eq!(browser.path().await, "/ui");
    let page = browser.page_text().await;
    assert!(
        page.contains("viewer") && !page.contains("Controls"),
        "{page}"
    );
    browser.go(&format!("{base}/ui/plugins")).await;
    assert!(!browser.page_text().await.contains("Roll back"));
    let _ = browser.client.clone().close().await;
}

/// Without the browser: the console is off without an admin token, and the viewer token reads
/// the admin API but changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_viewer_token_only_reads_and_no_admin_token_means_no_console() {
    let served = Served::start().await;
    let http = &served.http;
    let status = |token: &str, method: reqwest::Method, path: &str| {
        let request = http
            .request(method, format!("{}{path}", served.base))
            .bearer_auth(token);
        async move { request.send().await.expect("request").status().as_u16() }
    };
    assert_eq!(
        status(VIEWER, reqwest::Method::GET, "/admin/status").await,
        200
    );
    assert_eq!(
        status(VIEWER, reqwest::Method::POST, "/admin/pause").await,
        403
    );
    assert_eq!(
        status("wrong", reqwest::Method::GET, "/admin/status").await,
        401
    );
    assert_eq!(
        status(ADMIN, reqwest::Method::GET, "/admin/status").await,
        200
    );
    assert!(
        served.api("/admin/status").await["paused"].is_null(),
        "the viewer paused nothing"
    );
    // Signed out, a console page sends one to sign in.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = no_redirects
        .get(format!("{}/ui", served.base))
        .send()
        .await
        .expect("ui");
    assert_eq!(answer.status().as_u16(), 303);
    // Signed out, a change goes to the sign-in and changes nothing.
    let answer = no_redirects
        .post(format!("{}/ui/controls/pause", served.base))
        .form(&[("confirm", "yes"), ("csrf", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(answer.status().as_u16(), 303, "signed out: to the sign-in");
    assert!(served.api("/admin/status").await["paused"].is_null());

    // Signed in: an HTTP-only, SameSite=Strict cookie.
    let answer = no_redirects
        .post(format!("{}/ui/sign-in", served.base))
        .form(&[("token", ADMIN), ("next", "/ui")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(answer.status().as_u16(), 303);
    let set = answer
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap_or_default().to_string();
    let with_cookie = |method: reqwest::Method, path: &str| {
        no_redirects
            .request(method, format!("{}{path}", served.base))
            .header("cookie", cookie.clone())
    };
    // The cookie reads the admin API (as the console's exports do), and changes nothing there.
    let read = with_cookie(reqwest::Method::GET, "/admin/logs?format=csv")
        .send()
        .await
        .expect("csv");
    assert_eq!(read.status().as_u16(), 200);
    let write = with_cookie(reqwest::Method::POST, "/admin/pause")
        .send()
        .await
        .expect("pause");
    assert_eq!(write.status().as_u16(), 403);
    // A console form without this session's CSRF token is refused.
    let forged = with_cookie(reqwest::Method::POST, "/ui/controls/pause")
        .form(&[("confirm", "yes"), ("csrf", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status().as_u16(), 403);
    assert!(served.api("/admin/status").await["paused"].is_null());
    // Signing out ends the session even for a copy of its cookie.
    let page = with_cookie(reqwest::Method::GET, "/ui")
        .send()
        .await
        .expect("overview")
        .text()
        .await
        .expect("html");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_string();
    let copy = cookie.clone();
    let out = with_cookie(reqwest::Method::POST, "/ui/sign-out")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status().as_u16(), 303);
    let after = no_redirects
        .get(format!("{}/ui", served.base))
        .header("cookie", copy)
        .send()
        .await
        .expect("ui");
    assert_eq!(
        after.status().as_u16(),
        303,
        "the signed-out cookie is refused"
    );
    assert_eq!(
        after
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/ui/sign-in?next=%2Fui")
    );
    // Sign in again for what follows.
    let cookie = console_sign_in(&served.base, ADMIN).await;
    let with_cookie = |method: reqwest::Method, path: &str| {
        no_redirects
            .request(method, format!("{}{path}", served.base))
            .header("cookie", cookie.clone())
    };
    // The live progress is a stream of Server-Sent Events.
    let mut events = with_cookie(reqwest::Method::GET, "/ui/events")
        .send()
        .await
        .expect("events");
    assert_eq!(
        events
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let first = events.chunk().await.expect("a chunk").unwrap_or_default();
    let first = String::from_utf8_lossy(&first).to_string();
    assert!(
        first.contains("event: progress") && first.contains("\"running\":null"),
        "{first}"
    );

    // Another job without an admin token: the console is off, as the admin API is.
    let hook = Webhook::start().await;
    let harness = Harness::start(&demo_config(&hook.url), &[]).await;
    let state = AppState::new(Arc::new(harness.job), None).expect("app state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve::run(listener, state, async move {
        let _ = stopped.await;
    }));
    let answer = no_redirects
        .get(format!("{base}/ui"))
        .send()
        .await
        .expect("ui");
    assert_eq!(answer.status().as_u16(), 503);
    assert!(
        answer
            .text()
            .await
            .unwrap_or_default()
            .contains("MUSTER_ADMIN_TOKEN")
    );
}
