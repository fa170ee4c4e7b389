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
