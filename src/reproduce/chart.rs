//! The charts of `reproduce`, drawn with plotters on its bitmap backend and written as PNG: line, point and bar
//! series with error bars, on a linear or logarithmic x axis (optionally decreasing to the right), with a legend. Text uses the Ubuntu Light face the app
//! draws with (from `epaint_default_fonts`), so a chart looks the same on every machine without system fonts.

use std::ops::Range;
use std::sync::OnceLock;

use plotters::chart::SeriesAnno;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Series colours, in order: the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies),
/// ordered so that the first ones contrast best on white; yellow comes last.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// The font family the charts' text is drawn in.
const FONT: &str = "sans-serif";

// The frame around the plot, in pixels.
const MARGIN: u32 = 16;
const X_LABEL_AREA: u32 = 48;
const Y_LABEL_AREA: u32 = 64;

// A legend's size, estimated from its longest name and its number of entries at the legend's font size, in pixels.
const LEGEND_PX_PER_CHAR: f64 = 8.0;
const LEGEND_PADDING_PX: f64 = 40.0;
const LEGEND_PX_PER_ENTRY: f64 = 20.0;
/// The caption's height over the plot, in pixels.
const CAPTION_PX: u32 = 34;

/// Where the legend may go, in order of preference: the first that covers the fewest of the data's pixels wins.
const LEGEND_PLACES: [SeriesLabelPosition; 6] = [
    SeriesLabelPosition::UpperRight,
    SeriesLabelPosition::UpperLeft,
    SeriesLabelPosition::MiddleRight,
    SeriesLabelPosition::MiddleLeft,
    SeriesLabelPosition::LowerRight,
    SeriesLabelPosition::LowerLeft,
];

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Line,
    LineAndPoints,
    /// Vertical bars from y = 0; several bar series side by side share each x.
    Bars,
}

/// One named set of (x, y) points. Points with a non-finite coordinate (and, on a log-x chart, x ≤ 0) are skipped;
/// a line joins the remaining points in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Shown in the legend; series with an empty name are left out of it.
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// ± this much per point (e.g. a standard deviation), drawn as error bars; missing, negative or non-finite
    /// entries draw none.
    pub error: Vec<f64>,
    pub style: Style,
}

impl Series {
    fn new(name: impl Into<String>, style: Style, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series { name: name.into(), points: points.into_iter().collect(), error: vec![], style }
    }

    pub fn line(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Self::new(name, Style::Line, points)
    }

    pub fn line_and_points(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Self::new(name, Style::LineAndPoints, points)
    }

    pub fn bars(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Self::new(name, Style::Bars, points)
    }

    /// Error bars: ± `error[i]` around point i.
    pub fn with_error(mut self, error: Vec<f64>) -> Self {
        self.error = error;
        self
    }

    fn error_at(&self, i: usize) -> Option<f64> {
        self.error.get(i).copied().filter(|e| e.is_finite() && *e > 0.0)
    }
}

/// A chart of one or more series; series take the palette's colours in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// The x axis grows to the left (the pruning papers' "weights remaining" axis, decreasing to the right).
    pub reversed_x: bool,
    /// Fixed y range; by default the data's range, padded. An empty or non-finite range falls back to the default.
    pub y_range: Option<(f64, f64)>,
    /// Image size in pixels.
    pub width: u32,
    pub height: u32,
}

