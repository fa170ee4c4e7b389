//! Firmware upgrade, reboot and configuration export/import through the CGI surface.

use std::path::{Path, PathBuf};

use ipcamd::firmware::{ImageFile, build_image, keys};

use crate::support::{Camera, can_self_restart, repo};

/// A temporary signing key; returns (signing key, public key file).
fn dev_key(dir: &Path) -> (ed25519_dalek::SigningKey, PathBuf) {
    let key = keys::generate_signing_key().unwrap();
    let (_, public) = keys::write_key_pair(dir, "test", &key).unwrap();
    (key, public)
}

/// The daemon under test without its debug information (an unoptimised build with symbols is
/// larger than the 32 MiB image cap; a camera's release binary is a few MB).
fn stripped_daemon() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("ipcamd");
    std::fs::copy(env!("CARGO_BIN_EXE_ipcamd"), &copy).unwrap();
    let strip = if cfg!(target_arch = "arm") {
        "arm-linux-gnueabihf-strip"
    } else {
        "strip"
    };
    let status = std::process::Command::new(strip)
        .arg(&copy)
        .status()
        .expect("binutils strip");
    assert!(status.success());
    std::fs::read(&copy).unwrap()
}

fn image(key: &ed25519_dalek::SigningKey, version: &str, board: &str) -> Vec<u8> {
    let binary = stripped_daemon();
    let files = vec![
        ImageFile {
            path: "ipcamd".into(),
            executable: true,
            data: binary,
        },
        ImageFile {
            path: "board/sim.toml".into(),
            executable: false,
            data: std::fs::read(repo().join("board/sim.toml")).unwrap(),
        },
    ];
    build_image(&files, version, &[board.to_owned()], key).unwrap()
}

#[test]
fn test_signed_upgrade_restarts_into_the_new_version_and_keeps_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = dev_key(dir.path());
    let data = dir.path().join("data");
    let env = [("IPCAMD_FW_PUBKEY", public.to_str().unwrap())];
    let mut cam = Camera::start_with(&data, &repo().join("board/sim.toml"), &env);
    cam.cgi("setDevName", &[("devName", "before-upgrade")]);
    let reply = cam.upload("fwUpgrade", "fw_file", &image(&key, "9.9.9-test", "sim"));
    assert_eq!(reply.result, 0);
    assert_eq!(reply.get("upgradeResult"), "0");
    assert!(
        data.join("firmware/current/ipcamd").exists(),
        "the release is installed"
    );
    if !can_self_restart() {
        // qemu-user cannot start another ARM program: the restart is checked in the lab.
        eprintln!("restart part skipped under qemu-user");
        return;
    }
    cam.await_self_restart();
    assert_eq!(cam.cgi("getDevInfo", &[]).get("firmwareVer"), "9.9.9-test");
    assert_eq!(cam.cgi("getProductAppVer", &[]).get("appVer"), "9.9.9-test");
    assert_eq!(cam.cgi("getDevName", &[]).get("devName"), "before-upgrade");
}

#[test]
fn test_bad_images_are_refused_and_nothing_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = dev_key(dir.path());
    let other = keys::generate_signing_key().unwrap();
    let data = dir.path().join("data");
    let env = [("IPCAMD_FW_PUBKEY", public.to_str().unwrap())];
    let cam = Camera::start_with(&data, &repo().join("board/sim.toml"), &env);
    let good = image(&key, "9.9.9-test", "sim");
    let mut flipped = good.clone();
    let last = flipped.len() - 100;
    flipped[last] ^= 0x40;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("wrong key", image(&other, "9.9.9-test", "sim")),
        ("wrong board", image(&key, "9.9.9-test", "some-other-board")),
        ("flipped payload byte", flipped),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("not an image", b"hello".to_vec()),
    ];
    for (what, bytes) in cases {
        let reply = cam.upload("fwUpgrade", "fw_file", &bytes);
        assert_eq!(
            (reply.result, reply.get("upgradeResult")),
            (0, "-1"),
            "{what}"
        );
    }
    assert!(!data.join("firmware/current").exists(), "nothing installed");
    assert_eq!(
        cam.cgi("getDevInfo", &[]).get("firmwareVer"),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn test_upload_needs_an_administrator_and_multipart() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    cam.cgi(
        "addAccount",
        &[("usrName", "op"), ("usrPwd", "o"), ("privilege", "1")],
    );
    let agent = ureq::AgentBuilder::new().build();
    let url = format!(
        "{}/cgi-bin/CGIProxy.fcgi?cmd=fwUpgrade&usr=op&pwd=o",
        cam.base
    );
    let reply = agent
        .post(&url)
        .set("Content-Type", "multipart/form-data; boundary=x")
        .send_bytes(b"--x--")
        .unwrap();
    assert!(reply.into_string().unwrap().contains("<result>-3</result>"));
    let url = format!(
        "{}/cgi-bin/CGIProxy.fcgi?cmd=fwUpgrade&usr=admin&pwd=",
        cam.base
    );
    let reply = agent
        .post(&url)
        .set("Content-Type", "application/octet-stream")
        .send_bytes(b"x")
        .unwrap();
    assert!(reply.into_string().unwrap().contains("<result>-1</result>"));
    let url = format!(
        "{}/cgi-bin/CGIProxy.fcgi?cmd=getDevName&usr=admin&pwd=",
        cam.base
    );
    let status = match agent.post(&url).send_bytes(b"x") {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status, 405);
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "the daemon cannot re-execute itself under qemu-user; the lab covers ARM"
)]
fn test_export_then_import_restores_settings_and_bad_files_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = Camera::start(dir.path());
    cam.cgi("setDevName", &[("devName", "exported")]);
    cam.cgi("setPTZSpeed", &[("speed", "1")]);
    let reply = cam.cgi("exportConfig", &[]);
    assert_eq!(reply.get("fileName"), "configs.bin");
    let (status, _, file) = cam.get_raw("/configs/export/configs.bin?usr=admin&pwd=");
    assert_eq!(status, 200);
    assert_eq!(cam.get_raw("/configs/export/configs.bin").0, 401);
    cam.cgi("setDevName", &[("devName", "changed")]);
    let mut bad = file.clone();
    bad.extend_from_slice(b"ptz_speed\tspeed\t99\n");
    assert_eq!(cam.upload("importConfig", "setting_file", &bad).result, -1);
    assert_eq!(
        cam.cgi("getDevName", &[]).get("devName"),
        "changed",
        "bad import changed nothing"
    );
    assert_eq!(cam.upload("importConfig", "setting_file", &file).result, 0);
    cam.await_self_restart();
    assert_eq!(cam.cgi("getDevName", &[]).get("devName"), "exported");
    assert_eq!(cam.cgi("getPTZSpeed", &[]).get("speed"), "1");
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "the daemon cannot re-execute itself under qemu-user; the lab covers ARM"
)]
fn test_reboot_on_the_simulated_board_restarts_the_daemon_with_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = Camera::start(dir.path());
    cam.cgi("setDevName", &[("devName", "survivor")]);
    assert_eq!(cam.cgi("rebootSystem", &[]).result, 0);
    cam.await_self_restart();
    assert_eq!(cam.cgi("getDevName", &[]).get("devName"), "survivor");
    let log = cam.cgi("getLog", &[("offset", "0"), ("count", "10")]);
    assert_eq!(log.get("totalCnt"), "2", "two power-on entries");
}
