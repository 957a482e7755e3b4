//! Greedy CTC decoding of the recogniser's scores, restricted to the characters of a machine-readable
//! zone: `A`–`Z`, `0`–`9` and `<`.
//!
//! The recogniser scores, at each step, every label: the CTC blank (index 0), each line of its
//! dictionary, then a space. Restricting the choice to the blank and the 37 MRZ characters before taking
//! the best one per step keeps a `<` from being read as `«` or `(`, and a `0` as `O`-with-a-stroke.

/// The characters a machine-readable zone is written in (ICAO 9303 part 3).
pub const MRZ_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";

/// The recogniser's labels that decoding may choose: the blank, then each MRZ character with its label
/// index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alphabet {
    /// (label index, character); the blank is index 0 and is not listed.
    chars: Vec<(usize, char)>,
    labels: usize,
}

impl Alphabet {
    /// The MRZ characters' label indices in a recogniser's dictionary (label = line index + 1, after the
    /// blank; a space follows the last line). `None` when the dictionary lacks one of them.
    pub fn mrz(dictionary: &[String]) -> Option<Alphabet> {
        let chars = MRZ_CHARS
            .chars()
            .map(|c| {
                let mut buf = [0u8; 4];
                let wanted: &str = c.encode_utf8(&mut buf);
                dictionary
                    .iter()
                    .position(|line| line == wanted)
                    .map(|i| (i + 1, c))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Alphabet {
            chars,
            labels: dictionary.len() + 2,
        })
    }

    /// How many scores the recogniser gives per step.
    pub fn labels(&self) -> usize {
        self.labels
    }
}

/// A decoded row: its characters and, for each, the best score it had at the step it was read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    pub text: String,
    pub scores: Vec<f32>,
}

/// Greedy decoding of `steps` × `labels` scores (row-major): at each step the best of the blank and the
/// allowed characters; runs of one label collapse to one character, and blanks separate repeats.
/// Returns nothing for scores whose width is not the alphabet's.
pub fn decode(scores: &[f32], labels: usize, alphabet: &Alphabet) -> Decoded {
    let mut out = Decoded::default();
    if labels != alphabet.labels || labels == 0 || scores.len() % labels != 0 {
        return out;
    }
    let mut previous = 0usize; // the blank
    for step in scores.chunks_exact(labels) {
        let (mut best, mut best_score, mut best_char) = (0usize, step[0], None);
        for &(index, c) in &alphabet.chars {
            if step[index] > best_score {
                (best, best_score, best_char) = (index, step[index], Some(c));
            }
        }
        if best != previous {
            if let Some(c) = best_char {
                out.text.push(c);
                out.scores.push(best_score);
            }
        }
        previous = best;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dictionary with the MRZ characters shuffled among others: `a`, the digits, `<`, `«`, letters.
    fn dictionary() -> Vec<String> {
        let mut d: Vec<String> = vec!["a".into()];
        d.extend("0123456789".chars().map(String::from));
        d.push("<".into());
        d.push("«".into());
        d.extend(('A'..='Z').map(String::from));
        d
    }

    /// Scores for a sequence of labels by name ("_" is the blank), one step each, 0.9 for the named
    /// label and small values elsewhere; `extra` adds a score to a label at a step.
    fn scores(
        alpha: &Alphabet,
        dict: &[String],
        steps: &[&str],
        extra: &[(usize, &str, f32)],
    ) -> Vec<f32> {
        let n = alpha.labels();
        let index = |name: &str| {
            if name == "_" {
                0
            } else {
                dict.iter().position(|l| l == name).unwrap() + 1
            }
        };
        let mut s = vec![0.001; steps.len() * n];
        for (t, name) in steps.iter().enumerate() {
            s[t * n + index(name)] = 0.9;
        }
        for &(t, name, v) in extra {
            s[t * n + index(name)] = v;
        }
        s
    }

    #[test]
    fn the_alphabet_finds_every_mrz_character() {
        let dict = dictionary();
        let alpha = Alphabet::mrz(&dict).unwrap();
        assert_eq!(alpha.labels(), dict.len() + 2);
        assert_eq!(alpha.chars.len(), 37);
        assert!(!alpha.chars.iter().any(|&(label, _)| label == 1)); // 'a'
        assert!(alpha.chars.contains(&(12, '<')));
        let mut short = dict.clone();
        short.retain(|l| l != "Q");
        assert!(Alphabet::mrz(&short).is_none());
    }

    #[test]
    fn repeats_collapse_and_blanks_separate_them() {
        let dict = dictionary();
        let alpha = Alphabet::mrz(&dict).unwrap();
        let s = scores(
            &alpha,
            &dict,
            &["P", "P", "<", "_", "<", "<", "_", "_", "U", "T", "T", "O"],
            &[],
        );
        let d = decode(&s, alpha.labels(), &alpha);
        assert_eq!(d.text, "P<<UTO");
        assert_eq!(d.scores.len(), 6);
        assert!(d.scores.iter().all(|&v| (v - 0.9).abs() < 1e-6));
        assert_eq!(decode(&[], alpha.labels(), &alpha).text, "");
    }

    #[test]
    fn characters_outside_the_mrz_set_are_never_chosen() {
        let dict = dictionary();
        let alpha = Alphabet::mrz(&dict).unwrap();
        // Step 1's best label is « (0.9), then < at 0.3; step 2's is 'a', then the blank.
        let s = scores(&alpha, &dict, &["K", "«", "a", "9"], &[(1, "<", 0.3)]);
        let d = decode(&s, alpha.labels(), &alpha);
        assert_eq!(d.text, "K<9");
        assert!((d.scores[1] - 0.3).abs() < 1e-6);
        // The space after the dictionary (the last label) is not an MRZ character either.
        let n = alpha.labels();
        let mut s = vec![0.0; n];
        s[n - 1] = 1.0;
        assert_eq!(decode(&s, n, &alpha).text, "");
    }

    #[test]
    fn scores_of_another_width_decode_to_nothing() {
        let dict = dictionary();
        let alpha = Alphabet::mrz(&dict).unwrap();
        let s = vec![0.0; 3 * (alpha.labels() + 1)];
        assert_eq!(decode(&s, alpha.labels() + 1, &alpha), Decoded::default());
        assert_eq!(decode(&s[1..], alpha.labels(), &alpha), Decoded::default());
    }
}
