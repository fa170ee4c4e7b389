//! The camera's web interface in a real browser: headless Chromium driven over WebDriver
//! (Debian's chromium and chromium-driver, installed by scripts/install-deps.sh) against the real
//! daemon on the simulated board, on loopback. Each test checks what the page did through the
//! CGI surface, not only what it shows. Screenshots of the pages go to
//! `target/web-screenshots/` (the README's pictures are taken from there).
//!
//! Not run for ARMv7 under qemu-user (no ARM browser there; reported as ignored).

#[allow(dead_code)]
#[path = "../cgi/support.rs"]
mod support;

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::actions::{
    InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::Camera;

/// One browser at a time: the machine has two cores and each test starts a daemon too.
static BROWSER: Mutex<()> = Mutex::new(());

/// chromedriver on a free loopback port with its own Chromium profile; killed when dropped.
struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: run scripts/install-deps.sh (scripts/deps/web.list)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its own process group, so the browser it starts goes with it (see Drop).
        let driver = Command::new("/usr/bin/chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": profile.path().join("downloads"),
                    "download.prompt_for_download": false,
                },
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(err) if Instant::now() > deadline => panic!("no WebDriver session: {err}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Browser {
            driver,
            client: Some(client),
            _profile: profile,
        }
    }

    /// Waits for a file the page saved (a download) and answers its bytes.
    async fn downloaded(&self, prefix: &str) -> Vec<u8> {
        let dir = self._profile.path().join("downloads");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let done = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .find(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with(prefix) && !name.ends_with(".crdownload")
                });
            if let Some(entry) = done {
                return std::fs::read(entry.path()).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no download named {prefix}*");
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Checks the page reported no fault of its own (uncaught errors, unhandled rejections),
    /// then ends the session.
    async fn close(mut self) {
        let fault = self
            .js(
                "const e = document.querySelector('#page-error'); return e ? e.textContent : ''",
                vec![],
            )
            .await;
        assert_eq!(fault, json!(""), "the page hit an error");
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.c().execute(script, args).await.expect("script runs")
    }

    /// Waits until `css` exists and its text contains `needle`; answers the text.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(el) = self.c().find(Locator::Css(css)).await {
                if let Ok(text) = el.text().await {
                    if text.contains(needle) {
                        return text;
                    }
                    last = text;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never said {needle:?} (last: {last:?})");
    }

    /// Waits for an element to exist.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.c().find(Locator::Css(css)).await {
                Ok(el) => return el,
                Err(err) if Instant::now() > deadline => panic!("no {css}: {err}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until the script answers true.
    async fn wait_js(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.js(script, vec![]).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn sign_in(&self, camera: &Camera, user: &str, password: &str) {
        self.c().goto(&format!("{}/", camera.base)).await.unwrap();
        let form = self.find("#signin-form").await;
        self.wait_js(
            "the sign-in form",
            "return !document.querySelector('#signin').hidden",
        )
        .await;
        form.find(Locator::Css("[name=usr]"))
            .await
            .unwrap()
            .send_keys(user)
            .await
            .unwrap();
        form.find(Locator::Css("[name=pwd]"))
            .await
            .unwrap()
            .send_keys(password)
            .await
            .unwrap();
        form.find(Locator::Css("button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn signed_in(&self) {
        self.wait_js(
            "the signed-in page",
            "return !document.querySelector('#app').hidden",
        )
        .await;
    }

    async fn go(&self, hash: &str) {
        self.js("location.hash = arguments[0]", vec![json!(hash)])
            .await;
    }

    /// Presses and releases the mouse at the centre of `el` (a real pointer, no hit-test
    /// shortcut: the page finds the cell from the coordinates).
    async fn press(&self, el: fantoccini::elements::Element, hold: Duration) {
        let actions = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: el,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Pause { duration: hold })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.c().perform_actions(actions).await.unwrap();
    }

    /// Saves a screenshot of the window (scrolled to the top) for people to look at.
    async fn screenshot(&self, name: &str) {
        self.js(
            "window.scrollTo(0, 0); document.activeElement.blur()",
            vec![],
        )
        .await;
        let png = self.c().screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// A screenshot of the live picture element.
    async fn picture(&self) -> Vec<u8> {
        let img = self.c().find(Locator::Css("#live")).await.unwrap();
        img.screenshot().await.expect("element screenshot")
    }

    async fn wait_picture(&self) {
        self.wait_js(
            "a decoded live frame",
            "const i = document.querySelector('#live'); return !!i && i.complete && i.naturalWidth > 0",
        )
        .await;
    }

    /// No request the page made carried a credential in its URL.
    async fn assert_no_credentials_in_urls(&self) {
        let urls = self
            .js(
                "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href])",
                vec![],
            )
            .await;
        let urls = urls.as_array().unwrap();
        assert!(urls.len() > 3, "the page made requests: {urls:?}");
        for url in urls {
            let url = url.as_str().unwrap();
            assert!(
                !url.contains("pwd=") && !url.contains("usr="),
                "credential in a URL: {url}"
            );
        }
    }
}

impl Drop for Browser {
    /// Ends chromedriver and every browser process it started (a failed test never closed its
    /// session), by their process group.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

/// Runs a browser test, one at a time.
fn one_browser_at_a_time(test: impl std::future::Future<Output = ()>) {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

fn debug_state(camera: &Camera) -> Value {
    let (status, _, body) = camera.get_raw("/debug/state.json?usr=admin&pwd=");
    assert_eq!(status, 200);
    serde_json::from_slice(&body).expect("state JSON")
}

fn mean_luma(jpeg: &[u8]) -> f64 {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let pixels = decoder.decode().expect("a valid JPEG");
    pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / pixels.len() as f64
}

fn snapshot_luma(camera: &Camera) -> f64 {
    let (status, _, jpeg) =
        camera.get_raw("/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=");
    assert_eq!(status, 200);
    mean_luma(&jpeg)
}

#[test]
#[cfg_attr(target_arch = "arm", ignore = "no browser for ARM under qemu-user")]
fn test_live_page_streams_moves_the_motor_and_applies_the_brightness_slider() {
    one_browser_at_a_time(async {
        let data = tempfile::tempdir().unwrap();
        let camera = Camera::start(data.path());
        let browser = Browser::start().await;
        browser.sign_in(&camera, "admin", "").await;
        browser.signed_in().await;
        browser.wait_picture().await;

        // The live picture changes between two screenshots (the scene and its clock move).
        let first = browser.picture().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let second = browser.picture().await;
        assert_ne!(first, second, "the live picture changes");

        // Holding PTZ left moves the simulated motor: its position changes over the API.
        browser
            .wait_js(
                "the PTZ pad",
                "return !!document.querySelector('#ptz-left')",
            )
            .await;
        let before = debug_state(&camera)["ptz"]["pan"]
            .as_f64()
            .expect("the motor reports its pan");
        let left = browser.c().find(Locator::Css("#ptz-left")).await.unwrap();
        browser.press(left, Duration::from_millis(1200)).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut after = before;
        while Instant::now() < deadline && (after - before).abs() < 0.5 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            after = debug_state(&camera)["ptz"]["pan"].as_f64().unwrap();
        }
        assert!(
            (after - before).abs() >= 0.5,
            "pan moved from {before} (now {after})"
        );
        // Released: the motor stops (two readings a moment apart agree).
        tokio::time::sleep(Duration::from_millis(600)).await;
        let stopped = debug_state(&camera)["ptz"]["pan"].as_f64().unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            stopped,
            debug_state(&camera)["ptz"]["pan"].as_f64().unwrap(),
            "stopped on release"
        );
        // The pad works from the keyboard too: Space held on a focused direction moves.
        browser
            .js("document.querySelector('#ptz-right').focus()", vec![])
            .await;
        let space = KeyActions::new("keys".into())
            .then(KeyAction::Down { value: ' ' })
            .then(KeyAction::Pause {
                duration: Duration::from_millis(1200),
            })
            .then(KeyAction::Up { value: ' ' });
        browser.c().perform_actions(space).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut keyed = stopped;
        while Instant::now() < deadline && (keyed - stopped).abs() < 0.5 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            keyed = debug_state(&camera)["ptz"]["pan"].as_f64().unwrap();
        }
        assert!(
            keyed > stopped + 0.5,
            "right by keyboard: {stopped} -> {keyed}"
        );

        // The brightness slider, moved with the keyboard, changes the stored value and the picture.
        let dark = snapshot_luma(&camera);
        let slider = browser
            .c()
            .find(Locator::Css("#img-brightness"))
            .await
            .unwrap();
        browser
            .wait_js(
                "the stored brightness",
                "return document.querySelector('#img-brightness').value === '50'",
            )
            .await;
        slider.click().await.unwrap();
        let keys = KeyActions::new("keys".into())
            .then(KeyAction::Down { value: '\u{E010}' })
            .then(KeyAction::Up { value: '\u{E010}' });
        browser.c().perform_actions(keys).await.unwrap(); // End: the slider's maximum
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && camera.cgi("getImageSetting", &[]).fields["brightness"] != "100"
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            camera.cgi("getImageSetting", &[]).fields["brightness"],
            "100"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let bright = snapshot_luma(&camera);
        assert!(
            bright > dark + 10.0,
            "the picture brightens: {dark:.1} -> {bright:.1}"
        );

        // The snapshot button saves a JPEG of the camera's picture.
        browser.find("#snap").await.click().await.unwrap();
        let jpeg = browser.downloaded("snapshot-").await;
        assert!(mean_luma(&jpeg) > 0.0, "the saved snapshot decodes");

        browser.wait_text("#status", "Motion").await;
        browser.screenshot("live").await;
        browser.assert_no_credentials_in_urls().await;
        // A phone's width: one column, the pad below the picture.
        browser.c().set_window_size(390, 844).await.unwrap();
        let narrow = "const r = e => document.querySelector(e).getBoundingClientRect(); \
                      return r('.side').top > r('.view').bottom - 1 && r('.view').width < 390";
        browser.wait_js("the one-column layout", narrow).await;
        browser.screenshot("live-phone").await;
        browser.close().await;
    });
}

#[test]
#[cfg_attr(target_arch = "arm", ignore = "no browser for ARM under qemu-user")]
fn test_motion_cell_and_schedule_painted_in_the_page_read_back_over_cgi() {
    one_browser_at_a_time(async {
        let data = tempfile::tempdir().unwrap();
        let camera = Camera::start(data.path());
        let before = camera.cgi("getMotionDetectConfig", &[]);
        let browser = Browser::start().await;
        browser.sign_in(&camera, "admin", "").await;
        browser.signed_in().await;
        browser.go("motion").await;
        browser.wait_picture().await;
        let cell = browser.find("#area-grid [data-r='2'][data-c='3']").await;
        let selected = "return document.querySelector(\"#area-grid [data-r='2'][data-c='3']\").getAttribute('aria-selected')";
        let was = browser.js(selected, vec![]).await;
        browser.press(cell, Duration::ZERO).await;
        assert_ne!(
            browser.js(selected, vec![]).await,
            was,
            "the cell shows its toggle"
        );
        // Monday 20:00-20:30 (bit 40) on the schedule painter.
        let slot = browser
            .c()
            .find(Locator::Css(".schedule [data-r='0'][data-c='40']"))
            .await
            .unwrap();
        browser.press(slot, Duration::ZERO).await;
        let quiet = "return document.querySelectorAll('#area-grid .fire').length";
        assert_eq!(
            browser.js(quiet, vec![]).await,
            json!(0),
            "nothing fires while detection is off"
        );
        // Detection on, so the daemon scores the cells.
        let enable = "form[data-cmd=setMotionDetectConfig] [data-field=isEnable]";
        browser.find(enable).await.click().await.unwrap();
        let save = browser
            .c()
            .find(Locator::Css(
                "form[data-cmd=setMotionDetectConfig] button[type=submit]",
            ))
            .await
            .unwrap();
        save.click().await.unwrap();
        browser
            .wait_text("form[data-cmd=setMotionDetectConfig] .msg", "Saved")
            .await;
        let after = camera.cgi("getMotionDetectConfig", &[]);
        let area = |r: &support::CgiReply| r.fields["area2"].parse::<u64>().unwrap();
        assert_eq!(area(&after), area(&before) ^ (1 << 3), "cell (2,3) toggled");
        let monday = |r: &support::CgiReply| r.fields["schedule0"].parse::<u64>().unwrap();
        assert_eq!(
            monday(&after),
            monday(&before) ^ (1 << 40),
            "Monday 20:00 toggled"
        );
        assert_eq!(
            (
                before.fields["isEnable"].as_str(),
                after.fields["isEnable"].as_str()
            ),
            ("0", "1")
        );
        for key in ["area0", "area9", "schedule6", "sensitivity", "linkage"] {
            assert_eq!(after.fields[key], before.fields[key], "{key} unchanged");
        }
        // With detection on, the cells the daemon scores above the threshold light up over the
        // moving scene (before, with detection off, the daemon scored nothing).
        browser
            .wait_js(
                "firing cells",
                "return document.querySelectorAll('#area-grid .fire').length > 0",
            )
            .await;
        browser.screenshot("motion").await;
        browser.close().await;
    });
}

#[test]
#[cfg_attr(target_arch = "arm", ignore = "no browser for ARM under qemu-user")]
fn test_wrong_password_is_refused_and_a_visitor_sees_no_admin_pages() {
    one_browser_at_a_time(async {
        let data = tempfile::tempdir().unwrap();
        let camera = Camera::start(data.path());
        let added = camera.cgi(
            "addAccount",
            &[
                ("usrName", "guest"),
                ("usrPwd", "look only"),
                ("privilege", "0"),
            ],
        );
        assert_eq!(added.result, 0);
        let browser = Browser::start().await;
        browser.sign_in(&camera, "guest", "wrong").await;
        browser
            .wait_text("#signin-msg", "Wrong user name or password")
            .await;
        assert_eq!(
            browser
                .js("return document.querySelector('#app').hidden", vec![])
                .await,
            json!(true)
        );
        browser.screenshot("signin-refused").await;

        browser.sign_in(&camera, "guest", "look only").await;
        browser.signed_in().await;
        browser.wait_picture().await;
        let nav = browser
            .c()
            .find(Locator::Css("#nav"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(nav.trim(), "Live", "a visitor's pages");
        let pad = browser
            .js("return !!document.querySelector('#ptz-left')", vec![])
            .await;
        assert_eq!(pad, json!(false), "no PTZ pad for a visitor");
        // The status strip works for a visitor too (getDevState is admin-only).
        browser.wait_text("#status", "IO alarm").await;
        browser.wait_text("#status", "SD card").await;
        browser.go("system").await;
        browser.wait_text("#main", "needs a higher privilege").await;
        let firmware = browser
            .js("return !!document.querySelector('#file-fwUpgrade')", vec![])
            .await;
        assert_eq!(firmware, json!(false));
        browser.assert_no_credentials_in_urls().await;
        browser.screenshot("visitor").await;

        // Signing out forgets the credentials.
        browser
            .c()
            .find(Locator::Css("#signout"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser
            .wait_js(
                "the sign-in form again",
                "return !document.querySelector('#signin').hidden",
            )
            .await;
        let stored = browser.js("return sessionStorage.length", vec![]).await;
        assert_eq!(stored, json!(0));
        browser.close().await;
    });
}

#[test]
#[cfg_attr(target_arch = "arm", ignore = "no browser for ARM under qemu-user")]
fn test_garbage_firmware_upload_shows_the_refusal_and_the_camera_keeps_serving() {
    one_browser_at_a_time(async {
        let data = tempfile::tempdir().unwrap();
        // A camera with a release key, so an upload is verified (without one it answers -4).
        let key = ipcamd::firmware::keys::generate_signing_key().unwrap();
        let (_, public) =
            ipcamd::firmware::keys::write_key_pair(data.path(), "test", &key).unwrap();
        let env = [("IPCAMD_FW_PUBKEY", public.to_str().unwrap())];
        let camera = Camera::start_with(
            &data.path().join("data"),
            &support::repo().join("board/sim.toml"),
            &env,
        );
        let version = camera.cgi("getDevInfo", &[]).fields["firmwareVer"].clone();
        let garbage = data.path().join("not-firmware.bin");
        std::fs::write(&garbage, vec![0x5a; 200_000]).unwrap();
        let browser = Browser::start().await;
        browser.sign_in(&camera, "admin", "").await;
        browser.signed_in().await;
        browser.go("system").await;
        browser.wait_text("#main", "Firmware").await;
        // Export: the page saves the camera's configuration file.
        browser.find("#export").await.click().await.unwrap();
        let saved = browser.downloaded("camera-config-").await;
        let (status, _, exported) = camera.get_raw("/configs/export/configs.bin?usr=admin&pwd=");
        assert_eq!(status, 200);
        assert_eq!(saved, exported, "the saved file is the camera's export");
        let file = browser.find("#file-fwUpgrade").await;
        file.send_keys(garbage.to_str().unwrap()).await.unwrap();
        let form = browser
        .js(
            "return document.querySelector('#file-fwUpgrade').form.querySelector('button').click()",
            vec![],
        )
        .await;
        assert_eq!(form, Value::Null);
        browser
            .wait_js(
                "the confirmation",
                "return document.querySelector('#confirm').open",
            )
            .await;
        browser
            .c()
            .find(Locator::Css("#confirm-ok"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let verdict = browser
            .wait_text("#verdict-fwUpgrade", "refused the image")
            .await;
        assert!(
            verdict.contains("Nothing was installed"),
            "verdict: {verdict}"
        );
        let progress = browser
            .js(
                "return document.querySelector('#progress-fwUpgrade').value",
                vec![],
            )
            .await;
        assert_eq!(progress, json!(1), "the upload went through");
        browser.screenshot("system").await;
        // Still serving, still the same firmware.
        let info = camera.cgi("getDevInfo", &[]);
        assert_eq!(info.result, 0);
        assert_eq!(info.fields["firmwareVer"], version);
        browser.close().await;
    });
}

#[test]
#[cfg_attr(target_arch = "arm", ignore = "no browser for ARM under qemu-user")]
fn test_settings_forms_come_from_the_catalogue_and_validate_before_sending() {
    one_browser_at_a_time(async {
        let data = tempfile::tempdir().unwrap();
        let camera = Camera::start(data.path());
        let browser = Browser::start().await;
        browser.sign_in(&camera, "admin", "").await;
        browser.signed_in().await;
        browser.go("settings/video").await;
        // setRatio's form is generated from the catalogue (range 0..511), prefilled from getRatio.
        let form = "form[data-cmd=setRatio]";
        let field = format!("{form} [data-field=ratio]");
        browser
            .wait_js(
                "the ratio form",
                &format!("return !!document.querySelector('{field}')"),
            )
            .await;
        let stored = camera.cgi("getRatio", &[]).fields["ratio"].clone();
        browser
            .wait_js(
                "prefilled",
                &format!("return document.querySelector('{field}').value === '{stored}'"),
            )
            .await;
        assert_eq!(
            browser
                .js(
                    &format!("return document.querySelector('{field}').max"),
                    vec![]
                )
                .await,
            json!("511")
        );
        let submit = |value: &str| {
            format!(
                "const i = document.querySelector('{field}'); i.value = '{value}'; i.form.requestSubmit()"
            )
        };
        // Out of range: refused in the page, nothing sent.
        browser.js(&submit("600"), vec![]).await;
        browser
            .wait_text(&format!("{form} .msg"), "out of range")
            .await;
        assert_eq!(camera.cgi("getRatio", &[]).fields["ratio"], stored);
        browser.js(&submit("300"), vec![]).await;
        browser.wait_text(&format!("{form} .msg"), "Saved").await;
        assert_eq!(camera.cgi("getRatio", &[]).fields["ratio"], "300");
        browser.screenshot("settings").await;
        // Every group renders a card per command, and every page opens, without a fault.
        let groups = browser
            .js(
                "return [...document.querySelectorAll('.tabs a')].map(a => a.getAttribute('href'))",
                vec![],
            )
            .await;
        let groups: Vec<String> = serde_json::from_value(groups).unwrap();
        assert!(groups.len() >= 10, "the guide's chapters: {groups:?}");
        let mut cards = 0;
        for group in &groups {
            browser.go(group.trim_start_matches('#')).await;
            browser
                .wait_js(
                    group,
                    "return document.querySelectorAll('.forms .panel').length > 0",
                )
                .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let n = browser
                .js(
                    "return document.querySelectorAll('.forms .panel').length",
                    vec![],
                )
                .await;
            cards += n.as_u64().unwrap();
            let fault = browser
                .js(
                    "return document.querySelector('#page-error').textContent",
                    vec![],
                )
                .await;
            assert_eq!(fault, json!(""), "{group}");
        }
        assert!(cards >= 60, "{cards} command cards");
        for page in ["live", "motion", "masks", "records", "system"] {
            browser.go(page).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        browser.go("records").await;
        // The simulated card answers getRecordList2: the page shows the day's list, not an error.
        browser
            .wait_js(
                "the record list",
                "const t = document.querySelector('#main').textContent; \
                 return t.includes('recordings on that day') && !t.includes('the camera answered')",
            )
            .await;
        browser.close().await;
    });
}

#[test]
#[cfg_attr(target_arch = "arm", ignore = "no browser for ARM under qemu-user")]
fn test_setup_mode_leads_to_setting_the_admin_password() {
    one_browser_at_a_time(async {
        let dir = tempfile::tempdir().unwrap();
        let board = std::fs::read_to_string(support::repo().join("board/sim.toml"))
            .unwrap()
            .replace("setup_mode = false", "setup_mode = true");
        let board_file = dir.path().join("setup.toml");
        std::fs::write(&board_file, board).unwrap();
        let camera = Camera::start_with_board(&dir.path().join("data"), &board_file);
        assert_eq!(camera.cgi("getDevName", &[]).result, -3, "setup mode");
        let browser = Browser::start().await;
        browser.sign_in(&camera, "admin", "").await;
        browser
            .wait_js(
                "the set-password form",
                "return !document.querySelector('#setup').hidden",
            )
            .await;
        browser.screenshot("setup").await;
        let form = browser.find("#setup-form").await;
        for field in ["[name=pwd]", "[name=pwd2]"] {
            let input = form.find(Locator::Css(field)).await.unwrap();
            input.send_keys("n3w secret+").await.unwrap();
        }
        form.find(Locator::Css("button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser.signed_in().await;
        browser.wait_picture().await;
        assert_eq!(
            camera.cgi("getDevName", &[]).result,
            -2,
            "the factory password is gone"
        );
        let named = camera.cgi_as("admin", "n3w secret+", "getDevName", &[]);
        assert_eq!(named.result, 0, "the new password works");
        browser.close().await;
    });
}

#[test]
#[cfg_attr(target_arch = "arm", ignore = "no browser for ARM under qemu-user")]
fn test_privacy_mask_dragged_on_the_picture_reads_back_over_cgi() {
    one_browser_at_a_time(async {
        let data = tempfile::tempdir().unwrap();
        let camera = Camera::start(data.path());
        let browser = Browser::start().await;
        browser.sign_in(&camera, "admin", "").await;
        browser.signed_in().await;
        browser.go("masks").await;
        browser.wait_picture().await;
        browser.find("form[data-cmd=setOsdMaskArea]").await;
        // Mask 2, dragged from the picture's centre a quarter of the way right and down.
        let which = browser.find("#mask-which").await;
        which.select_by_value("1").await.unwrap();
        let overlay = browser.find("#overlay").await;
        let (_, _, width, height) = overlay.rectangle().await.unwrap();
        let drag = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: overlay.clone(),
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::MoveToElement {
                element: overlay,
                duration: Some(Duration::from_millis(300)),
                x: width / 4.0,
                y: height / 4.0,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        browser.c().perform_actions(drag).await.unwrap();
        browser
            .wait_js(
                "the drawn mask",
                "return !document.querySelector('[data-mask=\"1\"]').hidden",
            )
            .await;
        let save = browser
            .find("form[data-cmd=setOsdMaskArea] button[type=submit]")
            .await;
        save.click().await.unwrap();
        browser
            .wait_text("form[data-cmd=setOsdMaskArea] .msg", "Saved")
            .await;
        let area = camera.cgi("getOsdMaskArea", &[]);
        let value = |k: &str| area.fields[k].parse::<i64>().unwrap();
        for (key, want) in [
            ("x1_1", 5000),
            ("y1_1", 5000),
            ("x2_1", 7500),
            ("y2_1", 7500),
        ] {
            assert!(
                (value(key) - want).abs() < 150,
                "{key} = {} (about {want})",
                value(key)
            );
        }
        assert_eq!(value("x2_0"), 0, "mask 1 untouched");
        browser.screenshot("masks").await;
        browser.close().await;
    });
}
