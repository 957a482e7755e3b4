//! The search for the machine-readable zone in one orientation of a document photo: text rows from the
//! detector, MRZ-like rows recognised widest first with the rows stacked round them, and every stack of
//! 2–3 recognised rows assembled, until one reads as a valid and plausible MRZ.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use image::RgbImage;

use super::MrzConfig;
use crate::document::mrz::{assemble, MrzFormat, MrzRead};
use crate::inference::{Engine, InferenceError};
use crate::models::ModelKind;
use crate::vision::ocr::ctc::{self, Alphabet, Decoded};
use crate::vision::ocr::detect::{self, DetectorInput, TextBox};
use crate::vision::ocr::geometry::{min_area_rect, order_quad, quad_points, Quad};
use crate::vision::ocr::rows::{aspect, merge_rows, mrz_like, rows_below};
use crate::vision::ocr::strip::recogniser_input;
use crate::vision::ocr::turn::{turn_planes, Turn};

/// Time spent in each model, accumulated over a reading.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Spent {
    pub detect_ms: f64,
    pub recognise_ms: f64,
    pub rows_recognised: u32,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// The detector's boxes for the image turned by `turn`, in the turned frame's pixel coordinates, from
/// the upright image's detector input (turned as a tensor: the same as resizing the turned image).
pub(super) fn detect_turned(
    engine: &Engine,
    input: &DetectorInput,
    turn: Turn,
    config: &MrzConfig,
    spent: &mut Spent,
) -> Result<Vec<Quad>, InferenceError> {
    let (mw, mh) = (input.shape[3], input.shape[2]);
    let (data, tw, th) = turn_planes(&input.data, 3, mw, mh, turn.degrees);
    let started = Instant::now();
    let outputs = engine.run_shaped(ModelKind::OcrDetect, vec![1, 3, th, tw], data)?;
    spent.detect_ms += ms(started);
    let map = outputs
        .into_iter()
        .next()
        .ok_or_else(|| InferenceError::Run {
            model: ModelKind::OcrDetect,
            message: "no output".into(),
        })?;
    if map.shape != [1, 1, th, tw] {
        return Err(InferenceError::OutputMismatch {
            model: ModelKind::OcrDetect,
            message: format!("a {th}×{tw} input gave a map of shape {:?}", map.shape),
        });
    }
    // Map pixels of the turned input → the upright map → the upright image → the turned image.
    let map_turn = Turn::new(turn.degrees, mw as u32, mh as u32);
    Ok(detect::boxes(&map.data, tw, th, &config.detect)
        .iter()
        .map(|b| {
            let upright = TextBox {
                quad: b.quad.map(|p| map_turn.back(p)),
                score: b.score,
            };
            let upright = detect::to_image(&upright, input.scale);
            turned_quad(&upright.quad, turn)
        })
        .collect())
}

/// A quad of the upright image as a reading-order quad of the turned frame.
pub(super) fn turned_quad(upright: &Quad, turn: Turn) -> Quad {
    order_quad(upright.map(|p| {
        let [x, y] = turn.forward(p);
        [x as f64, y as f64]
    }))
}

/// The best read found in one orientation: the read, the rows it came from (turned frame) and their
/// recognised text.
pub(super) struct Found {
    pub read: MrzRead,
    pub rows: Vec<Quad>,
    pub texts: Vec<Decoded>,
}

/// What every step of one reading works on: the models, the upright photo, the configuration.
#[derive(Clone, Copy)]
pub(super) struct Page<'a> {
    pub engine: &'a Engine,
    pub image: &'a RgbImage,
    pub config: &'a MrzConfig,
}

/// Recognises one row of the turned frame (cut from the upright image through the mapped corners).
pub(super) fn recognise(
    page: Page,
    kind: ModelKind,
    alphabet: &Alphabet,
    row: &Quad,
    turn: Turn,
    spent: &mut Spent,
) -> Result<Decoded, InferenceError> {
    let upright = row.map(|p| turn.back(p));
    let Some((shape, data)) = recogniser_input(page.image, &upright, page.config.max_row_width)
    else {
        return Ok(Decoded::default());
    };
    let started = Instant::now();
    let outputs = page.engine.run_shaped(kind, shape, data)?;
    spent.recognise_ms += ms(started);
    spent.rows_recognised += 1;
    let scores = outputs
        .into_iter()
        .next()
        .ok_or_else(|| InferenceError::Run {
            model: kind,
            message: "no output".into(),
        })?;
    let labels = scores.shape.last().copied().unwrap_or(0);
    Ok(ctc::decode(&scores.data, labels, alphabet))
}

