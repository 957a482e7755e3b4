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

/// A decoded row: its characters and, for each, the best score it had at the step it was read and that
/// step (steps run left to right over the row, one per few input columns).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    pub text: String,
    pub scores: Vec<f32>,
    pub steps: Vec<usize>,
    /// The number of steps the recogniser gave for the row.
    pub total_steps: usize,
}

impl Decoded {
    /// The lowest score of any character (1 for an empty row).
    pub fn min_score(&self) -> f32 {
        self.scores.iter().copied().fold(1.0, f32::min)
    }

    /// Where the row's trailing fillers may be cut off, keeping `keep` of them: the character index the
    /// cut-off tail starts at, and the cut's position as a fraction of the row's width (halfway between
    /// the last kept filler's step and the next one's). `None` when there are not more than `keep`
    /// trailing fillers.
    pub fn filler_tail(&self, keep: usize) -> Option<(usize, f32)> {
        let chars: Vec<char> = self.text.chars().collect();
        let content = chars.iter().rposition(|&c| c != '<').map_or(0, |i| i + 1);
        let start = content + keep;
        if start >= chars.len() || self.total_steps == 0 || self.steps.len() != chars.len() {
            return None;
        }
        let (a, b) = (self.steps[start - 1], self.steps[start]);
        let cut = (a + b) as f32 / 2.0 + 0.5;
        Some((start, cut / self.total_steps as f32))
    }
}

/// Greedy decoding of `steps` × `labels` scores (row-major): at each step the best of the blank and the
/// allowed characters; runs of one label collapse to one character, and blanks separate repeats.
/// Returns nothing for scores whose width is not the alphabet's.
pub fn decode(scores: &[f32], labels: usize, alphabet: &Alphabet) -> Decoded {
    let mut out = Decoded::default();
    if labels != alphabet.labels || labels == 0 || !scores.len().is_multiple_of(labels) {
        return out;
    }
    let mut previous = 0usize; // the blank
    out.total_steps = scores.len() / labels;
    for (t, step) in scores.chunks_exact(labels).enumerate() {
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
                out.steps.push(t);
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
        assert_eq!(d.steps, vec![0, 2, 4, 8, 9, 11]);
        assert_eq!(d.total_steps, 12);
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
        assert!((d.min_score() - 0.3).abs() < 1e-6);
        // The space after the dictionary (the last label) is not an MRZ character either.
        let n = alpha.labels();
        let mut s = vec![0.0; n];
        s[n - 1] = 1.0;
        assert_eq!(decode(&s, n, &alpha).text, "");
    }

    #[test]
    fn the_filler_tail_is_cut_between_two_fillers() {
        let d = Decoded {
            text: "AB<C<<<<".into(),
            scores: vec![0.9; 8],
            steps: vec![1, 3, 5, 7, 9, 11, 13, 15],
            total_steps: 20,
        };
        // Content ends with C (index 3); keep two fillers (4, 5); the tail starts at 6, cut at step 12.
        assert_eq!(d.filler_tail(2), Some((6, 12.5 / 20.0)));
        assert_eq!(d.filler_tail(4), None);
        let all = Decoded {
            text: "<<<".into(),
            scores: vec![0.9; 3],
            steps: vec![0, 4, 8],
            total_steps: 10,
        };
        assert_eq!(all.filler_tail(1), Some((1, 2.5 / 10.0)));
        assert_eq!(Decoded::default().filler_tail(0), None);
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
