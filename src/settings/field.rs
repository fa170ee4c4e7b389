//! How one typed field of a settings section is stored: as text under its wire name (the
//! guide's parameter name), or, for the guide's patterned names (`schedule0..6`, `x1_0..3`),
//! as an array whose element `i` is stored under the pattern with `#` replaced by `i` (or
//! `@` replaced by `i + 1`, for the guide's 1-based names such as `key1..4`).

/// A scalar value of a settings field, as the store keeps it (text).
pub trait Scalar: Sized + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// Parses the stored text; `None` when it does not parse.
    fn parse(text: &str) -> Option<Self>;
    /// The stored text.
    fn render(&self) -> String;
}

impl Scalar for i64 {
    fn parse(text: &str) -> Option<i64> {
        text.trim().parse().ok()
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl Scalar for bool {
    fn parse(text: &str) -> Option<bool> {
        match text.trim() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        }
    }
    fn render(&self) -> String {
        u8::from(*self).to_string()
    }
}

impl Scalar for String {
    fn parse(text: &str) -> Option<String> {
        Some(text.to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

/// A field of a section: one scalar under one key, or an array under a `#` pattern.
pub trait Field: Sized + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// Every stored key of the field declared as `wire`.
    fn keys(wire: &'static str, out: &mut Vec<String>);
    /// The value under `key`, if `key` is one of this field's keys.
    fn get(&self, wire: &'static str, key: &str) -> Option<String>;
    /// Sets the value under `key`: `None` when `key` is not this field's, `Some(false)` when
    /// the text does not parse (nothing changes then).
    fn set(&mut self, wire: &'static str, key: &str, text: &str) -> Option<bool>;
}

impl<T: Scalar> Field for T {
    fn keys(wire: &'static str, out: &mut Vec<String>) {
        out.push(wire.to_owned());
    }
    fn get(&self, wire: &'static str, key: &str) -> Option<String> {
        (key == wire).then(|| self.render())
    }
    fn set(&mut self, wire: &'static str, key: &str, text: &str) -> Option<bool> {
        if key != wire {
            return None;
        }
        Some(match T::parse(text) {
            Some(value) => {
                *self = value;
                true
            }
            None => false,
        })
    }
}

/// The pattern's placeholder and the number of its first element.
fn placeholder(wire: &str) -> Option<(char, usize)> {
    if wire.contains('#') {
        Some(('#', 0))
    } else if wire.contains('@') {
        Some(('@', 1))
    } else {
        None
    }
}

/// Index of `key` in the pattern `wire`, below `len`.
fn index_of(wire: &str, key: &str, len: usize) -> Option<usize> {
    let (mark, first) = placeholder(wire)?;
    let (head, tail) = wire.split_once(mark)?;
    let digits = key.strip_prefix(head)?.strip_suffix(tail)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 2 {
        return None;
    }
    let number: usize = digits.parse().ok()?;
    number.checked_sub(first).filter(|i| *i < len)
}

/// The key of element `i` of the pattern `wire`.
pub fn element_key(wire: &str, i: usize) -> String {
    match placeholder(wire) {
        Some((mark, first)) => wire.replacen(mark, &(i + first).to_string(), 1),
        None => wire.to_owned(),
    }
}

impl<T: Scalar, const N: usize> Field for [T; N] {
    fn keys(wire: &'static str, out: &mut Vec<String>) {
        out.extend((0..N).map(|i| element_key(wire, i)));
    }
    fn get(&self, wire: &'static str, key: &str) -> Option<String> {
        index_of(wire, key, N).map(|i| self[i].render())
    }
    fn set(&mut self, wire: &'static str, key: &str, text: &str) -> Option<bool> {
        let i = index_of(wire, key, N)?;
        Some(match T::parse(text) {
            Some(value) => {
                self[i] = value;
                true
            }
            None => false,
        })
    }
}

/// Declares a typed settings section: a struct with one field per stored setting, its wire
/// name (the store key, also the guide's parameter name) and its factory value, which may
/// read the board file through the identifier given after the section name.
///
/// ```ignore
/// section! {
///     /// getPTZSpeed / setPTZSpeed.
///     pub struct PtzSpeed("ptz_speed", board) {
///         /// 0 fastest .. 4 slowest.
///         speed: i64 = "speed", 2;
///     }
/// }
/// ```
#[macro_export]
macro_rules! section {
    (
        $(#[$meta:meta])*
        pub struct $name:ident ($section:literal, $board:ident) {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $wire:literal, $default:expr;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl $crate::settings::Section for $name {
            const NAME: &'static str = $section;

            #[allow(unused_variables)]
            fn factory($board: &ipcamd_hal::board::BoardSpec) -> Self {
                $name { $($field: $default,)* }
            }

            fn keys() -> Vec<String> {
                let mut out = Vec::new();
                $(<$ty as $crate::settings::field::Field>::keys($wire, &mut out);)*
                out
            }

            fn get(&self, key: &str) -> Option<String> {
                $(
                    if let Some(v) = $crate::settings::field::Field::get(&self.$field, $wire, key) {
                        return Some(v);
                    }
                )*
                None
            }

            fn set(&mut self, key: &str, text: &str) -> Option<bool> {
                $(
                    if let Some(ok) = $crate::settings::field::Field::set(&mut self.$field, $wire, key, text) {
                        return Some(ok);
                    }
                )*
                None
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_pattern_index_parsing() {
        assert_eq!(index_of("schedule#", "schedule6", 7), Some(6));
        assert_eq!(index_of("schedule#", "schedule7", 7), None);
        assert_eq!(index_of("x1_#", "x1_3", 4), Some(3));
        assert_eq!(index_of("key#Len", "key2Len", 4), Some(2));
        assert_eq!(index_of("key#Len", "key2", 4), None);
        assert_eq!(index_of("key#", "key2Len", 4), None);
        assert_eq!(element_key("startHour#", 1), "startHour1");
        assert_eq!(index_of("key@Len", "key4Len", 4), Some(3));
        assert_eq!(index_of("key@", "key0", 4), None);
        assert_eq!(element_key("key@", 0), "key1");
    }

    #[test]
    fn test_scalars_refuse_bad_text_and_keep_value() {
        let mut v: i64 = 5;
        assert_eq!(Field::set(&mut v, "a", "a", "x"), Some(false));
        assert_eq!(v, 5);
        assert_eq!(Field::set(&mut v, "a", "b", "7"), None);
        let mut flags = [false; 3];
        assert_eq!(Field::set(&mut flags, "f#", "f1", "1"), Some(true));
        assert_eq!(flags, [false, true, false]);
        assert_eq!(Field::get(&flags, "f#", "f1").as_deref(), Some("1"));
    }
}