/// How good a candidate read is, greater is better: a valid read first, then one that looks like an
/// MRZ ([`plausible`]), then `MrzRead::rank`.
pub(super) fn score(read: &MrzRead) -> (bool, bool, impl Ord) {
    (read.valid, plausible(read), read.rank())
}

/// Whether a read looks like a real MRZ beyond its check digits, which cover neither the document code,
/// the name nor the sex: the document code fits the format (a passport's `P`, a card's `I`, `A` or `C`,
/// a visa's `V`), the name field starts with a letter, and the sex is `M`, `F`, `X` or `<` (ICAO 9303:
/// the second line's 8th character on a TD1 card, its 21st on the others). A row of other text
/// stacked on the MRZ's second line assembles into a valid read, but fails this; so does an `M` read
/// as `H`.
pub(super) fn plausible(read: &MrzRead) -> bool {
    let code = read.lines.first().and_then(|l| l.chars().next());
    let code_fits = match read.format {
        MrzFormat::Td3 => code == Some('P'),
        MrzFormat::Td1 => matches!(code, Some('I' | 'A' | 'C')),
        MrzFormat::Td2 => matches!(code, Some('I' | 'A' | 'C' | 'P')),
        MrzFormat::MrvA | MrzFormat::MrvB => code == Some('V'),
    };
    let name_start = match read.format {
        MrzFormat::Td1 => read.lines.get(2).and_then(|l| l.chars().next()),
        _ => read.lines.first().and_then(|l| l.chars().nth(5)),
    };
    let sex_at = if read.format == MrzFormat::Td1 { 7 } else { 20 };
    let sex = read.lines.get(1).and_then(|l| l.chars().nth(sex_at));
    code_fits
        && name_start.is_some_and(|c| c.is_ascii_uppercase())
        && matches!(sex, Some('M' | 'F' | 'X' | '<'))
}

/// Searches one orientation (`boxes` in the turned frame) for the MRZ. MRZ-like rows that have a row
/// stacked next to them are recognised widest first, each followed by its stacked neighbours (widest
/// first), and after each row every new stack of recognised rows is assembled; the search stops at the
/// first read that is valid and plausible.
pub(super) fn search(
    page: Page,
    alphabet: &Alphabet,
    boxes: &[Quad],
    turn: Turn,
    spent: &mut Spent,
) -> Result<Option<Found>, InferenceError> {
    let config = page.config;
    let rows: Vec<Quad> = merge_rows(boxes).into_iter().filter(mrz_like).collect();
    if rows.len() < 2 {
        return Ok(None);
    }
    let below = rows_below(&rows);
    let mut above = vec![Vec::new(); rows.len()];
    for (i, under) in below.iter().enumerate() {
        for &j in under {
            above[j].push(i);
        }
    }
    let widest_first = |list: &mut Vec<usize>| {
        list.sort_by(|&a, &b| aspect(&rows[b]).total_cmp(&aspect(&rows[a])));
    };
    let mut order: Vec<usize> = (0..rows.len())
        .filter(|&i| !below[i].is_empty() || !above[i].is_empty())
        .collect();
    widest_first(&mut order);

    let mut texts: BTreeMap<usize, Decoded> = BTreeMap::new();
    let mut tried: HashSet<Vec<usize>> = HashSet::new();
    let mut best: Option<(MrzRead, Vec<usize>)> = None;
    'rows: for &i in &order {
        let mut next: Vec<usize> = below[i].iter().chain(&above[i]).copied().collect();
        widest_first(&mut next);
        for j in std::iter::once(i).chain(next) {
            if texts.contains_key(&j) {
                continue;
            }
            if texts.len() as u32 >= config.max_rows_per_orientation
                || spent.rows_recognised >= config.max_rows
            {
                break 'rows;
            }
            let text = recognise(
                page,
                ModelKind::OcrRecognise,
                alphabet,
                &rows[j],
                turn,
                spent,
            )?;
            texts.insert(j, text);
            for chain in stacks(&below, &texts) {
                if !tried.insert(chain.clone()) {
                    continue;
                }
                let lines: Vec<&str> = chain.iter().map(|k| texts[k].text.as_str()).collect();
                if let Some(read) = assemble(&lines) {
                    if best.as_ref().is_none_or(|(b, _)| score(&read) > score(b)) {
                        best = Some((read, chain));
                    }
                }
            }
            if best.as_ref().is_some_and(|(b, _)| b.valid && plausible(b)) {
                return Ok(best.map(|(read, chain)| found(read, &chain, &rows, &texts)));
            }
        }
    }
    Ok(best.map(|(read, chain)| found(read, &chain, &rows, &texts)))
}

