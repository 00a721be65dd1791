use triad_data::generate::{generate, Domain, Spec};
use triad_data::tag_eval::class;
use triad_data::tagger::tag_record;
#[test]
fn scratch() {
    let d = generate(&Spec {
        domain: Domain::CustomerSupport,
        train: 300,
        test: 0,
        canaries: 0,
        canary_repeats: 0,
        seed: 99,
    });
    println!("{}", d.train[0].text);
    let mut n = 0;
    for g in &d.train {
        let p = tag_record(g);
        for s in g.spans.iter().filter(|s| {
            !p.spans
                .iter()
                .any(|q| q.start == s.start && q.end == s.end && class(&q.label) == class(&s.label))
        }) {
            if n < 40 {
                println!("{} gold {} {:?}", g.id, s.label, g.span_text(s));
            }
            n += 1;
        }
        for s in p.spans.iter().filter(|s| {
            !g.spans
                .iter()
                .any(|q| q.start == s.start && q.end == s.end && class(&q.label) == class(&s.label))
        }) {
            if n < 40 {
                println!("{} pred {} {:?}", g.id, s.label, p.span_text(s));
            }
            n += 1;
        }
    }
}
