//! Charts written straight to PNG, so the CLI can plot experiment results without a GUI: line, point and bar series
//! with error bars on a linear or logarithmic x axis, with a legend; and heatmaps for pairwise matrices. Everything
//! is drawn here on an RGBA buffer (lines anti-aliased, text in an embedded 5×8 bitmap font); only the encoding is
//! left to the `png` crate.
//!
//! ```no_run
//! use ticketlab::chart::{Chart, Series};
//! let png = Chart::new("Accuracy", "epoch", "test accuracy")
//!     .series(Series::line("dense", vec![(0.0, 0.1), (1.0, 0.6), (2.0, 0.8)]))
//!     .series(Series::points("sparse", vec![(0.0, 0.1), (1.0, 0.5), (2.0, 0.7)]).with_error(vec![0.0, 0.05, 0.03]))
//!     .to_png()
//!     .unwrap();
//! std::fs::write("accuracy.png", png).unwrap();
//! ```

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// Series colours, in order: the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies),
/// ordered so that the first ones contrast best on white; yellow comes last.
pub const PALETTE: [Rgb; 8] = [
    [0x00, 0x72, 0xB2], // blue
    [0xD5, 0x5E, 0x00], // vermillion
    [0x00, 0x9E, 0x73], // bluish green
    [0xCC, 0x79, 0xA7], // reddish purple
    [0x56, 0xB4, 0xE9], // sky blue
    [0xE6, 0x9F, 0x00], // orange
    [0x00, 0x00, 0x00], // black
    [0xF0, 0xE4, 0x42], // yellow
];

const WHITE: Rgb = [0xFF, 0xFF, 0xFF];
const INK: Rgb = [0x22, 0x22, 0x22];
const SOFT_INK: Rgb = [0x55, 0x55, 0x55];
const GRID: Rgb = [0xE2, 0xE2, 0xE2];
const MINOR_GRID: Rgb = [0xF1, 0xF1, 0xF1];
const FRAME: Rgb = [0xAA, 0xAA, 0xAA];
const MISSING: Rgb = [0xDD, 0xDD, 0xDD];

/// How a series is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    #[default]
    Line,
    Points,
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
    pub error: Option<Vec<f64>>,
    pub style: Style,
}

impl Series {
    pub fn new(name: impl Into<String>, style: Style, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series { name: name.into(), points: points.into_iter().collect(), error: None, style }
    }

    pub fn line(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Self::new(name, Style::Line, points)
    }

    pub fn points(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Self::new(name, Style::Points, points)
    }

    pub fn line_and_points(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Self::new(name, Style::LineAndPoints, points)
    }

    pub fn bars(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Self::new(name, Style::Bars, points)
    }

    /// Error bars: ± `error[i]` around point i.
    pub fn with_error(mut self, error: Vec<f64>) -> Self {
        self.error = Some(error);
        self
    }

    fn error_at(&self, i: usize) -> Option<f64> {
        self.error.as_ref()?.get(i).copied().filter(|e| e.is_finite() && *e > 0.0)
    }
}

