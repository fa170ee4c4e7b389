//! The little of H.264 the recorder needs: NAL units of an Annex-B access unit, their
//! conversion to the length-prefixed form MP4 stores, whether a picture is a reference for
//! others (frame dropping), and cutting an Annex-B stream into access units (tests, bench).

/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// NAL unit type of an access unit delimiter.
pub const NAL_AUD: u8 = 9;
/// NAL unit type of an IDR slice.
pub const NAL_IDR: u8 = 5;
/// NAL unit type of a non-IDR slice.
pub const NAL_SLICE: u8 = 1;

/// The NAL units of an Annex-B byte stream (start codes removed, trailing zeros trimmed).
pub fn nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Skip to the first start code.
    let mut at = find_start(stream, 0).map_or(stream.len(), |first| first.1);
    std::iter::from_fn(move || {
        if at >= stream.len() {
            return None;
        }
        let (end, next) = match find_start(stream, at) {
            Some((code_at, after)) => (code_at, after),
            None => (stream.len(), stream.len()),
        };
        let mut nal = &stream[at..end];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        at = next;
        Some(nal)
    })
    .filter(|nal| !nal.is_empty())
}

/// The next start code (`00 00 01`) at or after `from`: (its first byte, the byte after it).
fn find_start(stream: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            return Some((i, i + 3));
        }
        i += 1;
    }
    None
}

/// The NAL unit type (low five bits of the header byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |h| h & 0x1F)
}

/// Appends `access_unit` (Annex B) to `out` as MP4 stores it: each NAL unit behind its 4-byte
/// length. Parameter sets and delimiters are left out (the init segment carries them).
pub fn to_avcc(access_unit: &[u8], out: &mut Vec<u8>) {
    for nal in nal_units(access_unit) {
        if matches!(nal_type(nal), NAL_SPS | NAL_PPS | NAL_AUD) {
            continue;
        }
        out.extend_from_slice(&u32::try_from(nal.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(nal);
    }
}

/// Whether other pictures may reference this one (nal_ref_idc of its slices is not zero). A
/// picture nothing references can be dropped without breaking the ones after it.
pub fn is_reference(access_unit: &[u8]) -> bool {
    nal_units(access_unit)
        .find(|n| matches!(nal_type(n), NAL_SLICE | NAL_IDR))
        .is_none_or(|n| n[0] & 0x60 != 0)
}

/// The stream's SPS and PPS, if the access unit carries them.
pub fn parameter_sets(access_unit: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
    let mut sps = None;
    let mut pps = None;
    for nal in nal_units(access_unit) {
        match nal_type(nal) {
            NAL_SPS => sps = sps.or(Some(nal)),
            NAL_PPS => pps = pps.or(Some(nal)),
            _ => {}
        }
    }
    (sps, pps)
}

/// Cuts an Annex-B elementary stream into access units (Annex B again), each with whether it
/// holds an IDR slice. A new unit starts at a delimiter, parameter set or SEI after a slice,
/// or at a slice whose first_mb_in_slice is 0.
pub fn access_units(stream: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let mut units: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut has_slice = false;
    let mut key = false;
    for nal in nal_units(stream) {
        let kind = nal_type(nal);
        let is_slice = matches!(kind, NAL_SLICE | NAL_IDR);
        let starts_picture = is_slice && nal.get(1).is_some_and(|b| b & 0x80 != 0);
        let boundary = has_slice && (matches!(kind, 6..=9) || starts_picture);
        if boundary {
            units.push((std::mem::take(&mut current), key));
            has_slice = false;
            key = false;
        }
        current.extend_from_slice(&[0, 0, 0, 1]);
        current.extend_from_slice(nal);
        has_slice |= is_slice;
        key |= kind == NAL_IDR;
    }
    if has_slice {
        units.push((current, key));
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_nal_units_and_avcc_drop_parameter_sets() {
        let au = [
            0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xCE, 0, 0, 1, 0x65,
            0x88, 0x80, 0x00,
        ];
        let nals: Vec<&[u8]> = nal_units(&au).collect();
        assert_eq!(
            nals,
            vec![
                &[0x09, 0xF0][..],
                &[0x67, 0x42],
                &[0x68, 0xCE],
                &[0x65, 0x88, 0x80]
            ]
        );
        let mut avcc = Vec::new();
        to_avcc(&au, &mut avcc);
        assert_eq!(avcc, vec![0, 0, 0, 3, 0x65, 0x88, 0x80]);
        assert_eq!(
            parameter_sets(&au),
            (Some(&[0x67, 0x42][..]), Some(&[0x68, 0xCE][..]))
        );
        assert!(is_reference(&au));
        assert!(!is_reference(&[0, 0, 1, 0x01, 0x80]));
    }

    #[test]
    fn test_access_units_split_at_first_slices() {
        let stream = [
            0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xCE, 0, 0, 1, 0x65, 0x80, 0, 0, 1, 0x65, 0x40,
            0, 0, 1, 0x41, 0x80, 0, 0, 1, 0x41, 0x80,
        ];
        let units = access_units(&stream);
        assert_eq!(units.len(), 3);
        assert!(units[0].1 && !units[1].1 && !units[2].1);
        assert_eq!(nal_units(&units[0].0).count(), 4);
    }
}
