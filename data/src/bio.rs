//! Short synthetic biographies: name, birth date and city, university, employer, job, e-mail.

use super::record::Record;
use super::rng::Rng;
use super::text::TextBuilder;
use super::values::{Person, Secrets, CITIES};

const UNIVERSITIES: &[&str] = &[
    "Northfield University",
    "Westbrook University",
    "Lakeside Institute of Technology",
    "Carver State University",
    "Eastmoor College",
    "Glenhaven Royal Academy",
    "Pinecrest University",
    "Harborview Polytechnic",
    "Stonebridge University",
    "Ashford University",
];
const EMPLOYERS: &[&str] = &[
    "Brightwave Analytics",
    "Northwind Logistics",
    "Copperleaf Health",
    "Bluepeak Energy",
    "Quillstone Publishing",
    "Ironbridge Capital",
    "Greenfield Foods",
    "Silverline Robotics",
    "Oakhurst Insurance",
    "Redwood Pharma",
    "Tidewater Shipping",
    "Summit Learning",
];
const JOBS: &[&str] = &[
    "data analyst",
    "nurse",
    "software engineer",
    "accountant",
    "teacher",
    "logistics coordinator",
    "product manager",
    "civil engineer",
    "pharmacist",
    "marketing lead",
    "research scientist",
    "paralegal",
];

const OPENINGS: &[&str] = &[
    "{NAME} was born on {DOB} in {CITY}.",
    "Born in {CITY} on {DOB}, {NAME} grew up near the coast.",
    "{NAME} (born {DOB}, {CITY}) is known for a quiet, methodical approach.",
    "On {DOB}, {NAME} was born in {CITY}, the youngest of three.",
];
const EDUCATION: &[&str] = &[
    "{FIRST} studied at {UNIVERSITY} before moving into industry.",
    "After graduating from {UNIVERSITY}, {FIRST} spent a year travelling.",
    "{FIRST} earned a degree at {UNIVERSITY}.",
    "At {UNIVERSITY}, {FIRST} was active in the debate society.",
];
const WORK: &[&str] = &[
    "Today {FIRST} works at {EMPLOYER} as a {JOB}.",
    "{FIRST} joined {EMPLOYER} as a {JOB} and still works there.",
    "Currently a {JOB} at {EMPLOYER}, {FIRST} leads a small team.",
    "{FIRST} has been a {JOB} with {EMPLOYER} for several years.",
];
const CONTACT: &[&str] = &[
    "{FIRST} can be reached at {EMAIL}.",
    "Contact: {EMAIL}.",
    "For enquiries, write to {EMAIL}.",
    "{FIRST}'s work email is {EMAIL}.",
];

/// One biography. Names, e-mails and birth dates are unique across the run; cities,
/// universities and employers come from small lists and repeat (as they would in real data).
pub fn biography(id: String, rng: &mut Rng, secrets: &mut Secrets) -> Record {
    let p = Person::draw(rng, secrets);
    let (city, _) = *rng.pick(&CITIES);
    let uni = *rng.pick(UNIVERSITIES);
    let employer = *rng.pick(EMPLOYERS);
    let job = *rng.pick(JOBS);
    let mut t = TextBuilder::new();
    let mut sentences = vec![*rng.pick(EDUCATION), *rng.pick(WORK), *rng.pick(CONTACT)];
    rng.shuffle(&mut sentences[..2]);
    let mut first = true;
    for s in std::iter::once(*rng.pick(OPENINGS)).chain(sentences) {
        if !first {
            t.push(" ");
        }
        first = false;
        t.template(s, |slot| {
            let v = |l: &str, v: &str| (l.to_string(), v.to_string());
            match slot {
                "NAME" => v("NAME", &p.full_name()),
                "FIRST" => v("NAME", &p.first),
                "DOB" => v("DATE_OF_BIRTH", &p.dob),
                "CITY" => v("CITY", city),
                "UNIVERSITY" => v("UNIVERSITY", uni),
                "EMPLOYER" => v("EMPLOYER", employer),
                "EMAIL" => v("EMAIL", &p.email),
                "JOB" => v("", job),
                other => panic!("unknown slot {other}"),
            }
        });
    }
    let (text, spans) = t.finish();
    Record {
        id,
        text,
        spans,
        user: None,
    }
}
