//! Reads `/metrics` the way a scraper must be able to: every line is parsed by the
//! `prometheus-parse` crate's line parser, the whole text by its `Scrape` parser (Prometheus
//! format), and on top of that the rules of the exposition formats that parser does not
//! enforce are checked (Prometheus text format 0.0.4 and OpenMetrics 1.0): every family has
//! `# HELP` and `# TYPE` before its samples, counters are `_total`, histograms have
//! cumulative `_bucket`s ending in `le="+Inf"` equal to `_count`, and a `_sum`; label syntax,
//! values, no duplicate series; OpenMetrics ends with `# EOF`. Anything else fails.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
};

use anyhow::{Context, bail, ensure};
use prometheus_parse::{LineInfo, Scrape, Value};

/// Which text format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Prometheus,
    OpenMetrics,
}

impl Format {
    /// The `Accept` header Prometheus sends (it prefers OpenMetrics), or none.
    pub fn accept(self) -> Option<&'static str> {
        match self {
            Format::Prometheus => None,
            Format::OpenMetrics => Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ),
        }
    }
}

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

/// A checked exposition.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    /// The value of the sample `name` whose labels include `labels` (`le` compared as a
    /// number: `60` and `60.0` are one bound); fails when there is no such sample or more than
    /// one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> anyhow::Result<f64> {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        match found.as_slice() {
            [one] => Ok(one.value),
            [] => bail!("no sample {name} {labels:?}"),
            many => bail!("{} samples {name} {labels:?}: {many:?}", many.len()),
        }
    }

    /// Every sample `name` whose labels include `labels` (`le` compared as a number).
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.families
            .values()
            .flat_map(|f| &f.samples)
            .filter(move |s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).is_some_and(|x| same_label(k, x, v)))
            })
    }
    /// The sum of every sample `name` with `labels` (and any others, e.g. a `reason`); an
    /// error when there is none.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> anyhow::Result<f64> {
        let found: Vec<f64> = self.matching(name, labels).map(|s| s.value).collect();
        if found.is_empty() {
            bail!("no sample {name} {labels:?}");
        }
        Ok(found.iter().sum())
    }

    /// The q-quantile of histogram `family` (series with `labels`), estimated as Prometheus'
    /// `histogram_quantile` does: linear within the bucket that holds it. `None` while empty.
    pub fn histogram_quantile(&self, family: &str, labels: &[(&str, &str)], q: f64) -> Option<f64> {
        let bucket_name = format!("{family}_bucket");
        let mut buckets: Vec<(f64, f64)> = self
            .families
            .get(family)?
            .samples
            .iter()
            .filter(|s| {
                s.name == bucket_name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
            })
            .filter_map(|s| Some((parse_value(s.labels.get("le")?).ok()?, s.value)))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = buckets.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for (le, count) in buckets {
            if count >= rank {
                if le.is_infinite() {
                    return Some(lower.0);
                }
                let within = count - lower.1;
                let fraction = if within > 0.0 {
                    (rank - lower.1) / within
                } else {
                    1.0
                };
                return Some(lower.0 + (le - lower.0) * fraction);
            }
            lower = (le, count);
        }
        None
    }
}

fn same_label(key: &str, a: &str, b: &str) -> bool {
    if key == "le"
        && let (Ok(x), Ok(y)) = (parse_value(a), parse_value(b))
    {
        return x == y;
    }
    a == b
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Go's float syntax as the exposition formats use it (`+Inf`, `-Inf`, `NaN`).
fn parse_value(text: &str) -> anyhow::Result<f64> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => {
            ensure!(
                !text.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')),
                "value {text:?} is not a number"
            );
            text.parse()
                .with_context(|| format!("value {text:?} is not a number"))
        }
    }
}

/// `name{a="x",b="y"} value`, strictly: no timestamps, quoted label values with `\\`, `\"`
/// and `\n` escapes only.
fn parse_sample(line: &str) -> anyhow::Result<Sample> {
    let name_end = line
        .find(['{', ' '])
        .with_context(|| format!("no value in {line:?}"))?;
    let name = &line[..name_end];
    ensure!(valid_name(name), "bad metric name {name:?}");
    let mut rest = &line[name_end..];
    let mut labels = Labels::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next().context("unterminated label set")?;
            match c {
                '}' if key.is_empty() => {
                    rest = &after[i + 1..];
                    break;
                }
                '=' => {
                    ensure!(valid_name(&key), "bad label name {key:?} in {line:?}");
                    ensure!(
                        chars.next().map(|(_, c)| c) == Some('"'),
                        "label value not quoted in {line:?}"
                    );
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('\\') => value.push('\\'),
                                Some('"') => value.push('"'),
                                Some('n') => value.push('\n'),
                                other => bail!("bad escape {other:?} in {line:?}"),
                            },
                            Some(c) => value.push(c),
                            None => bail!("unterminated label value in {line:?}"),
                        }
                    }
                    ensure!(
                        labels.insert(std::mem::take(&mut key), value).is_none(),
                        "repeated label in {line:?}"
                    );
                    match chars.next().map(|(_, c)| c) {
                        Some(',') => {}
                        Some('}') => {
                            let (i, _) = chars.peek().copied().unwrap_or((after.len(), ' '));
                            rest = &after[i..];
                            break;
                        }
                        other => bail!("expected , or }} after a label, got {other:?} in {line:?}"),
                    }
                }
                c => key.push(c),
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .with_context(|| format!("no single space before the value in {line:?}"))?;
    ensure!(
        !value.contains(' '),
        "timestamps or extra fields in {line:?}"
    );
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(value)?,
    })
}