/// How upright the text of a frame reads: the mean character score of its widest MRZ-like row that has
/// a row stacked next to it (0 when it has none). Text upside down reads as low-scoring noise, so of a
/// frame and the one turned by half a turn, the upright one scores higher.
pub(super) fn upright_score(
    page: Page,
    alphabet: &Alphabet,
    boxes: &[Quad],
    turn: Turn,
    spent: &mut Spent,
) -> Result<f32, InferenceError> {
    let rows: Vec<Quad> = merge_rows(boxes).into_iter().filter(mrz_like).collect();
    let below = rows_below(&rows);
    let stacked = |i: usize| !below[i].is_empty() || below.iter().any(|b| b.contains(&i));
    let widest = (0..rows.len())
        .filter(|&i| stacked(i))
        .max_by(|&a, &b| aspect(&rows[a]).total_cmp(&aspect(&rows[b])));
    let Some(i) = widest else {
        return Ok(0.0);
    };
    let text = recognise(
        page,
        ModelKind::OcrRecognise,
        alphabet,
        &rows[i],
        turn,
        spent,
    )?;
    Ok(text.scores.iter().sum::<f32>() / text.scores.len().max(1) as f32)
}

fn found(read: MrzRead, chain: &[usize], rows: &[Quad], texts: &BTreeMap<usize, Decoded>) -> Found {
    Found {
        read,
        rows: chain.iter().map(|&k| rows[k]).collect(),
        texts: chain.iter().map(|k| texts[k].clone()).collect(),
    }
}

/// Every chain of 2 or 3 recognised rows, each directly under the one before.
fn stacks(below: &[Vec<usize>], texts: &BTreeMap<usize, Decoded>) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for &a in texts.keys() {
        for &b in below[a].iter().filter(|b| texts.contains_key(b)) {
            out.push(vec![a, b]);
            for &c in below[b].iter().filter(|c| texts.contains_key(c)) {
                out.push(vec![a, b, c]);
            }
        }
    }
    out
}

/// The outer quad of the rows (their minimum-area rectangle), in reading order.
pub(super) fn outer_quad(rows: &[Quad]) -> Option<Quad> {
    let points: Vec<[f64; 2]> = rows.iter().flat_map(quad_points).collect();
    min_area_rect(&points).map(|r| order_quad(r.corners()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::mrz::parse;

    #[test]
    fn a_valid_read_is_plausible_only_with_a_fitting_code_a_name_and_a_sex() {
        let line2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10";
        let good = parse(&["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", line2]).unwrap();
        assert!(good.valid && plausible(&good));
        // Other text stacked over the second line: still valid (no check digit covers it), not plausible.
        let text = parse(&["EMBASSYOFTHEREPUBLICOFCHINA<<<<<<<<<<<<<<<<<", line2]).unwrap();
        assert!(text.valid && !plausible(&text));
        assert!(score(&good) > score(&text));
        let no_name = parse(&["P<UTO<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<", line2]).unwrap();
        assert!(!plausible(&no_name));
        let sex_h = line2.replacen("F1204", "H1204", 1);
        let misread = parse(&["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", &sex_h]).unwrap();
        assert!(misread.valid && !plausible(&misread));
        let card = parse(&[
            "I<UTOD231458907<<<<<<<<<<<<<<<",
            "7408122F1204159UTO<<<<<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
        ])
        .unwrap();
        assert!(card.valid && plausible(&card));
    }

    #[test]
    fn stacks_follow_the_rows_below_among_the_recognised() {
        // 0 over 1 over 2; 3 alone; 2 not recognised yet.
        let below = vec![vec![1], vec![2], vec![], vec![]];
        let mut texts = BTreeMap::new();
        for k in [0usize, 1, 3] {
            texts.insert(k, Decoded::default());
        }
        assert_eq!(stacks(&below, &texts), vec![vec![0, 1]]);
        texts.insert(2, Decoded::default());
        assert_eq!(
            stacks(&below, &texts),
            vec![vec![0, 1], vec![0, 1, 2], vec![1, 2]]
        );
    }

    #[test]
    fn the_outer_quad_spans_the_rows() {
        let rows = [
            [[10.0, 10.0], [450.0, 10.0], [450.0, 30.0], [10.0, 30.0]],
            [[10.0, 40.0], [450.0, 40.0], [450.0, 60.0], [10.0, 60.0]],
        ];
        let q = outer_quad(&rows).unwrap();
        assert_eq!(
            q,
            [[10.0, 10.0], [450.0, 10.0], [450.0, 60.0], [10.0, 60.0]]
        );
    }
}