/// A chart of one or more series. Series take the palette's colours in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Logarithmic x axis (ticks at powers of ten, and at their 2× and 5× multiples when there is room).
    pub log_x: bool,
    /// The x axis grows to the left (the pruning papers' "weights remaining" axis, decreasing to the right).
    pub reversed_x: bool,
    /// Fixed y range; by default the data's range widened to the nearest ticks.
    pub y_range: Option<(f64, f64)>,
    /// Image size in pixels; text is drawn at double size from 640×400 up.
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

    /// The image as RGBA rows, `width × height × 4` bytes (empty when either side is 0).
    pub fn render(&self) -> Vec<u8> {
        if self.width == 0 || self.height == 0 {
            return vec![];
        }
        let mut c = Canvas::new(self.width as i64, self.height as i64);
        let l = self.layout();
        self.draw(&mut c, &l);
        c.px
    }

    /// The image as a PNG file.
    pub fn to_png(&self) -> Result<Vec<u8>, String> {
        encode_png(self.width, self.height, &self.render())
    }

    /// The points of `s` that can be drawn, with their index in `s.points`.
    fn drawable(&self, s: &Series) -> Vec<(usize, f64, f64)> {
        let log_x = self.log_x;
        s.points
            .iter()
            .enumerate()
            .filter(|(_, (x, y))| x.is_finite() && y.is_finite() && (!log_x || *x > 0.0))
            .map(|(i, &(x, y))| (i, x, y))
            .collect()
    }

    /// Sorted distinct x of the bar series.
    fn bar_xs(&self) -> Vec<f64> {
        let mut xs: Vec<f64> = self
            .series
            .iter()
            .filter(|s| s.style == Style::Bars)
            .flat_map(|s| self.drawable(s))
            .map(|(_, x, _)| x)
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        xs
    }

    fn data_ranges(&self) -> ((f64, f64), (f64, f64)) {
        let (mut x, mut y) = ((f64::INFINITY, f64::NEG_INFINITY), (f64::INFINITY, f64::NEG_INFINITY));
        let widen = |r: &mut (f64, f64), v: f64| {
            if v.is_finite() {
                r.0 = r.0.min(v);
                r.1 = r.1.max(v);
            }
        };
        for s in &self.series {
            for (i, px, py) in self.drawable(s) {
                widen(&mut x, px);
                widen(&mut y, py);
                if let Some(e) = s.error_at(i) {
                    widen(&mut y, py - e);
                    widen(&mut y, py + e);
                }
            }
            if s.style == Style::Bars && !self.drawable(s).is_empty() {
                widen(&mut y, 0.0);
            }
        }
        // Room for the outer half of the outermost bars.
        let xs = self.bar_xs();
        if let (Some(&first), Some(&last)) = (xs.first(), xs.last()) {
            let t = |v: f64| if self.log_x { v.log10() } else { v };
            let gap = xs.windows(2).map(|w| t(w[1]) - t(w[0])).fold(f64::INFINITY, f64::min);
            let gap = if gap.is_finite() {
                gap
            } else if self.log_x {
                0.5
            } else {
                first.abs().max(1.0) * 0.5
            };
            if self.log_x {
                widen(&mut x, first / 10f64.powf(gap / 2.0));
                widen(&mut x, last * 10f64.powf(gap / 2.0));
            } else {
                widen(&mut x, first - gap / 2.0);
                widen(&mut x, last + gap / 2.0);
            }
        }
        (x, y)
    }

    fn layout(&self) -> Layout {
        let (w, h) = (self.width as i64, self.height as i64);
        let s = if w >= 640 && h >= 400 { 2 } else { 1 };
        let pad = 6 * s;
        let th = 8 * s; // text height, descender included
        let tick = 4 * s;
        let title_s = if text_width(&self.title, 2) + 2 * pad <= w { 2 } else { 1 };
        let top = pad + if self.title.is_empty() { 0 } else { 8 * title_s + pad };
        let bottom_margin = tick + 3 * s + th + if self.x_label.is_empty() { 0 } else { pad + th } + pad;
        let bottom = (h - bottom_margin).max(top + 1);
        let plot_h = (bottom - top) as f64;

        let ((xlo, xhi), (ylo, yhi)) = self.data_ranges();
        let (ylo, yhi, fixed) = match self.y_range {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() => (lo, hi, true),
            _ => (ylo, yhi, false),
        };
        let y = (2..=5)
            .rev()
            .map(|target| linear_axis(ylo, yhi, target, fixed))
            .find(|a| a.ticks.len() < 2 || plot_h / (a.ticks.len() - 1) as f64 >= (th + 3 * s) as f64)
            .unwrap_or_else(|| linear_axis(ylo, yhi, 1, fixed));
        let y_labels = y.ticks.iter().map(|(_, l)| text_width(l, s)).max().unwrap_or(0);
        let left = pad + if self.y_label.is_empty() { 0 } else { th + pad } + y_labels + 3 * s + tick;

        let x_axis = |budget: usize| {
            if self.log_x { log_axis(xlo, xhi, budget + 4) } else { linear_axis(xlo, xhi, budget, false) }
        };
        let widest = x_axis(5).ticks.last().map(|(_, l)| text_width(l, s)).unwrap_or(0);
        let right = (w - pad.max(widest / 2 + 2 * s)).max(left + 1);
        let mut l = Layout { s, left, top, right, bottom, x: x_axis(5), y, reversed_x: self.reversed_x };
        for budget in (1..5).rev() {
            if l.x_labels_fit() {
                break;
            }
            l.x = x_axis(budget);
        }
        l
    }

    fn draw(&self, c: &mut Canvas, l: &Layout) {
        let s = l.s;
        let (w, h) = (c.w, c.h);
        let pad = 6 * s;
        let th = 8 * s;
        let tick = 4 * s;

        // Grid, axes, ticks and their labels.
        for &v in &l.x.minor {
            let col = l.col(v);
            if col > l.left {
                c.fill(col, l.top, col + 1, l.bottom - 1, MINOR_GRID);
            }
        }
        for (v, _) in &l.x.ticks {
            let col = l.col(*v);
            if col > l.left {
                c.fill(col, l.top, col + 1, l.bottom - 1, GRID);
            }
        }
        for (v, _) in &l.y.ticks {
            let row = l.row(*v);
            if row < l.bottom - 1 {
                c.fill(l.left + 1, row, l.right, row + 1, GRID);
            }
        }
        c.fill(l.left, l.top, l.left + 1, l.bottom, SOFT_INK);
        c.fill(l.left, l.bottom - 1, l.right, l.bottom, SOFT_INK);
        for (v, label) in &l.x.ticks {
            let col = l.col(*v);
            c.fill(col, l.bottom, col + 1, l.bottom + tick, SOFT_INK);
            let lw = text_width(label, s);
            let x = (col - lw / 2).clamp(0, (w - lw).max(0));
            c.text(x, l.bottom + tick + 3 * s, label, s, INK);
        }
        for (v, label) in &l.y.ticks {
            let row = l.row(*v);
            c.fill(l.left - tick, row, l.left, row + 1, SOFT_INK);
            let lw = text_width(label, s);
            c.text(l.left - tick - 3 * s - lw, row - 7 * s / 2, label, s, INK);
        }

        // Series: bars underneath, then lines, error bars and markers.
        let marker = 1.5 + 1.5 * s as f64;
        let width = 2.0;
        let reach = marker.ceil() as i64 + 1;
        let clip = Rect { x0: l.left - reach, y0: l.top - reach, x1: l.right + reach, y1: l.bottom + reach };
        let colour = |i: usize| PALETTE[i % PALETTE.len()];
        let bars: Vec<usize> = (0..self.series.len()).filter(|&i| self.series[i].style == Style::Bars).collect();
        if !bars.is_empty() {
            let mut cols: Vec<f64> = self.bar_xs().into_iter().map(|x| l.px_x(x)).collect();
            cols.dedup_by(|a, b| (*a - *b).abs() < 0.5);
            let gap = cols.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
            let gap = if gap.is_finite() { gap } else { (l.right - l.left) as f64 / 4.0 };
            let group = (gap * 0.8).max(1.0);
            let bw = group / bars.len() as f64;
            let base = l.px_y(0.0f64.clamp(l.y.lo.min(l.y.hi), l.y.hi.max(l.y.lo)));
            for (j, &si) in bars.iter().enumerate() {
                let series = &self.series[si];
                for (i, x, y) in self.drawable(series) {
                    let x0 = l.px_x(x) - group / 2.0 + j as f64 * bw;
                    let (a, b) = (x0.round() as i64, (x0 + bw).round() as i64);
                    let b = if b - a >= 4 { b - 1 } else { b.max(a + 1) };
                    let top = l.px_y(y);
                    let (r0, r1) = (top.min(base).max(clip.y0 as f64), top.max(base).min(clip.y1 as f64));
                    c.fill(
                        a.max(clip.x0),
                        r0.round() as i64,
                        b.min(clip.x1),
                        (r1.round() as i64).max(r0 as i64 + 1),
                        colour(si),
                    );
                    if let Some(e) = series.error_at(i) {
                        let xc = x0 + bw / 2.0;
                        c.error_bar(xc, l.px_y(y - e), l.px_y(y + e), (3 * s) as f64, INK, clip);
                    }
                }
            }
        }
        for (si, series) in self.series.iter().enumerate() {
            let pts = self.drawable(series);
            let px: Vec<(f64, f64)> = pts.iter().map(|&(_, x, y)| (l.px_x(x), l.px_y(y))).collect();
            if matches!(series.style, Style::Line | Style::LineAndPoints) {
                c.stroke(&px, width, colour(si), clip);
            }
            if series.style != Style::Bars {
                for (&(i, _, y), &(x, _)) in pts.iter().zip(&px) {
                    if let Some(e) = series.error_at(i) {
                        c.error_bar(x, l.px_y(y - e), l.px_y(y + e), (3 * s) as f64, colour(si), clip);
                    }
                }
            }
            if matches!(series.style, Style::Points | Style::LineAndPoints) {
                for &(x, y) in &px {
                    c.disc(x, y, marker, colour(si), clip);
                }
            }
        }

        self.draw_legend(c, l, marker);

        // Title and axis labels.
        if !self.title.is_empty() {
            let ts = if text_width(&self.title, 2) + 2 * pad <= w { 2 } else { 1 };
            let tw = text_width(&self.title, ts);
            let x = ((l.left + l.right - tw) / 2).clamp(0, (w - tw).max(0));
            c.bold_text(x, pad, &self.title, ts, INK);
        }
        if !self.x_label.is_empty() {
            let lw = text_width(&self.x_label, s);
            let x = ((l.left + l.right - lw) / 2).clamp(0, (w - lw).max(0));
            c.text(x, (l.bottom + tick + 3 * s + th + pad).min(h - th), &self.x_label, s, INK);
        }
        if !self.y_label.is_empty() {
            let lw = text_width(&self.y_label, s);
            let y = ((l.top + l.bottom + lw) / 2).clamp(lw.min(h - 1), h - 1);
            c.text_up(pad, y, &self.y_label, s, INK);
        }
    }

    /// The legend, in the corner of the plot area that hides the fewest data.
    fn draw_legend(&self, c: &mut Canvas, l: &Layout, marker: f64) {
        let entries: Vec<usize> = (0..self.series.len()).filter(|&i| !self.series[i].name.is_empty()).collect();
        if entries.is_empty() {
            return;
        }
        let s = l.s;
        let inner = 3 * s + 2;
        let swatch = 12 * s + 8;
        let row_h = 8 * s + 2 * s + 2;
        let text_w = entries.iter().map(|&i| text_width(&self.series[i].name, s)).max().unwrap_or(0);
        let (bw, bh) = (inner + swatch + 3 * s + text_w + inner, inner * 2 + row_h * entries.len() as i64 - 2 * s - 2);
        let margin = 4 * s;
        let (x_left, x_right) = (l.left + margin + 2, l.right - margin - bw);
        let (y_top, y_bottom) = (l.top + margin, l.bottom - margin - bh - 2);
        let corners = [(x_right, y_top), (x_left, y_top), (x_right, y_bottom), (x_left, y_bottom)];
        // Data hidden by a box: points and samples along the lines (bars count as their top).
        let mut samples = vec![];
        for series in &self.series {
            let px: Vec<(f64, f64)> = self.drawable(series).iter().map(|&(_, x, y)| (l.px_x(x), l.px_y(y))).collect();
            samples.extend(&px);
            if matches!(series.style, Style::Line | Style::LineAndPoints) {
                for w in px.windows(2) {
                    let n = ((w[1].0 - w[0].0).abs().max((w[1].1 - w[0].1).abs()) / 4.0).clamp(1.0, 200.0) as usize;
                    samples.extend((1..n).map(|k| {
                        let t = k as f64 / n as f64;
                        (w[0].0 + (w[1].0 - w[0].0) * t, w[0].1 + (w[1].1 - w[0].1) * t)
                    }));
                }
            }
        }
        let hidden = |&(x, y): &(i64, i64)| {
            let (x0, y0, x1, y1) = ((x - 4) as f64, (y - 4) as f64, (x + bw + 4) as f64, (y + bh + 4) as f64);
            samples.iter().filter(|&&(px, py)| px >= x0 && px < x1 && py >= y0 && py < y1).count()
        };
        let (x, y) = corners.iter().copied().min_by_key(hidden).unwrap_or(corners[0]);

        c.fill(x, y, x + bw, y + bh, WHITE);
        c.fill(x, y, x + bw, y + 1, FRAME);
        c.fill(x, y + bh - 1, x + bw, y + bh, FRAME);
        c.fill(x, y, x + 1, y + bh, FRAME);
        c.fill(x + bw - 1, y, x + bw, y + bh, FRAME);
        let everywhere = Rect { x0: 0, y0: 0, x1: c.w, y1: c.h };
        for (k, &i) in entries.iter().enumerate() {
            let series = &self.series[i];
            let colour = PALETTE[i % PALETTE.len()];
            let top = y + inner + k as i64 * row_h;
            let mid = top as f64 + 3.5 * s as f64;
            let (sx0, sx1) = ((x + inner) as f64, (x + inner + swatch) as f64);
            match series.style {
                Style::Line | Style::LineAndPoints => c.stroke(&[(sx0, mid), (sx1, mid)], 2.0, colour, everywhere),
                Style::Points => {}
                Style::Bars => {
                    let (a, b) = (x + inner + swatch / 4, x + inner + swatch * 3 / 4);
                    c.fill(a, top, b, top + 7 * s, colour);
                }
            }
            if matches!(series.style, Style::Points | Style::LineAndPoints) {
                c.disc((sx0 + sx1) / 2.0, mid, marker, colour, everywhere);
            }
            c.text(x + inner + swatch + 3 * s, top, &series.name, s, INK);
        }
    }
}

