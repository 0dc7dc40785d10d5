//! The markdown tables: per scenario, the figure, the ratio to libzmq in the same round,
//! and the CPU, with every failure said where a figure would be.

use std::fmt::Write;

use crate::common::Measure;
use crate::{Case, Lib, Outcome, Results};

/// Round trips are times (lower is better); everything else is a rate.
fn is_latency(case: Case) -> bool {
    matches!(case, Case::ReqRep(_))
}

/// Messages per second, or microseconds per round trip.
fn figure(case: Case, m: &Measure) -> f64 {
    if m.count == 0 || m.secs <= 0.0 {
        return f64::NAN;
    }
    if is_latency(case) {
        m.secs / m.count as f64 * 1e6
    } else {
        m.count as f64 / m.secs
    }
}

/// CPU seconds per million messages, or per thousand round trips.
fn cpu(case: Case, m: &Measure) -> f64 {
    if m.count == 0 {
        return f64::NAN;
    }
    let per = if is_latency(case) { 1e3 } else { 1e6 };
    m.cpu / m.count as f64 * per
}

fn format_figure(case: Case, x: f64) -> String {
    if !x.is_finite() {
        return "?".into();
    }
    if is_latency(case) {
        if x >= 100.0 {
            format!("{x:.0} µs")
        } else {
            format!("{x:.1} µs")
        }
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e5 {
        format!("{:.0} k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn format_cpu(x: f64) -> String {
    if !x.is_finite() {
        "?".into()
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// One line of progress for the terminal.
pub fn describe(case: Case, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done(m) => {
            let unit = if is_latency(case) {
                "CPU s / 1k round trips"
            } else {
                "CPU s / 1M msgs"
            };
            let rate = if is_latency(case) { "" } else { " msg/s" };
            format!(
                "{}{rate}, {} {unit}",
                format_figure(case, figure(case, m)),
                format_cpu(cpu(case, m))
            )
        }
        Outcome::Failed(why) => format!("failed: {why}"),
        Outcome::Lacks(why) => (*why).to_owned(),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

fn size_name(size: usize) -> String {
    if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// The row's first cells: transport and size where the scenario has them.
fn row_label(case: Case) -> String {
    match case {
        Case::PushPull(t, size) => format!("{} | {}", t.name(), size_name(size)),
        Case::ReqRep(t) => format!("{} | 16 B", t.name()),
        Case::PubSub => "tcp | 64 B".to_owned(),
    }
}

/// What a cell of a table says when no round gave a figure; `None` if some did.
fn no_figure(outcomes: &[Outcome]) -> Option<String> {
    if outcomes.iter().any(|o| matches!(o, Outcome::Done(_))) {
        return None;
    }
    Some(match outcomes.first() {
        Some(Outcome::Lacks(why)) => (*why).to_owned(),
        Some(Outcome::Failed(why)) => format!("failed: {}", why.replace('|', "/")),
        _ => "not run".to_owned(),
    })
}

struct Group {
    title: &'static str,
    unit: &'static str,
    cpu_unit: &'static str,
    ratio_note: &'static str,
    cases: Vec<Case>,
}

/// All the tables, one group per scenario.
pub fn tables(cases: &[Case], libs: &[Lib], results: &Results, rounds: usize) -> String {
    let groups = [
        Group {
            title: "PUSH/PULL throughput",
            unit: "messages per second",
            cpu_unit: "CPU seconds per million messages (user + system, all threads of the process)",
            ratio_note: "higher is better",
            cases: cases
                .iter()
                .copied()
                .filter(|c| matches!(c, Case::PushPull(..)))
                .collect(),
        },
        Group {
            title: "REQ/REP round trip, 16 B, REQ and REP in two processes",
            unit: "microseconds per round trip",
            cpu_unit: "CPU seconds per thousand round trips (both processes, all threads)",
            ratio_note: "time ÷ libzmq's time: lower is better",
            cases: cases
                .iter()
                .copied()
                .filter(|c| matches!(c, Case::ReqRep(_)))
                .collect(),
        },
        Group {
            title: "PUB to 10 SUBs, 64 B, tcp, windows of 100 acknowledged",
            unit: "messages per second, each received by all ten subscribers",
            cpu_unit: "CPU seconds per million messages published (the publisher's and the ten subscribers' process)",
            ratio_note: "higher is better",
            cases: cases
                .iter()
                .copied()
                .filter(|c| matches!(c, Case::PubSub))
                .collect(),
        },
    ];
    let mut out = String::new();
    for group in groups.iter().filter(|g| !g.cases.is_empty()) {
        let _ = writeln!(out, "### {}\n", group.title);
        let header = table_header(libs, None);
        let ratio_header = table_header(libs, Some("best of zmq.rs, rzmq, omq-tokio"));
        let mut notes = Vec::new();
        let mut figures = String::new();
        let mut ratios = String::new();
        let mut cpus = String::new();
        for &case in &group.cases {
            let empty = Vec::new();
            let get = |lib: Lib| results.get(&(case, lib)).unwrap_or(&empty);
            let base = get(Lib::Libzmq);
            let _ = write!(figures, "| {} |", row_label(case));
            let _ = write!(ratios, "| {} |", row_label(case));
            let _ = write!(cpus, "| {} |", row_label(case));
            let mut best: Option<(f64, Lib)> = None;
            for &lib in libs {
                let outcomes = get(lib);
                for (round, o) in outcomes.iter().enumerate() {
                    if let Outcome::Failed(why) = o {
                        if outcomes.len() > 1 && no_figure(outcomes).is_none() {
                            notes.push(format!(
                                "- {} {}, round {}: failed: {why}",
                                lib.name(),
                                case.id(),
                                round + 1
                            ));
                        }
                    }
                }
                if let Some(text) = no_figure(outcomes) {
                    let _ = write!(figures, " {text} |");
                    let _ = write!(ratios, " {text} |");
                    let _ = write!(cpus, " {text} |");
                    continue;
                }
                let done: Vec<&Measure> = outcomes
                    .iter()
                    .filter_map(|o| match o {
                        Outcome::Done(m) => Some(m),
                        _ => None,
                    })
                    .collect();
                let mark = if done.len() < outcomes.len() {
                    " †"
                } else {
                    ""
                };
                let fig = median(done.iter().map(|m| figure(case, m)).collect());
                let _ = write!(figures, " {}{mark} |", format_figure(case, fig));
                let c = median(done.iter().map(|m| cpu(case, m)).collect());
                let _ = write!(cpus, " {}{mark} |", format_cpu(c));
                // Ratios only between figures of the same round.
                let per_round = round_ratios(case, outcomes, base);
                if lib == Lib::Libzmq {
                    let _ = write!(ratios, " 1 |");
                } else if per_round.is_empty() {
                    let _ = write!(ratios, " — (no libzmq figure) |");
                } else {
                    let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let m = median(per_round.clone());
                    if matches!(lib, Lib::ZmqRs | Lib::Rzmq | Lib::Omq) {
                        let better = |a: f64, b: f64| if is_latency(case) { a < b } else { a > b };
                        if best.is_none_or(|(b, _)| better(m, b)) {
                            best = Some((m, lib));
                        }
                    }
                    if per_round.len() > 1 {
                        let _ = write!(ratios, " {m:.2}× ({lo:.2}–{hi:.2}){mark} |");
                    } else {
                        let _ = write!(ratios, " {m:.2}×{mark} |");
                    }
                }
            }
            figures.push('\n');
            match best {
                Some((m, lib)) => {
                    let _ = write!(ratios, " {m:.2}× ({}) |", lib.name());
                }
                None => ratios.push_str(" — |"),
            }
            ratios.push('\n');
            cpus.push('\n');
        }
        let rounds_text = if rounds > 1 {
            format!("median of {rounds} rounds")
        } else {
            "one round".to_owned()
        };
        let _ = writeln!(out, "{} ({rounds_text}):\n", capitalise(group.unit));
        let _ = writeln!(out, "{header}{figures}");
        let range = if rounds > 1 {
            ", lowest–highest in brackets"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "Ratio to libzmq in the same round ({}; median{range}):\n",
            group.ratio_note
        );
        let _ = writeln!(out, "{ratio_header}{ratios}");
        let _ = writeln!(out, "{} ({rounds_text}):\n", capitalise(group.cpu_unit));
        let _ = writeln!(out, "{header}{cpus}");
        if !notes.is_empty() {
            let _ = writeln!(
                out,
                "† some rounds failed; the figure is of the others:\n\n{}\n",
                notes.join("\n")
            );
        }
    }
    if libs.contains(&Lib::Ferromq) && libs.contains(&Lib::FerromqAsync) {
        out.push_str(&async_table(cases, results));
    }
    out
}

/// `a`'s figure ÷ `b`'s, for every round where both gave one.
fn round_ratios(case: Case, a: &[Outcome], b: &[Outcome]) -> Vec<f64> {
    a.iter()
        .zip(b.iter())
        .filter_map(|pair| match pair {
            (Outcome::Done(x), Outcome::Done(y)) => Some(figure(case, x) / figure(case, y)),
            _ => None,
        })
        .filter(|x| x.is_finite())
        .collect()
}

/// ferromq's async face against its own blocking calls, round by round (issue 14's
/// "within 10 %" target).
fn async_table(cases: &[Case], results: &Results) -> String {
    let mut out = String::from(
        "### ferromq's async face ÷ its blocking calls, same round\n\n\
         Throughput: above 1 the async face is faster; round trip: a ratio of times, \
         above 1 the async face is slower (median, lowest–highest in brackets):\n\n\
         | scenario | transport | size | async ÷ blocking |\n|---|---|---:|---:|\n",
    );
    let empty = Vec::new();
    for &case in cases {
        let get = |lib: Lib| results.get(&(case, lib)).unwrap_or(&empty);
        let ratios = round_ratios(case, get(Lib::FerromqAsync), get(Lib::Ferromq));
        let scenario = match case {
            Case::PushPull(..) => "PUSH/PULL",
            Case::ReqRep(_) => "REQ/REP round trip",
            Case::PubSub => "PUB to 10 SUBs",
        };
        let cell = if ratios.is_empty() {
            "— (a side has no figure)".to_owned()
        } else {
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let m = median(ratios.clone());
            if ratios.len() > 1 {
                format!("{m:.2} ({lo:.2}–{hi:.2})")
            } else {
                format!("{m:.2}")
            }
        };
        let _ = writeln!(out, "| {scenario} | {} | {cell} |", row_label(case));
    }
    out.push('\n');
    out
}

/// A table's header row and rule: transport, size, one column per library, and `extra`.
fn table_header(libs: &[Lib], extra: Option<&str>) -> String {
    let mut h = "| transport | size |".to_owned();
    let mut rule = "|---|---:|".to_owned();
    for lib in libs.iter().map(|l| l.name()).chain(extra) {
        let _ = write!(h, " {lib} |");
        rule.push_str("---:|");
    }
    format!("{h}\n{rule}\n")
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Every cell of every round as it came, for a reader who wants other statistics than
/// the tables': a tab-separated block inside a collapsed section.
pub fn raw(cases: &[Case], libs: &[Lib], results: &Results) -> String {
    let mut out = String::from(
        "<details><summary>Every cell (round, case, library, count, seconds, CPU seconds or why not)</summary>\n\n```text\n",
    );
    for &case in cases {
        for &lib in libs {
            let Some(outcomes) = results.get(&(case, lib)) else {
                continue;
            };
            for (round, outcome) in outcomes.iter().enumerate() {
                let what = match outcome {
                    Outcome::Done(m) => format!("{}\t{:.6}\t{:.6}", m.count, m.secs, m.cpu),
                    Outcome::Failed(why) => format!("failed: {why}"),
                    Outcome::Lacks(why) => (*why).to_owned(),
                };
                let _ = writeln!(out, "{}\t{}\t{}\t{what}", round + 1, case.id(), lib.name());
            }
        }
    }
    out.push_str("```\n\n</details>\n");
    out
}
