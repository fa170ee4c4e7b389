//! End-to-end test of `ipcamd-fwtool`: generate a key pair, sign an image from real files,
//! verify and inspect it, install it twice, roll back, and see every refusal leave the install
//! root alone. Under qemu-user the tool is started through `$IPCAMD_TEST_RUNNER` (set by
//! cross/test-armv7.sh), because a container has no binfmt_misc to run ARM children directly.

use std::path::Path;
use std::process::{Command, Output};

fn fwtool(args: &[&str]) -> Output {
    let tool = env!("CARGO_BIN_EXE_ipcamd-fwtool");
    let runner = std::env::var("IPCAMD_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(tool);
            c
        }
        None => Command::new(tool),
    };
    command
        .args(args)
        .env_remove("IPCAMD_FW_SIGNING_KEY")
        .env_remove("IPCAMD_FW_SIGNING_KEY_FILE")
        .output()
        .expect("running ipcamd-fwtool")
}

fn ok(args: &[&str]) -> String {
    let out = fwtool(args);
    assert!(
        out.status.success(),
        "ipcamd-fwtool {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn sign(dir: &Path, version: &str, board: &str, key: &str, out: &str) -> String {
    let bin = dir.join(format!("ipcamd-{version}"));
    write_executable(&bin, &format!("#!/bin/sh\necho {version}\n"));
    let unit = dir.join("ipcamd.service");
    std::fs::write(&unit, "[Service]\nExecStart=/usr/bin/ipcamd\n").unwrap();
    let out_path = dir.join(out);
    ok(&[
        "sign",
        "--version",
        version,
        "--board",
        board,
        "--key",
        key,
        "--out",
        out_path.to_str().unwrap(),
        &format!("ipcamd={}", bin.display()),
        &format!("systemd/ipcamd.service={}", unit.display()),
    ]);
    out_path.to_string_lossy().into_owned()
}

#[test]
fn test_fwtool_keygen_sign_verify_install_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = d.join("keys");
    ok(&["keygen", "--dir", keys.to_str().unwrap()]);
    let secret = keys.join("dev-signing.key");
    let public = keys.join("dev-public.key");
    let (secret, public) = (secret.to_str().unwrap(), public.to_str().unwrap());
    assert!(
        !fwtool(&["keygen", "--dir", keys.to_str().unwrap()])
            .status
            .success(),
        "keygen overwrote an existing key"
    );
    let printed = ok(&["pubkey", "--key", secret]);
    assert_eq!(
        printed.trim(),
        std::fs::read_to_string(public).unwrap().trim()
    );

    let v1 = sign(d, "1.0.0", "sim", secret, "v1.img");
    let v2 = sign(d, "2.0.0", "sim", secret, "v2.img");
    let listing = ok(&["verify", "--pubkey", public, "--board", "sim", &v2]);
    assert!(listing.contains("version    2.0.0"), "{listing}");
    assert!(listing.contains("x ") && listing.contains("systemd/ipcamd.service"));
    let header = ok(&["inspect", &v2]);
    assert!(header.contains("boards     sim") && header.contains("not checked"));

    let wrong_board = fwtool(&["verify", "--pubkey", public, "--board", "lab", &v2]);
    assert!(!wrong_board.status.success());
    assert!(String::from_utf8_lossy(&wrong_board.stderr).contains("wrong-board"));

    let root = d.join("root");
    let root = root.to_str().unwrap();
    let install = |img: &str| {
        fwtool(&[
            "install", "--pubkey", public, "--board", "sim", "--root", root, img,
        ])
    };
    assert!(install(&v1).status.success());
    ok(&["confirm", "--root", root]);
    let nothing = fwtool(&["rollback-if-unconfirmed", "--root", root]);
    assert_eq!(
        nothing.status.code(),
        Some(3),
        "confirmed release must not roll back"
    );

    // A tampered copy is refused and leaves version 1 in place.
    let mut bytes = std::fs::read(&v2).unwrap();
    let at = bytes.len() - 5;
    bytes[at] ^= 1;
    let bad = d.join("bad.img");
    std::fs::write(&bad, &bytes).unwrap();
    let refused = install(bad.to_str().unwrap());
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("hash-mismatch"));
    let current = std::fs::read_to_string(d.join("root/current/ipcamd")).unwrap();
    assert!(current.contains("1.0.0"));

    assert!(install(&v2).status.success());
    let current = std::fs::read_to_string(d.join("root/current/ipcamd")).unwrap();
    assert!(current.contains("2.0.0"));
    let rolled = ok(&["rollback-if-unconfirmed", "--root", root]);
    assert!(rolled.contains("rolled back to 1.0.0"), "{rolled}");
    let current = std::fs::read_to_string(d.join("root/current/ipcamd")).unwrap();
    assert!(current.contains("1.0.0"));
}

#[test]
fn test_fwtool_sign_without_key_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("ipcamd");
    write_executable(&bin, "#!/bin/sh\n");
    let out = fwtool(&[
        "sign",
        "--version",
        "1",
        "--board",
        "sim",
        "--out",
        dir.path().join("x.img").to_str().unwrap(),
        &format!("ipcamd={}", bin.display()),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signing key"));
    assert!(!dir.path().join("x.img").exists());
}
