//! The guide's 177 commands as static data, generated at build time from
//! `spec/cgi-commands.toml`: name, aliases, privilege, and typed parameter and return fields
//! (patterned names like `schedule{N}` already expanded). Handlers validate against it and
//! getters emit fields in its order, so the wire names live in one place.

pub use crate::accounts::Privilege;

/// Type of a field as the guide describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Integer.
    Int,
    /// Text.
    Str,
    /// Dotted-quad IPv4 address.
    Ip,
    /// 0 or 1.
    Bool01,
    /// Unsigned bitmap.
    Bitmask,
}

/// One parameter or returned field.
#[derive(Debug)]
pub struct FieldSpec {
    /// Wire name.
    pub name: &'static str,
    /// Type.
    pub kind: FieldKind,
    /// The guide lists it as part of the command.
    pub required: bool,
    /// Smallest value, where stated.
    pub min: Option<i64>,
    /// Largest value, where stated.
    pub max: Option<i64>,
    /// The only values allowed, where the guide enumerates them.
    pub choices: &'static [i64],
    /// Other spellings the guide uses for it.
    pub aliases: &'static [&'static str],
}

/// One command of the guide.
#[derive(Debug)]
pub struct CommandSpec {
    /// Exact `cmd` value.
    pub name: &'static str,
    /// Chapter of the guide.
    pub section: &'static str,
    /// Lowest privilege that may run it (the command's own table).
    pub privilege: Privilege,
    /// The guide's function line.
    pub summary: &'static str,
    /// Other `cmd` spellings the guide uses.
    pub aliases: &'static [&'static str],
    /// Reply kind: xml, html, jpeg or mjpeg-multipart.
    pub response: &'static str,
    /// Sent as a multipart POST.
    pub post: bool,
    /// Request parameters.
    pub params: &'static [FieldSpec],
    /// Reply fields after `<result>`.
    pub returns: &'static [FieldSpec],
}

impl CommandSpec {
    /// The parameter called `name` (or one of its aliases).
    pub fn param(&self, name: &str) -> Option<&'static FieldSpec> {
        self.params.iter().find(|p| p.name == name)
    }
}

include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));

/// Looks a command up by its `cmd` value or one of the guide's other spellings.
pub fn find(cmd: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name == cmd || c.aliases.contains(&cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_catalogue_has_all_177_commands_with_unique_names() {
        assert_eq!(COMMANDS.len(), 177);
        for (i, c) in COMMANDS.iter().enumerate() {
            assert!(
                COMMANDS[i + 1..].iter().all(|d| d.name != c.name),
                "{} twice",
                c.name
            );
        }
    }

    #[test]
    fn test_find_accepts_guide_typos() {
        assert_eq!(find("getCuriseTime").map(|c| c.name), Some("getCruiseTime"));
        assert_eq!(find("FwUpgrade").map(|c| c.name), Some("fwUpgrade"));
        assert!(find("noSuchCommand").is_none());
    }

    #[test]
    fn test_patterned_fields_are_expanded() {
        let motion = find("setMotionDetectConfig").unwrap();
        assert!(motion.param("schedule6").is_some());
        assert!(motion.param("area9").is_some());
        assert_eq!(motion.param("schedule0").unwrap().max, Some((1 << 48) - 1));
    }
}
