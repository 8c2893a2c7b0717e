//! `size-report/sizes.svg`: a horizontal bar chart of bytes, daemonic's programs
//! beside the peers, written as plain SVG text (no dependency), so that it renders
//! on any forge and diffs as text.

use std::fmt::Write as _;

pub struct Bar {
    pub label: String,
    pub bytes: u64,
    /// daemonic's programs are drawn in one colour, the peers in another.
    pub ours: bool,
    /// Drawn as a mark on the bar's row, with its value.
    pub budget: Option<u64>,
}

const WIDTH: u64 = 900;
const LABEL_W: u64 = 300;
const BAR_W: u64 = 400;
const ROW: u64 = 28;
const TOP: u64 = 64;
const OURS: &str = "#2b6cb0";
const PEER: &str = "#a0aec0";
const BUDGET: &str = "#c53030";

/// The chart of `bars`, in their order, under `title` and a one-line `subtitle`.
pub fn chart(title: &str, subtitle: &str, bars: &[Bar]) -> String {
    let max = bars
        .iter()
        .flat_map(|b| [b.bytes, b.budget.unwrap_or(0)])
        .max()
        .unwrap_or(1)
        .max(1);
    let x = |bytes: u64| LABEL_W + bytes * BAR_W / max;
    let height = TOP + ROW * bars.len() as u64 + 40;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"12\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{}</text>\n\
         <text x=\"12\" y=\"44\" fill=\"#4a5568\">{}</text>\n",
        escape(title),
        escape(subtitle)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = TOP + ROW * i as u64;
        let colour = if bar.ours { OURS } else { PEER };
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{LABEL_W}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\"/>\n\
             <text x=\"{}\" y=\"{}\">{}</text>\n",
            LABEL_W - 8,
            y + 18,
            escape(&bar.label),
            y + 5,
            (x(bar.bytes) - LABEL_W).max(1),
            ROW - 10,
            x(bar.bytes) + 6,
            y + 18,
            match bar.budget {
                Some(budget) => format!("{}  (budget {})", thousands(bar.bytes), thousands(budget)),
                None => thousands(bar.bytes),
            }
        );
        if let Some(budget) = bar.budget {
            let verdict = if bar.bytes <= budget { "met" } else { "over" };
            let _ = writeln!(
                out,
                "<line x1=\"{bx}\" y1=\"{}\" x2=\"{bx}\" y2=\"{}\" stroke=\"{BUDGET}\" \
                 stroke-width=\"2\" stroke-dasharray=\"3,2\"><title>budget {} bytes: \
                 {verdict}</title></line>",
                y + 1,
                y + ROW - 1,
                thousands(budget),
                bx = x(budget),
            );
        }
    }
    let legend_y = TOP + ROW * bars.len() as u64 + 20;
    let _ = write!(
        out,
        "<rect x=\"12\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{OURS}\"/>\
         <text x=\"30\" y=\"{legend_y}\">daemonic</text>\n\
         <rect x=\"120\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{PEER}\"/>\
         <text x=\"138\" y=\"{legend_y}\">peers and baselines</text>\n\
         <line x1=\"300\" y1=\"{}\" x2=\"300\" y2=\"{legend_y}\" stroke=\"{BUDGET}\" \
         stroke-width=\"2\" stroke-dasharray=\"3,2\"/>\
         <text x=\"308\" y=\"{legend_y}\">budget</text>\n</svg>\n",
        legend_y - 10,
        legend_y - 10,
        legend_y - 12,
    );
    out
}

/// `53504` as `53,504`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(53504), "53,504");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn one_bar_per_row_with_its_label_and_budget() {
        let bars = [Bar {
            label: "a<b".into(),
            bytes: 10,
            ours: true,
            budget: Some(20),
        }];
        let svg = chart("t", "s", &bars);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a&lt;b") && svg.contains(">10  (budget 20)</text>"));
        assert!(svg.contains("budget 20 bytes: met"));
    }
}
