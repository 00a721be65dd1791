use super::*;
use crate::generate::{generate, Domain, Spec};

fn data(domain: Domain) -> Vec<Record> {
    let d = generate(&Spec {
        domain,
        train: 60,
        test: 0,
        canaries: 2,
        canary_repeats: 2,
        records_per_user: None,
        seed: 11,
    });
    d.train
}

fn how(mode: Mode, spans: SpanSource) -> Scrub {
    Scrub::all(mode, spans)
}

/// `after` is `before` with chosen span k replaced by `with[k]`, and (where `at_spans`) the
/// result's spans lie exactly on the replacements.
fn check_layout(before: &Record, chosen: &[Span], after: &Record, with: &[String], at_spans: bool) {
    let chars: Vec<char> = before.text.chars().collect();
    let (mut text, mut last, mut at) = (String::new(), 0, vec![]);
    for (s, v) in chosen.iter().zip(with) {
        text.extend(&chars[last..s.start]);
        let start = text.chars().count();
        text.push_str(v);
        at.push((start, text.chars().count()));
        last = s.end;
    }
    text.extend(&chars[last..]);
    assert_eq!(after.text, text, "{}", before.id);
    if at_spans {
        let got: Vec<(usize, usize)> = after.spans.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(got, at, "{}", before.id);
    }
}

#[test]
fn masking_labelled_spans_replaces_exactly_them_and_leaves_no_secret_span() {
    let records = data(Domain::CustomerSupport);
    let (out, stats) = scrub(
        &records,
        &how(Mode::Mask, SpanSource::Labelled),
        Rng::new(1),
    );
    let total: usize = records.iter().map(|r| r.spans.len()).sum();
    assert_eq!(stats.spans_replaced as usize, total);
    assert!(stats.tagger.is_none());
    for (b, a) in records.iter().zip(&out) {
        let with: Vec<String> = b.spans.iter().map(|s| placeholder(&s.label)).collect();
        check_layout(b, &b.spans, a, &with, false);
        assert!(a.spans.is_empty());
        for s in &b.spans {
            let secret = b.span_text(s);
            assert!(!a.text.contains(&secret), "{}: `{secret}` survived", b.id);
            assert!(a.text.contains(&placeholder(&s.label)));
        }
        let expected: usize = b.text.chars().count()
            - b.spans.iter().map(|s| s.end - s.start).sum::<usize>()
            + b.spans
                .iter()
                .map(|s| placeholder(&s.label).chars().count())
                .sum::<usize>();
        assert_eq!(a.text.chars().count(), expected);
    }
}

