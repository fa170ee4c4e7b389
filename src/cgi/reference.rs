//! The command reference, `docs/cgi-commands.md`: generated from the command [`table`] (what
//! the daemon decides: handler or pending reason, who may run it, setup mode, upload field,
//! settings section) and the guide's [`catalogue`] (privilege, typed parameters and returned
//! fields). Built in tests only: the test below regenerates it and fails when the committed
//! file is stale (`IPCAMD_BLESS=1` rewrites it).
//!
//! [`table`]: super::table
//! [`catalogue`]: super::catalogue

use std::fmt::Write as _;

use super::catalogue::{FieldKind, FieldSpec, Privilege};
use super::command::{Auth, Command};
use super::table;

/// Where the reference lives, from the crate root.
pub const PATH: &str = "docs/cgi-commands.md";

/// The command that rewrites the committed reference.
pub const BLESS: &str = "IPCAMD_BLESS=1 cargo test -p ipcamd --lib cgi_commands_doc";

/// The guide's chapters, in its order.
const CHAPTERS: &[&str] = &[
    "AV",
    "User account",
    "PTZ",
    "Network",
    "Device manage",
    "System",
    "MISC",
];

fn privilege_name(privilege: Privilege) -> &'static str {
    match privilege {
        Privilege::Visitor => "visitor",
        Privilege::Operator => "operator",
        Privilege::Admin => "admin",
    }
}

/// Who may run a command, as the dispatcher decides it.
fn who(decl: &Command) -> String {
    let guide = privilege_name(decl.spec().privilege);
    match decl.auth {
        Auth::Catalogue => guide.to_owned(),
        Auth::None => format!("anyone, no credentials (guide: {guide})"),
        Auth::SelfService => {
            format!("every user on their own account, admin on any (guide: {guide})")
        }
    }
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Int => "int",
        FieldKind::Str => "string",
        FieldKind::Ip => "ip",
        FieldKind::Bool01 => "0/1",
        FieldKind::Bitmask => "bitmask",
    }
}

/// `min..=max`, `≥ min` or `≤ max`, where the catalogue states one.
fn range(field: &FieldSpec) -> String {
    match (field.min, field.max) {
        (Some(min), Some(max)) => format!("{min} to {max}"),
        (Some(min), None) => format!("≥ {min}"),
        (None, Some(max)) => format!("≤ {max}"),
        (None, None) => String::new(),
    }
}

