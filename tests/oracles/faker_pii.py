"""Out-of-distribution PII for the tagger: values from Python Faker (other name lists, address,
phone and date formats than Triad's generators), in sentences written for this test.

usage: faker_pii.py OUT.jsonl [N] [SEED]
Writes Triad dataset records (character spans, Triad's labels).
"""
import json
import random
import sys

from faker import Faker

TEMPLATES = [
    "My name is {NAME} and I was born on {DOB}.",
    "You can reach {NAME} at {PHONE} or by email at {EMAIL}.",
    "Please update the shipping address to {ADDRESS}.",
    "Charge the balance to card {CARD}, please.",
    "Send the refund to my account {IBAN}.",
    "Hi, {FIRST} here, following up on order {ORDER}.",
    "{NAME} moved to {ADDRESS} last spring.",
    "Date of birth: {DOB}. Phone: {PHONE}.",
    "The invoice went to {EMAIL} instead of my work address.",
    "Could you call me back on {PHONE}? It's about order {ORDER}.",
    "I'm writing on behalf of {NAME}, whose card {CARD} was declined.",
    "Our records show {EMAIL} for this customer, born {DOB}.",
    "Delivery failed at {ADDRESS}; the driver tried {PHONE} twice.",
    "Please wire it to {IBAN} and email the receipt to {EMAIL}.",
    "Thanks {FIRST}, I've noted that.",
    "The parcel for order {ORDER} is addressed to {NAME}.",
]


def main(out, n=600, seed=7):
    fakers = {loc: Faker(loc) for loc in ("en_US", "en_GB", "de_DE")}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    rng = random.Random(seed)
    with open(out, "w") as fh:
        for k in range(n):
            fk = fakers[rng.choice(["en_US", "en_US", "en_GB", "de_DE"])]
            first, last = fk.first_name(), fk.last_name()
            dob = fk.date_of_birth(minimum_age=18, maximum_age=90)
            values = {
                "NAME": ("NAME", f"{first} {last}"),
                "FIRST": ("NAME", first),
                "EMAIL": ("EMAIL", fk.email()),
                "PHONE": ("PHONE", fk.phone_number()),
                "ADDRESS": ("ADDRESS", fk.address().replace("\n", ", ")),
                "CARD": ("CARD_NUMBER", fk.credit_card_number()),
                "IBAN": ("IBAN", fk.iban()),
                "DOB": ("DATE_OF_BIRTH", rng.choice([dob.strftime("%Y-%m-%d"), dob.strftime("%m/%d/%Y"),
                                                     dob.strftime("%B %d, %Y"), dob.strftime("%d.%m.%Y")])),
                "ORDER": ("ORDER_ID", fk.bothify(rng.choice(["ORD-########", "??-######", "#########"])).upper()),
            }
            text, spans = "", []
            for t in rng.sample(TEMPLATES, rng.randint(2, 4)):
                if text:
                    text += " "
                rest = t
                while "{" in rest:
                    a = rest.index("{")
                    b = rest.index("}", a)
                    text += rest[:a]
                    label, v = values[rest[a + 1:b]]
                    spans.append({"start": len(text), "end": len(text) + len(v), "label": label})
                    text += v
                    rest = rest[b + 1:]
                text += rest
            fh.write(json.dumps({"id": f"faker-{k:05d}", "text": text, "spans": spans}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:]))
