//! Plate formats: a tiny pattern language for what a plate's text may look like.
//!
//! A format is one or more alternatives separated by `|`; each is a sequence of items:
//!
//! | item | matches |
//! |---|---|
//! | `N` | a digit |
//! | `L` | a letter A-Z |
//! | `A` | a digit or a letter |
//! | `\c` | the character `c` literally |
//!
//! Each item may be followed by `{n}` or `{m,n}` (repetitions). Examples: the default
//! `A{4,8}` (any 4 to 8 alphanumerics), Spanish plates since 2000 `NNNNLLL` (= `N{4}L{3}`),
//! UK `LLNNLLL`, French `LLNNNLL`, several countries `NNNNLLL|LLNNNLL`.
//!
//! Where the format asks for a digit and OCR read a letter that looks like one (`O`→`0`,
//! `I`→`1`, `B`→`8`, …), or the other way round, the reading is corrected (at most
//! [`MAX_CORRECTIONS`] characters); readings that need no correction are preferred.

/// Look-alike corrections allowed per reading.
pub const MAX_CORRECTIONS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    Digit,
    Letter,
    Alnum,
    Literal(char),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Item {
    class: Class,
    min: usize,
    max: usize,
}

/// A parsed plate format.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateFormat {
    source: String,
    alternatives: Vec<Vec<Item>>,
}

fn as_digit(c: char) -> Option<char> {
    Some(match c {
        'O' | 'D' | 'Q' => '0',
        'I' => '1',
        'Z' => '2',
        'S' => '5',
        'G' => '6',
        'B' => '8',
        _ => return None,
    })
}

fn as_letter(c: char) -> Option<char> {
    Some(match c {
        '0' => 'O',
        '1' => 'I',
        '2' => 'Z',
        '5' => 'S',
        '6' => 'G',
        '8' => 'B',
        _ => return None,
    })
}

impl Class {
    fn accept(self, c: char, correct: bool) -> Option<char> {
        match self {
            Class::Digit if c.is_ascii_digit() => Some(c),
            Class::Digit if correct => as_digit(c),
            Class::Letter if c.is_ascii_uppercase() => Some(c),
            Class::Letter if correct => as_letter(c),
            Class::Alnum if c.is_ascii_digit() || c.is_ascii_uppercase() => Some(c),
            Class::Literal(l) if l == c => Some(c),
            _ => None,
        }
    }
}

impl PlateFormat {
    /// Parses a format (see the module documentation).
    pub fn parse(source: &str) -> Result<PlateFormat, String> {
        let mut alternatives = Vec::new();
        for alt in source.split('|') {
            let mut items: Vec<Item> = Vec::new();
            let mut chars = alt.chars().peekable();
            while let Some(c) = chars.next() {
                let class = match c {
                    'N' => Class::Digit,
                    'L' => Class::Letter,
                    'A' => Class::Alnum,
                    '\\' => Class::Literal(
                        chars
                            .next()
                            .ok_or_else(|| format!("plate format '{source}': trailing '\\'"))?,
                    ),
                    '{' => {
                        let mut spec = String::new();
                        for d in chars.by_ref() {
                            if d == '}' {
                                break;
                            }
                            spec.push(d);
                        }
                        let last = items
                            .last_mut()
                            .ok_or_else(|| format!("plate format '{source}': '{{' without item"))?;
                        let num = |s: &str| {
                            s.trim()
                                .parse::<usize>()
                                .map_err(|_| format!("plate format '{source}': bad count '{spec}'"))
                        };
                        let (min, max) = match spec.split_once(',') {
                            Some((a, b)) => (num(a)?, num(b)?),
                            None => (num(&spec)?, num(&spec)?),
                        };
                        if min > max || max > 32 {
                            return Err(format!("plate format '{source}': bad count '{spec}'"));
                        }
                        last.min = min;
                        last.max = max;
                        continue;
                    }
                    c => {
                        return Err(format!(
                            "plate format '{source}': unexpected '{c}' (use N, L, A, \\c, {{m,n}})"
                        ))
                    }
                };
                items.push(Item {
                    class,
                    min: 1,
                    max: 1,
                });
            }
            if items.is_empty() {
                return Err(format!("plate format '{source}': empty alternative"));
            }
            alternatives.push(items);
        }
        Ok(PlateFormat {
            source: source.to_owned(),
            alternatives,
        })
    }