fn choices(field: &FieldSpec) -> String {
    field
        .choices
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn aliases(field: &FieldSpec) -> String {
    field
        .aliases
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A name split at its last run of digits: `x1_3` -> (`x1_`, 3, ``).
fn numbered(name: &str) -> Option<(&str, u32, &str)> {
    let end = name.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = name[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let number = name[start..end].parse().ok()?;
    Some((&name[..start], number, &name[end..]))
}

/// Runs of at least three fields that differ only in a consecutive number and agree on
/// everything else (the catalogue's expanded patterns, `schedule0` … `schedule6`), as
/// (first, last) index pairs.
fn groups(fields: &[FieldSpec]) -> Vec<(usize, usize)> {
    let same = |a: &FieldSpec, b: &FieldSpec| {
        let (Some((pa, na, sa)), Some((pb, nb, sb))) = (numbered(a.name), numbered(b.name)) else {
            return false;
        };
        pa == pb
            && sa == sb
            && nb == na + 1
            && a.kind == b.kind
            && a.required == b.required
            && a.min == b.min
            && a.max == b.max
            && a.choices == b.choices
            && a.aliases.is_empty()
            && b.aliases.is_empty()
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < fields.len() {
        let mut j = i;
        while j + 1 < fields.len() && same(&fields[j], &fields[j + 1]) {
            j += 1;
        }
        if j >= i + 2 {
            out.push((i, j));
        } else {
            for k in i..=j {
                out.push((k, k));
            }
        }
        i = j + 1;
    }
    out
}

fn field_name(fields: &[FieldSpec], (first, last): (usize, usize)) -> String {
    if first == last {
        format!("`{}`", fields[first].name)
    } else {
        format!("`{}` … `{}`", fields[first].name, fields[last].name)
    }
}

fn field_table(out: &mut String, fields: &[FieldSpec], required_column: bool) {
    if required_column {
        out.push_str("| name | type | required | range | values | also spelt |\n");
        out.push_str("|---|---|---|---|---|---|\n");
    } else {
        out.push_str("| name | type | range | values | also spelt |\n");
        out.push_str("|---|---|---|---|---|\n");
    }
    for group in groups(fields) {
        let field = &fields[group.0];
        let name = field_name(fields, group);
        let kind = kind_name(field.kind);
        let (range, choices, aliases) = (range(field), choices(field), aliases(field));
        if required_column {
            let required = if field.required { "yes" } else { "no" };
            let _ = writeln!(
                out,
                "| {name} | {kind} | {required} | {range} | {choices} | {aliases} |"
            );
        } else {
            let _ = writeln!(out, "| {name} | {kind} | {range} | {choices} | {aliases} |");
        }
    }
}

fn anchor(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn command_section(out: &mut String, decl: &Command) {
    let spec = decl.spec();
    let _ = writeln!(out, "### `{}`\n", spec.name);
    let _ = writeln!(out, "{}.\n", spec.summary.trim_end_matches('.'));
    if let Some(why) = decl.pending {
        let _ = writeln!(out, "**Not implemented** (answers -4): {why}.\n");
    }
    let _ = writeln!(out, "- Who: {}", who(decl));
    if decl.setup_mode {
        out.push_str("- Runs in setup mode (before the factory admin password is changed)\n");
    }
    if !spec.aliases.is_empty() {
        let names: Vec<String> = spec.aliases.iter().map(|a| format!("`{a}`")).collect();
        let _ = writeln!(out, "- Also spelt: {}", names.join(", "));
    }
    if let Some(field) = decl.upload {
        let _ = writeln!(
            out,
            "- Multipart POST; the file is the form field `{field}`"
        );
    }
    if let Some(section) = decl.settings {
        let plain = if decl.plain {
            " (a plain getter or setter of its fields)"
        } else {
            ""
        };
        let _ = writeln!(out, "- Settings section: `{section}`{plain}");
    }
    if spec.response != "xml" {
        let _ = writeln!(out, "- Reply: {}", spec.response);
    }
    out.push('\n');
    if spec.params.is_empty() {
        out.push_str("Parameters: none.\n\n");
    } else {
        out.push_str("Parameters:\n\n");
        field_table(out, spec.params, true);
        out.push('\n');
    }
    if spec.returns.is_empty() {
        if spec.response == "xml" {
            out.push_str("Returns: `result` only.\n\n");
        }
    } else {
        out.push_str("Returns (after `result`):\n\n");
        field_table(out, spec.returns, false);
        out.push('\n');
    }
}

/// The whole reference.
pub fn markdown() -> String {
    let total = table::TABLE.len();
    let pending = table::TABLE.iter().filter(|d| d.pending.is_some()).count();
    let mut out = String::new();
    out.push_str("# CGI command reference\n\n");
    let _ = writeln!(
        out,
        "Generated from the command table (`src/cgi/table.rs`) and the guide's command catalogue \
         (`spec/cgi-commands.toml`) by `src/cgi/reference.rs`: do not edit by hand. After \
         changing either, refresh it with `{BLESS}`.\n"
    );
    let _ = writeln!(
        out,
        "{total} commands, {} implemented, {pending} not (they answer -4 and log why). \
         Every command takes `usr` and `pwd` (the caller's credentials) besides the \
         parameters listed; result codes are the guide's (0 success, -1 format error, \
         -2 bad credentials, -3 privilege too low, -4 execute fail, -5 timeout, -7 other).\n",
        total - pending
    );
    for chapter in CHAPTERS {
        let commands: Vec<&Command> = table::all()
            .filter(|(_, spec)| spec.section == *chapter)
            .map(|(decl, _)| decl)
            .collect();
        let _ = writeln!(out, "## {chapter}\n");
        out.push_str("| command | who | setup mode | upload | settings | status |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for decl in &commands {
            let status = if decl.pending.is_some() {
                "not implemented"
            } else {
                "implemented"
            };
            let _ = writeln!(
                out,
                "| [`{name}`](#{anchor}) | {who} | {setup} | {upload} | {settings} | {status} |",
                name = decl.name,
                anchor = anchor(decl.name),
                who = match decl.auth {
                    Auth::Catalogue => privilege_name(decl.privilege()).to_owned(),
                    Auth::None => "anyone".to_owned(),
                    Auth::SelfService => "own account".to_owned(),
                },
                setup = if decl.setup_mode { "yes" } else { "" },
                upload = decl.upload.map(|f| format!("`{f}`")).unwrap_or_default(),
                settings = decl.settings.map(|s| format!("`{s}`")).unwrap_or_default(),
            );
        }
        out.push('\n');
        for decl in commands {
            command_section(&mut out, decl);
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_numbered_names_group_into_runs() {
        assert_eq!(numbered("x1_3"), Some(("x1_", 3, "")));
        assert_eq!(numbered("key2Len"), Some(("key", 2, "Len")));
        assert_eq!(numbered("isEnable"), None);
        let (_, motion) = table::find("setMotionDetectConfig").unwrap();
        let names: Vec<String> = groups(motion.params)
            .into_iter()
            .map(|g| field_name(motion.params, g))
            .collect();
        assert!(
            names.contains(&"`schedule0` … `schedule6`".to_owned()),
            "{names:?}"
        );
        assert!(names.contains(&"`area0` … `area9`".to_owned()), "{names:?}");
    }

    #[test]
    fn test_every_chapter_and_command_is_in_the_reference() {
        let doc = markdown();
        for (decl, spec) in table::all() {
            assert!(CHAPTERS.contains(&spec.section), "{}", spec.section);
            assert!(
                doc.contains(&format!("### `{}`\n", decl.name)),
                "{}",
                decl.name
            );
            if let Some(why) = decl.pending {
                assert!(doc.contains(why), "{}", decl.name);
            }
        }
    }

    #[test]
    fn test_cgi_commands_doc_is_fresh() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PATH);
        let fresh = markdown() + "\n";
        if std::env::var_os("IPCAMD_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{PATH} is stale (the command table or the catalogue changed); refresh it with\n    {BLESS}\nand commit it"
        );
    }
}
