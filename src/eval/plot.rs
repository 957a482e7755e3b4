//! DET curve rendering to PNG.
//!
//! Both axes are log10-scaled from 1e-4 to 1. The chart runs on a linear coordinate over log10 values rather
//! than plotters' log axis, so decade ticks land exactly on powers of ten and the minor grid is drawn at
//! 2..9 × 10^k like printed log paper.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::register_font;

use super::metrics::ErrorRates;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 800;
/// log10 of the axis floor: rates below 1e-4, including 0, are drawn on the axis.
const FLOOR_DECADE: f64 = -4.0;

/// Fonts tried in order (Debian/Ubuntu, Fedora, Arch, Liberation, macOS, Windows); the first that loads wins.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

const CURVE: RGBColor = RGBColor(31, 119, 180);
const EER_COLOUR: RGBColor = RGBColor(214, 39, 40);
/// Operating point colours, cycled; chosen to stay distinct from the curve and the EER marker.
const POINT_COLOURS: [RGBColor; 4] = [
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
const GRID_MAJOR: RGBColor = RGBColor(200, 200, 200);
const GRID_MINOR: RGBColor = RGBColor(235, 235, 235);

/// Registers the first usable font as plotters' "sans-serif", once per process (plotters needs `&'static`
/// bytes, so the file is leaked once). False when no font could be loaded.
fn font_loaded() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        FONT_PATHS.iter().any(|path| {
            let Ok(bytes) = std::fs::read(path) else {
                return false;
            };
            register_font(
                "sans-serif",
                FontStyle::Normal,
                Box::leak(bytes.into_boxed_slice()),
            )
            .is_ok()
        })
    })
}

/// Draws the DET curve (FNMR vs FMR, both log-scaled axes from 1e-4 to 1, points with 0 clamped to the axis
/// floor) as a 1200×800 PNG, with the EER point and the operating points marked and labelled, axis titles,
/// and a title line. A key beside the chart gives the pair counts, AUC and each point's values.
///
/// Returns warnings rather than failing for what still leaves a usable picture: no font found (the plot is
/// drawn without any text), no DET points, and operating points whose target FMR is below 1/impostor_pairs
/// (not measurable on this data; marked with * in the key).
pub fn draw_det_png(
    path: &Path,
    points: &[(f64, f64)],
    rates: &ErrorRates,
    title: &str,
) -> Result<Vec<String>> {
    // The file is always a PNG; refuse another extension rather than write a PNG under a wrong name.
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        bail!("DET plot path {} must end in .png", path.display());
    }
    let mut warnings = Vec::new();
    let text = font_loaded();
    if !text {
        warnings.push(format!(
            "no font found (looked for {}): DET plot drawn without any text",
            FONT_PATHS.join(", ")
        ));
    }
    // Drawn into an RGB buffer and encoded by `image`: plotters' own encoder would bring a second,
    // older `image` into the build.
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        warnings.extend(draw(&root, points, rates, title, text).context("drawing DET plot")?);
        root.present().context("drawing DET plot")?;
    }
    image::save_buffer_with_format(
        path,
        &rgb,
        WIDTH,
        HEIGHT,
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .with_context(|| format!("writing DET plot {}", path.display()))?;
    Ok(warnings)
}

/// A rate as a log10 axis coordinate, clamped to the floor; None for NaN, which cannot be placed.
fn to_axis(rate: f64) -> Option<f64> {
    (!rate.is_nan()).then(|| rate.max(10f64.powf(FLOOR_DECADE)).log10().min(0.0))
}

/// A rate as a percentage with up to three significant digits, trailing zeros dropped ("3.2%", "0.08%").
fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if !p.is_finite() {
        return "n/a".into();
    }
    if p == 0.0 {
        return "0%".into();
    }
    let decimals = (2 - p.abs().log10().floor() as i32).clamp(0, 8) as usize;
    let s = format!("{p:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}%")
}

/// A number for the key with fixed decimals, or "n/a" for the NaN that empty inputs produce.
fn fixed(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{x:.decimals$}")
    }
}

