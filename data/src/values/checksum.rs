//! Check digits: Luhn for card numbers, ISO 13616 mod 97 for IBANs. The generators use them
//! to make valid values, the tagger to reject lookalikes.

/// The Luhn check digit for `digits` (the payload without the check digit).
pub fn luhn_check_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// Whether a digit string passes the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    digits.len() >= 2
        && digits.bytes().all(|b| b.is_ascii_digit())
        && luhn_check_digit(&digits[..digits.len() - 1])
            == (digits.as_bytes()[digits.len() - 1] - b'0') as u32
}

/// ISO 13616 check digits for `country` + `bban`.
pub fn iban_check_digits(country: &str, bban: &str) -> u32 {
    98 - iban_mod97(&format!("{bban}{country}00"))
}

/// The mod-97 remainder of an IBAN-style string (letters as 10..35).
pub fn iban_mod97(s: &str) -> u32 {
    let mut r: u32 = 0;
    for c in s.chars() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => continue,
        };
        r = if v >= 10 {
            (r * 100 + v) % 97
        } else {
            (r * 10 + v) % 97
        };
    }
    r
}

pub fn iban_valid(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 15
        && compact.len() <= 34
        && compact.chars().take(2).all(|c| c.is_ascii_uppercase())
        && compact.chars().skip(2).take(2).all(|c| c.is_ascii_digit())
        && iban_mod97(&format!("{}{}", &compact[4..], &compact[..4])) == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_iban_known_values() {
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(luhn_valid("378282246310005"));
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(!iban_valid("GB82WEST12345698765433"));
    }
}
