//! Customer-support dialogues between an agent and a customer who gives personal data:
//! names, e-mail addresses, phone numbers, postal addresses, order and tracking numbers, card
//! numbers, IBANs and dates of birth. Every turn is drawn from several phrasings, and turns are
//! combined per intent, so dialogues vary far beyond a handful of templates.

use super::record::Record;
use super::rng::Rng;
use super::text::TextBuilder;
use super::values::{self, Person, Secrets};

const GREETINGS: &[&str] = &[
    "Hi",
    "Hello",
    "Hey there",
    "Good morning",
    "Good afternoon",
    "Hi there",
    "Hello,",
    "Evening",
];

const VERIFY_ASK: &[&str] = &[
    "I can help with that. Could you confirm your full name and the email on the account?",
    "Happy to look into it. May I have your name and the email address you used?",
    "Sure thing. First, can you verify your name and email for me?",
    "Of course. To find your account, please give me your full name and email.",
    "No problem. Can I get the name and email address on the account, please?",
];
const VERIFY_GIVE: &[&str] = &[
    "Sure, it's {NAME} and my email is {EMAIL}.",
    "My name is {NAME}, email {EMAIL}.",
    "{NAME}. The email should be {EMAIL}.",
    "It's under {NAME}, {EMAIL}.",
    "Name's {NAME} and I use {EMAIL}.",
    "This is {NAME}; you can reach me at {EMAIL}.",
];
const VERIFY_MORE_ASK: &[&str] = &[
    "Thanks, {FIRST}. For security, can you also confirm your date of birth?",
    "Thank you {FIRST}. I also need your date of birth to verify the account.",
    "Got it, {FIRST}. One more check: what is your date of birth?",
];
const VERIFY_MORE_GIVE: &[&str] = &[
    "It's {DOB}.",
    "{DOB}.",
    "My date of birth is {DOB}.",
    "Born {DOB}.",
    "Sure, {DOB}.",
];
const PHONE_ASK: &[&str] = &[
    "Is there a phone number we can call if anything comes up?",
    "What's the best number to reach you on?",
    "Could you leave a phone number in case we need to follow up?",
];
const PHONE_GIVE: &[&str] = &[
    "You can call me at {PHONE}.",
    "My number is {PHONE}.",
    "{PHONE} works best.",
    "Best to reach me on {PHONE}, after 5pm ideally.",
    "Sure, it's {PHONE}.",
];
const CLOSE_CUSTOMER: &[&str] = &[
    "Great, thanks for your help!",
    "Perfect, that's all I needed.",
    "Thank you so much.",
    "Okay, appreciate it.",
    "Thanks, have a good day.",
    "That sorts it, cheers.",
];
const WRAP_AGENT: &[&str] = &[
    "Is there anything else I can help with today?",
    "Anything else I can do for you, {FIRST}?",
    "Does that cover everything?",
    "That's done on my side. Anything else?",
    "All sorted. Can I help with anything else, {FIRST}?",
];
const CLOSE_AGENT: &[&str] = &[
    "You're welcome, {FIRST}!",
    "Glad I could help. Have a great day!",
    "My pleasure. Take care, {FIRST}.",
    "Anytime! Thanks for contacting us.",
    "You're all set. Have a lovely evening.",
];
const ITEMS: &[&str] = &[
    "blender",
    "pair of running shoes",
    "phone case",
    "winter jacket",
    "desk lamp",
    "coffee grinder",
    "backpack",
    "set of headphones",
    "yoga mat",
    "kettle",
    "bookshelf",
    "smart watch",
];