/// Everything but the file: separated from `draw_det_png` so tests can render into memory and count pixels,
/// and can exercise the text-free path even though the test process has a font registered.
fn draw<DB>(
    root: &DrawingArea<DB, Shift>,
    points: &[(f64, f64)],
    rates: &ErrorRates,
    title: &str,
    text: bool,
) -> Result<Vec<String>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut warnings = Vec::new();
    if points.is_empty() {
        warnings
            .push("no DET points (no genuine or no impostor scores): curve not drawn".to_string());
    }
    // Below 1/N an FMR cannot be measured: the point is only "above every impostor score".
    // With no impostors at all nothing is measurable, which the empty-curve warning already says.
    let n_i = rates.impostor_pairs;
    let unmeasurable: Vec<bool> = rates
        .at_fmr
        .iter()
        .map(|p| n_i > 0 && p.target_fmr * (n_i as f64) < 1.0)
        .collect();
    for (p, _) in rates.at_fmr.iter().zip(&unmeasurable).filter(|(_, &u)| u) {
        warnings.push(format!(
            "target FMR {} is below 1/{} impostor pairs: its threshold {} only rejects every impostor seen",
            percent(p.target_fmr),
            rates.impostor_pairs,
            p.threshold
        ));
    }

    root.fill(&WHITE)?;
    let (title_area, body) = root.split_vertically(56);
    // Without text the key would be bare markers, so the chart takes the whole width.
    let (chart_area, key_area) = if text {
        let (chart, key) = body.split_horizontally(780);
        (chart, Some(key))
    } else {
        (body, None)
    };
    if text {
        title_area.draw_text(
            title,
            &("sans-serif", 26).into_font().color(&BLACK),
            (24, 18),
        )?;
    }

    let mut chart = ChartBuilder::on(&chart_area)
        .margin(16)
        .x_label_area_size(if text { 56 } else { 0 })
        .y_label_area_size(if text { 84 } else { 0 })
        .build_cartesian_2d(FLOOR_DECADE..0.0, FLOOR_DECADE..0.0)?;

    // Minor grid first so the major grid and the data sit on top of it.
    let minor =
        (FLOOR_DECADE as i32..0).flat_map(|d| (2..10).map(move |k| d as f64 + (k as f64).log10()));
    for v in minor {
        chart.draw_series(LineSeries::new([(v, FLOOR_DECADE), (v, 0.0)], GRID_MINOR))?;
        chart.draw_series(LineSeries::new([(FLOOR_DECADE, v), (0.0, v)], GRID_MINOR))?;
    }
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(5)
        .y_labels(5)
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID_MAJOR);
    let decade_label = |v: &f64| percent(10f64.powf(v.round()));
    if text {
        mesh.x_desc("False match rate (FMR)")
            .y_desc("False non-match rate (FNMR)")
            .x_label_formatter(&decade_label)
            .y_label_formatter(&decade_label)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18));
    } else {
        // Tick labels and axis titles need a font: keep only the grid, and frame the plot by hand below.
        mesh.disable_axes();
    }
    mesh.draw()?;
    if !text {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(FLOOR_DECADE, FLOOR_DECADE), (0.0, 0.0)],
            BLACK,
        )))?;
    }

    // FMR = FNMR: the curve crosses this line at the EER.
    chart.draw_series(DashedLineSeries::new(
        [(FLOOR_DECADE, FLOOR_DECADE), (0.0, 0.0)],
        6,
        4,
        RGBColor(150, 150, 150).into(),
    ))?;
    if points.is_empty() && text {
        let (x, y) = chart.backend_coord(&(FLOOR_DECADE * 0.75, FLOOR_DECADE * 0.5));
        root.draw_text(
            "no scores to plot",
            &("sans-serif", 22).into_font().color(&BLACK),
            (x, y),
        )?;
    }
    let curve = points
        .iter()
        .filter_map(|&(fmr, fnmr)| Some((to_axis(fmr)?, to_axis(fnmr)?)));
    chart.draw_series(LineSeries::new(curve, CURVE.stroke_width(2)))?;

    // Markers first, tags after, so a tag is never hidden under a later marker.
    let mut tags: Vec<(String, RGBColor, (f64, f64))> = Vec::new();
    // The EER sits on the diagonal by definition (mean of FMR and FNMR at the closest threshold).
    if let Some(e) = to_axis(rates.eer) {
        chart.draw_series(std::iter::once(Circle::new((e, e), 7, EER_COLOUR.filled())))?;
        tags.push(("EER".into(), EER_COLOUR, (e, e)));
    }
    for (n, p) in rates.at_fmr.iter().enumerate() {
        let (Some(x), Some(y)) = (to_axis(p.fmr), to_axis(p.fnmr)) else {
            continue;
        };
        let colour = POINT_COLOURS[n % POINT_COLOURS.len()];
        chart.draw_series(std::iter::once(TriangleMarker::new(
            (x, y),
            9,
            colour.filled(),
        )))?;
        tags.push((format!("FMR≤{}", percent(p.target_fmr)), colour, (x, y)));
    }
    if text {
        let plot_right = chart.plotting_area().get_pixel_range().0.end;
        let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
        for (label, colour, at) in tags {
            let style = ("sans-serif", 15).into_font().color(&colour);
            let (w, h) = root.estimate_text_size(&label, &style)?;
            let (w, h) = (w as i32, h as i32 + 3);
            let (px, py) = chart.backend_coord(&at);
            // Above and right of the marker: FNMR never rises as FMR grows, so the curve cannot pass there.
            // Left of it only when the right would leave the plot.
            let x = if px + 8 + w <= plot_right {
                px + 8
            } else {
                px - 8 - w
            };
            let mut y = py - 6 - h;
            // Coinciding points (common at the FMR floor) would print on top of each other: stack them upwards,
            // staying in the free region.
            while placed
                .iter()
                .any(|&(ox, oy, ow, oh)| x < ox + ow && ox < x + w && y < oy + oh && oy < y + h)
            {
                y -= h;
            }
            root.draw_text(&label, &style, (x, y))?;
            placed.push((x, y, w, h));
        }
    }

    if let Some(key) = key_area {
        draw_key(&key, rates, &unmeasurable)?;
    }
    Ok(warnings)
}

