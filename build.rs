//! Compiles `spec/cgi-commands.toml` (the guide's command catalogue, kept in the repo as data)
//! into static tables, so the daemon carries no TOML parser for it and no runtime copy.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Deserialize;

#[path = "web/embed.rs"]
mod web_embed;

#[derive(Deserialize)]
struct Catalogue {
    command: Vec<Command>,
}

#[derive(Deserialize)]
struct Command {
    name: String,
    section: String,
    privilege: String,
    function: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    heading: Option<String>,
    response: String,
    method: String,
    #[serde(default)]
    params: Vec<Field>,
    #[serde(default)]
    returns: Vec<Field>,
}

#[derive(Deserialize)]
struct Field {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    min: Option<i64>,
    #[serde(default)]
    max: Option<i64>,
    #[serde(default, rename = "enum")]
    choices: Vec<Choice>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    expanded: Vec<String>,
    #[serde(default)]
    bit_count: Option<u32>,
}

#[derive(Deserialize)]
struct Choice {
    value: i64,
}

fn kind(name: &str) -> &'static str {
    match name {
        "int" => "Int",
        "string" => "Str",
        "ip" => "Ip",
        "bool01" => "Bool01",
        "bitmask" => "Bitmask",
        other => panic!("catalogue: unknown field type {other}"),
    }
}

fn privilege(name: &str) -> &'static str {
    match name {
        "visitor" => "Visitor",
        "operator" => "Operator",
        "admin" => "Admin",
        other => panic!("catalogue: unknown privilege {other}"),
    }
}

fn strs(list: &[String]) -> String {
    let mut out = String::from("&[");
    for s in list {
        write!(out, "{s:?},").unwrap();
    }
    out.push(']');
    out
}

fn fields(list: &[Field]) -> String {
    let mut out = String::from("&[");
    for f in list {
        let names = if f.expanded.is_empty() {
            vec![f.name.clone()]
        } else {
            f.expanded.clone()
        };
        let max = match (f.max, f.bit_count) {
            (Some(m), _) => Some(m),
            (None, Some(bits)) if bits < 63 => Some((1i64 << bits) - 1),
            _ => None,
        };
        let min = f.min.or(if f.bit_count.is_some() { Some(0) } else { None });
        let choices: Vec<String> = f.choices.iter().map(|c| c.value.to_string()).collect();
        for name in names {
            write!(
                out,
                "FieldSpec {{ name: {name:?}, kind: FieldKind::{}, required: {}, min: {:?}, \
                 max: {:?}, choices: &[{}], aliases: {} }},",
                kind(&f.kind),
                f.required,
                min,
                max,
                choices.join(","),
                strs(&f.aliases),
            )
            .unwrap();
        }
    }
    out.push(']');
    out
}

fn main() {
    let src = "spec/cgi-commands.toml";
    println!("cargo:rerun-if-changed={src}");
    let text = std::fs::read_to_string(src).expect("spec/cgi-commands.toml is in the repo");
    let catalogue: Catalogue = toml::from_str(&text).expect("spec/cgi-commands.toml parses");
    let mut out = String::from("pub static COMMANDS: &[CommandSpec] = &[\n");
    for c in &catalogue.command {
        let mut aliases = c.aliases.clone();
        if let Some(h) = &c.heading {
            if h != &c.name {
                aliases.push(h.clone());
            }
        }
        writeln!(
            out,
            "CommandSpec {{ name: {:?}, section: {:?}, privilege: Privilege::{}, summary: {:?}, \
             aliases: {}, response: {:?}, post: {}, params: {}, returns: {} }},",
            c.name,
            c.section,
            privilege(&c.privilege),
            c.function,
            strs(&aliases),
            c.response,
            c.method == "POST",
            fields(&c.params),
            fields(&c.returns),
        )
        .unwrap();
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("catalogue.rs"), out).unwrap();
    web_embed::build(&out_dir);
}
