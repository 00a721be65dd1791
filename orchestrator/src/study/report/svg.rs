//! Minimal inline-SVG charts: scatter with a front line, bars, lines; axes with nice ticks.
//! Values with a 95% interval get an error bar (`class="errbar"`), and the axes cover its ends.

use super::Ci;

const W: f64 = 560.0;
const H: f64 = 320.0;
const L: f64 = 64.0; // left margin
const R: f64 = 16.0;
const T: f64 = 16.0;
const B: f64 = 48.0;

pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// Colour index of the base model's reference marks (grey).
pub const BASE_COLOR: usize = usize::MAX;

fn colour(i: usize) -> &'static str {
    if i == BASE_COLOR {
        "#8a8a8a"
    } else {
        PALETTE[i % PALETTE.len()]
    }
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// About five round tick values covering [lo, hi].
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = vec![];
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn new(xs: &[f64], ys: &[f64], zero_y: bool) -> Frame {
        let fin = |v: &[f64]| -> (f64, f64) {
            let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
            if v.is_empty() {
                return (0.0, 1.0);
            }
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let pad = ((hi - lo) * 0.08).max(1e-3 * hi.abs().max(1.0));
            (lo - pad, hi + pad)
        };
        let (x0, x1) = fin(xs);
        let (mut y0, y1) = fin(ys);
        if zero_y && y0 > 0.0 {
            y0 = 0.0;
        }
        Frame { x0, x1, y0, y1 }
    }
    fn x(&self, v: f64) -> f64 {
        L + (v - self.x0) / (self.x1 - self.x0) * (W - L - R)
    }
    fn y(&self, v: f64) -> f64 {
        H - B - (v - self.y0) / (self.y1 - self.y0) * (H - T - B)
    }
    /// `xticks`: label the x axis; `int_x`: only at whole numbers (epochs).
    fn axes(&self, xlabel: &str, ylabel: &str, xticks: bool, int_x: bool) -> String {
        let mut s = format!(
            r##"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
            W - L - R,
            H - T - B
        );
        for t in ticks(self.y0, self.y1) {
            let y = self.y(t);
            s += &format!(
                r##"<line x1="{L}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
                W - R,
                L - 4.0,
                y + 4.0,
                fmt_tick(t)
            );
        }
        if xticks {
            for t in ticks(self.x0, self.x1) {
                if int_x && t.fract() != 0.0 {
                    continue;
                }
                let x = self.x(t);
                s += &format!(
                    r##"<line x1="{x:.1}" x2="{x:.1}" y1="{T}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"##,
                    H - B,
                    H - B + 14.0,
                    fmt_tick(t)
                );
            }
        }
        s += &format!(
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="12">{}</text><text transform="translate(14 {}) rotate(-90)" text-anchor="middle" font-size="12">{}</text>"##,
            (L + W - R) / 2.0,
            H - 8.0,
            esc(xlabel),
            (T + H - B) / 2.0,
            esc(ylabel)
        );
        s
    }
}

/// The values and their intervals' ends: what an axis must cover.
fn span_of(values: impl IntoIterator<Item = (f64, Ci)>) -> Vec<f64> {
    values
        .into_iter()
        .flat_map(|(v, ci)| std::iter::once(v).chain(ci.into_iter().flatten()))
        .collect()
}

/// Lower and upper bound of an interval as text, for tooltips.
fn ci_text(ci: Ci) -> String {
    ci.map(|[lo, hi]| format!(" [{}, {}]", fmt_tick(lo), fmt_tick(hi)))
        .unwrap_or_default()
}

const CAP: f64 = 4.0;

/// A vertical error bar at pixel `x` from pixel `ya` to `yb`, capped at both ends.
fn vbar(x: f64, ya: f64, yb: f64, color: &str) -> String {
    format!(
        r##"<path class="errbar" d="M{x:.1},{ya:.1}V{yb:.1}M{:.1},{ya:.1}H{:.1}M{:.1},{yb:.1}H{:.1}" fill="none" stroke="{color}" stroke-width="1.3"/>"##,
        x - CAP,
        x + CAP,
        x - CAP,
        x + CAP
    )
}