#[test]
fn pseudonyms_sit_exactly_in_their_spans_are_consistent_and_never_a_real_secret() {
    for domain in [Domain::CustomerSupport, Domain::Biographies] {
        let records = data(domain);
        let secrets: HashSet<String> = records
            .iter()
            .flat_map(|r| r.spans.iter().map(|s| r.span_text(s).to_lowercase()))
            .collect();
        let (out, stats) = scrub(
            &records,
            &how(Mode::Pseudonymise, SpanSource::Labelled),
            Rng::new(3),
        );
        assert!(stats.spans_replaced > 100);
        for (b, a) in records.iter().zip(&out) {
            assert_eq!(a.spans.len(), b.spans.len(), "{}", b.id);
            let with: Vec<String> = a.spans.iter().map(|s| a.span_text(s)).collect();
            check_layout(b, &b.spans, a, &with, true);
            let mut seen: BTreeMap<String, String> = BTreeMap::new();
            for (s, t) in b.spans.iter().zip(&a.spans) {
                assert_eq!(s.label, t.label);
                let (orig, fake) = (b.span_text(s), a.span_text(t));
                assert!(
                    !secrets.contains(&fake.to_lowercase()),
                    "{}: `{fake}` is real",
                    b.id
                );
                assert_ne!(orig, fake);
                // The same secret twice in a record: the same pseudonym.
                let prev = seen.entry(orig.clone()).or_insert(fake.clone());
                assert_eq!(prev, &fake, "{}: `{orig}`", b.id);
                if Kind::of(&s.label) == Kind::Other {
                    assert_eq!(
                        orig.chars().count(),
                        fake.chars().count(),
                        "{orig} → {fake}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_pseudonyms() {
    let records = data(Domain::CustomerSupport);
    let h = how(Mode::Pseudonymise, SpanSource::Labelled);
    let a = scrub(&records, &h, Rng::new(5)).0;
    let b = scrub(&records, &h, Rng::new(5)).0;
    let c = scrub(&records, &h, Rng::new(6)).0;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn with_the_tagger_a_missed_span_stays_in_the_text_and_stays_sensitive() {
    let r = Record {
        id: "r1".into(),
        text: "Hi, I'm Anna Schmidt, call me at (415) 555-0132; my ref is KQX-4.".into(),
        spans: vec![],
        user: None,
    };
    let mut r = r;
    let at = |s: &str| r.text.find(s).unwrap();
    let spans = [
        ("Anna Schmidt", "NAME"),
        ("(415) 555-0132", "PHONE"),
        ("KQX-4", "REF"),
    ];
    let spans: Vec<Span> = spans
        .iter()
        .map(|(v, l)| Span {
            start: at(v),
            end: at(v) + v.len(),
            label: l.to_string(),
        })
        .collect();
    r.spans = spans;
    let predicted = crate::tagger::tag(&r.text);
    assert!(
        predicted.iter().all(|p| r.span_text(p) != "KQX-4"),
        "the tagger knows this code"
    );
    for mode in [Mode::Mask, Mode::Pseudonymise] {
        let (out, stats) = scrub(
            std::slice::from_ref(&r),
            &how(mode, SpanSource::Tagger),
            Rng::new(1),
        );
        let a = &out[0];
        assert!(a.text.contains("KQX-4"), "{}", a.text);
        assert!(!a.text.contains("(415) 555-0132"), "{}", a.text);
        let left = a
            .spans
            .iter()
            .find(|s| s.label == "REF")
            .expect("missed span kept");
        assert_eq!(a.span_text(left), "KQX-4");
        let cov = stats.tagger.expect("coverage on a labelled file");
        assert_eq!(cov.spans_labelled, 3);
        let reference = cov.by_label.iter().find(|l| l.label == "REF").unwrap();
        assert_eq!((reference.caught, reference.total), (0, 1));
        assert!(cov.span_recall() < 1.0 && cov.char_precision > 0.9);
    }
}

#[test]
fn the_tagger_scrubs_most_of_generated_dialogue() {
    let records = data(Domain::CustomerSupport);
    let (out, stats) = scrub(&records, &how(Mode::Mask, SpanSource::Tagger), Rng::new(1));
    let cov = stats.tagger.unwrap();
    assert!(cov.span_recall() > 0.8, "{cov:?}");
    // Whatever it caught is gone from the text; whatever it missed is still a span.
    let left: usize = out.iter().map(|r| r.spans.len()).sum();
    assert_eq!(
        left as u64,
        cov.spans_labelled - caught_or_touched(&records)
    );
}

/// Labelled spans that some tagger span overlaps (those are replaced, wholly or in part).
fn caught_or_touched(records: &[Record]) -> u64 {
    records
        .iter()
        .map(|r| {
            let p = crate::tagger::tag(&r.text);
            r.spans
                .iter()
                .filter(|s| p.iter().any(|c| s.start < c.end && c.start < s.end))
                .count() as u64
        })
        .sum()
}

#[test]
fn a_scrub_of_some_labels_leaves_the_others_in_place_and_sensitive() {
    let records = data(Domain::CustomerSupport);
    let mut h = how(Mode::Mask, SpanSource::Labelled);
    h.labels = vec!["NAME".into(), "EMAIL".into()];
    let (out, stats) = scrub(&records, &h, Rng::new(1));
    let labels: Vec<&str> = stats
        .replaced_by_label
        .iter()
        .map(|l| l.label.as_str())
        .collect();
    assert_eq!(labels, ["EMAIL", "NAME"]);
    for (b, a) in records.iter().zip(&out) {
        let kept: Vec<&Span> = b
            .spans
            .iter()
            .filter(|s| !h.labels.contains(&s.label))
            .collect();
        assert_eq!(a.spans.len(), kept.len(), "{}", b.id);
        for (s, t) in kept.iter().zip(&a.spans) {
            assert_eq!((b.span_text(s), &s.label), (a.span_text(t), &t.label));
        }
    }
}

#[test]
fn a_span_caught_in_part_keeps_its_rest_sensitive() {
    let r = Record {
        id: "r".into(),
        text: "Call Anna Schmidt now.".into(),
        spans: vec![Span {
            start: 5,
            end: 17,
            label: "NAME".into(),
        }],
        user: None,
    };
    // As if a tagger had caught only the first name.
    let chosen = vec![Span {
        start: 5,
        end: 9,
        label: "NAME".into(),
    }];
    let a = apply(&r, &chosen, &[placeholder("NAME")], Mode::Mask);
    assert_eq!(a.text, "Call [NAME] Schmidt now.");
    assert_eq!(a.spans.len(), 1);
    assert_eq!(a.span_text(&a.spans[0]), " Schmidt");
}

#[test]
fn a_city_with_no_free_fake_is_masked_not_an_error() {
    // Every city of the list is a secret of the file: no pseudonym is free.
    let text: String = crate::values::CITIES
        .iter()
        .map(|(c, _)| format!("{c}. "))
        .collect();
    let mut spans = vec![];
    let mut at = 0;
    for (c, _) in crate::values::CITIES.iter() {
        let n = c.chars().count();
        spans.push(Span {
            start: at,
            end: at + n,
            label: "CITY".into(),
        });
        at += n + 2;
    }
    let r = Record {
        id: "r".into(),
        text,
        spans,
        user: None,
    };
    let (out, _) = scrub(
        std::slice::from_ref(&r),
        &how(Mode::Pseudonymise, SpanSource::Labelled),
        Rng::new(2),
    );
    assert!(out[0].text.contains("[CITY]"), "{}", out[0].text);
}

#[test]
fn placeholders_name_the_label() {
    assert_eq!(placeholder("phone number"), "[PHONE_NUMBER]");
    assert_eq!(placeholder("NAME"), "[NAME]");
}
