//! ICAO 9303 part 3 (section 6, "transliteration of multinational Latin-based characters") as a
//! table, written out because Unicode decomposition needs a crate: a typed name becomes a sequence of
//! pieces, each piece the ways one character (or separator) may appear in an MRZ.

/// One character's ways of appearing in an MRZ, e.g. `["UE", "U"]` for `Ü`, `["<"]` for a separator.
pub(crate) type Piece = &'static [&'static str];

/// What a name separator (space, hyphen, comma) becomes.
pub(crate) const SEPARATOR: Piece = &["<"];

/// A letter with no transliteration here (another script, e.g. Cyrillic or Greek): it agrees with no
/// MRZ character, so a name containing one is referred to a person rather than silently shortened.
pub(crate) const UNKNOWN: Piece = &["?"];

const ASCII_LETTERS: [&str; 26] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S",
    "T", "U", "V", "W", "X", "Y", "Z",
];

/// ICAO's own rules and the alternatives issuers use: `Ü` is written `UE` by some (Germany) and `U`
/// by others, likewise `Ä`, `Ö`; Nordic `Å` is `AA` or `A`, `Ø` is `OE` or `O`. Looked up before
/// [`BASE_LETTER`]. Keys are upper case (names are upper-cased first), except letters that have none.
const SPECIAL: &[(char, Piece)] = &[
    ('Ä', &["AE", "A"]),
    ('Å', &["AA", "A"]),
    ('Æ', &["AE"]),
    ('Ð', &["D"]),
    ('Ö', &["OE", "O"]),
    ('Ø', &["OE", "O"]),
    ('Ü', &["UE", "U"]),
    ('Þ', &["TH"]),
    ('Đ', &["D"]),
    ('Ħ', &["H"]),
    ('Ĳ', &["IJ"]),
    ('ĸ', &["K"]),
    ('Ŀ', &["L"]),
    ('Ł', &["L"]),
    ('Ŋ', &["N"]),
    ('Œ', &["OE"]),
    ('Ŧ', &["T"]),
    ('Ə', &["A", "E"]),
    ('Ǆ', &["DZ"]),
    ('Ǉ', &["LJ"]),
    ('Ǌ', &["NJ"]),
    ('Ǣ', &["AE"]),
    ('Ǳ', &["DZ"]),
    ('Ǽ', &["AE"]),
    ('Ǿ', &["OE", "O"]),
    ('ȷ', &["J"]),
    ('ẞ', &["SS"]),
];

/// Upper-case letters of Latin-1 Supplement, Latin Extended-A and -B and Latin Extended Additional
/// that become one ASCII letter with their accent, hook or stroke dropped, grouped by that letter.
const BASE_LETTER: &[(char, &str)] = &[
    ('A', "ÀÁÂÃĀĂĄǍǞǠǺȀȂȦȺḀẠẢẤẦẨẪẬẮẰẲẴẶ"),
    ('B', "ƁƂƄɃḂḄḆ"),
    ('C', "ÇĆĈĊČƇȻḈ"),
    ('D', "ĎƉƊƋḊḌḎḐḒ"),
    ('E', "ÈÉÊËĒĔĖĘĚƎƐȄȆȨɆḔḖḘḚḜẸẺẼẾỀỂỄỆ"),
    ('F', "ƑḞ"),
    ('G', "ĜĞĠĢƓǤǦǴḠ"),
    ('H', "ĤȞḢḤḦḨḪ"),
    ('I', "ÌÍÎÏĨĪĬĮİƗǏȈȊḬḮỈỊ"),
    ('J', "ĴɈ"),
    ('K', "ĶƘǨḰḲḴ"),
    ('L', "ĹĻĽȽḶḸḺḼ"),
    ('M', "ḾṀṂ"),
    ('N', "ÑŃŅŇƝǸȠṄṆṈṊ"),
    ('O', "ÒÓÔÕŌŎŐƆƟƠǑǪǬȌȎȪȬȮȰṌṎṐṒỌỎỐỒỔỖỘỚỜỞỠỢ"),
    ('P', "ƤṔṖ"),
    ('R', "ŔŖŘȐȒɌṘṚṜṞ"),
    ('S', "ŚŜŞŠȘṠṢṤṦṨ"),
    ('T', "ŢŤƬƮȚȾṪṬṮṰ"),
    ('U', "ÙÚÛŨŪŬŮŰŲƯǓǕǗǙǛȔȖɄṲṴṶṸṺỤỦỨỪỬỮỰ"),
    ('V', "ƲṼṾ"),
    ('W', "ŴẀẂẄẆẈ"),
    ('X', "ẊẌ"),
    ('Y', "ÝŶŸƳȲɎẎỲỴỶỸ"),
    ('Z', "ŹŻŽƵȤẐẒẔ"),
];