    /// The format as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The plate `text` (already normalised: upper case, no spaces) reads as, if it has this
    /// format: exact matches first, then with look-alike corrections.
    pub fn matches(&self, text: &str) -> Option<String> {
        let chars: Vec<char> = text.chars().collect();
        for budget in 0..=MAX_CORRECTIONS {
            for alt in &self.alternatives {
                let mut out = String::new();
                if matches_items(alt, &chars, budget, &mut out) {
                    return Some(out);
                }
            }
        }
        None
    }

    /// Like [`matches`](Self::matches), also trying the text with up to two stray characters
    /// dropped at either end (plate borders and bolts read as `I` or `1`). Longest match wins.
    pub fn find(&self, text: &str) -> Option<String> {
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let mut cuts: Vec<(usize, usize)> = (0..=2.min(n))
            .flat_map(|a| (0..=2usize).map(move |b| (a, b)))
            .filter(|&(a, b)| a + b < n)
            .collect();
        cuts.sort_by_key(|&(a, b)| (a + b, a));
        cuts.into_iter().find_map(|(a, b)| {
            let s: String = chars[a..n - b].iter().collect();
            self.matches(&s)
        })
    }
}

fn matches_items(items: &[Item], chars: &[char], budget: usize, out: &mut String) -> bool {
    let Some((first, rest)) = items.split_first() else {
        return chars.is_empty();
    };
    let max = first.max.min(chars.len());
    if max < first.min {
        return false;
    }
    for k in (first.min..=max).rev() {
        let mark = out.len();
        let mut used = 0;
        let ok = chars[..k].iter().all(|&c| {
            let exact = first.class.accept(c, false);
            let got = exact.or_else(|| {
                used += 1;
                first.class.accept(c, true)
            });
            match got {
                Some(x) if used <= budget => {
                    out.push(x);
                    true
                }
                _ => false,
            }
        });
        if ok && matches_items(rest, &chars[k..], budget - used, out) {
            return true;
        }
        out.truncate(mark);
    }
    false
}

/// Upper case, only `A-Z` and `0-9` kept (spaces, dashes, dots and noise dropped).
pub fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_accepts_4_to_8_alphanumerics() {
        let f = PlateFormat::parse("A{4,8}").unwrap();
        assert_eq!(f.matches("AB12"), Some("AB12".into()));
        assert_eq!(f.matches("AB12CD34"), Some("AB12CD34".into()));
        assert_eq!(f.matches("AB1"), None);
        assert_eq!(f.matches("AB12CD345"), None);
    }

    #[test]
    fn spanish_format_with_corrections() {
        let f = PlateFormat::parse("NNNNLLL").unwrap();
        let g = PlateFormat::parse("N{4}L{3}").unwrap();
        for t in ["1234BCD", "12O48CD", "123BCD", "BCD1234"] {
            assert_eq!(f.matches(t), g.matches(t), "{t}");
        }
        assert_eq!(f.matches("1234BCD"), Some("1234BCD".into()));
        // O read for 0 in the digits, 8 for B in the letters: two corrections at most.
        assert_eq!(f.matches("12O4BCD"), Some("1204BCD".into()));
        assert_eq!(f.matches("12348CD"), Some("1234BCD".into()));
        assert_eq!(f.matches("12O48CD"), Some("1204BCD".into()));
        assert_eq!(f.matches("I2O48CD"), None);
        assert_eq!(f.matches("AB12CDE"), None);
        assert_eq!(f.matches("123BCD"), None);
        assert_eq!(f.matches("BCD1234"), None);
        // A bolt read as I before the plate.
        assert_eq!(f.find("I1234BCD"), Some("1234BCD".into()));
        assert_eq!(f.find("XY"), None);
    }

    #[test]
    fn alternatives_literals_and_errors() {
        let f = PlateFormat::parse(r"LLNNLLL|LL\-NNN\-LL").unwrap();
        assert_eq!(f.matches("AB12CDE"), Some("AB12CDE".into()));
        assert_eq!(f.matches("AB-123-CD"), Some("AB-123-CD".into()));
        assert_eq!(f.matches("AB123CD"), None);
        assert!(PlateFormat::parse("NNX").is_err());
        assert!(PlateFormat::parse("{3}").is_err());
        assert!(PlateFormat::parse("N{5,2}").is_err());
        assert!(PlateFormat::parse("NN|").is_err());
    }

    #[test]
    fn normalise_keeps_plate_characters() {
        assert_eq!(normalise(" 12-34 bcd\n"), "1234BCD");
    }
}
