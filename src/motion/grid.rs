//! The guide's 10×10 motion-detection grid as a typed bitmap: [`AreaMask`] is `area0..area9`
//! of get/setMotionDetectConfig (row N = `areaN`, bit j = column j, 10 bits per row), and is
//! also how the detector reports which cells fired.

use std::fmt;

/// Rows and columns of the guide's motion grid.
pub const GRID_SIZE: usize = 10;

/// All ten column bits of one row.
pub const ROW_BITS: u16 = (1 << GRID_SIZE) - 1;

/// The CGI field names of the rows, `area0` .. `area9`.
pub const AREA_FIELDS: [&str; GRID_SIZE] = [
    "area0", "area1", "area2", "area3", "area4", "area5", "area6", "area7", "area8", "area9",
];

/// Why a guide bitmap field (`areaN`, `scheduleN`) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskError {
    /// The field is absent.
    Missing(&'static str),
    /// The value is not a decimal number.
    NotANumber(&'static str),
    /// The value has bits beyond the field's width.
    OutOfRange(&'static str),
}

impl MaskError {
    /// The CGI field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            MaskError::Missing(f) | MaskError::NotANumber(f) | MaskError::OutOfRange(f) => f,
        }
    }
}

impl fmt::Display for MaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaskError::Missing(field) => write!(f, "{field} is missing"),
            MaskError::NotANumber(field) => write!(f, "{field} is not a decimal number"),
            MaskError::OutOfRange(field) => write!(f, "{field} has bits beyond its width"),
        }
    }
}

impl std::error::Error for MaskError {}

/// Parses one decimal bitmap field and checks it fits in `max`.
pub(crate) fn parse_bitmap_field(
    field: &'static str,
    text: &str,
    max: u64,
) -> Result<u64, MaskError> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MaskError::NotANumber(field));
    }
    // All digits: the only parse failure left is overflow, which is out of range too.
    let value: u64 = text.parse().map_err(|_| MaskError::OutOfRange(field))?;
    if value > max {
        return Err(MaskError::OutOfRange(field));
    }
    Ok(value)
}

/// A set of grid cells: 10 rows of 10 column bits (bit j = column j, left to right; row 0 at
/// the top). Every row is at most [`ROW_BITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct AreaMask([u16; GRID_SIZE]);

impl AreaMask {
    /// Every cell.
    pub const ALL: AreaMask = AreaMask([ROW_BITS; GRID_SIZE]);
    /// No cell.
    pub const NONE: AreaMask = AreaMask([0; GRID_SIZE]);

    /// From the ten row values; refuses a row with bits above bit 9.
    pub fn from_rows(rows: [u16; GRID_SIZE]) -> Result<AreaMask, MaskError> {
        for (row, field) in rows.iter().zip(AREA_FIELDS) {
            if *row > ROW_BITS {
                return Err(MaskError::OutOfRange(field));
            }
        }
        Ok(AreaMask(rows))
    }

    /// From the CGI fields `area0..area9`, looked up by name (e.g. in the request's query).
    pub fn from_fields<'a>(
        mut lookup: impl FnMut(&str) -> Option<&'a str>,
    ) -> Result<AreaMask, MaskError> {
        let mut rows = [0u16; GRID_SIZE];
        for (row, field) in rows.iter_mut().zip(AREA_FIELDS) {
            let text = lookup(field).ok_or(MaskError::Missing(field))?;
            // The range check makes the narrowing exact.
            *row = parse_bitmap_field(field, text, u64::from(ROW_BITS))? as u16;
        }
        Ok(AreaMask(rows))
    }

    /// The CGI fields `(areaN, value)` in order, for replies and storage.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, u16)> + '_ {
        AREA_FIELDS.into_iter().zip(self.0.iter().copied())
    }

    /// The ten row values.
    pub fn rows(&self) -> [u16; GRID_SIZE] {
        self.0
    }

    /// Whether the cell at `row`, `col` (both 0..10) is in the set; false outside the grid.
    pub fn contains(&self, row: usize, col: usize) -> bool {
        row < GRID_SIZE && col < GRID_SIZE && self.0[row] & (1 << col) != 0
    }

    /// Adds the cell at `row`, `col`; ignored outside the grid.
    pub fn insert(&mut self, row: usize, col: usize) {
        if row < GRID_SIZE && col < GRID_SIZE {
            self.0[row] |= 1 << col;
        }
    }

    /// Whether no cell is set.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&r| r == 0)
    }

    /// How many cells are set.
    pub fn count(&self) -> u32 {
        self.0.iter().map(|r| r.count_ones()).sum()
    }

    /// The cells in both sets.
    pub fn intersection(&self, other: &AreaMask) -> AreaMask {
        let mut rows = self.0;
        for (a, b) in rows.iter_mut().zip(other.0) {
            *a &= b;
        }
        AreaMask(rows)
    }
}

