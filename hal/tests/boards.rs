//! Every board file in `board/` parses and validates, and a typo in a key is refused.

use std::path::Path;

use ipcamd_hal::board::BoardSpec;

#[test]
fn test_every_board_file_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            BoardSpec::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 2, "sim and at least one real board");
}

#[test]
fn test_unknown_key_is_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board/sim.toml");
    let text = std::fs::read_to_string(dir)
        .unwrap()
        .replace("[video]", "[video]\nmax_widht = 3");
    let err = BoardSpec::parse(&text).unwrap_err();
    assert!(err.to_string().contains("max_widht"), "{err}");
}

#[test]
fn test_line_used_twice_is_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board/generic-armv7.toml");
    let text = std::fs::read_to_string(dir)
        .unwrap()
        .replace("line = \"ir-cut\"", "line = \"ir-led\"");
    assert!(BoardSpec::parse(&text).is_err());
}

#[test]
fn test_the_simulated_boards_mac_is_the_board_files_in_getdevinfo_form() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board/sim.toml");
    let mut spec = BoardSpec::load(&path).unwrap();
    spec.ptz = None;
    let data = std::env::temp_dir().join(format!("ipcamd-boards-mac-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let hal = ipcamd_hal::Hal::open(spec, &data).unwrap();
    assert_eq!(hal.mac_address(), "02005E100001");
    drop(hal);
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn test_mac_separators_and_case_are_normalised() {
    assert_eq!(
        ipcamd_hal::board::compact_mac(" 02:00:5e:10:00:0a\n"),
        "02005E10000A"
    );
    assert_eq!(
        ipcamd_hal::board::compact_mac("02-00-5E-10-00-0A"),
        "02005E10000A"
    );
}