/// Which sample names a family of `kind` may have.
fn sample_belongs(family: &str, kind: &str, sample: &str, format: Format) -> bool {
    let suffix = sample.strip_prefix(family);
    match (kind, format) {
        ("counter", Format::Prometheus) => sample == family,
        ("counter", Format::OpenMetrics) => suffix == Some("_total"),
        ("gauge", _) => sample == family,
        ("histogram", _) => matches!(suffix, Some("_bucket" | "_sum" | "_count")),
        _ => false,
    }
}

/// Parses and checks an exposition (see the module doc). Errors name the line.
pub fn check(text: &str, format: Format) -> anyhow::Result<Exposition> {
    let mut exposition = Exposition::default();
    let mut current: Option<String> = None;
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let mut series = BTreeSet::new();
    let lines: Vec<&str> = text.split('\n').collect();
    ensure!(
        lines.last() == Some(&""),
        "the text does not end with a newline"
    );
    let lines = &lines[..lines.len() - 1];
    for (n, line) in lines.iter().enumerate() {
        let at = || format!("line {}: {line:?}", n + 1);
        ensure!(!line.is_empty(), "{}: empty line", at());
        if *line == "# EOF" {
            ensure!(format == Format::OpenMetrics, "{}: # EOF in 0.0.4", at());
            ensure!(n + 1 == lines.len(), "{}: # EOF before the end", at());
            continue;
        }
        let words: Vec<&str> = line.splitn(4, ' ').collect();
        match (LineInfo::parse(line), words.as_slice()) {
            (LineInfo::Doc { metric_name, doc }, ["#", "HELP", name, ..]) => {
                ensure!(metric_name == *name && valid_name(name), "{}", at());
                ensure!(
                    helps.insert(name.to_string(), doc.to_owned()).is_none(),
                    "{}: second HELP",
                    at()
                );
                ensure!(!doc.trim().is_empty(), "{}: empty HELP", at());
            }
            (LineInfo::Type { .. }, ["#", "TYPE", name, kind]) => {
                ensure!(
                    matches!(*kind, "counter" | "gauge" | "histogram"),
                    "{}: unexpected type",
                    at()
                );
                if format == Format::Prometheus && *kind == "counter" {
                    ensure!(name.ends_with("_total"), "{}: counter without _total", at());
                }
                if format == Format::OpenMetrics && *kind == "counter" {
                    ensure!(
                        !name.ends_with("_total"),
                        "{}: OpenMetrics counter family named _total",
                        at()
                    );
                }
                let help = helps
                    .get(*name)
                    .with_context(|| format!("{}: TYPE without HELP before it", at()))?;
                ensure!(
                    !exposition.families.contains_key(*name),
                    "{}: family declared twice",
                    at()
                );
                exposition.families.insert(
                    name.to_string(),
                    Family {
                        name: name.to_string(),
                        kind: kind.to_string(),
                        help: help.clone(),
                        samples: Vec::new(),
                    },
                );
                current = Some(name.to_string());
            }
            (_, ["#", "UNIT", name, unit]) if format == Format::OpenMetrics => {
                ensure!(
                    current.as_deref() == Some(*name) && name.ends_with(&format!("_{unit}")),
                    "{}: UNIT of another family",
                    at()
                );
            }
            (LineInfo::Sample { metric_name, .. }, _) if !line.starts_with('#') => {
                let sample = parse_sample(line).with_context(at)?;
                ensure!(sample.name == metric_name, "{}", at());
                let family_name = current
                    .as_deref()
                    .with_context(|| format!("{}: sample before any TYPE", at()))?;
                let family = exposition
                    .families
                    .get_mut(family_name)
                    .context("current family")?;
                ensure!(
                    sample_belongs(family_name, &family.kind, &sample.name, format),
                    "{}: not a sample of the {} {family_name}",
                    at(),
                    family.kind
                );
                ensure!(
                    series.insert((sample.name.clone(), sample.labels.clone())),
                    "{}: duplicate series",
                    at()
                );
                family.samples.push(sample);
            }
            _ => bail!("{}: not a HELP, TYPE or sample line", at()),
        }
    }
    if format == Format::OpenMetrics {
        ensure!(lines.last() == Some(&"# EOF"), "OpenMetrics without # EOF");
    }
    for family in exposition.families.values() {
        ensure!(
            !family.samples.is_empty(),
            "family {} has no samples",
            family.name
        );
        if family.kind == "histogram" {
            check_histogram(family)?;
        }
    }
    if format == Format::Prometheus {
        cross_check(text, &exposition)?;
    }
    Ok(exposition)
}