/// Ten lines of ten characters, `#` for a set cell and `.` for a clear one, row 0 first: the
/// debug view of which cells fired.
impl fmt::Display for AreaMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, row) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            for col in 0..GRID_SIZE {
                f.write_str(if row & (1 << col) != 0 { "#" } else { "." })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn test_area_mask_from_fields_guide_example_is_all() {
        let query: HashMap<&str, &str> = AREA_FIELDS.iter().map(|f| (*f, "1023")).collect();
        let mask = AreaMask::from_fields(|k| query.get(k).copied()).unwrap();
        assert_eq!(mask, AreaMask::ALL);
        assert_eq!(mask.count(), 100);
    }

    #[test]
    fn test_area_mask_bit_j_is_column_j_of_row_n() {
        let mut rows = [0u16; GRID_SIZE];
        rows[3] = 1 << 7;
        let mask = AreaMask::from_rows(rows).unwrap();
        assert!(mask.contains(3, 7));
        assert!(!mask.contains(7, 3));
        assert_eq!(mask.count(), 1);
        assert_eq!(mask.to_string().lines().nth(3), Some(".......#.."));
    }

    #[test]
    fn test_area_mask_from_fields_bad_values_name_the_field() {
        let mut query: HashMap<&str, &str> = AREA_FIELDS.iter().map(|f| (*f, "0")).collect();
        query.insert("area4", "1024");
        assert_eq!(
            AreaMask::from_fields(|k| query.get(k).copied()),
            Err(MaskError::OutOfRange("area4"))
        );
        query.insert("area4", "-1");
        assert_eq!(
            AreaMask::from_fields(|k| query.get(k).copied()),
            Err(MaskError::NotANumber("area4"))
        );
        query.insert("area4", "99999999999999999999999");
        assert_eq!(
            AreaMask::from_fields(|k| query.get(k).copied()),
            Err(MaskError::OutOfRange("area4"))
        );
        query.remove("area9");
        query.insert("area4", "5");
        assert_eq!(
            AreaMask::from_fields(|k| query.get(k).copied()),
            Err(MaskError::Missing("area9"))
        );
    }

    #[test]
    fn test_area_mask_fields_round_trip() {
        let rows = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1023];
        let mask = AreaMask::from_rows(rows).unwrap();
        let text: HashMap<&str, String> = mask.fields().map(|(k, v)| (k, v.to_string())).collect();
        let back = AreaMask::from_fields(|k| text.get(k).map(String::as_str)).unwrap();
        assert_eq!(back, mask);
        assert_eq!(
            AreaMask::from_rows([2048; 10]),
            Err(MaskError::OutOfRange("area0"))
        );
    }

    #[test]
    fn test_area_mask_intersection_keeps_common_cells() {
        let mut a = AreaMask::NONE;
        a.insert(0, 0);
        a.insert(9, 9);
        let mut b = AreaMask::NONE;
        b.insert(9, 9);
        b.insert(10, 10);
        assert_eq!(b.count(), 1);
        let both = a.intersection(&b);
        assert!(both.contains(9, 9) && !both.contains(0, 0));
        assert!(AreaMask::NONE.is_empty());
    }
}
