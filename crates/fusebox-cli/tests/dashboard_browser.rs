//! The dashboard in a real browser: headless Chromium driven over
//! WebDriver (`chromedriver`, installed by `scripts/test.sh` when missing)
//! sees a breaker open live when another process trips it, shows a name
//! with markup in it as text, resets the breaker with the token, and saves
//! a screenshot (the README's, `docs/dashboard.png`, with
//! `FUSEBOX_UPDATE_SCREENSHOT=1`).

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::dashboard::{Dashboard, TOKEN};
use common::{code, stderr, Env};
use fantoccini::{Client, ClientBuilder, Locator};

/// How long the page may take to show what the test waits for: a safety
/// net for a broken page (the dashboard reads the store every 300ms), not
/// a measure of speed.
const PATIENCE: Duration = Duration::from_secs(30);

/// A name with markup in it: the page must show it, not run it.
const MARKUP: &str = "<img src=x onerror=alert(1)>";

/// A `chromedriver` of the test's own on a free port, killed when dropped.
struct Driver {
    port: u16,
    child: Child,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (scripts/test.sh installs chromium-driver)");
        // Wait until it accepts connections (process start-up, not test time).
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::yield_now();
        }
        Driver { port, child }
    }

    async fn browser(&self, width: u32, height: u32) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session (is chromium installed?)")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Breakers in every state, written by other `fusebox` processes.
fn fill(env: &Env) {
    let ok = |args: &[&str]| {
        let out = env.run(args);
        assert!(
            code(&out) == 0 || code(&out) == 1,
            "{args:?}: {}",
            stderr(&out)
        );
    };
    ok(&["run", "payments", "--", "true"]);
    for _ in 0..3 {
        ok(&["run", "search-api", "--", "false"]);
    }
    for _ in 0..2 {
        ok(&[
            "run",
            "inventory-db",
            "--failure-threshold",
            "2",
            "--",
            "false",
        ]);
    }
    ok(&["force-open", "legacy-ftp"]);
    ok(&["disable", "reports-batch"]);
    ok(&["trip", MARKUP]);
}

fn row(name: &str, state: &str) -> String {
    format!("tr[data-name=\"{name}\"][data-state=\"{state}\"]")
}

/// Where the screenshot goes: the README's copy when asked for
/// (`FUSEBOX_UPDATE_SCREENSHOT=1`), else beside the build, so that a test
/// run leaves the checkout as it was.
fn screenshot_path() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    if std::env::var_os("FUSEBOX_UPDATE_SCREENSHOT").is_some() {
        return root.join("docs/dashboard.png");
    }
    let dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let _ = std::fs::create_dir_all(&dir);
    dir.join("dashboard.png")
}

#[test]
fn a_browser_sees_a_trip_live_and_resets_it_with_the_token() {
    let env = Env::new();
    fill(&env);
    let store = format!("sqlite://{}", env.path("state.db").display());
    let dashboard = Dashboard::start(&env, &store, "300ms", true);
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let browser = driver.browser(1280, 760).await;
        browser
            .goto(&format!("http://{}/", dashboard.address))
            .await
            .unwrap();
        let wait_for = |selector: String| {
            let browser = &browser;
            async move {
                browser
                    .wait()
                    .at_most(PATIENCE)
                    .for_element(Locator::Css(&selector))
                    .await
                    .unwrap_or_else(|e| panic!("the page never showed {selector}: {e}"))
            }
        };
        wait_for(row("payments", "closed")).await;

        // Another process trips it; the page shows it without a reload.
        let out = env.run(&["trip", "payments"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let payments = wait_for(row("payments", "open")).await;
        let transitions = payments.find(Locator::Css("ol.transitions")).await.unwrap();
        assert!(transitions.text().await.unwrap().contains("closed → open"));

        // Markup in a name is shown as text, and runs nothing.
        let names = browser.find_all(Locator::Css("td.name")).await.unwrap();
        let mut texts = Vec::new();
        for name in &names {
            texts.push(name.text().await.unwrap());
        }
        assert!(texts.iter().any(|t| t == MARKUP), "{texts:?}");
        assert!(browser
            .find_all(Locator::Css("td.name img"))
            .await
            .unwrap()
            .is_empty());
        assert!(browser.get_alert_text().await.is_err(), "an alert ran");

        // Without the token the buttons are disabled; with it, reset works.
        let reset = format!("{} button[data-action=\"reset\"]", row("payments", "open"));
        let button = wait_for(reset.clone()).await;
        assert_eq!(
            button.attr("disabled").await.unwrap().as_deref(),
            Some("true")
        );
        browser
            .find(Locator::Id("token"))
            .await
            .unwrap()
            .send_keys(TOKEN)
            .await
            .unwrap();
        browser
            .find(Locator::Css("#token-form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let _ = std::fs::create_dir_all(screenshot_path().parent().unwrap());
        std::fs::write(screenshot_path(), browser.screenshot().await.unwrap()).unwrap();

        wait_for(reset).await.click().await.unwrap();
        wait_for(row("payments", "closed")).await;
        // The row may show the new state (the event stream) before the
        // answer to the click is shown.
        let message = browser.find(Locator::Id("message")).await.unwrap();
        let asked = Instant::now();
        loop {
            let text = message.text().await.unwrap();
            if text.contains("is now closed") {
                break;
            }
            assert!(asked.elapsed() < PATIENCE, "the message says {text:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(env.status_json("payments")["state"], "closed");
        assert!(dashboard
            .log()
            .contains("dashboard: reset circuit 'payments' for 127.0.0.1:"));
        browser.close().await.unwrap();

        // On a phone the table turns into cards: no column headings; and a
        // dashboard without a token shows no token box and no buttons.
        let read_only = Dashboard::start(&env, &store, "300ms", false);
        let phone = driver.browser(390, 844).await;
        phone
            .goto(&format!("http://{}/", read_only.address))
            .await
            .unwrap();
        phone
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(&row("payments", "closed")))
            .await
            .unwrap();
        for hidden in ["thead", "#token-form", "td.control"] {
            let element = phone.find(Locator::Css(hidden)).await.unwrap();
            assert!(!element.is_displayed().await.unwrap(), "{hidden} is shown");
        }
        let state = phone
            .find(Locator::Css(&format!(
                "{} .state",
                row("payments", "closed")
            )))
            .await
            .unwrap();
        assert!(state.is_displayed().await.unwrap());
        phone.close().await.unwrap();
    });
}