impl Chart {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: vec![],
            log_x: false,
            reversed_x: false,
            y_range: None,
            width: 800,
            height: 500,
        }
    }

    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    pub fn log_x(mut self, on: bool) -> Self {
        self.log_x = on;
        self
    }

    pub fn reversed_x(mut self, on: bool) -> Self {
        self.reversed_x = on;
        self
    }

    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// The chart as a PNG file.
    pub fn to_png(&self) -> Result<Vec<u8>, String> {
        encode_png(self.width, self.height, &self.render()?)
    }

    /// The image as RGB rows, `width × height × 3` bytes.
    fn render(&self) -> Result<Vec<u8>, String> {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 {
            return Err(format!("a chart of {w}×{h} pixels has no pixels to draw"));
        }
        register_font()?;
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(drawing)?;
            self.draw(&root)?;
            root.present().map_err(drawing)?;
        }
        Ok(rgb)
    }

    /// The points of `s` that can be drawn, with their index in `s.points`.
    fn drawable<'a>(&self, s: &'a Series) -> impl Iterator<Item = (usize, f64, f64)> + 'a {
        let log_x = self.log_x;
        (s.points.iter().enumerate())
            .filter(move |(_, (x, y))| x.is_finite() && y.is_finite() && (!log_x || *x > 0.0))
            .map(|(i, &(x, y))| (i, x, y))
    }

    /// Where each bar series sits at an x and how wide its bars are: offsets from x for series k of the bar series.
    fn bar_layout(&self, x_span: f64) -> (usize, f64) {
        let bars = self.series.iter().filter(|s| s.style == Style::Bars).count();
        let xs = self.distinct_x(|s| s.style == Style::Bars);
        let gap = xs.windows(2).map(|w| w[1] - w[0]).fold(x_span.max(1e-9), f64::min);
        (bars, 0.7 * gap / bars.max(1) as f64)
    }

    /// The axes' ranges, every drawable point with its error bar (and y = 0 under bars), padded; on a chart of bars
    /// alone, the x range leaves room for the legend, and the axis ticks only where bars stand.
    fn layout(&self) -> Layout {
        let (mut x, mut y) = ((f64::INFINITY, f64::NEG_INFINITY), (f64::INFINITY, f64::NEG_INFINITY));
        let widen = |r: &mut (f64, f64), v: f64| *r = (r.0.min(v), r.1.max(v));
        for s in &self.series {
            for (i, px, py) in self.drawable(s) {
                widen(&mut x, px);
                let e = s.error_at(i).unwrap_or(0.0);
                widen(&mut y, py - e);
                widen(&mut y, py + e);
                if s.style == Style::Bars {
                    widen(&mut y, 0.0);
                }
            }
        }
        if !x.0.is_finite() {
            return Layout { x: (1.0, 10.0), y: (0.0, 1.0), bar_width: 0.0, ticks: None };
        }
        let pad = |(lo, hi): (f64, f64), share: f64| {
            let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
            (lo - share * span, hi + share * span)
        };
        let x = if self.log_x {
            let (lo, hi) = if x.1 > x.0 { x } else { (x.0 / 2.0, x.1 * 2.0) };
            (lo / 1.2, hi * 1.2)
        } else {
            let bar_room = if self.series.iter().any(|s| s.style == Style::Bars) {
                let (bars, width) = self.bar_layout(x.1 - x.0);
                width * bars as f64
            } else {
                0.0
            };
            let (lo, hi) = pad(x, 0.03);
            (lo - bar_room, hi + bar_room)
        };
        let bar_width = self.bar_layout(x.1 - x.0).1;
        let bars_only = self.series.iter().all(|s| s.style == Style::Bars);
        let x = if bars_only && !self.log_x { self.with_legend_room(x) } else { x };
        let ticks = self.data_ticks(bars_only, x.1 - x.0);
        let y = match self.y_range {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
            _ => pad(y, 0.06),
        };
        Layout { x, y, bar_width, ticks }
    }

    /// Ticks at the data's own x values, when they are few: for bars, or for whole numbers (members averaged,
    /// severities, steps) far enough apart that their labels do not collide. Otherwise the usual round numbers.
    fn data_ticks(&self, bars_only: bool, x_span: f64) -> Option<Vec<f64>> {
        if self.log_x {
            return None;
        }
        let at = self.distinct_x(|_| true);
        let whole = at.iter().all(|x| x.fract() == 0.0);
        let spaced = at.windows(2).all(|w| w[1] - w[0] >= 0.04 * x_span);
        (bars_only || (whole && spaced && (2..=12).contains(&at.len()))).then_some(at)
    }

    /// The drawable x values of the series that `keep`, sorted, each once.
    fn distinct_x(&self, keep: impl Fn(&Series) -> bool) -> Vec<f64> {
        let mut xs: Vec<f64> =
            self.series.iter().filter(|s| keep(s)).flat_map(|s| self.drawable(s).map(|p| p.1)).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        xs
    }

    /// The plot's estimated size in pixels, inside the caption, the margins and the axes' labels.
    fn plot_px(&self) -> (f64, f64) {
        let w = self.width.saturating_sub(2 * MARGIN + Y_LABEL_AREA).max(1);
        let h = self.height.saturating_sub(2 * MARGIN + X_LABEL_AREA + CAPTION_PX).max(1);
        (w as f64, h as f64)
    }

    /// The legend's estimated size in pixels, or `None` where no series is named (and no legend is drawn).
    fn legend_px(&self) -> Option<(f64, f64)> {
        let named: Vec<&Series> = self.series.iter().filter(|s| !s.name.is_empty()).collect();
        let longest = named.iter().map(|s| s.name.chars().count()).max()? as f64;
        Some((LEGEND_PX_PER_CHAR * longest + LEGEND_PADDING_PX, LEGEND_PX_PER_ENTRY * named.len() as f64 + 10.0))
    }

    /// The x range run on past the bars, to the right (the left when reversed), by the legend's estimated width, so
    /// that the legend in the upper right corner hides none of them.
    fn with_legend_room(&self, (lo, hi): (f64, f64)) -> (f64, f64) {
        let Some((legend, _)) = self.legend_px() else {
            return (lo, hi);
        };
        let plot = self.plot_px().0;
        let legend = legend.min(0.5 * plot);
        let room = (hi - lo) * legend / (plot - legend).max(1.0);
        if self.reversed_x { (lo - room, hi) } else { (lo, hi + room) }
    }

    fn draw(&self, root: &DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String> {
        let layout = self.layout();
        let ((x0, x1), (y0, y1), ticks) = (layout.x, layout.y, layout.ticks.clone());
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, (FONT, 24))
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA);
        let reversed = self.reversed_x;
        if self.log_x {
            let x = XAxis { inner: LogCoord::from((x0..x1).log_scale()), reversed, ticks };
            let chart = builder.build_cartesian_2d(x, y0..y1).map_err(drawing)?;
            self.draw_series(chart, &layout)
        } else {
            let x = XAxis { inner: RangedCoordf64::from(x0..x1), reversed, ticks };
            let chart = builder.build_cartesian_2d(x, y0..y1).map_err(drawing)?;
            self.draw_series(chart, &layout)
        }
    }

    fn draw_series<'a, 'b: 'a, X: Ranged<ValueType = f64>>(
        &self,
        mut chart: ChartContext<'a, BitMapBackend<'b>, Cartesian2d<XAxis<X>, RangedCoordf64>>,
        layout: &Layout,
    ) -> Result<(), String> {
        let bar_width = layout.bar_width;
        let text = |size| (FONT, size).into_font();
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(text(15))
            .axis_desc_style(text(17))
            .light_line_style(RGBColor(0xF1, 0xF1, 0xF1))
            .bold_line_style(RGBColor(0xE2, 0xE2, 0xE2))
            .draw()
            .map_err(drawing)?;
        let bars = self.series.iter().filter(|s| s.style == Style::Bars).count();
        let mut bar_index = 0;
        for (k, s) in self.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let points: Vec<(usize, f64, f64)> = self.drawable(s).collect();
            match s.style {
                Style::Bars => {
                    let offset = bar_offset(bar_index, bars, bar_width);
                    bar_index += 1;
                    let rects = points.iter().map(|&(_, x, y)| {
                        let x = x + offset;
                        Rectangle::new([(x - 0.45 * bar_width, 0.0), (x + 0.45 * bar_width, y)], color.filled())
                    });
                    legend(chart.draw_series(rects).map_err(drawing)?, &s.name, color);
                    // Black whiskers, grey on the palette's black bar.
                    let whisker = if color == BLACK { RGBColor(0x99, 0x99, 0x99) } else { BLACK };
                    let errors = points.iter().filter_map(|&(i, x, y)| {
                        let e = s.error_at(i)?;
                        Some(ErrorBar::new_vertical(x + offset, y - e, y, y + e, whisker.stroke_width(1), 8))
                    });
                    chart.draw_series(errors).map_err(drawing)?;
                }
                Style::Line | Style::LineAndPoints => {
                    let line = points.iter().map(|&(_, x, y)| (x, y));
                    let drawn = chart.draw_series(LineSeries::new(line, color.stroke_width(2))).map_err(drawing)?;
                    legend(drawn, &s.name, color);
                    if s.style == Style::LineAndPoints {
                        let dots = points.iter().map(|&(_, x, y)| Circle::new((x, y), 4, color.filled()));
                        chart.draw_series(dots).map_err(drawing)?;
                    }
                    let errors = points.iter().filter_map(|&(i, x, y)| {
                        let e = s.error_at(i)?;
                        Some(ErrorBar::new_vertical(x, y - e, y, y + e, color.stroke_width(1), 8))
                    });
                    chart.draw_series(errors).map_err(drawing)?;
                }
            }
        }
        if self.series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .position(self.legend_place(layout))
                .label_font(text(15))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(0xAA, 0xAA, 0xAA))
                .draw()
                .map_err(drawing)?;
        }
        Ok(())
    }

    /// The legend's corner or side that hides the least of the data: every series is sampled along its lines, bars
    /// and error bars, in the plot's own coordinates (0 to 1 across and up).
    fn legend_place(&self, layout: &Layout) -> SeriesLabelPosition {
        let ((x0, x1), (y0, y1)) = (layout.x, layout.y);
        let across = |x: f64| {
            let f = if self.log_x { (x / x0).ln() / (x1 / x0).ln() } else { (x - x0) / (x1 - x0) };
            if self.reversed_x { 1.0 - f } else { f }
        };
        let up = |y: f64| (y - y0) / (y1 - y0);
        let bars = self.series.iter().filter(|s| s.style == Style::Bars).count();
        let mut samples: Vec<(f64, f64)> = vec![];
        let mut bar_index = 0;
        for s in &self.series {
            let points: Vec<(usize, f64, f64)> = self.drawable(s).collect();
            let offset = if s.style == Style::Bars {
                bar_index += 1;
                bar_offset(bar_index - 1, bars, layout.bar_width)
            } else {
                0.0
            };
            for &(i, x, y) in &points {
                let e = s.error_at(i).unwrap_or(0.0);
                samples.extend([(x + offset, y - e), (x + offset, y + e)].map(|(x, y)| (across(x), up(y))));
                if s.style == Style::Bars {
                    let half = 0.45 * layout.bar_width;
                    for (dx, k) in [-half, 0.0, half].into_iter().flat_map(|dx| (0..=8).map(move |k| (dx, k))) {
                        samples.push((across(x + offset + dx), up(y * k as f64 / 8.0)));
                    }
                }
            }
            if s.style != Style::Bars {
                for w in points.windows(2) {
                    let (a, b) = ((across(w[0].1), up(w[0].2)), (across(w[1].1), up(w[1].2)));
                    samples.extend(
                        (0..=24).map(|k| k as f64 / 24.0).map(|t| (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))),
                    );
                }
            }
        }
        let ((plot_w, plot_h), (legend_w, legend_h)) = (self.plot_px(), self.legend_px().unwrap_or_default());
        let (w, h) = ((legend_w / plot_w).min(1.0), (legend_h / plot_h).min(1.0));
        let covered = |place: &SeriesLabelPosition| {
            let (left, bottom) = match place {
                SeriesLabelPosition::UpperLeft => (0.0, 1.0 - h),
                SeriesLabelPosition::MiddleRight => (1.0 - w, 0.5 - h / 2.0),
                SeriesLabelPosition::MiddleLeft => (0.0, 0.5 - h / 2.0),
                SeriesLabelPosition::LowerRight => (1.0 - w, 0.0),
                SeriesLabelPosition::LowerLeft => (0.0, 0.0),
                _ => (1.0 - w, 1.0 - h),
            };
            let inside = |&&(x, y): &&(f64, f64)| (left..=left + w).contains(&x) && (bottom..=bottom + h).contains(&y);
            samples.iter().filter(inside).count()
        };
        LEGEND_PLACES.iter().min_by_key(|p| covered(p)).cloned().unwrap_or(SeriesLabelPosition::UpperRight)
    }
}

