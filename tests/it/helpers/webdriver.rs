//! A small W3C `WebDriver` client for driving Debian's headless Chromium
//! through `chromedriver`, with the WebAuthn virtual authenticator of the
//! WebAuthn Level 2 automation extension. Plain JSON over HTTP (reqwest);
//! no extra crates.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver with one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
    /// Set once [`Browser::fail`] saved the artefacts, so a drop during the
    /// panic does not save them again.
    saved: std::sync::atomic::AtomicBool,
    /// Where failure artefacts (screenshot, HTML) are written.
    pub artefacts: PathBuf,
}

/// Whether the browser tests can run here: chromedriver and Chromium exist.
/// `.ci/run` installs both, so in CI this is always true.
pub fn available() -> bool {
    std::path::Path::new("/usr/bin/chromedriver").exists()
        && std::path::Path::new("/usr/bin/chromium").exists()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile; `lang`
    /// is the browser's language.
    pub async fn start(name: &str, lang: &str) -> Self {
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts (apt-get install chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--window-size=420,900".to_owned(),
            format!("--lang={lang}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
                "prefs": { "intl.accept_languages": lang },
            }
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        let artefacts = std::env::temp_dir()
            .join("kagi-browser-artefacts")
            .join(name);
        std::fs::create_dir_all(&artefacts).unwrap();
        Self {
            driver,
            base,
            session,
            http,
            _profile: profile,
            saved: std::sync::atomic::AtomicBool::new(false),
            artefacts,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    async fn checked(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let value = self.call(method, path, body).await;
        if value.get("error").is_some() {
            self.fail(&format!("WebDriver {path}: {value}")).await;
        }
        value
    }

    /// Saves a screenshot, the page HTML and the browser console, prints
    /// their paths, and panics with `message`.
    pub async fn fail(&self, message: &str) -> ! {
        self.saved.store(true, std::sync::atomic::Ordering::SeqCst);
        let url = format!("{}/session/{}", self.base, self.session);
        let saved = save_artefacts(&self.http, &url, &self.artefacts).await;
        panic!("{message}\n{saved}");
    }

    /// The browser console since the last call (errors such as CSP
    /// violations), one entry a line.
    pub async fn console_log(&self) -> String {
        let url = format!("{}/session/{}", self.base, self.session);
        console_log(&self.http, &url).await
    }

    /// Fails (with artefacts) when the console showed a script error or a
    /// Content Security Policy violation since the last look: a page that
    /// still works by luck is a failure too.
    pub async fn ensure_clean_console(&self) {
        let log = self.console_log().await;
        let bad: Vec<&str> = log
            .lines()
            .filter(|l| {
                ["Content Security Policy", "Refused to", "Uncaught"]
                    .iter()
                    .any(|m| l.contains(m))
            })
            .collect();
        if !bad.is_empty() {
            self.fail(&format!("the browser console shows:\n{}", bad.join("\n")))
                .await;
        }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.checked(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits up to 10 s for an element matching `css`; fails with artefacts otherwise.
    pub async fn find(&self, css: &str) -> String {
        for _ in 0..100 {
            let found = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            if let Some(id) = found.get(ELEMENT).and_then(Value::as_str) {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!(
            "no element matches `{css}` at {}",
            self.url().await
        ))
        .await
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        let found = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found.as_array().map_or(0, Vec::len)
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.checked(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into the element matching `css` (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.checked(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Runs a script and returns its value.
    pub async fn script(&self, source: &str) -> Value {
        self.checked(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": source, "args": [] })),
        )
        .await
    }

    /// Waits up to 15 s until the URL contains `part`.
    pub async fn wait_url(&self, part: &str) {
        for _ in 0..150 {
            if self.url().await.contains(part) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!(
            "URL never contained `{part}`; it is {}",
            self.url().await
        ))
        .await
    }

    /// Waits up to 15 s until the page HTML contains `text`.
    pub async fn wait_text(&self, text: &str) {
        for _ in 0..150 {
            if self.source().await.contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!("the page never showed `{text}`")).await
    }

    /// The visible text of the element matching `css` (waits for it like [`Self::find`]).
    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.checked(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An attribute of the element matching `css`, if set.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let id = self.find(css).await;
        self.checked(
            reqwest::Method::GET,
            &format!("/element/{id}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Waits up to 15 s until the element matching `css` shows `text`.
    pub async fn wait_element_text(&self, css: &str, text: &str) {
        for _ in 0..150 {
            let shown = self.script_with(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
                json!([css]),
            )
            .await;
            if shown.as_str().is_some_and(|t| t.contains(text)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!("`{css}` never showed `{text}`")).await
    }

    /// Reloads `url` until the page HTML contains `text` (up to 15 s), for
    /// changes made elsewhere (a back-channel logout reaching a relying party).
    pub async fn reload_until(&self, url: &str, text: &str) {
        for _ in 0..75 {
            self.goto(url).await;
            if self.source().await.contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.fail(&format!("{url} never showed `{text}`")).await
    }

    /// Fails with artefacts unless `condition` holds.
    pub async fn ensure(&self, condition: bool, message: &str) {
        if !condition {
            self.fail(message).await;
        }
    }

    /// Runs a script with arguments and returns its value.
    pub async fn script_with(&self, source: &str, args: Value) -> Value {
        self.checked(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": source, "args": args })),
        )
        .await
    }

    /// Deletes every cookie of the current page's site (the browser forgets its session).
    pub async fn delete_cookies(&self) {
        self.checked(reqwest::Method::DELETE, "/cookie", None).await;
    }

    /// The handle of the current tab.
    pub async fn window(&self) -> String {
        self.checked(reqwest::Method::GET, "/window", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Opens a new tab and switches to it; returns its handle.
    pub async fn new_tab(&self) -> String {
        let created = self
            .checked(
                reqwest::Method::POST,
                "/window/new",
                Some(json!({ "type": "tab" })),
            )
            .await;
        let handle = created["handle"].as_str().unwrap_or_default().to_owned();
        self.switch_to(&handle).await;
        handle
    }

    /// Switches to the tab `handle`.
    pub async fn switch_to(&self, handle: &str) {
        self.checked(
            reqwest::Method::POST,
            "/window",
            Some(json!({ "handle": handle })),
        )
        .await;
    }

    /// Runs a Chrome `DevTools` Protocol command (chromedriver's `goog/cdp/execute`).
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.checked(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({ "cmd": command, "params": params })),
        )
        .await
    }

    /// Makes every page of this tab see a browser without passkey autofill
    /// (`isConditionalMediationAvailable()` resolves to false) until
    /// [`Self::restore_passkey_autofill`]. With the virtual authenticator,
    /// Chromium completes an autofill request at once, so a login page would
    /// log in before its button could be pressed.
    pub async fn hide_passkey_autofill(&self) -> String {
        let source = "if (window.PublicKeyCredential) { \
            PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false); }";
        let added = self
            .cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": source }),
            )
            .await;
        added["identifier"].as_str().unwrap_or_default().to_owned()
    }

    /// Undoes [`Self::hide_passkey_autofill`] for pages loaded from now on.
    pub async fn restore_passkey_autofill(&self, identifier: &str) {
        self.cdp(
            "Page.removeScriptToEvaluateOnNewDocument",
            json!({ "identifier": identifier }),
        )
        .await;
    }

    /// Adds a CTAP2 internal virtual authenticator with resident keys and
    /// user verification (a platform passkey provider); returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let options = json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": true
        });
        self.checked(
            reqwest::Method::POST,
            "/webauthn/authenticator",
            Some(options),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Removes a virtual authenticator and its credentials (a device put away).
    pub async fn remove_virtual_authenticator(&self, authenticator: &str) {
        self.checked(
            reqwest::Method::DELETE,
            &format!("/webauthn/authenticator/{authenticator}"),
            None,
        )
        .await;
    }

    /// The credentials stored in a virtual authenticator.
    pub async fn credentials(&self, authenticator: &str) -> Vec<Value> {
        let value = self
            .checked(
                reqwest::Method::GET,
                &format!("/webauthn/authenticator/{authenticator}/credentials"),
                None,
            )
            .await;
        value.as_array().cloned().unwrap_or_default()
    }
}

/// Answers a `WebDriver` command of session `session_url`, `Null` on any error.
async fn raw(
    http: &reqwest::Client,
    method: reqwest::Method,
    session_url: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, format!("{session_url}{path}"));
    if let Some(b) = body {
        request = request.json(&b);
    }
    match request.send().await {
        Ok(response) => response
            .json::<Value>()
            .await
            .map(|v| v["value"].clone())
            .unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

async fn console_log(http: &reqwest::Client, session_url: &str) -> String {
    let body = Some(json!({ "type": "browser" }));
    let entries = raw(http, reqwest::Method::POST, session_url, "/se/log", body).await;
    entries
        .as_array()
        .map(|all| {
            all.iter()
                .map(|e| format!("{} {}", e["level"], e["message"]))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Writes `failure.png`, `failure.html` and `console.log` of the session
/// into `dir`; returns the lines that name them.
async fn save_artefacts(http: &reqwest::Client, session_url: &str, dir: &Path) -> String {
    use base64::Engine as _;
    let get = reqwest::Method::GET;
    let png = dir.join("failure.png");
    let shot = raw(http, get.clone(), session_url, "/screenshot", None).await;
    if let Some(bytes) = shot
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
    {
        let _ = std::fs::write(&png, bytes);
    }
    let html = dir.join("failure.html");
    let source = raw(http, get, session_url, "/source", None).await;
    let _ = std::fs::write(&html, source.as_str().unwrap_or_default());
    let console = dir.join("console.log");
    let _ = std::fs::write(&console, console_log(http, session_url).await);
    format!(
        "screenshot: {}\npage HTML: {}\nbrowser console: {}",
        png.display(),
        html.display(),
        console.display()
    )
}

impl Drop for Browser {
    /// Ends the browser; when the test is failing (an assertion outside
    /// [`Browser::fail`]), first saves the artefacts and prints their paths.
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let failing =
            std::thread::panicking() && !self.saved.load(std::sync::atomic::Ordering::SeqCst);
        let dir = self.artefacts.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async move {
                    let http = reqwest::Client::new();
                    if failing {
                        eprintln!("{}", save_artefacts(&http, &url, &dir).await);
                    }
                    let _ = http.delete(url).send().await;
                });
            }
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
