//! Values as people read them: `1h 2m` rather than `3720s`, names with
//! their invisible characters shown.

use std::time::Duration;

/// A duration in its two largest units, rounded up to whole seconds:
/// `45s`, `1m 30s`, `1h 2m`, `3d 4h`.
pub(crate) fn duration(d: Duration) -> String {
    let mut secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if secs == 0 {
        return "0s".to_owned();
    }
    const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let first = UNITS
        .iter()
        .position(|(_, size)| secs >= *size)
        .unwrap_or(UNITS.len() - 1);
    let (unit, size) = UNITS[first];
    let mut shown = format!("{}{unit}", secs / size);
    secs %= size;
    if let Some((unit, size)) = UNITS.get(first + 1) {
        if secs / size > 0 {
            shown.push_str(&format!(" {}{unit}", secs / size));
        }
    }
    shown
}

/// Characters that take no room on screen: two names that differ only by
/// them would read the same.
pub(crate) fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
            | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{E0000}'..='\u{E0FFF}')
}

/// A name as a table shows it: invisible characters escaped, and at most
/// `width` characters (the rest replaced by `…`).
pub(crate) fn name(name: &str, width: usize) -> String {
    let mut shown = String::new();
    for c in name.chars() {
        if is_invisible(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    if shown.chars().count() > width {
        shown = shown.chars().take(width.saturating_sub(1)).collect();
        shown.push('…');
    }
    if shown.trim().is_empty() {
        format!("{shown:?}")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_two_units() {
        let s = Duration::from_secs;
        assert_eq!(duration(s(3720)), "1h 2m");
        assert_eq!(duration(s(45)), "45s");
        assert_eq!(duration(s(90)), "1m 30s");
        assert_eq!(duration(s(3600)), "1h");
        assert_eq!(duration(s(3601)), "1h");
        assert_eq!(duration(s(86_400 + 4 * 3600 + 5)), "1d 4h");
        assert_eq!(duration(Duration::from_millis(1)), "1s");
        assert_eq!(duration(Duration::ZERO), "0s");
    }

    #[test]
    fn names_show_what_hides() {
        assert_eq!(name("api", 10), "api");
        assert_eq!(name("ap\u{2060}i", 20), "ap\\u{2060}i");
        assert_eq!(name("a\nb", 20), "a\\u{a}b");
        assert_eq!(name("abcdefgh", 5), "abcd…");
        assert_eq!(name(" ", 5), "\" \"");
    }
}