/// Where things go on a chart.
struct Layout {
    /// Text scale.
    s: i64,
    /// The plot area, `left..right × top..bottom` in pixels; the axes lie on its left column and bottom row.
    left: i64,
    top: i64,
    right: i64,
    bottom: i64,
    x: Axis,
    y: Axis,
    reversed_x: bool,
}

impl Layout {
    fn px_x(&self, v: f64) -> f64 {
        let f = self.x.frac(v);
        self.left as f64 + if self.reversed_x { 1.0 - f } else { f } * (self.right - self.left) as f64
    }

    fn px_y(&self, v: f64) -> f64 {
        self.bottom as f64 - self.y.frac(v) * (self.bottom - self.top) as f64
    }

    /// The pixel column a tick at `v` is drawn on.
    fn col(&self, v: f64) -> i64 {
        (self.px_x(v).floor() as i64).clamp(self.left, self.right - 1)
    }

    fn row(&self, v: f64) -> i64 {
        (self.px_y(v).floor() as i64).clamp(self.top, self.bottom - 1)
    }

    fn x_labels_fit(&self) -> bool {
        let mut spans: Vec<(f64, f64)> =
            self.x.ticks.iter().map(|(v, label)| (self.px_x(*v), text_width(label, self.s) as f64)).collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        spans.windows(2).all(|w| w[1].0 - w[0].0 >= (w[0].1 + w[1].1) / 2.0 + (6 * self.s) as f64)
    }
}

/// An axis' range and its labelled (and, on log axes, unlabelled minor) ticks.
#[derive(Clone, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<(f64, String)>,
    minor: Vec<f64>,
}

impl Axis {
    /// Where `v` lies between the ends: 0 at `lo`, 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
}

/// A usable range: finite, ordered, and not empty (a single value is padded by 10%, or by 1 around 0).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let scale = lo.abs().max(hi.abs());
    if hi - lo > scale * 1e-12 && (hi - lo).is_finite() {
        return (lo, hi);
    }
    let d = if scale == 0.0 { 1.0 } else { scale * 0.1 };
    (lo - d, hi + d)
}

/// The smallest 1, 2 or 5 × 10^k that cuts `span` into at most `target` intervals.
fn nice_step(span: f64, target: usize) -> f64 {
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|&step| step >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * mag)
}

/// About `target` (at most `target + 1`) ticks at multiples of a nice step inside `[lo, hi]`, and the step (the
/// tests check the tick rule through it).
#[cfg(test)]
fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let (lo, hi) = padded(lo, hi);
    let step = nice_step(hi - lo, target);
    (multiples(lo, hi, step), step)
}

/// The multiples of `step` inside `[lo, hi]` (at most 101; the ends when the step is unusable).
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    if !step.is_finite() || step <= 0.0 {
        return vec![lo, hi];
    }
    let (first, last) = ((lo / step - 1e-9).ceil(), (hi / step + 1e-9).floor());
    (0..=((last - first) as i64).clamp(0, 100))
        .map(|k| {
            let v = (first + k as f64) * step;
            if v.abs() < step * 1e-9 { 0.0 } else { v }
        })
        .collect()
}

/// A linear axis over the data range, widened to the enclosing ticks unless `fixed`.
fn linear_axis(lo: f64, hi: f64, target: usize, fixed: bool) -> Axis {
    let (mut lo, mut hi) = padded(lo, hi);
    let step = nice_step(hi - lo, target);
    if !fixed && step.is_finite() && step > 0.0 {
        let (a, b) = ((lo / step + 1e-9).floor() * step, (hi / step - 1e-9).ceil() * step);
        if a.is_finite() && b.is_finite() {
            (lo, hi) = (a, b);
        }
    }
    let magnitude = lo.abs().max(hi.abs());
    let ticks = multiples(lo, hi, step).into_iter().map(|v| (v, format_tick(v, step, magnitude))).collect();
    Axis { lo, hi, log: false, ticks, minor: vec![] }
}

/// A tick label: as many decimals as the step needs, or a mantissa and exponent for very large or small numbers.
fn format_tick(v: f64, step: f64, magnitude: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&magnitude) {
        let e = v.abs().log10().floor();
        let decimals = (e - step.log10().floor()).clamp(0.0, 6.0) as usize;
        let m = format!("{:.*}", decimals, v / 10f64.powf(e));
        let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { &m };
        return format!("{m}e{e}");
    }
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// A logarithmic axis over the positive data range: ticks at powers of ten, with their 2× and 5× multiples when at
/// most `max_labels` labels result (else every power of ten, or every other, and so on), widened to enclosing ticks.
fn log_axis(lo: f64, hi: f64, max_labels: usize) -> Axis {
    let ok = |v: f64| v.is_finite() && v > 0.0;
    let (mut lo, mut hi) = if ok(lo) && ok(hi) { (lo.min(hi), lo.max(hi)) } else { (1.0, 10.0) };
    if hi / lo < 1.000001 {
        (lo, hi) = (lo / 2.0, hi * 2.0);
    }
    let k0 = (lo.log10() + 1e-9).floor() as i32;
    let k1 = ((hi.log10() - 1e-9).ceil() as i32).max(k0 + 1);
    let decades = k1 - k0;
    let options = [(&[1.0, 2.0, 5.0][..], 1), (&[1.0][..], 1), (&[1.0][..], 2), (&[1.0][..], 3), (&[1.0][..], 5)];
    let build = |mults: &[f64], stride: i32| {
        let stride = stride.max(1);
        let k_end = k0 + stride * ((decades + stride - 1) / stride);
        let candidates: Vec<(f64, i32)> =
            (k0..=k_end).step_by(stride as usize).flat_map(|k| mults.iter().map(move |&m| (m, k))).collect();
        let value = |(m, k): (f64, i32)| m * 10f64.powi(k);
        let a = candidates.iter().rev().map(|&c| value(c)).find(|&v| v <= lo * (1.0 + 1e-9)).unwrap_or(lo);
        let b = candidates.iter().map(|&c| value(c)).find(|&v| v >= hi * (1.0 - 1e-9)).unwrap_or(hi);
        let ticks: Vec<(f64, String)> = candidates
            .iter()
            .filter(|&&c| value(c) >= a * (1.0 - 1e-9) && value(c) <= b * (1.0 + 1e-9))
            .map(|&(m, k)| (value((m, k)), format_power(m, k)))
            .collect();
        let minor = if stride == 1 && decades <= 6 {
            (k0..k_end)
                .flat_map(|k| (2..=9).filter(|m| !mults.contains(&(*m as f64))).map(move |m| m as f64 * 10f64.powi(k)))
                .filter(|&v| v > a && v < b)
                .collect()
        } else {
            vec![]
        };
        Axis { lo: a, hi: b, log: true, ticks, minor }
    };
    let stride = ((decades + 7) / 8).max(1);
    let mut last = build(&[1.0], stride);
    for (mults, s) in options {
        if mults.len() > 1 && decades > 3 {
            continue;
        }
        last = build(mults, s.max(stride));
        if last.ticks.len() <= max_labels {
            break;
        }
    }
    last
}