/// A horizontal error bar at pixel `y` from pixel `xa` to `xb`, capped at both ends.
fn hbar(y: f64, xa: f64, xb: f64, color: &str) -> String {
    format!(
        r##"<path class="errbar" d="M{xa:.1},{y:.1}H{xb:.1}M{xa:.1},{:.1}V{:.1}M{xb:.1},{:.1}V{:.1}" fill="none" stroke="{color}" stroke-width="1.3"/>"##,
        y - CAP,
        y + CAP,
        y - CAP,
        y + CAP
    )
}

fn svg(title: &str, body: String) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}"><title>{t}</title>{body}</svg>"##,
        t = esc(title)
    )
}

/// A named line: (label, colour index, (x, y, interval of y) points).
pub type Series = (String, usize, Vec<(f64, f64, Ci)>);

pub struct Point {
    pub x: f64,
    pub y: f64,
    /// 95% intervals of x and y (drawn as horizontal and vertical error bars).
    pub xci: Ci,
    pub yci: Ci,
    pub label: String,
    pub color: usize,
    pub front: bool,
    pub mark: Mark,
}

/// A point's marker: what was done to the data it trained on, told apart at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mark {
    /// Trained on the file as it is.
    #[default]
    Circle,
    /// Trained on scrubbed text.
    Square,
    /// Redact-then-DP: a selective ε.
    Diamond,
}

