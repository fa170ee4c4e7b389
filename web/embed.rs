//! Build step of the web interface (included by `build.rs`): compresses every asset under
//! `web/` with gzip and writes the command catalogue (`spec/cgi-commands.toml`) as the JSON the
//! page builds its settings forms from, then emits `web_assets.rs` (a static table of paths,
//! media types, entity tags and the compressed bytes) into `OUT_DIR`. Only the compressed
//! bytes go into the binary.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// The page's files: (file under web/, URL path, media type).
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "/", "text/html; charset=utf-8"),
    ("app.css", "/web/app.css", "text/css; charset=utf-8"),
    ("app.js", "/web/app.js", "text/javascript; charset=utf-8"),
    ("icon.svg", "/web/icon.svg", "image/svg+xml"),
];

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// FNV-1a: a content hash for the entity tag (not a security property).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One field of the catalogue as the page needs it: wire names, type, range, choices, bits.
fn field_json(field: &toml::Value) -> serde_json::Value {
    use serde_json::json;
    let get = |k: &str| field.get(k);
    let mut out = json!({
        "n": get("name").and_then(|v| v.as_str()).unwrap_or(""),
        "t": get("type").and_then(|v| v.as_str()).unwrap_or("string"),
    });
    let map = out.as_object_mut().unwrap();
    if let Some(d) = get("description").and_then(|v| v.as_str()) {
        map.insert("d".into(), json!(d));
    }
    for key in ["min", "max", "bit_count"] {
        if let Some(v) = get(key).and_then(|v| v.as_integer()) {
            map.insert(key[..3].into(), json!(v));
        }
    }
    if let Some(list) = get("enum").and_then(|v| v.as_array()) {
        let choices: Vec<_> = list
            .iter()
            .map(|c| {
                json!([
                    c.get("value").and_then(|v| v.as_integer()),
                    c.get("meaning").and_then(|v| v.as_str())
                ])
            })
            .collect();
        map.insert("e".into(), json!(choices));
    }
    if let Some(list) = get("bits").and_then(|v| v.as_array()) {
        let bits: Vec<_> = list
            .iter()
            .map(|c| {
                json!([
                    c.get("bit").and_then(|v| v.as_integer()),
                    c.get("meaning").and_then(|v| v.as_str())
                ])
            })
            .collect();
        map.insert("b".into(), json!(bits));
    }
    if let Some(list) = get("expanded").and_then(|v| v.as_array()) {
        map.insert("x".into(), json!(list));
    }
    if get("required").and_then(|v| v.as_bool()) == Some(true) {
        map.insert("r".into(), json!(1));
    }
    out
}

/// The catalogue as JSON: `[{c: name, s: section, p: privilege 0..2, f: function, i: params,
/// o: returns, post: 1?}]`.
fn catalogue_json(toml_text: &str) -> Vec<u8> {
    use serde_json::json;
    let catalogue: toml::Value = toml::from_str(toml_text).expect("spec/cgi-commands.toml parses");
    let commands = catalogue["command"].as_array().expect("[[command]] list");
    let list: Vec<_> = commands
        .iter()
        .map(|c| {
            let privilege = match c["privilege"].as_str() {
                Some("visitor") => 0,
                Some("operator") => 1,
                _ => 2,
            };
            let fields = |key: &str| -> Vec<serde_json::Value> {
                c.get(key)
                    .and_then(|v| v.as_array())
                    .map(|l| l.iter().map(field_json).collect())
                    .unwrap_or_default()
            };
            json!({
                "c": c["name"].as_str(),
                "s": c["section"].as_str(),
                "p": privilege,
                "f": c["function"].as_str(),
                "i": fields("params"),
                "o": fields("returns"),
            })
        })
        .collect();
    serde_json::to_vec(&list).unwrap()
}

/// Writes `OUT_DIR/web_assets.rs`.
pub fn build(out_dir: &Path) {
    let mut table = String::from("pub static ASSETS: &[Asset] = &[\n");
    let mut add = |path: &str, mime: &str, name: &str, raw: &[u8]| {
        let gz = gzip(raw);
        let file = out_dir.join(format!("{name}.gz"));
        std::fs::write(&file, &gz).unwrap();
        writeln!(
            table,
            "Asset {{ path: {path:?}, mime: {mime:?}, etag: \"\\\"{:016x}\\\"\", raw_len: {}, \
             gzip: include_bytes!({:?}) }},",
            fnv(raw),
            raw.len(),
            file.display().to_string(),
        )
        .unwrap();
    };
    for (name, path, mime) in FILES {
        let source = Path::new("web").join(name);
        println!("cargo:rerun-if-changed={}", source.display());
        let raw = std::fs::read(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        add(path, mime, name, &raw);
    }
    let spec = "spec/cgi-commands.toml";
    let text = std::fs::read_to_string(spec).expect("spec/cgi-commands.toml is in the repo");
    add(
        "/web/commands.json",
        "application/json",
        "commands.json",
        &catalogue_json(&text),
    );
    table.push_str("];\n");
    std::fs::write(out_dir.join("web_assets.rs"), table).unwrap();
}