/// `m × 10^k` as a label: plain decimals for 0.001 to 99999, else like `2e6`.
fn format_power(m: f64, k: i32) -> String {
    if (-3..=4).contains(&k) {
        let decimals = (-k).max(0) as usize;
        format!("{:.*}", decimals, m * 10f64.powi(k))
    } else {
        format!("{m}e{k}")
    }
}

/// A pairwise matrix (e.g. how often two models disagree) as a PNG heatmap: one cell per value, coloured on the
/// viridis scale between the smallest and largest finite value (non-finite cells grey), the value written in the
/// cell when it fits, a colour bar, and row and column labels.
pub fn heatmap_png(
    title: &str,
    values: &[Vec<f64>],
    row_labels: &[String],
    col_labels: &[String],
) -> Result<Vec<u8>, String> {
    let (c, _) = heatmap(title, values, row_labels, col_labels);
    encode_png(c.w as u32, c.h as u32, &c.px)
}

/// Where the cells of a heatmap lie: cell (r, c) covers `left + c·cell .. + cell` × `top + r·cell .. + cell`.
#[derive(Debug)]
/// Where the heatmap's cells landed (the tests check cell colours there).
#[cfg_attr(not(test), allow(dead_code))]
struct Cells {
    left: i64,
    top: i64,
    cell: i64,
}

