//! The command table against the guide's command list (tests/data/guide-commands.tsv).

use ipcamd::cgi::catalogue::{self, Privilege};
use ipcamd::cgi::table;

fn guide_commands() -> Vec<(String, String)> {
    include_str!("../data/guide-commands.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, privilege) = l.split_once('\t').expect("name<TAB>privilege");
            (name.to_owned(), privilege.to_owned())
        })
        .collect()
}

#[test]
fn test_registry_matches_the_guide_names_and_privileges() {
    let guide = guide_commands();
    assert_eq!(guide.len(), 177);
    assert_eq!(catalogue::COMMANDS.len(), guide.len());
    for (name, privilege) in &guide {
        let spec = catalogue::find(name).unwrap_or_else(|| panic!("{name} missing"));
        let expected = match privilege.as_str() {
            "visitor" => Privilege::Visitor,
            "operator" => Privilege::Operator,
            "admin" => Privilege::Admin,
            other => panic!("bad privilege {other}"),
        };
        assert_eq!(spec.privilege, expected, "{name}");
        let (decl, _) = table::find(name).unwrap();
        let implemented = decl.handler.is_some();
        let pending = decl.pending.is_some();
        assert!(
            implemented ^ pending,
            "{name}: implemented={implemented} pending={pending}"
        );
    }
}

#[test]
fn test_not_yet_implemented_commands_answer_execute_fail() {
    let dir = tempfile::tempdir().unwrap();
    let cam = crate::support::Camera::start(dir.path());
    let pending: Vec<_> = table::all().filter(|(d, _)| d.pending.is_some()).collect();
    assert!(!pending.is_empty());
    for (_, spec) in pending {
        if spec.post || spec.response != "xml" {
            continue;
        }
        assert_eq!(cam.cgi(spec.name, &[]).result, -4, "{}", spec.name);
    }
}