impl Mark {
    /// The marker at (x, y), radius `r`, with `attrs` (fill, stroke) and a tooltip.
    fn draw(self, x: f64, y: f64, r: f64, attrs: &str, title: &str) -> String {
        let t = format!("<title>{title}</title>");
        match self {
            Mark::Circle => {
                format!(r##"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" {attrs}>{t}</circle>"##)
            }
            Mark::Square => format!(
                r##"<rect class="mark-square" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" {attrs}>{t}</rect>"##,
                x - r,
                y - r,
                2.0 * r,
                2.0 * r
            ),
            Mark::Diamond => {
                let r = r * 1.3;
                format!(
                    r##"<polygon class="mark-diamond" points="{:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1}" {attrs}>{t}</polygon>"##,
                    x - r,
                    y - r,
                    x + r,
                    y + r
                )
            }
        }
    }
}

/// The legend of the markers in use, when any but circles are.
fn mark_legend(pts: &[Point]) -> String {
    let has = |m: Mark| pts.iter().any(|p| p.mark == m);
    if !has(Mark::Square) && !has(Mark::Diamond) {
        return String::new();
    }
    let mut items = vec![(Mark::Circle, "as is")];
    if has(Mark::Square) {
        items.push((Mark::Square, "scrubbed"));
    }
    if has(Mark::Diamond) {
        items.push((Mark::Diamond, "redact-then-DP"));
    }
    let mut out = String::new();
    let mut x = W - 110.0;
    for (m, label) in items.iter().rev() {
        out += &m.draw(x, 14.0, 4.0, r##"fill="#fff" stroke="#222""##, label);
        out += &format!(
            r##"<text x="{:.1}" y="18" font-size="10">{label}</text>"##,
            x + 7.0
        );
        x -= 8.0 * label.len() as f64 + 20.0;
    }
    out
}

/// One bar: its value and interval.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub ci: Ci,
    pub color: usize,
}

/// A point's error bars, drawn under its marker.
fn point_bars(f: &Frame, p: &Point) -> String {
    let (x, y) = (f.x(p.x), f.y(p.y));
    let c = colour(p.color);
    let h = p.xci.map(|[lo, hi]| hbar(y, f.x(lo), f.x(hi), c));
    let v = p.yci.map(|[lo, hi]| vbar(x, f.y(lo), f.y(hi), c));
    h.into_iter().chain(v).collect()
}

/// Scatter; front members drawn larger and joined by a dashed line (sorted by x).
pub fn scatter(title: &str, xlabel: &str, ylabel: &str, pts: &[Point]) -> String {
    let f = Frame::new(
        &span_of(pts.iter().map(|p| (p.x, p.xci))),
        &span_of(pts.iter().map(|p| (p.y, p.yci))),
        false,
    );
    let mut body = f.axes(xlabel, ylabel, true, false);
    for p in pts.iter().filter(|p| p.x.is_finite() && p.y.is_finite()) {
        body += &point_bars(&f, p);
    }
    let mut front: Vec<&Point> = pts.iter().filter(|p| p.front).collect();
    front.sort_by(|a, b| a.x.total_cmp(&b.x));
    if front.len() > 1 {
        let path: Vec<String> = front
            .iter()
            .map(|p| format!("{:.1},{:.1}", f.x(p.x), f.y(p.y)))
            .collect();
        body += &format!(
            r##"<polyline points="{}" fill="none" stroke="#444" stroke-dasharray="5 4"/>"##,
            path.join(" ")
        );
    }
    // Labels of points close together are pushed down until they no longer overlap.
    let mut placed: Vec<(f64, f64, f64)> = vec![];
    for p in pts.iter().filter(|p| p.x.is_finite() && p.y.is_finite()) {
        let (x, y) = (f.x(p.x), f.y(p.y));
        let width = 6.0 * p.label.chars().count() as f64;
        let mut ly = y - 6.0;
        while placed.iter().any(|&(px, py, pw)| {
            (ly - py).abs() < 12.0 && x + 9.0 < px + pw && px < x + 9.0 + width
        }) {
            ly += 13.0;
        }
        placed.push((x + 9.0, ly, width));
        let title = format!(
            "{}: {}{}, {}{}",
            esc(&p.label),
            fmt_tick(p.x),
            ci_text(p.xci),
            fmt_tick(p.y),
            ci_text(p.yci)
        );
        let attrs = format!(
            r##"fill="{}" stroke="#222" stroke-width="{}""##,
            colour(p.color),
            if p.front { 2 } else { 0 }
        );
        body += &p
            .mark
            .draw(x, y, if p.front { 7.0 } else { 5.0 }, &attrs, &title);
        body += &format!(
            r##"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"##,
            x + 9.0,
            ly,
            esc(&p.label)
        );
    }
    body += &mark_legend(pts);
    svg(title, body)
}

/// Vertical bars, each with its interval's whisker; an optional dashed reference line.
pub fn bars(title: &str, ylabel: &str, items: &[Bar], reference: Option<f64>) -> String {
    let mut ys = span_of(items.iter().map(|b| (b.value, b.ci)));
    ys.extend(reference);
    let mut f = Frame::new(&[0.0, items.len() as f64], &ys, true);
    f.x0 = 0.0;
    f.x1 = items.len().max(1) as f64;
    let mut body = f.axes("", ylabel, false, false);
    if let Some(r) = reference {
        let y = f.y(r);
        body += &format!(
            r##"<line x1="{L}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#444" stroke-dasharray="5 4"/>"##,
            W - R
        );
    }
    for (i, b) in items.iter().enumerate() {
        if !b.value.is_finite() {
            continue;
        }
        let (xa, xb) = (f.x(i as f64 + 0.15), f.x(i as f64 + 0.85));
        let (ya, yb) = (f.y(b.value), f.y(f.y0.max(0.0)));
        body += &format!(
            r##"<rect x="{xa:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}{}</title></rect><text x="{:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"##,
            ya.min(yb),
            xb - xa,
            (yb - ya).abs(),
            colour(b.color),
            esc(&b.label),
            fmt_tick(b.value),
            ci_text(b.ci),
            (xa + xb) / 2.0,
            H - B + 14.0,
            esc(&b.label)
        );
        // Dark on every bar colour, grey base included.
        if let Some([lo, hi]) = b.ci {
            body += &vbar((xa + xb) / 2.0, f.y(lo), f.y(hi), "#222");
        }
    }
    svg(title, body)
}

/// One line per series over integer x (epochs).
pub fn lines(title: &str, xlabel: &str, ylabel: &str, series: &[Series]) -> String {
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
        .collect();
    let ys = span_of(series.iter().flat_map(|s| s.2.iter().map(|p| (p.1, p.2))));
    let f = Frame::new(&xs, &ys, false);
    let mut body = f.axes(xlabel, ylabel, true, xs.iter().all(|x| x.fract() == 0.0));
    for (k, (label, color, pts)) in series.iter().enumerate() {
        let c = colour(*color);
        let path: Vec<String> = pts
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|p| format!("{:.1},{:.1}", f.x(p.0), f.y(p.1)))
            .collect();
        body += &format!(
            r##"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"##,
            path.join(" ")
        );
        for p in pts.iter().filter(|p| p.1.is_finite()) {
            if let Some([lo, hi]) = p.2 {
                body += &vbar(f.x(p.0), f.y(lo), f.y(hi), c);
            }
            body += &format!(
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{c}"><title>{}: epoch {} → {}{}</title></circle>"##,
                f.x(p.0),
                f.y(p.1),
                esc(label),
                p.0,
                fmt_tick(p.1),
                ci_text(p.2)
            );
        }
        body += &format!(
            r##"<rect x="{}" y="{}" width="10" height="10" fill="{c}"/><text x="{}" y="{}" font-size="11">{}</text>"##,
            L + 8.0,
            T + 6.0 + 14.0 * k as f64,
            L + 22.0,
            T + 15.0 + 14.0 * k as f64,
            esc(label)
        );
    }
    svg(title, body)
}