fn heatmap(title: &str, values: &[Vec<f64>], row_labels: &[String], col_labels: &[String]) -> (Canvas, Cells) {
    let rows = values.len() as i64;
    let cols = values.iter().map(Vec::len).max().unwrap_or(0) as i64;
    let cell = if rows == 0 || cols == 0 { 0 } else { (560 / rows.max(cols)).clamp(4, 80) };
    let s = if cell >= 32 { 2 } else { 1 };
    let pad = 6 * s;
    let finite = || values.iter().flatten().copied().filter(|v| v.is_finite());
    let (lo, hi) = (finite().fold(f64::INFINITY, f64::min), finite().fold(f64::NEG_INFINITY, f64::max));
    let (lo, hi) = padded(lo, hi);
    let magnitude = lo.abs().max(hi.abs());
    // Labels only where cells are as tall as the text.
    let label = |i: i64, labels: &[String]| {
        if cell >= 9 { labels.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
    };

    let title_s = 2;
    let title_h = if title.is_empty() { 0 } else { 8 * title_s + pad };
    let col_w = |scale| (0..cols).map(|i| text_width(&label(i, col_labels), scale)).max().unwrap_or(0);
    // Column labels upright when they fit over their column with room to spare (at 1× if need be), else turned.
    let col_s = if col_w(s) + 4 * s <= cell { s } else { 1 };
    let upright = col_w(col_s) + 4 * col_s <= cell;
    let col_h = match col_w(s) {
        0 => 0,
        _ if upright => 8 * col_s + pad,
        w => w + pad,
    };
    let row_w = (0..rows).map(|i| text_width(&label(i, row_labels), s)).max().unwrap_or(0);
    let left = pad + row_w + if row_w == 0 { 0 } else { pad };
    let top = pad + title_h + col_h;
    let (grid_w, grid_h) = (cols * cell, rows * cell);
    let bar_h = grid_h.max(60);
    let bar_labels = [hi, (lo + hi) / 2.0, lo].map(|v| format_cell(v, magnitude));
    let bar_text = bar_labels.iter().map(|l| text_width(l, s)).max().unwrap_or(0);
    let bar_x = left + grid_w + 2 * pad;
    let bar_w = 10 * s;
    let w = (bar_x + bar_w + 3 * s + bar_text + pad).max(text_width(title, title_s) + 2 * pad);
    let h = top + bar_h + pad + 4 * s;
    let mut c = Canvas::new(w, h);
    // One text size for all cells: the largest at which every value fits, if any.
    let widest = finite().map(|v| text_width(&format_cell(v, magnitude), 1)).max().unwrap_or(0);
    let cell_text = [2, 1].into_iter().find(|&ts| ts <= s && (widest + 4) * ts <= cell && 11 * ts <= cell);

    if !title.is_empty() {
        let tw = text_width(title, title_s);
        c.bold_text(((left + grid_w / 2) - tw / 2).clamp(pad, (w - tw - pad).max(0)), pad, title, title_s, INK);
    }
    for r in 0..rows {
        let text = label(r, row_labels);
        let y = top + r * cell + (cell - 7 * s) / 2;
        c.text(left - pad - text_width(&text, s), y, &text, s, INK);
        for k in 0..cols {
            let v = values[r as usize].get(k as usize).copied().unwrap_or(f64::NAN);
            let (x0, y0) = (left + k * cell, top + r * cell);
            let fill = if v.is_finite() { viridis(((v - lo) / (hi - lo)).clamp(0.0, 1.0)) } else { MISSING };
            c.fill(x0, y0, x0 + cell, y0 + cell, fill);
            if !v.is_finite() {
                continue;
            }
            let text = format_cell(v, magnitude);
            let ink = if luminance(fill) < 0.45 { WHITE } else { INK };
            if let Some(ts) = cell_text {
                let tw = text_width(&text, ts);
                c.text(x0 + (cell - tw) / 2, y0 + (cell - 7 * ts) / 2, &text, ts, ink);
            }
        }
    }
    for k in 0..cols {
        let text = label(k, col_labels);
        let xc = left + k * cell + cell / 2;
        if upright {
            let tw = text_width(&text, col_s);
            c.text(xc - tw / 2, top - pad - 7 * col_s, &text, col_s, INK);
        } else {
            c.text_up(xc - 7 * s / 2, top - pad, &text, s, INK);
        }
    }
    // Colour bar, top = largest.
    for y in 0..bar_h {
        let t = 1.0 - y as f64 / (bar_h - 1).max(1) as f64;
        c.fill(bar_x, top + y, bar_x + bar_w, top + y + 1, viridis(t));
    }
    for (k, text) in bar_labels.iter().enumerate() {
        let y = top + (bar_h - 1) * k as i64 / 2;
        c.fill(bar_x + bar_w, y, bar_x + bar_w + 2 * s, y + 1, INK);
        c.text(bar_x + bar_w + 3 * s, (y - 7 * s / 2).clamp(0, h - 8 * s), text, s, INK);
    }
    (c, Cells { left, top, cell })
}

/// A heatmap cell's text, with the same precision for the whole map.
fn format_cell(v: f64, magnitude: f64) -> String {
    if magnitude >= 1e5 || (magnitude > 0.0 && magnitude < 0.01) {
        format!("{v:.1e}")
    } else if magnitude >= 100.0 {
        format!("{v:.0}")
    } else if magnitude >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The viridis colour map (perceptually uniform, colour-blind-friendly, lightness rising with t ∈ [0, 1]).
fn viridis(t: f64) -> Rgb {
    const STOPS: [Rgb; 11] = [
        [0x44, 0x01, 0x54],
        [0x48, 0x24, 0x75],
        [0x41, 0x44, 0x87],
        [0x35, 0x5F, 0x8D],
        [0x2A, 0x78, 0x8E],
        [0x21, 0x91, 0x8C],
        [0x22, 0xA8, 0x84],
        [0x44, 0xBF, 0x70],
        [0x7A, 0xD1, 0x51],
        [0xBD, 0xDF, 0x26],
        [0xFD, 0xE7, 0x25],
    ];
    let x = if t.is_finite() { t.clamp(0.0, 1.0) * 10.0 } else { 0.0 };
    let i = (x.floor() as usize).min(9);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [0, 1, 2].map(|k| (a[k] as f64 + (b[k] as f64 - a[k] as f64) * f).round() as u8)
}

/// Relative luminance, 0 (black) to 1 (white).
fn luminance(c: Rgb) -> f64 {
    let lin = |v: u8| {
        let v = v as f64 / 255.0;
        if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

fn encode_png(width: u32, height: u32, rgba: &[u8]) -> Result<Vec<u8>, String> {
    if width == 0 || height == 0 {
        return Err(format!("cannot write a {width}×{height} image"));
    }
    let mut bytes = vec![];
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| format!("PNG: {e}"))?;
    writer.write_image_data(rgba).map_err(|e| format!("PNG: {e}"))?;
    writer.finish().map_err(|e| format!("PNG: {e}"))?;
    Ok(bytes)
}

/// A half-open pixel rectangle.
#[derive(Clone, Copy, Debug)]
struct Rect {
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
}

/// An RGBA image on white. Pixel (x, y) covers `[x, x + 1) × [y, y + 1)`.
struct Canvas {
    w: i64,
    h: i64,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: i64, h: i64) -> Self {
        let (w, h) = (w.max(0), h.max(0));
        Canvas { w, h, px: vec![0xFF; (w * h * 4) as usize] }
    }

    #[cfg(test)]
    fn get(&self, x: i64, y: i64) -> Rgb {
        let i = ((y * self.w + x) * 4) as usize;
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }

    /// Paint `c` over pixel (x, y) with opacity `a`.
    fn blend(&mut self, x: i64, y: i64, c: Rgb, a: f32) {
        if x < 0 || y < 0 || x >= self.w || y >= self.h || a <= 0.0 {
            return;
        }
        let i = ((y * self.w + x) * 4) as usize;
        for k in 0..3 {
            let d = self.px[i + k] as f32;
            self.px[i + k] = (d + (c[k] as f32 - d) * a.min(1.0)).round() as u8;
        }
    }

    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        let (x0, x1) = (x0.clamp(0, self.w), x1.clamp(0, self.w));
        let (y0, y1) = (y0.clamp(0, self.h), y1.clamp(0, self.h));
        for y in y0..y1 {
            for x in x0..x1 {
                let i = ((y * self.w + x) * 4) as usize;
                self.px[i..i + 3].copy_from_slice(&c);
            }
        }
    }

    /// An anti-aliased polyline `width` pixels wide through the (continuous) pixel coordinates `pts`, inside `clip`;
    /// a single point draws a dot. Overlaps within the line don't darken.
    fn stroke(&mut self, pts: &[(f64, f64)], width: f64, c: Rgb, clip: Rect) {
        let clip = Rect { x0: clip.x0.max(0), y0: clip.y0.max(0), x1: clip.x1.min(self.w), y1: clip.y1.min(self.h) };
        if pts.is_empty() || clip.x1 <= clip.x0 || clip.y1 <= clip.y0 {
            return;
        }
        let reach = width / 2.0 + 0.5;
        let cw = clip.x1 - clip.x0;
        let mut cover = vec![0f32; (cw * (clip.y1 - clip.y0)) as usize];
        let segments: Vec<[(f64, f64); 2]> =
            if pts.len() == 1 { vec![[pts[0], pts[0]]] } else { pts.windows(2).map(|w| [w[0], w[1]]).collect() };
        for [a, b] in segments {
            let x0 = ((a.0.min(b.0) - reach).floor() as i64).max(clip.x0);
            let x1 = ((a.0.max(b.0) + reach).ceil() as i64).min(clip.x1);
            let y0 = ((a.1.min(b.1) - reach).floor() as i64).max(clip.y0);
            let y1 = ((a.1.max(b.1) + reach).ceil() as i64).min(clip.y1);
            for y in y0..y1 {
                for x in x0..x1 {
                    let d = segment_distance((x as f64 + 0.5, y as f64 + 0.5), a, b);
                    let v = (reach - d).clamp(0.0, 1.0) as f32;
                    let i = ((y - clip.y0) * cw + (x - clip.x0)) as usize;
                    cover[i] = cover[i].max(v);
                }
            }
        }
        for (i, &a) in cover.iter().enumerate() {
            if a > 0.0 {
                let i = i as i64;
                self.blend(clip.x0 + i % cw, clip.y0 + i / cw, c, a);
            }
        }
    }

    /// An anti-aliased filled circle.
    fn disc(&mut self, cx: f64, cy: f64, r: f64, c: Rgb, clip: Rect) {
        let x0 = ((cx - r - 1.0).floor() as i64).max(clip.x0);
        let x1 = ((cx + r + 1.0).ceil() as i64).min(clip.x1);
        let y0 = ((cy - r - 1.0).floor() as i64).max(clip.y0);
        let y1 = ((cy + r + 1.0).ceil() as i64).min(clip.y1);
        for y in y0..y1 {
            for x in x0..x1 {
                let d = (x as f64 + 0.5 - cx).hypot(y as f64 + 0.5 - cy);
                self.blend(x, y, c, (r + 0.5 - d).clamp(0.0, 1.0) as f32);
            }
        }
    }

    /// A vertical error bar from `y0` to `y1` at `x`, with caps `cap` pixels either side.
    /// Drawn on pixel centres, to stay crisp.
    fn error_bar(&mut self, x: f64, y0: f64, y1: f64, cap: f64, c: Rgb, clip: Rect) {
        let centre = |v: f64| v.floor() + 0.5;
        let (x, y0, y1) = (centre(x), centre(y0), centre(y1));
        self.stroke(&[(x, y0), (x, y1)], 1.5, c, clip);
        self.stroke(&[(x - cap, y0), (x + cap, y0)], 1.5, c, clip);
        self.stroke(&[(x - cap, y1), (x + cap, y1)], 1.5, c, clip);
    }

    /// Text with its top-left corner at (x, y), each font pixel drawn `scale × scale`.
    fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, c: Rgb) {
        self.glyphs(text, scale, |canvas, u, v| canvas.fill(x + u, y + v, x + u + scale, y + v + scale, c));
    }

    /// Heavier text, for titles: drawn twice, a pixel apart (one pixel wider than `text_width`).
    fn bold_text(&mut self, x: i64, y: i64, text: &str, scale: i64, c: Rgb) {
        self.text(x, y, text, scale, c);
        if scale > 1 {
            self.text(x + 1, y, text, scale, c);
        }
    }

    /// Text turned a quarter to the left (read bottom to top), starting at (x, `bottom`); glyph tops face left.
    fn text_up(&mut self, x: i64, bottom: i64, text: &str, scale: i64, c: Rgb) {
        self.glyphs(text, scale, |canvas, u, v| canvas.fill(x + v, bottom - u - scale, x + v + scale, bottom - u, c));
    }

    /// Calls `dot(self, u, v)` for each font pixel of `text`, u along the text and v down from its top.
    fn glyphs(&mut self, text: &str, scale: i64, mut dot: impl FnMut(&mut Self, i64, i64)) {
        let mut pen = 0;
        for ch in text.chars() {
            let g = glyph(ch);
            let (first, width) = glyph_columns(&g);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        dot(self, pen + (col - first) * scale, row as i64 * scale);
                    }
                }
            }
            pen += (width + 1) * scale;
        }
    }
}