/// Combining diacritical marks (a name typed in decomposed form): dropped, except that a diaeresis
/// or ring after `A`, `O`, `U` makes the letter `Ä`, `Ö`, `Ü`, `Å`.
fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// Hyphens (of every kind), commas, spaces, and the MRZ filler itself separate name parts.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | ',' | '<' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}'
        )
}

/// The pieces of one upper-case character: `None` when it is dropped (punctuation, apostrophes,
/// digits, symbols).
fn letter_piece(c: char) -> Option<Piece> {
    if c.is_ascii_uppercase() {
        let index = usize::from(c as u8 - b'A');
        return Some(std::slice::from_ref(&ASCII_LETTERS[index]));
    }
    if let Some((_, piece)) = SPECIAL.iter().find(|(key, _)| *key == c) {
        return Some(piece);
    }
    if let Some((base, _)) = BASE_LETTER.iter().find(|(_, marked)| marked.contains(c)) {
        return letter_piece(*base);
    }
    // U+02BC (modifier letter apostrophe, as in Ŋ's neighbour ŉ = ʼn) and its kin are letters to
    // Unicode but apostrophes to a reader.
    if c.is_alphabetic() && !matches!(c, '\u{02B9}'..='\u{02BF}') {
        return Some(UNKNOWN);
    }
    None
}

/// A typed name as pieces, ICAO-style: upper case, transliterated, separators single and not at the
/// ends, apostrophes and other punctuation dropped.
pub(crate) fn pieces(name: &str) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let mut pending_separator = false;
    for c in name.to_uppercase().chars() {
        if is_combining_mark(c) {
            let last = if pending_separator {
                None
            } else {
                out.last().copied()
            };
            let composed = match (last, c) {
                (Some(["A"]), '\u{0308}') => Some('Ä'),
                (Some(["O"]), '\u{0308}') => Some('Ö'),
                (Some(["U"]), '\u{0308}') => Some('Ü'),
                (Some(["A"]), '\u{030A}') => Some('Å'),
                _ => None,
            };
            if let (Some(composed), Some(last)) = (composed.and_then(letter_piece), out.last_mut())
            {
                *last = composed;
            }
            continue;
        }
        if is_separator(c) {
            pending_separator = !out.is_empty();
            continue;
        }
        if let Some(piece) = letter_piece(c) {
            if pending_separator {
                out.push(SEPARATOR);
                pending_separator = false;
            }
            out.push(piece);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_form(name: &str) -> String {
        pieces(name).iter().map(|piece| piece[0]).collect()
    }

    /// Every form of a name with at most one piece of alternatives.
    fn mrz_forms(name: &str) -> Vec<String> {
        let pieces = pieces(name);
        let width = pieces.iter().map(|p| p.len()).max().unwrap_or(1);
        (0..width)
            .map(|i| pieces.iter().map(|p| p[i.min(p.len() - 1)]).collect())
            .collect()
    }

    /// Every letter of Latin-1 Supplement and Latin Extended-A, either case, becomes ASCII letters.
    #[test]
    fn covers_latin_1_supplement_and_extended_a() {
        for c in ('\u{00C0}'..='\u{017F}').filter(|c| c.is_alphabetic()) {
            let form = first_form(&c.to_string());
            assert!(
                !form.is_empty() && form.chars().all(|l| l.is_ascii_uppercase()),
                "{c} (U+{:04X}) → {form:?}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn extended_b_and_additional_letters_in_common_use() {
        assert_eq!(first_form("Ștefănescu"), "STEFANESCU");
        assert_eq!(first_form("Țuțea"), "TUTEA");
        assert_eq!(first_form("Nguyễn Thị Minh Khai"), "NGUYEN<THI<MINH<KHAI");
        assert_eq!(first_form("Ɓello"), "BELLO");
        assert_eq!(first_form("ǅokić"), "DZOKIC");
    }

    #[test]
    fn decomposed_input_composes_umlauts() {
        let decomposed = "Mu\u{0308}ller";
        assert_eq!(pieces(decomposed), pieces("Müller"));
        assert_eq!(pieces("A\u{030A}se"), pieces("Åse"));
        assert_eq!(first_form("Zoe\u{0308}"), "ZOE");
        assert_eq!(first_form("\u{0308}Anna"), "ANNA");
        assert_eq!(mrz_forms("A \u{0308}B"), ["A<B"]);
    }

    #[test]
    fn other_scripts_agree_with_nothing() {
        assert!(pieces("Иванов").iter().all(|p| *p == UNKNOWN));
        assert_eq!(first_form("Anna Σ"), "ANNA<?");
    }

    #[test]
    fn separators_are_single_and_inside() {
        assert_eq!(first_form("  -Smith--Jones, ,"), "SMITH<JONES");
        assert_eq!(first_form("van\tder\u{2013}Berg"), "VAN<DER<BERG");
        assert_eq!(first_form("O'Brien"), "OBRIEN");
        assert_eq!(first_form("N’Dour ʼ"), "NDOUR");
        assert_eq!(first_form(""), "");
        assert_eq!(first_form("'-. "), "");
    }
}