/// A run on the formal-against-audit ε chart.
pub struct EpsPoint {
    pub label: String,
    pub color: usize,
    /// Formal ε; `None`: no DP guarantee (drawn in the ∞ column).
    pub formal: Option<f64>,
    /// The audit's lower bound.
    pub audit: f64,
}

/// Formal ε (x) against the audit's empirical lower bound (y), the diagonal y = x drawn: a
/// sound audit stays on or under it. Runs without a formal ε sit in a column marked ∞; the
/// dashed line is the largest bound the canaries could show.
pub fn epsilon_audit(title: &str, pts: &[EpsPoint], ceiling: Option<f64>) -> String {
    let finite = pts
        .iter()
        .filter_map(|p| p.formal)
        .filter(|x| x.is_finite());
    let top = |it: &mut dyn Iterator<Item = f64>| it.fold(1.0f64, f64::max);
    let xmax = top(&mut finite.clone().chain(ceiling));
    let ymax = top(&mut pts.iter().map(|p| p.audit).chain(ceiling));
    let (sep, inf_x) = (xmax * 1.08, xmax * 1.16);
    let f = Frame {
        x0: 0.0,
        x1: xmax * 1.24,
        y0: 0.0,
        y1: ymax * 1.1,
    };
    let mut body = f.axes(
        "formal ε (∞: no DP guarantee)",
        "audit ε (lower bound)",
        false,
        false,
    );
    for t in ticks(0.0, xmax) {
        let x = f.x(t);
        body += &format!(
            r##"<text x="{x:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"##,
            H - B + 14.0,
            fmt_tick(t)
        );
    }
    body += &format!(
        r##"<line x1="{s:.1}" x2="{s:.1}" y1="{T}" y2="{}" stroke="#bbb" stroke-dasharray="2 3"/><text x="{:.1}" y="{}" text-anchor="middle" font-size="12">∞</text>"##,
        H - B,
        f.x(inf_x),
        H - B + 14.0,
        s = f.x(sep)
    );
    let d = sep.min(f.y1);
    body += &format!(
        r##"<line class="diagonal" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#444"/>"##,
        f.x(0.0),
        f.y(0.0),
        f.x(d),
        f.y(d)
    );
    if let Some(c) = ceiling {
        body += &format!(
            r##"<line class="ceiling" x1="{L}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#888" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" text-anchor="end" font-size="10" fill="#666">most these canaries can show</text>"##,
            W - R,
            W - R - 4.0,
            f.y(c) - 4.0,
            y = f.y(c)
        );
    }
    // Labels of points close together are pushed up until they no longer overlap.
    let mut placed: Vec<(f64, f64, f64)> = vec![];
    for (i, p) in pts.iter().enumerate() {
        let xv = p.formal.filter(|x| x.is_finite()).unwrap_or(inf_x);
        let (x, y) = (f.x(xv), f.y(p.audit));
        // Points in the ∞ column spread sideways a little so they stay apart.
        let x = if p.formal.is_some_and(f64::is_finite) {
            x
        } else {
            x + 6.0 * (i % 3) as f64 - 6.0
        };
        let width = 6.0 * p.label.chars().count() as f64;
        let mut ly = y - 6.0;
        while placed.iter().any(|&(px, py, pw)| {
            (ly - py).abs() < 12.0 && x + 8.0 < px + pw && px < x + 8.0 + width
        }) {
            ly -= 13.0;
        }
        placed.push((x + 8.0, ly, width));
        body += &format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{}" stroke="#222"><title>{}: formal ε {}, audit ε ≥ {}</title></circle><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"##,
            colour(p.color),
            esc(&p.label),
            p.formal.map(fmt_tick).unwrap_or_else(|| "∞".into()),
            fmt_tick(p.audit),
            x + 8.0,
            ly,
            esc(&p.label)
        );
    }
    svg(title, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            ticks(0.0, 1.0),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = ticks(2.31, 2.79);
        assert!(
            t.len() >= 3 && t[0] >= 2.31 && *t.last().unwrap() <= 2.79,
            "{t:?}"
        );
    }

    #[test]
    fn labels_are_escaped() {
        let s = bars("t", "y", &[bar("<a&b>", 1.0, None)], None);
        assert!(s.contains("&lt;a&amp;b&gt;") && !s.contains("<a&b>"));
    }

    fn bar(label: &str, value: f64, ci: Ci) -> Bar {
        Bar {
            label: label.into(),
            value,
            ci,
            color: 0,
        }
    }

    /// The y of the frame's lowest and highest tick label, from the chart's text.
    fn y_ticks(svg: &str) -> Vec<f64> {
        svg.split(r#"text-anchor="end" font-size="11">"#)
            .skip(1)
            .filter_map(|s| s.split('<').next()?.parse().ok())
            .collect()
    }

    #[test]
    fn intervals_get_error_bars_and_the_axis_covers_them() {
        let none = bars("t", "y", &[bar("a", 1.0, None), bar("b", 2.0, None)], None);
        assert!(!none.contains("errbar"), "{none}");
        let some = bars(
            "t",
            "y",
            &[bar("a", 1.0, Some([0.5, 4.0])), bar("b", 2.0, None)],
            None,
        );
        assert_eq!(some.matches(r#"class="errbar""#).count(), 1, "{some}");
        let top = y_ticks(&some).into_iter().fold(f64::MIN, f64::max);
        assert!(top >= 4.0, "axis to {top}, interval to 4: {some}");

        let p = |xci, yci| Point {
            x: 1.0,
            y: 2.0,
            xci,
            yci,
            label: "p".into(),
            color: 0,
            front: false,
            mark: Mark::Circle,
        };
        let s = scatter("t", "x", "y", &[p(Some([0.5, 1.5]), Some([1.0, 3.0]))]);
        // One horizontal (privacy loss) and one vertical (utility) bar.
        assert_eq!(s.matches(r#"class="errbar""#).count(), 2, "{s}");
        assert!(!scatter("t", "x", "y", &[p(None, None)]).contains("errbar"));
        // Scrubbed and redact-then-DP runs have their own markers, and a legend says which.
        let mut sq = p(None, None);
        sq.mark = Mark::Square;
        let mut di = p(None, None);
        di.mark = Mark::Diamond;
        let marked = scatter("t", "x", "y", &[p(None, None), sq, di]);
        assert_eq!(marked.matches("mark-square").count(), 2, "{marked}");
        assert_eq!(marked.matches("mark-diamond").count(), 2, "{marked}");
        assert!(marked.contains(">scrubbed</text>") && marked.contains(">redact-then-DP</text>"));
        assert!(!s.contains(">scrubbed</text>"));

        let line = |ci| vec![("r".to_string(), 0, vec![(1.0, 2.0, ci), (2.0, 1.0, ci)])];
        let l = lines("t", "epoch", "y", &line(Some([0.5, 2.5])));
        assert_eq!(l.matches(r#"class="errbar""#).count(), 2, "{l}");
        assert!(!lines("t", "epoch", "y", &line(None)).contains("errbar"));
    }
}