/// Distance from `p` to the segment `a`–`b`.
fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 { (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
    (p.0 - a.0 - t * dx).hypot(p.1 - a.1 - t * dy)
}

/// Width in pixels of `text` drawn at `scale`: glyphs are as wide as their ink (space 3) with 1 pixel between.
fn text_width(text: &str, scale: i64) -> i64 {
    let w: i64 = text.chars().map(|ch| glyph_columns(&glyph(ch)).1 + 1).sum();
    (w - 1).max(0) * scale
}

/// The first inked column of a glyph and its inked width (a blank glyph is 3 wide).
fn glyph_columns(g: &[u8; 8]) -> (i64, i64) {
    let bits = g.iter().fold(0, |a, b| a | b);
    if bits == 0 {
        return (0, 3);
    }
    let first = (0..5).find(|c| bits & (0x10 >> c) != 0).unwrap_or(0);
    let last = (0..5).rev().find(|c| bits & (0x10 >> c) != 0).unwrap_or(4);
    (first, last - first + 1)
}

/// The glyph for `ch`: printable ASCII, a few symbols, else a box.
fn glyph(ch: char) -> [u8; 8] {
    match ch {
        ' '..='~' => FONT[ch as usize - 32],
        _ => EXTRA.iter().find(|(c, _)| *c == ch).map_or(BOX, |(_, g)| *g),
    }
}

const BOX: [u8; 8] = [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F, 0x00];

/// 5×8 bitmap glyphs for ASCII 32..=126: one byte per row, bit 4 is the leftmost column; rows 0..7 are the
/// cap height and row 7 holds descenders.
#[rustfmt::skip]
const FONT: [[u8; 8]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // ' '
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00], // '!'
    [0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00], // '"'
    [0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a, 0x00], // '#'
    [0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04, 0x00], // '$'
    [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00], // '%'
    [0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d, 0x00], // '&'
    [0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00], // "'"
    [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00], // '('
    [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00], // ')'
    [0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00, 0x00], // '*'
    [0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00, 0x00], // '+'
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x08], // ','
    [0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00], // '-'
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x00], // '.'
    [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10, 0x00], // '/'
    [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e, 0x00], // '0'
    [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00], // '1'
    [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f, 0x00], // '2'
    [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e, 0x00], // '3'
    [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02, 0x00], // '4'
    [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e, 0x00], // '5'
    [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e, 0x00], // '6'
    [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00], // '7'
    [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e, 0x00], // '8'
    [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c, 0x00], // '9'
    [0x00, 0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00], // ':'
    [0x00, 0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x08], // ';'
    [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00], // '<'
    [0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00, 0x00], // '='
    [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00], // '>'
    [0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00], // '?'
    [0x0e, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0e, 0x00], // '@'
    [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00], // 'A'
    [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e, 0x00], // 'B'
    [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e, 0x00], // 'C'
    [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c, 0x00], // 'D'
    [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f, 0x00], // 'E'
    [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x00], // 'F'
    [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f, 0x00], // 'G'
    [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00], // 'H'
    [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00], // 'I'
    [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c, 0x00], // 'J'
    [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00], // 'K'
    [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f, 0x00], // 'L'
    [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00], // 'M'
    [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00], // 'N'
    [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00], // 'O'
    [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10, 0x00], // 'P'
    [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d, 0x00], // 'Q'
    [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11, 0x00], // 'R'
    [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e, 0x00], // 'S'
    [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00], // 'T'
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00], // 'U'
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00], // 'V'
    [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a, 0x00], // 'W'
    [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11, 0x00], // 'X'
    [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x00], // 'Y'
    [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f, 0x00], // 'Z'
    [0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e, 0x00], // '['
    [0x10, 0x10, 0x08, 0x04, 0x02, 0x01, 0x01, 0x00], // '\\'
    [0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e, 0x00], // ']'
    [0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00], // '^'
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f], // '_'
    [0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00], // '`'
    [0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00], // 'a'
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e, 0x00], // 'b'
    [0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e, 0x00], // 'c'
    [0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f, 0x00], // 'd'
    [0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e, 0x00], // 'e'
    [0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08, 0x00], // 'f'
    [0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e], // 'g'
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00], // 'h'
    [0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e, 0x00], // 'i'
    [0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0c], // 'j'
    [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00], // 'k'
    [0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00], // 'l'
    [0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11, 0x00], // 'm'
    [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00], // 'n'
    [0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e, 0x00], // 'o'
    [0x00, 0x00, 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10], // 'p'
    [0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x01], // 'q'
    [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00], // 'r'
    [0x00, 0x00, 0x0f, 0x10, 0x0e, 0x01, 0x1e, 0x00], // 's'
    [0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06, 0x00], // 't'
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d, 0x00], // 'u'
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00], // 'v'
    [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a, 0x00], // 'w'
    [0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00], // 'x'
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e], // 'y'
    [0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f, 0x00], // 'z'
    [0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00], // '{'
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00], // '|'
    [0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00], // '}'
    [0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00], // '~'
];

