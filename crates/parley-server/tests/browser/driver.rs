//! Headless Chromium driven through chromedriver (Debian's `chromium` and `chromium-driver`),
//! and the few things the tests do with it: wait for an element, read it, save a screenshot.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use thirtyfour::prelude::*;

/// A chromedriver process and one browser session on it; both end on drop.
pub struct Browser {
    pub driver: WebDriver,
    chromedriver: Child,
}

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

impl Browser {
    /// A headless browser at 1280×800, or `None` (with a note) when Chromium is not installed on
    /// a developer's machine. In CI (`parley_store::testing::running_in_ci`) a missing browser fails
    /// the test instead.
    pub async fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
            assert!(
                !parley_store::testing::running_in_ci(),
                "browser tests need Debian's chromium and chromium-driver (.ci/run installs them)"
            );
            eprintln!("skipping a browser test: install chromium and chromium-driver to run it");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,800",
            "--lang=en-US",
        ] {
            caps.add_arg(arg).unwrap();
        }
        let mut last = None;
        for _ in 0..100 {
            match WebDriver::new(&url, caps.clone()).await {
                Ok(driver) => return Some(Browser { driver, chromedriver }),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last:?}");
    }

    /// The first element matching `css` once `accept` says it is ready (10 s at most).
    pub async fn wait_for<F>(&self, css: &str, what: &str, mut accept: F) -> WebElement
    where
        F: AsyncFnMut(&WebElement) -> bool,
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(found) = self.driver.find_all(By::Css(css)).await {
                for element in found {
                    if accept(&element).await {
                        return element;
                    }
                }
            }
            if std::time::Instant::now() > deadline {
                self.screenshot(&format!("failed-{}", what.replace(' ', "-"))).await;
                panic!("waited 10 s for {what} ({css})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for an element matching `css` whose text contains `text`.
    pub async fn wait_text(&self, css: &str, text: &str) -> WebElement {
        let want = text.to_owned();
        self.wait_for(css, &format!("{css} with {text}"), async |e: &WebElement| {
            e.text().await.is_ok_and(|t| t.contains(&want))
        })
        .await
    }

    /// Waits for `css`, then clicks it in the page in one step: live events redraw the list and
    /// the thread, and an element handle found a moment earlier can be gone by the time it is
    /// clicked.
    pub async fn click_in_page(&self, css: &str) {
        self.wait_for(css, css, async |_: &WebElement| true).await;
        let script = "document.querySelector(arguments[0]).click()";
        self.driver.execute(script, vec![serde_json::json!(css)]).await.unwrap();
    }

    /// Waits for an element matching `css` whose attribute `name` is `value`.
    pub async fn wait_attr(&self, css: &str, name: &str, value: &str) -> WebElement {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.wait_for(css, &format!("{css}[{name}={value}]"), async |e: &WebElement| {
            e.attr(&name).await.ok().flatten().is_some_and(|v| v == value)
        })
        .await
    }

    /// Sets a `<select>` (by id) and tells the page it changed.
    pub async fn choose(&self, id: &str, value: &str) {
        let script = "const s = document.getElementById(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change'));";
        self.driver.execute(script, vec![serde_json::json!(id), serde_json::json!(value)]).await.unwrap();
    }

    /// Sets the first `<select>` matching `css` and tells the page it changed.
    pub async fn choose_in(&self, css: &str, value: &str) {
        self.wait_for(css, css, async |_: &WebElement| true).await;
        let script = "const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change'));";
        self.driver.execute(script, vec![serde_json::json!(css), serde_json::json!(value)]).await.unwrap();
    }

    /// Saves `target/screenshots/<name>.png` (kept as a CI artifact).
    pub async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        eprintln!("[{:>6.1} s] screenshot {name}", START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64());
        if let Err(e) = self.driver.screenshot(&dir.join(format!("{name}.png"))).await {
            eprintln!("screenshot {name} failed: {e}");
        }
    }
}

impl Browser {
    /// Ends the browser session (Chromium exits), then chromedriver.
    pub async fn quit(self) {
        let _ = self.driver.clone().quit().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}