/// One intent: the customer's opening request and the turns that follow.
struct Intent {
    open: &'static [&'static str],
    body: &'static [(&'static [&'static str], &'static [&'static str])],
}

const INTENTS: &[Intent] = &[
    // Order tracking
    Intent {
        open: &[
            "I'm trying to find out where my order is.",
            "my package hasn't shown up yet and I'm getting worried.",
            "can you tell me the status of my order?",
            "I ordered a {ITEM} a week ago and it still hasn't arrived.",
        ],
        body: &[
            (
                &["What's the order number?", "Could you share the order number?", "Do you have the order number handy?"],
                &["It's {ORDER}.", "Order number {ORDER}.", "Sure, {ORDER}.", "I think it's {ORDER}, for a {ITEM}."],
            ),
            (
                &[
                    "It shipped yesterday. The tracking number is {TRACKING}.",
                    "I see it left our warehouse; tracking number {TRACKING}.",
                    "The carrier has it under tracking number {TRACKING}.",
                ],
                &["Okay, I'll check that tracking number.", "Thanks, will it arrive this week?", "Got it, I'll keep an eye on it."],
            ),
            (
                &["Can you confirm the delivery address?", "Which address should it go to?"],
                &["{ADDRESS}.", "It should be {ADDRESS}.", "Deliver to {ADDRESS}, please."],
            ),
        ],
    },
    // Returns
    Intent {
        open: &[
            "I'd like to return a {ITEM} I bought.",
            "the {ITEM} I received is damaged and I want to send it back.",
            "how do I return an item?",
            "I need to return my order, it's the wrong size.",
        ],
        body: &[
            (
                &["Which order is this about?", "May I have the order number?", "What's the order number for the return?"],
                &["Order {ORDER}.", "It's {ORDER}.", "The number on the receipt is {ORDER}."],
            ),
            (
                &[
                    "I've created a return label. Should the refund go back to the card you paid with?",
                    "Return approved. Do you want the refund on the original card?",
                ],
                &[
                    "Yes, the same card, {CARD}, is fine.",
                    "Please refund to my card {CARD}.",
                    "Actually, can you send it to my bank account instead? IBAN {IBAN}.",
                    "Refund to IBAN {IBAN}, please.",
                ],
            ),
            (
                &["Where should we send the return label?", "Should I mail the label to your address on file?"],
                &["Email it to {EMAIL}, please.", "Send it to {ADDRESS}.", "My address is {ADDRESS}."],
            ),
        ],
    },
    // Billing
    Intent {
        open: &[
            "I was charged twice for the same order.",
            "there's a charge on my statement I don't recognise.",
            "I have a question about my latest bill.",
            "my payment went through but the order says unpaid.",
        ],
        body: &[
            (
                &["Which card was charged?", "Can you give me the card number that was charged?", "What card did you pay with?"],
                &["The card is {CARD}.", "It was my card, {CARD}.", "{CARD}, the one I always use."],
            ),
            (
                &["And the order number, please?", "Which order was it for?"],
                &["{ORDER}.", "Order {ORDER}, the {ITEM}.", "It's order {ORDER}."],
            ),
            (
                &[
                    "I've refunded the duplicate charge. Anything else on the bill?",
                    "The extra charge is reversed; you'll see it in 3 to 5 days.",
                ],
                &["Can you send a confirmation to {EMAIL}?", "Please text me at {PHONE} when it's done.", "No, that's it."],
            ),
        ],
    },
    // Address change
    Intent {
        open: &[
            "I moved and need to update my shipping address.",
            "can I change the delivery address on an order?",
            "I need my parcel sent somewhere else.",
        ],
        body: &[
            (
                &["What's the new address?", "Please tell me the new address.", "Where should we ship it now?"],
                &["It's {NEW_ADDRESS}.", "The new one is {NEW_ADDRESS}.", "{NEW_ADDRESS}, please."],
            ),
            (
                &["And the old address, to be sure I update the right profile?", "Which address was on file before?"],
                &["The old one was {ADDRESS}.", "Before it was {ADDRESS}.", "{ADDRESS}."],
            ),
            (
                &["Does order {ORDER} need to go to the new address too?", "Should I also update the open order {ORDER}?"],
                &["Yes please.", "Yes, that one too.", "No, leave that one."],
            ),
        ],
    },
    // Payment change
    Intent {
        open: &[
            "I want to change the card on my subscription.",
            "my card expired, how do I update my payment details?",
            "I need to switch payment methods.",
        ],
        body: &[
            (
                &["Sure. What's the new card number?", "Please read me the new card number.", "Which card would you like to use?"],
                &["It's {NEW_CARD}.", "The new card is {NEW_CARD}.", "{NEW_CARD}."],
            ),
            (
                &["And the billing address for that card?", "What's the billing address?"],
                &["Same as shipping: {ADDRESS}.", "{ADDRESS}.", "It's {ADDRESS}."],
            ),
            (
                &["Should I remove the old card {CARD}?", "Do you want to keep {CARD} as a backup?"],
                &["Yes, remove it.", "Keep it as a backup, please.", "Remove it, it's cancelled."],
            ),
        ],
    },
    // Account recovery
    Intent {
        open: &[
            "I can't log into my account.",
            "I forgot my password and the reset email never arrives.",
            "my account got locked after too many attempts.",
        ],
        body: &[
            (
                &["Which phone number is on the account?", "Can you confirm the phone number we have for you?"],
                &["It should be {PHONE}.", "{PHONE}.", "My number is {PHONE}."],
            ),
            (
                &[
                    "I'll send a reset link. Is {EMAIL} still your email?",
                    "Where should the reset link go? We have {EMAIL}.",
                ],
                &["No, please use {NEW_EMAIL} now.", "Yes, that's right.", "Please change it to {NEW_EMAIL}."],
            ),
            (
                &["Done. Can you confirm the last order you placed?", "For the record, what was your last order number?"],
                &["I think it was {ORDER}.", "{ORDER}, a {ITEM}.", "It was {ORDER}."],
            ),
        ],
    },
];

struct Dialogue<'a> {
    p: &'a Person,
    order: String,
    tracking: String,
    new_address: String,
    new_email: String,
    new_card: String,
    item: &'static str,
}