/// A few non-ASCII glyphs that chart labels tend to need.
#[rustfmt::skip]
const EXTRA: [(char, [u8; 8]); 7] = [
    ('±', [0x04, 0x04, 0x1f, 0x04, 0x04, 0x00, 0x1f, 0x00]),
    ('×', [0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00, 0x00]),
    ('−', [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00]),
    ('°', [0x0c, 0x12, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00]),
    ('μ', [0x00, 0x00, 0x11, 0x11, 0x11, 0x1b, 0x15, 0x10]),
    ('σ', [0x00, 0x00, 0x0f, 0x12, 0x11, 0x11, 0x0e, 0x00]),
    ('…', [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0x00]),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG into (width, height, RGBA).
    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn pixel(rgba: &[u8], width: u32, x: i64, y: i64) -> Rgb {
        let i = ((y * width as i64 + x) * 4) as usize;
        [rgba[i], rgba[i + 1], rgba[i + 2]]
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-12))
    }

    #[test]
    fn png_has_the_signature_and_the_size() {
        let bytes = Chart::new("t", "x", "y").size(321, 123).series(Series::line("a", [(0.0, 1.0)])).to_png().unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&bytes[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 321);
        assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 123);
        let (w, h, rgba) = decode(&bytes);
        assert_eq!((w, h, rgba.len()), (321, 123, 321 * 123 * 4));
        assert_eq!(pixel(&rgba, w, 0, 0), WHITE);
    }

    #[test]
    fn a_horizontal_line_through_the_middle_of_the_range_crosses_the_middle_of_the_plot() {
        let chart = Chart::new("Flat", "x", "y")
            .series(Series::line("flat", [(0.0, 0.5), (10.0, 0.5)]))
            .series(Series::line("", [(0.0, 0.0), (10.0, 1.0)]))
            .y_range(0.0, 1.0);
        let l = chart.layout();
        let rgba = chart.render();
        let mid = (l.top + l.bottom) / 2;
        assert!((l.px_y(0.5) - (l.top + l.bottom) as f64 / 2.0).abs() < 1e-9);
        // The first series' colour along the whole middle row, except where the diagonal crosses it.
        let hits = (l.left + 2..l.right - 2).filter(|&x| pixel(&rgba, chart.width, x, mid) == PALETTE[0]).count();
        assert!(hits as i64 >= l.right - l.left - 30, "{hits} of {}", l.right - l.left);
        // 2 pixels wide: the rows around it are still fully coloured, 3 rows off is background.
        let x = l.left + (l.right - l.left) / 4;
        assert_eq!(pixel(&rgba, chart.width, x, mid - 1), PALETTE[0]);
        for dy in [-4, 3] {
            assert_ne!(pixel(&rgba, chart.width, x, mid + dy), PALETTE[0]);
        }
        // The second (diagonal) series gets the second colour, near its ends.
        let (x, y) = (l.px_x(1.0), l.px_y(0.1));
        assert_eq!(pixel(&rgba, chart.width, x.floor() as i64, y.floor() as i64), PALETTE[1]);
    }

    #[test]
    fn a_reversed_log_x_axis_decreases_to_the_right() {
        let chart =
            Chart::new("", "", "").log_x(true).reversed_x(true).series(Series::line("a", [(1.0, 0.0), (100.0, 1.0)]));
        let l = chart.layout();
        assert!((l.px_x(100.0) - l.left as f64).abs() < 1e-9, "100% remaining sits on the left");
        assert!((l.px_x(1.0) - l.right as f64).abs() < 1e-9, "1% remaining on the right");
        assert!(l.px_x(10.0) > l.px_x(20.0) && l.px_x(20.0) > l.px_x(50.0));
        assert!(l.x_labels_fit());
    }

    #[test]
    fn log_x_ticks_sit_at_powers_of_ten_and_evenly_spaced() {
        let chart = Chart::new("", "", "").log_x(true).series(Series::line("a", [(1.0, 0.0), (1000.0, 1.0)]));
        let l = chart.layout();
        let ticks: Vec<f64> = l.x.ticks.iter().map(|t| t.0).collect();
        assert!(close(&ticks, &[1.0, 10.0, 100.0, 1000.0]), "{ticks:?}");
        let labels: Vec<&str> = l.x.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["1", "10", "100", "1000"]);
        let cols: Vec<f64> = ticks.iter().map(|&v| l.px_x(v)).collect();
        assert_eq!(cols[0], l.left as f64);
        assert!((cols[3] - l.right as f64).abs() < 1e-9);
        assert!((cols[1] - cols[0] - (cols[2] - cols[1])).abs() < 1e-9);
        assert!((cols[2] - cols[1] - (cols[3] - cols[2])).abs() < 1e-9);
        // log10(2) of a decade in.
        assert!((l.px_x(2.0) - cols[0] - (cols[1] - cols[0]) * 2f64.log10()).abs() < 1e-9);
        // Tick marks drawn below the axis at those columns.
        let rgba = chart.render();
        for &v in &ticks[1..3] {
            assert_eq!(pixel(&rgba, chart.width, l.col(v), l.bottom + 1), SOFT_INK);
        }

        // Over two decades there is room for the 2× and 5× ticks.
        let axis = log_axis(0.03, 4.0, 9);
        let ticks: Vec<f64> = axis.ticks.iter().map(|t| t.0).collect();
        assert!(close(&ticks, &[0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]), "{ticks:?}");
        assert_eq!(axis.ticks[0].1, "0.02");
        assert!((axis.lo - 0.02).abs() < 1e-12 && (axis.hi - 5.0).abs() < 1e-12);
        assert!(axis.minor.iter().any(|&v| (v - 0.3).abs() < 1e-12));
        // Many decades: powers of ten only, thinned to fit.
        let axis = log_axis(1e-6, 1e12, 9);
        assert!(axis.ticks.len() <= 9 && axis.ticks.len() >= 4, "{:?}", axis.ticks);
        assert!(axis.ticks.iter().all(|(v, _)| (v.log10() - v.log10().round()).abs() < 1e-9));
        assert_eq!(axis.ticks.last().unwrap().1, "1e12");
        // Non-positive x are skipped on a log axis; nonsense ranges fall back.
        let l = Chart::new("", "", "").log_x(true).series(Series::line("a", [(0.0, 1.0), (-1.0, 2.0)])).layout();
        assert!(l.x.lo > 0.0 && l.x.hi > l.x.lo);
        assert!(log_axis(5.0, 5.0, 9).ticks.len() >= 2);
    }

    #[test]
    fn nice_ticks_on_several_ranges() {
        let (t, step) = nice_ticks(0.0, 1.0, 5);
        assert!(close(&t, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]) && step == 0.2, "{t:?}");
        let (t, step) = nice_ticks(0.003, 0.2, 5);
        assert!(close(&t, &[0.05, 0.1, 0.15, 0.2]) && (step - 0.05).abs() < 1e-15, "{t:?}");
        let (t, _) = nice_ticks(-5.0, 5.0, 5);
        assert!(close(&t, &[-4.0, -2.0, 0.0, 2.0, 4.0]), "{t:?}");
        let (t, _) = nice_ticks(1e6, 3e6, 5);
        assert!(close(&t, &[1e6, 1.5e6, 2e6, 2.5e6, 3e6]), "{t:?}");
        let (t, _) = nice_ticks(3.0, 3.0, 5);
        assert!(t.len() >= 2 && t.contains(&3.0) && t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        let (t, _) = nice_ticks(0.0, 0.0, 5);
        assert!(close(&t, &[-1.0, -0.5, 0.0, 0.5, 1.0]), "{t:?}");
        assert_eq!(nice_ticks(f64::NAN, f64::INFINITY, 5).0.len(), 6);
        assert!(nice_ticks(-1e308, 1e308, 5).0.len() >= 2);
        assert!(nice_ticks(5.0, -5.0, 5).0.contains(&0.0));

        // Axes widen to the enclosing ticks and label them with the step's decimals.
        let labels = |a: &Axis| a.ticks.iter().map(|t| t.1.clone()).collect::<Vec<_>>();
        let a = linear_axis(0.003, 0.2, 5, false);
        assert_eq!((a.lo, a.hi), (0.0, 0.2));
        assert_eq!(labels(&a), ["0", "0.05", "0.10", "0.15", "0.20"]);
        let a = linear_axis(0.12, 0.93, 5, false);
        assert_eq!(labels(&a), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(labels(&linear_axis(1e6, 3e6, 5, false)), ["1e6", "1.5e6", "2e6", "2.5e6", "3e6"]);
        assert_eq!(labels(&linear_axis(-5.0, 5.0, 5, false)), ["-6", "-4", "-2", "0", "2", "4", "6"]);
        assert_eq!(labels(&linear_axis(0.0, 37.0, 5, false)), ["0", "10", "20", "30", "40"]);
        let a = linear_axis(0.3, 0.7, 5, true);
        assert_eq!((a.lo, a.hi), (0.3, 0.7));
    }

    #[test]
    fn non_finite_points_are_skipped() {
        let clean =
            Chart::new("t", "x", "y").series(Series::line_and_points("a", [(0.0, 1.0), (1.0, 2.0), (2.0, 1.5)]));
        let mut dirty = clean.clone();
        dirty.series[0].points =
            vec![(0.0, 1.0), (f64::NAN, 5.0), (1.0, 2.0), (0.5, f64::INFINITY), (f64::NEG_INFINITY, 0.0), (2.0, 1.5)];
        assert_eq!(clean.render(), dirty.render());
        // Only non-finite points, or no series, or no points: still a chart.
        for chart in [
            Chart::new("t", "x", "y").series(Series::line("nan", [(f64::NAN, f64::NAN)])),
            Chart::new("t", "x", "y"),
            Chart::new("", "", "").series(Series::bars("b", [])).series(Series::points("p", [])),
            Chart::new("t", "x", "y").series(Series::bars("b", [(1.0, 2.0)]).with_error(vec![f64::NAN])),
            Chart::new("t", "x", "y").log_x(true).series(Series::bars("b", [(1.0, 2.0), (1.0, 3.0)])),
            Chart::new("t", "x", "y").y_range(f64::NAN, 1.0).series(Series::line("a", [(1e300, -1e300)])),
            Chart::new("a very long title that cannot fit", "x", "y")
                .size(30, 20)
                .series(Series::line("a", [(0.0, 1.0)])),
            Chart::new("t", "x", "y").size(1, 1),
        ] {
            let rgba = chart.render();
            assert_eq!(rgba.len(), (chart.width * chart.height * 4) as usize);
            assert!(chart.to_png().is_ok());
        }
        assert!(Chart::new("t", "x", "y").size(0, 10).to_png().is_err());
    }

    #[test]
    fn error_bars_and_bars_draw_in_their_places() {
        let chart = Chart::new("", "", "")
            .y_range(0.0, 10.0)
            .series(Series::bars("a", [(1.0, 4.0), (2.0, 6.0)]).with_error(vec![1.0, 2.0]))
            .series(Series::points("b", [(1.5, 2.0)]).with_error(vec![3.0]));
        let l = chart.layout();
        let rgba = chart.render();
        let at = |x: f64, y: f64| pixel(&rgba, chart.width, x.floor() as i64, y.floor() as i64);
        // Inside the bars, beside their centre where the error bar is.
        assert_eq!(at(l.px_x(1.0) - 6.0, l.px_y(2.0)), PALETTE[0]);
        assert_eq!(at(l.px_x(2.0) + 6.0, l.px_y(5.0)), PALETTE[0]);
        assert_ne!(at(l.px_x(2.0) + 6.0, l.px_y(6.7)), PALETTE[0]);
        // The error bar reaches 4 ± 1 at the bar's centre.
        assert_eq!(at(l.px_x(1.0), l.px_y(4.8)), INK);
        // The points' error bar runs from -1 (clipped) to 5.
        assert_eq!(at(l.px_x(1.5), l.px_y(4.0)), PALETTE[1]);
        assert_ne!(at(l.px_x(1.5), l.px_y(5.7)), PALETTE[1]);
    }

    #[test]
    fn heatmap_colours_rise_with_the_value() {
        let values = vec![vec![0.0, 0.25, 0.5], vec![0.75, 1.0, f64::NAN]];
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let (c, cells) = heatmap("Disagreement", &values, &names[..2], &names);
        let corner = |r: i64, k: i64| c.get(cells.left + k * cells.cell + 1, cells.top + r * cells.cell + 1);
        let lums: Vec<f64> = (0..5).map(|i| luminance(corner(i / 3, i % 3))).collect();
        assert!(lums.windows(2).all(|w| w[0] < w[1]), "{lums:?}");
        assert_eq!(corner(1, 2), MISSING);
        assert_eq!(corner(0, 0), viridis(0.0));
        assert_eq!(corner(1, 1), viridis(1.0));
        // The viridis ramp itself brightens all the way.
        let ramp: Vec<f64> = (0..=100).map(|i| luminance(viridis(i as f64 / 100.0))).collect();
        assert!(ramp.windows(2).all(|w| w[0] <= w[1]), "{ramp:?}");
        // Values are written in the cells: some pixels of a cell are neither its fill nor anything else.
        let (x0, y0) = (cells.left, cells.top);
        let cell: Vec<Rgb> = (y0..y0 + cells.cell)
            .flat_map(|y| (x0..x0 + cells.cell).map(move |x| (x, y)))
            .map(|(x, y)| c.get(x, y))
            .collect();
        assert!(cell.contains(&WHITE), "no text in a dark cell");

        let png = heatmap_png("t", &values, &names, &names).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // Degenerate input doesn't panic.
        for values in [vec![], vec![vec![]], vec![vec![f64::NAN]], vec![vec![2.0, 2.0], vec![2.0]]] {
            assert!(heatmap_png("t", &values, &[], &[]).is_ok());
        }
        let big: Vec<Vec<f64>> = (0..200).map(|r| (0..3).map(|k| (r * k) as f64 * 1e6).collect()).collect();
        assert!(heatmap_png("", &big, &names, &[]).is_ok());
    }

    #[test]
    fn every_printable_glyph_has_ink_except_space() {
        for code in 32u8..=126 {
            let g = glyph(code as char);
            assert_eq!(g.iter().any(|&r| r != 0), code != b' ', "{:?}", code as char);
            assert!(g.iter().all(|&r| r < 0x20));
        }
        assert_eq!(glyph('\u{1F600}'), BOX);
        assert_eq!(glyph('±'), EXTRA[0].1);
        assert_eq!(text_width("", 2), 0);
        assert_eq!(text_width("H", 1), 5);
        assert_eq!(text_width("HH", 2), 22);
        assert_eq!(text_width(" ", 1), 3);
        // Glyphs of the same shape differ: no copy-paste slips in the table.
        for a in 33..=126usize {
            for b in a + 1..=126 {
                assert_ne!(FONT[a - 32], FONT[b - 32], "{:?} and {:?}", a as u8 as char, b as u8 as char);
            }
        }
    }

    /// `TICKETLAB_CHART_DEMO=/tmp/chart-demo cargo test --release --lib chart` writes demo charts there, to look at.
    #[test]
    fn demo() {
        let Some(base) = std::env::var_os("TICKETLAB_CHART_DEMO") else { return };
        let base = base.to_string_lossy().into_owned();
        let curve = |f: f64, n: usize| (0..n).map(move |i| (i as f64, 0.1 + 0.8 * (1.0 - (-(i as f64) * f).exp())));
        let lines = Chart::new("Test accuracy while training", "epoch", "accuracy")
            .series(Series::line("dense", curve(0.15, 40)))
            .series(Series::line("IMP 20% weights", curve(0.12, 40).map(|(x, y)| (x, y - 0.02))))
            .series(Series::line_and_points("random ticket", curve(0.08, 40).step_by(4).map(|(x, y)| (x, y - 0.08))))
            .series(
                Series::points("SET (f=0.05)", curve(0.1, 40).step_by(5).map(|(x, y)| (x + 0.5, y - 0.05)))
                    .with_error(vec![0.02; 8]),
            );
        std::fs::write(format!("{base}.png"), lines.to_png().unwrap()).unwrap();
        let density: [f64; 8] = [100.0, 51.2, 26.2, 13.4, 6.9, 3.5, 1.8, 0.9];
        let sparse =
            Chart::new("Accuracy vs. remaining weights (3 seeds, ± std)", "remaining weights (%)", "test accuracy")
                .log_x(true)
                .series(
                    Series::line_and_points(
                        "IMP rewind",
                        density.iter().map(|&d| (d, 0.93 - 0.002 * (100.0 / d).ln().powi(2))),
                    )
                    .with_error(vec![0.004; 8]),
                )
                .series(
                    Series::line_and_points(
                        "random reinit",
                        density.iter().map(|&d| (d, 0.93 - 0.012 * (100.0 / d).ln().powi(2))),
                    )
                    .with_error(vec![0.01; 8]),
                )
                .series(Series::line("dense", [(0.9, 0.935), (100.0, 0.935)]));
        std::fs::write(format!("{base}-log.png"), sparse.to_png().unwrap()).unwrap();
        let bars = Chart::new("Ensembles of sparse models", "members", "test accuracy")
            .y_range(0.85, 0.95)
            .series(
                Series::bars("dense", [(1.0, 0.91), (2.0, 0.92), (4.0, 0.93), (8.0, 0.935)]).with_error(vec![0.003; 4]),
            )
            .series(
                Series::bars("90% sparse", [(1.0, 0.90), (2.0, 0.915), (4.0, 0.928), (8.0, 0.936)])
                    .with_error(vec![0.004; 4]),
            )
            .size(480, 320);
        std::fs::write(format!("{base}-bars.png"), bars.to_png().unwrap()).unwrap();
        let names: Vec<String> = (0..5).map(|i| format!("seed {i}")).collect();
        let values: Vec<Vec<f64>> =
            (0..5).map(|r| (0..5).map(|c| if r == c { 0.0 } else { 0.05 + 0.01 * (r + c) as f64 }).collect()).collect();
        std::fs::write(
            format!("{base}-heatmap.png"),
            heatmap_png("Pairwise disagreement", &values, &names, &names).unwrap(),
        )
        .unwrap();
        let small = Chart::new("Loss (small chart)", "step", "loss change")
            .size(400, 250)
            .series(Series::line_and_points("a", (0..30).map(|i| (i as f64 * 1e5, (i as f64 * 0.4).sin() * 4.0))))
            .series(Series::line("b", (0..30).map(|i| (i as f64 * 1e5, (i as f64 * 0.3).cos() * 3.0 - 1.0))));
        std::fs::write(format!("{base}-small.png"), small.to_png().unwrap()).unwrap();
        let names: Vec<String> = (0..12).map(|i| format!("SET member {i}")).collect();
        let values: Vec<Vec<f64>> = (0..12)
            .map(|r| (0..12).map(|c| if r == c { f64::NAN } else { ((r * 7 + c * 3) % 11) as f64 * 3.7 }).collect())
            .collect();
        std::fs::write(
            format!("{base}-heatmap12.png"),
            heatmap_png("Disagreement (%)", &values, &names, &names).unwrap(),
        )
        .unwrap();
        // Every glyph, enlarged: printable ASCII, the extra symbols, and a character without a glyph.
        let chars: Vec<char> = (32u8..=126).map(char::from).chain(EXTRA.iter().map(|e| e.0)).chain(['☃']).collect();
        let mut c = Canvas::new(16 * 32 + 16, chars.len().div_ceil(16) as i64 * 44 + 16);
        for (i, &ch) in chars.iter().enumerate() {
            let (x, y) = (8 + (i % 16) as i64 * 32, 8 + (i / 16) as i64 * 44);
            c.fill(x, y, x + 24, y + 36, [0xEE, 0xEE, 0xFF]);
            c.text(x + 2, y + 2, &ch.to_string(), 4, INK);
        }
        std::fs::write(format!("{base}-font.png"), encode_png(c.w as u32, c.h as u32, &c.px).unwrap()).unwrap();
        let text = Chart::new("The quick brown fox jumps over the lazy dog", "sparsity: 0.9, gamma = 1e-3", "")
            .series(Series::line("glyph widths: il1|.,;:!", [(0.0, 0.0)]))
            .series(Series::line("Jumpy Quartz {[()]}", [(0.0, 0.0)]))
            .size(520, 160);
        std::fs::write(format!("{base}-text.png"), text.to_png().unwrap()).unwrap();
    }
}