/// How far from its x bar series `index` of `bars` stands: the group is centred on x.
fn bar_offset(index: usize, bars: usize, width: f64) -> f64 {
    (index as f64 - (bars as f64 - 1.0) / 2.0) * width
}

/// A named series' entry in the legend: a swatch of its colour.
fn legend<DB: DrawingBackend>(drawn: &mut SeriesAnno<'_, DB>, name: &str, color: RGBColor) {
    if !name.is_empty() {
        drawn.label(name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled()));
    }
}

/// Where a chart's parts sit: the axes' ranges, the width of one bar, and the x axis' ticks where they are not the
/// usual round numbers.
struct Layout {
    x: (f64, f64),
    y: (f64, f64),
    bar_width: f64,
    ticks: Option<Vec<f64>>,
}

/// An x axis, linear or logarithmic (`inner`), drawn left to right or, `reversed`, right to left, with its ticks at
/// round numbers or, when given, at `ticks`.
struct XAxis<R> {
    inner: R,
    reversed: bool,
    ticks: Option<Vec<f64>>,
}

impl<R: Ranged<ValueType = f64>> Ranged for XAxis<R> {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let pixel = self.inner.map(value, limit);
        if self.reversed { limit.0 + limit.1 - pixel } else { pixel }
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match &self.ticks {
            Some(at) => at.clone(),
            None => self.inner.key_points(hint),
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

impl<R> ValueFormatter<f64> for XAxis<R> {
    fn format(value: &f64) -> String {
        tick_label(*value)
    }
}

/// A tick's value without float noise (a log axis' ticks are products, e.g. 30.000000000000004): three significant
/// digits, whole numbers in full, no trailing zeros.
fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

fn drawing<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    format!("could not draw the chart: {e}")
}

/// Make the charts' face known to plotters, once per process.
fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
                .map_err(|_| "the charts' font could not be read".to_string())
        })
        .clone()
}

fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| format!("PNG encoding failed: {e}"))?;
    writer.write_image_data(rgb).map_err(|e| format!("PNG encoding failed: {e}"))?;
    writer.finish().map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pixels of exactly the colour `c`.
    fn count(rgb: &[u8], c: RGBColor) -> usize {
        rgb.chunks_exact(3).filter(|p| p == &[c.0, c.1, c.2]).count()
    }

    /// Mean column and row of the pixels of exactly the colour `c`.
    fn centre(rgb: &[u8], width: u32, c: RGBColor) -> (f64, f64) {
        let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
        for (i, p) in rgb.chunks_exact(3).enumerate() {
            if p == [c.0, c.1, c.2] {
                n += 1.0;
                sx += (i % width as usize) as f64;
                sy += (i / width as usize) as f64;
            }
        }
        assert!(n > 0.0, "no pixel of {c:?}");
        (sx / n, sy / n)
    }

    #[test]
    fn png_has_the_signature_and_the_size() {
        let bytes = Chart::new("t", "x", "y").size(321, 123).series(Series::line("a", [(0.0, 1.0)])).to_png().unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes)).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height, info.color_type), (321, 123, png::ColorType::Rgb));
        assert_eq!(&buf[..3], &[0xFF, 0xFF, 0xFF], "a white background");
        assert!(Chart::new("t", "x", "y").size(0, 10).to_png().is_err());
    }

    #[test]
    fn charts_draw_their_series_in_palette_order_with_error_bars() {
        let plain = Chart::new("accuracy", "sparsity (%)", "test accuracy (%)")
            .series(Series::line_and_points("RigL", [(80.0, 60.0), (90.0, 55.0), (95.0, 50.0)]))
            .series(Series::line("dense", [(80.0, 65.0), (95.0, 65.0)]))
            .size(640, 400);
        let mut with_error = plain.clone();
        with_error.series[0] = with_error.series[0].clone().with_error(vec![1.0, 2.0, 1.5]);
        let rgb = with_error.render().unwrap();
        assert!(count(&rgb, PALETTE[0]) > 200, "the first series in the palette's first colour");
        assert!(count(&rgb, PALETTE[1]) > 100, "the second in its second");
        assert_eq!(count(&rgb, PALETTE[2]), 0, "no third series");
        let more = count(&rgb, PALETTE[0]) - count(&plain.render().unwrap(), PALETTE[0]);
        assert!(more > 20, "error bars add {more} pixels of the series' colour");
    }

    #[test]
    fn a_reversed_log_x_axis_decreases_to_the_right() {
        // The axis itself: 100 at the left end, 1 at the right, 10 half way (log scale).
        let axis = XAxis { inner: LogCoord::from((1.0..100.0).log_scale()), reversed: true, ticks: None };
        assert_eq!(axis.map(&100.0, (0, 500)), 0);
        assert_eq!(axis.map(&1.0, (0, 500)), 500);
        assert!((axis.map(&10.0, (0, 500)) - 250).abs() <= 1);
        assert!(axis.map(&20.0, (0, 500)) < axis.map(&10.0, (0, 500)));
        // On the picture: the series at 100% sits left of the one at 1%, and the other way round unreversed.
        let chart = |reversed| {
            Chart::new("", "weights remaining (%)", "")
                .log_x(true)
                .reversed_x(reversed)
                .series(Series::line_and_points("", [(100.0, 0.5)]))
                .series(Series::line_and_points("", [(1.0, 0.5)]))
        };
        let (rgb, width) = (chart(true).render().unwrap(), chart(true).width);
        assert!(centre(&rgb, width, PALETTE[0]).0 < centre(&rgb, width, PALETTE[1]).0);
        let rgb = chart(false).render().unwrap();
        assert!(centre(&rgb, width, PALETTE[0]).0 > centre(&rgb, width, PALETTE[1]).0);
    }

    #[test]
    fn a_fixed_y_range_places_the_data_in_it() {
        let chart = |hi| Chart::new("", "", "").y_range(0.0, hi).series(Series::line("", [(0.0, 5.0), (1.0, 5.0)]));
        let (width, height) = (chart(10.0).width, chart(10.0).height as f64);
        let middle = centre(&chart(10.0).render().unwrap(), width, PALETTE[0]).1;
        let low = centre(&chart(100.0).render().unwrap(), width, PALETTE[0]).1;
        assert!((middle - height / 2.0).abs() < 0.1 * height, "y = 5 of 0..10 near the middle row: {middle}");
        assert!(low > middle + 0.25 * height, "y = 5 of 0..100 near the bottom: {low}");
        // An empty or non-finite range falls back to the data's.
        for (lo, hi) in [(f64::NAN, 1.0), (1.0, 1.0), (2.0, 1.0)] {
            let c = Chart::new("", "", "").y_range(lo, hi).series(Series::line("", [(0.0, 5.0), (1.0, 6.0)]));
            assert_eq!(c.layout().y, Chart { y_range: None, ..c.clone() }.layout().y);
        }
    }

    #[test]
    fn non_finite_points_are_skipped() {
        let clean =
            Chart::new("t", "x", "y").series(Series::line_and_points("a", [(0.0, 1.0), (1.0, 2.0), (2.0, 1.5)]));
        let mut dirty = clean.clone();
        dirty.series[0].points =
            vec![(0.0, 1.0), (f64::NAN, 5.0), (1.0, 2.0), (0.5, f64::INFINITY), (f64::NEG_INFINITY, 0.0), (2.0, 1.5)];
        assert_eq!(clean.render().unwrap(), dirty.render().unwrap());
        // Only odd points, or no series, or no points: still a picture.
        for chart in [
            Chart::new("t", "x", "y").series(Series::line("nan", [(f64::NAN, f64::NAN)])),
            Chart::new("empty", "x", "y"),
            Chart::new("", "", "").series(Series::bars("b", [])),
            Chart::new("t", "x", "y").series(Series::bars("b", [(1.0, 2.0)]).with_error(vec![f64::NAN])),
            Chart::new("IMP", "density (%)", "accuracy")
                .log_x(true)
                .series(Series::line_and_points("ticket", [(100.0, 60.0), (10.0, 58.0), (1.0, f64::NAN), (0.0, 3.0)])),
            Chart::new("t", "x", "y").y_range(f64::NAN, 1.0).series(Series::line("a", [(1e300, -1e300)])),
        ] {
            assert!(chart.to_png().is_ok(), "{}", chart.title);
        }
    }

    #[test]
    fn bars_stand_side_by_side() {
        let bars = (0..4).fold(Chart::new("PaI", "sparsity (%)", "accuracy"), |c, k| {
            c.series(Series::bars(format!("m{k}"), [(90.0, 50.0 + k as f64)]).with_error(vec![1.0]))
        });
        let rgb = bars.render().unwrap();
        assert!((0..4).all(|k| count(&rgb, PALETTE[k]) > 100), "four bars");
        let columns: Vec<f64> = (0..4).map(|k| centre(&rgb, bars.width, PALETTE[k]).0).collect();
        assert!(columns.windows(2).all(|w| w[0] < w[1]), "in series order, left to right: {columns:?}");
    }

    #[test]
    fn a_bar_chart_keeps_its_legend_clear_of_the_bars() {
        // Six bars of one height, with long names: each shows the same number of pixels of its colour, so the legend
        // in the upper right corner hides none of them. The x axis ticks only where the bars stand.
        let chart = (0..6).fold(Chart::new("PaI", "sparsity (%)", "accuracy"), |c, k| {
            c.series(Series::bars(format!("method {k}, shuffled within layers"), [(95.0, 60.0)]))
        });
        let rgb = chart.render().unwrap();
        let pixels: Vec<usize> = (0..6).map(|k| count(&rgb, PALETTE[k])).collect();
        let (lo, hi) = (pixels.iter().min().unwrap(), pixels.iter().max().unwrap());
        assert!(*lo > 1000 && hi - lo < hi / 30, "every bar whole: {pixels:?}");
        assert_eq!(chart.layout().ticks, Some(vec![95.0]));
    }

    #[test]
    fn the_legend_goes_where_it_hides_the_least() {
        let place = |c: &Chart| c.legend_place(&c.layout());
        // Lines along the top and near the bottom (the FreeTickets chart): the right side's middle is free.
        let members = Chart::new("FreeTickets", "members averaged", "accuracy")
            .series(Series::line_and_points("DST Ensemble", [(1.0, 72.3), (2.0, 72.5), (3.0, 73.3)]))
            .series(Series::line_and_points("EDST", [(1.0, 64.6), (2.0, 65.6), (3.0, 65.2)]))
            .series(Series::line("dense", [(1.0, 73.9), (3.0, 73.9)]));
        assert_eq!(place(&members), SeriesLabelPosition::MiddleRight);
        // A falling line leaves the upper right corner, the usual place; a rising one the upper left.
        let line = |a: f64, b: f64| Chart::new("", "", "").series(Series::line("a", [(0.0, a), (1.0, b)]));
        assert_eq!(place(&line(1.0, 0.0)), SeriesLabelPosition::UpperRight);
        assert_eq!(place(&line(0.0, 1.0)), SeriesLabelPosition::UpperLeft);
    }

    #[test]
    fn few_whole_x_values_are_the_ticks() {
        let ticks =
            |xs: &[f64]| Chart::new("", "", "").series(Series::line("a", xs.iter().map(|&x| (x, 1.0)))).layout().ticks;
        assert_eq!(ticks(&[1.0, 2.0, 3.0]), Some(vec![1.0, 2.0, 3.0]));
        assert_eq!(ticks(&[0.0, 1.0, 3.0, 5.0]), Some(vec![0.0, 1.0, 3.0, 5.0]));
        assert_eq!(ticks(&[0.5, 1.5]), None, "fractions");
        assert_eq!(ticks(&(0..20).map(f64::from).collect::<Vec<_>>()), None, "too many");
        assert_eq!(ticks(&[0.0, 1.0, 100.0]), None, "labels that would collide");
    }

    #[test]
    fn tick_labels_have_no_float_noise() {
        assert_eq!(tick_label(30.000000000000004), "30");
        assert_eq!(tick_label(0.5), "0.5");
        assert_eq!(tick_label(0.125), "0.125");
        assert_eq!(tick_label(2500.0), "2500");
        assert_eq!(tick_label(0.0), "0");
    }
}