/// The values behind the markers, as text beside the chart where it can never cover the curve.
fn draw_key<DB>(
    area: &DrawingArea<DB, Shift>,
    rates: &ErrorRates,
    unmeasurable: &[bool],
) -> Result<()>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let body = ("sans-serif", 17).into_font().color(&BLACK);
    let small = ("sans-serif", 15).into_font().color(&RGBColor(90, 90, 90));
    // Left edge of plain lines; lines after a marker are indented past it.
    let (left, indented) = (20, 44);
    // Draws one line at `y` and returns where the next one starts.
    let line = |y: i32, x: i32, s: &str, style: &TextStyle, advance: i32| -> Result<i32> {
        area.draw_text(s, style, (x, y))?;
        Ok(y + advance)
    };
    let mut y = 30;
    y = line(
        y,
        left,
        &format!("Genuine pairs: {}", rates.genuine_pairs),
        &body,
        26,
    )?;
    y = line(
        y,
        left,
        &format!("Impostor pairs: {}", rates.impostor_pairs),
        &body,
        26,
    )?;
    y = line(y, left, &format!("AUC: {}", fixed(rates.auc, 5)), &body, 40)?;

    area.draw(&Circle::new((left + 7, y + 9), 7, EER_COLOUR.filled()))?;
    y = line(
        y,
        indented,
        &format!("EER {}", percent(rates.eer)),
        &body,
        24,
    )?;
    y = line(
        y,
        indented,
        &format!("threshold {}", fixed(rates.eer_threshold.into(), 4)),
        &small,
        40,
    )?;

    for (n, (p, &starred)) in rates.at_fmr.iter().zip(unmeasurable).enumerate() {
        let colour = POINT_COLOURS[n % POINT_COLOURS.len()];
        area.draw(&TriangleMarker::new((left + 7, y + 10), 9, colour.filled()))?;
        let star = if starred { "*" } else { "" };
        let head = format!(
            "FMR ≤ {}{star}: FNMR {}",
            percent(p.target_fmr),
            percent(p.fnmr)
        );
        y = line(y, indented, &head, &body, 24)?;
        y = line(
            y,
            indented,
            &format!(
                "FMR {}, threshold {}",
                percent(p.fmr),
                fixed(p.threshold.into(), 4)
            ),
            &small,
            36,
        )?;
    }
    if unmeasurable.contains(&true) {
        y = line(
            y + 8,
            left,
            &format!("* target below 1/{} impostor pairs:", rates.impostor_pairs),
            &small,
            20,
        )?;
        y = line(
            y,
            left,
            "  FMR 0 on this data, threshold is just",
            &small,
            20,
        )?;
        line(
            y,
            left,
            "  above every impostor score (optimistic)",
            &small,
            20,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::metrics::{det_points, error_rates};
    use super::*;

    /// Synthetic scores in the shape of a real run: genuine around 0.5, impostors around 0.1, clear overlap.
    fn synthetic() -> (Vec<(f64, f64)>, ErrorRates) {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // Sum of four uniforms: roughly normal, sd ≈ 0.58 × spread.
        let mut normalish = |mean: f64, spread: f64| {
            let s: f64 = (0..4).map(|_| uniform()).sum::<f64>() - 2.0;
            (mean + s * spread) as f32
        };
        let genuine: Vec<f32> = (0..500).map(|_| normalish(0.5, 0.3)).collect();
        let impostor: Vec<f32> = (0..18_000).map(|_| normalish(0.1, 0.15)).collect();
        let rates = error_rates(&genuine, &impostor, &[1e-2, 1e-3, 1e-4, 1e-5]);
        (det_points(&genuine, &impostor), rates)
    }

    fn temp_png(name: &str) -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        std::env::temp_dir().join(format!("idv-det-{name}-{}-{nanos}.png", std::process::id()))
    }

    /// Renders the synthetic plot into memory and counts non-white pixels inside (x0..x1, y0..y1).
    fn ink(text: bool, (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> usize {
        let (points, rates) = synthetic();
        let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&root, &points, &rates, "synthetic", text).unwrap();
            root.present().unwrap();
        }
        let pixel = |x: u32, y: u32| &buf[((y * WIDTH + x) * 3) as usize..][..3];
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| pixel(x, y) != [255; 3])
            .count()
    }

    #[test]
    fn writes_png_of_expected_size() {
        let (points, rates) = synthetic();
        let path = temp_png("size");
        let warnings = draw_det_png(&path, &points, &rates, "DET: synthetic scores").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // The IHDR chunk comes first: length (4), "IHDR" (4), then big-endian width and height.
        assert_eq!(&bytes[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), WIDTH);
        assert_eq!(
            u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
            HEIGHT
        );
        // Only 1e-5 is below 1/18000 ≈ 5.6e-5; 1e-4 allows 1.8 false matches, so it is measurable.
        let below: Vec<_> = warnings
            .iter()
            .filter(|w| w.contains("below 1/18000"))
            .collect();
        assert_eq!(below.len(), 1, "{warnings:?}");
        assert!(below[0].contains("0.001%"), "{warnings:?}");
    }

    /// Never registers a font itself, so run alone (`cargo test draws_without_text`) it proves the text-free
    /// path draws no text: plotters fails any text draw when no font is registered.
    #[test]
    fn draws_without_text() {
        // Grid, curve and markers are tens of thousands of pixels; a blank image would be 0.
        assert!(ink(false, (0, WIDTH), (0, HEIGHT)) > 20_000);
        // The title strip (top 56 px) stays blank without a font.
        assert_eq!(ink(false, (0, WIDTH), (0, 56)), 0);
    }

    #[test]
    fn text_adds_title_and_key() {
        // Skipped where no font is installed: draws_without_text covers that machine.
        if font_loaded() {
            let title = ink(true, (0, WIDTH), (0, 56));
            assert!(title > 200, "title strip has {title} inked pixels");

            // The key column right of the chart: counts, AUC, EER and four operating points.
            let key = ink(true, (800, WIDTH), (70, 500));
            assert!(key > 3_000, "key has {key} inked pixels");
        }
    }

    #[test]
    fn empty_points_still_draw_and_warn() {
        let rates = error_rates(&[], &[], &[1e-3]);
        let path = temp_png("empty");
        let warnings = draw_det_png(&path, &[], &rates, "empty").unwrap();
        std::fs::remove_file(&path).unwrap();
        // Only the empty-curve warning: with no impostors, "below 1/0 impostor pairs" would be noise.
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("no DET points"), "{warnings:?}");
    }

    #[test]
    fn rejects_non_png_path() {
        let (points, rates) = synthetic();
        let err = draw_det_png(Path::new("det.jpg"), &points, &rates, "x").unwrap_err();
        assert!(err.to_string().contains("must end in .png"));
    }

    #[test]
    fn axis_mapping_and_labels() {
        assert_eq!(to_axis(0.0), Some(-4.0));
        assert_eq!(to_axis(1e-6), Some(-4.0));
        assert_eq!(to_axis(0.01), Some(-2.0));
        assert_eq!(to_axis(1.0), Some(0.0));
        assert_eq!(to_axis(f64::NAN), None);
        assert_eq!(percent(0.032), "3.2%");
        assert_eq!(percent(0.0008333), "0.0833%");
        assert_eq!(percent(1e-4), "0.01%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(f64::NAN), "n/a");
        assert_eq!(fixed(0.98765, 4), "0.9877");
        assert_eq!(fixed(f64::NAN, 4), "n/a");
    }
}
