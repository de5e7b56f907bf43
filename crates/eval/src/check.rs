//! Answer checking. A model's solution counts as correct when, after normalisation, it says the
//! expected answer and nothing that contradicts it:
//! 1. equal after [`normalize_answer`] (case, spaces, a trailing period, quotes, number format);
//! 2. or, for a list answer, the same items in the same order, brackets and spacing aside;
//! 3. or, for a numeric answer, the solution holds exactly one number (units and words around
//!    it are allowed) and it equals the expected one within a relative 1e-6;
//! 4. or, for a one-word answer, the solution is short (at most six words) and has that word;
//! 5. a `0b`/`0x`/`0o` prefix is a notation, not a different answer: `0xbeef` gives `beef`;
//! 6. a date printed with a midnight time (`2024-04-03 00:00:00`, as Python prints a `datetime`)
//!    is that date; any other time is not.

use std::sync::LazyLock;

use codeact_agent::normalize_answer;
use regex::Regex;

static NUMBER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?").ok()
});
static WORD: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"[\p{L}\p{N}]+").ok());

/// Whether `got` gives the answer `expected`, by the rules in the module documentation.
pub fn check_answer(expected: &str, got: &str) -> bool {
    let want = normalize_answer(expected);
    let have = normalize_answer(got);
    if want == have {
        return true;
    }
    let unprefixed = ["0b", "0x", "0o"].iter().find_map(|p| have.strip_prefix(p));
    if unprefixed.is_some_and(|rest| rest == want) {
        return true;
    }
    if is_date(&want) && strip_midnight(&have) == Some(want.as_str()) {
        return true;
    }
    if expected.contains(',') && list_items(expected) == list_items(got) {
        return true;
    }
    if let Ok(value) = want.parse::<f64>() {
        let found = numbers(got);
        return found.len() == 1 && close(found[0], value);
    }
    if want.contains(' ') {
        return false;
    }
    let words = words(got);
    words.len() <= 6 && words.contains(&want)
}

/// `YYYY-MM-DD`.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// The date part of a normalised `YYYY-MM-DD 00:00:00` (or `T00:00:00`, seconds fraction
/// allowed).
fn strip_midnight(s: &str) -> Option<&str> {
    let (date, time) = s.split_at_checked(10)?;
    let time = time.strip_prefix(' ').or_else(|| time.strip_prefix('t'))?;
    let midnight = time.strip_prefix("00:00:00").is_some_and(|frac| {
        frac.is_empty()
            || frac
                .strip_prefix('.')
                .is_some_and(|z| z.chars().all(|c| c == '0'))
    });
    (midnight && is_date(date)).then_some(date)
}

fn list_items(s: &str) -> Vec<String> {
    s.trim_matches(|c: char| c.is_whitespace() || "[](){}.".contains(c))
        .split(',')
        .map(normalize_answer)
        .collect()
}

fn numbers(s: &str) -> Vec<f64> {
    let Some(re) = NUMBER.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<f64> = Vec::new();
    for m in re.find_iter(s) {
        if let Ok(v) = m.as_str().replace(',', "").parse::<f64>() {
            // "1234 (1234.0)" says one number twice: count distinct values.
            if !out.iter().any(|&o| close(o, v)) {
                out.push(v);
            }
        }
    }
    out
}

fn words(s: &str) -> Vec<String> {
    let Some(re) = WORD.as_ref() else {
        return Vec::new();
    };
    re.find_iter(&s.to_lowercase())
        .map(|m| m.as_str().to_string())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_normalised() {
        assert!(check_answer("desserts", " Desserts. "));
        assert!(check_answer("2024-04-03", "2024-04-03"));
        assert!(!check_answer("2024-04-03", "2024-04-04"));
        assert!(check_answer("beef", "'beef'"));
        assert!(check_answer("beef", "0xbeef"));
        assert!(check_answer("11111111", "0b11111111"));
        assert!(!check_answer("11111111", "0b1111111"));
    }

    #[test]
    fn a_date_at_midnight_is_the_date() {
        assert!(check_answer("2024-04-03", "2024-04-03 00:00:00"));
        assert!(check_answer("2024-04-03", "2024-04-03T00:00:00"));
        assert!(check_answer("2024-04-03", "2024-04-03 00:00:00.000"));
        assert!(!check_answer("2024-04-03", "2024-04-03 12:00:00"));
        assert!(!check_answer("2024-04-03", "2024-04-04 00:00:00"));
        assert!(!check_answer(
            "2024-04-03",
            "2024-04-03 00:00:00 or 2024-04-04"
        ));
    }

    #[test]
    fn numbers() {
        assert!(check_answer("20", "20.0"));
        assert!(check_answer("399.5", "399.50"));
        assert!(check_answer(
            "2432902008176640000",
            "2,432,902,008,176,640,000"
        ));
        assert!(check_answer("46", "There are 46 days."));
        assert!(check_answer("105", "105.0 square metres"));
        assert!(!check_answer("46", "between 45 and 47"));
        assert!(!check_answer("0.14286", "0.142857"));
        assert!(!check_answer("168", ""));
        assert!(check_answer("11111111", "11111111"));
    }

    #[test]
    fn lists() {
        assert!(check_answer("9, 7, 5, 2, 1", "[9, 7, 5, 2, 1]"));
        assert!(check_answer("9, 7, 5, 2, 1", "9,7,5,2,1"));
        assert!(!check_answer("9, 7, 5, 2, 1", "1, 2, 5, 7, 9"));
    }

    #[test]
    fn words() {
        assert!(check_answer("Saturday", "It was a Saturday."));
        assert!(check_answer("yes", "Yes, it is prime"));
        assert!(!check_answer("yes", "no"));
        assert!(!check_answer(
            "Saturday",
            "Not Friday or Sunday, but the day after Friday which is Saturday"
        ));
    }
}