impl Dialogue<'_> {
    fn fill(&self, slot: &str) -> (String, String) {
        let s = |l: &str, v: &str| (l.to_string(), v.to_string());
        match slot {
            "NAME" => s("NAME", &self.p.full_name()),
            "FIRST" => s("NAME", &self.p.first),
            "EMAIL" => s("EMAIL", &self.p.email),
            "NEW_EMAIL" => s("EMAIL", &self.new_email),
            "PHONE" => s("PHONE", &self.p.phone),
            "ADDRESS" => s("ADDRESS", &self.p.address),
            "NEW_ADDRESS" => s("ADDRESS", &self.new_address),
            "DOB" => s("DATE_OF_BIRTH", &self.p.dob),
            "CARD" => s("CARD_NUMBER", &self.p.card),
            "NEW_CARD" => s("CARD_NUMBER", &self.new_card),
            "IBAN" => s("IBAN", &self.p.iban),
            "ORDER" => s("ORDER_ID", &self.order),
            "TRACKING" => s("TRACKING_ID", &self.tracking),
            "ITEM" => s("", self.item),
            other => panic!("unknown slot {other}"),
        }
    }
}

/// One dialogue with fresh, never-before-drawn secrets.
pub fn dialogue(id: String, rng: &mut Rng, secrets: &mut Secrets) -> Record {
    let p = Person::draw(rng, secrets);
    dialogue_of(id, &p, rng, secrets)
}

/// One dialogue of person `p` (a repeat customer's tickets share the person's name, e-mail,
/// phone, address, date of birth, card and IBAN); the order, tracking number and any new
/// address, e-mail or card are fresh.
pub fn dialogue_of(id: String, p: &Person, rng: &mut Rng, secrets: &mut Secrets) -> Record {
    let d = Dialogue {
        order: secrets.unique(rng, values::order_id),
        tracking: secrets.unique(rng, values::tracking_id),
        new_address: secrets.unique(rng, values::address),
        new_email: secrets.unique(rng, |r| values::email(r, &p.first, &p.last)),
        new_card: secrets.unique(rng, values::card_number),
        item: rng.pick_str(ITEMS),
        p,
    };
    let intent = rng.pick(INTENTS);
    let mut t = TextBuilder::new();
    let turn = |t: &mut TextBuilder, who: &str, template: &str| {
        t.push(who).push(": ");
        t.template(template, |slot| d.fill(slot));
        t.push("\n");
    };
    let greeting = rng.pick(GREETINGS);
    let open = rng.pick(intent.open);
    let opener = if greeting.ends_with(',') {
        format!("{greeting} {open}")
    } else {
        format!("{greeting}, {open}")
    };
    turn(&mut t, "Customer", &opener);
    turn(&mut t, "Agent", rng.pick_str(VERIFY_ASK));
    turn(&mut t, "Customer", rng.pick_str(VERIFY_GIVE));
    if rng.chance(0.5) {
        turn(&mut t, "Agent", rng.pick_str(VERIFY_MORE_ASK));
        turn(&mut t, "Customer", rng.pick_str(VERIFY_MORE_GIVE));
    }
    // Two or three of the intent's exchanges, in order.
    let n = rng.range(2, intent.body.len());
    let mut picks: Vec<usize> = (0..intent.body.len()).collect();
    rng.shuffle(&mut picks);
    picks.truncate(n);
    picks.sort();
    for k in picks {
        let (agent, customer) = intent.body[k];
        turn(&mut t, "Agent", rng.pick_str(agent));
        turn(&mut t, "Customer", rng.pick_str(customer));
    }
    if rng.chance(0.4) {
        turn(&mut t, "Agent", rng.pick_str(PHONE_ASK));
        turn(&mut t, "Customer", rng.pick_str(PHONE_GIVE));
    }
    turn(&mut t, "Agent", rng.pick_str(WRAP_AGENT));
    turn(&mut t, "Customer", rng.pick_str(CLOSE_CUSTOMER));
    turn(&mut t, "Agent", rng.pick_str(CLOSE_AGENT));
    let (mut text, mut spans) = t.finish();
    text.pop(); // trailing newline
    spans.retain(|s| s.end <= text.chars().count());
    Record {
        id,
        text,
        spans,
        user: None,
    }
}