fn check_histogram(family: &Family) -> anyhow::Result<()> {
    let name = &family.name;
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    let mut sums = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for s in &family.samples {
        let mut labels = s.labels.clone();
        if s.name.ends_with("_bucket") {
            let le = labels
                .remove("le")
                .with_context(|| format!("{name}: bucket without le"))?;
            groups
                .entry(labels)
                .or_default()
                .push((parse_value(&le)?, s.value));
        } else if s.name.ends_with("_sum") {
            sums.insert(labels, s.value);
        } else {
            counts.insert(labels, s.value);
        }
    }
    ensure!(!groups.is_empty(), "{name}: no buckets");
    for (labels, buckets) in &groups {
        for pair in buckets.windows(2) {
            ensure!(pair[0].0 < pair[1].0, "{name}{labels:?}: le not increasing");
            ensure!(
                pair[0].1 <= pair[1].1,
                "{name}{labels:?}: buckets not cumulative"
            );
        }
        let (le, last) = buckets.last().copied().unwrap_or_default();
        ensure!(le == f64::INFINITY, "{name}{labels:?}: no le=\"+Inf\"");
        let count = counts
            .get(labels)
            .with_context(|| format!("{name}{labels:?}: no _count"))?;
        ensure!(
            *count == last,
            "{name}{labels:?}: _count {count} != +Inf bucket {last}"
        );
        let sum = sums
            .get(labels)
            .with_context(|| format!("{name}{labels:?}: no _sum"))?;
        ensure!(*sum >= 0.0, "{name}{labels:?}: negative _sum");
    }
    Ok(())
}

/// The `prometheus-parse` scrape parser reads the same samples with the same types.
fn cross_check(text: &str, exposition: &Exposition) -> anyhow::Result<()> {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))?;
    for family in exposition.families.values() {
        let parsed: Vec<_> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == family.name)
            .collect();
        match family.kind.as_str() {
            "histogram" => {
                let buckets = family
                    .samples
                    .iter()
                    .filter(|s| s.name.ends_with("_bucket"))
                    .count();
                let parsed_buckets: usize = parsed
                    .iter()
                    .map(|s| match &s.value {
                        Value::Histogram(h) => h.len(),
                        _ => 0,
                    })
                    .sum();
                ensure!(
                    buckets == parsed_buckets,
                    "{}: prometheus-parse read {parsed_buckets} buckets, not {buckets}",
                    family.name
                );
            }
            kind => {
                ensure!(
                    parsed.len() == family.samples.len(),
                    "{}: prometheus-parse read {} samples, not {}",
                    family.name,
                    parsed.len(),
                    family.samples.len()
                );
                for s in parsed {
                    let ok = matches!(
                        (&s.value, kind),
                        (Value::Counter(_), "counter") | (Value::Gauge(_), "gauge")
                    );
                    ensure!(ok, "{}: prometheus-parse read {:?}", family.name, s.value);
                }
            }
        }
    }
    Ok(())
}

/// `GET /metrics` from an ingest's health address in `format`, checked.
pub async fn scrape(addr: SocketAddr, format: Format) -> anyhow::Result<Exposition> {
    let headers: Vec<(&str, &str)> = format
        .accept()
        .map(|a| vec![("Accept", a)])
        .unwrap_or_default();
    let resp = crate::http::get_with(addr, &addr.to_string(), "/metrics", &headers).await?;
    ensure!(resp.status == 200, "/metrics answered {}", resp.status);
    let content_type = resp.header("content-type").unwrap_or_default().to_owned();
    let expected = match format {
        Format::Prometheus => "text/plain; version=0.0.4",
        Format::OpenMetrics => "application/openmetrics-text; version=1.0.0",
    };
    ensure!(
        content_type.starts_with(expected),
        "/metrics Content-Type {content_type:?}, expected {expected}"
    );
    let text = resp.text();
    check(&text, format).with_context(|| format!("/metrics of {addr}:\n{text}"))
}
