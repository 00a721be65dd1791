//! The JSON form of `results.proto`'s messages (METRICS.json, run.json), and the one place
//! domain types become wire messages: a service's domain value is written as JSON and read
//! back as the message, which refuses any field the `.proto` does not declare — so a field
//! added on one side and not the other fails the conversion (and its tests) instead of
//! silently vanishing.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The message a domain value stands for (`Metrics` from the evaluator's metrics, `RunRecord`
/// from the trainer's record).
pub fn to_message<T: Serialize, M: DeserializeOwned>(domain: &T) -> Result<M, serde_json::Error> {
    serde_json::from_value(serde_json::to_value(domain)?)
}

/// A message as its file (pretty JSON).
pub fn to_file_text<M: Serialize>(message: &M) -> String {
    serde_json::to_string_pretty(message).expect("messages always serialise")
}

/// Why a file's text is not the message: the field's path (`utility.nll`) and what is wrong.
pub type FileError = serde_path_to_error::Error<serde_json::Error>;

/// A message from its file's text; an error names the field it is about.
pub fn from_file_text<M: DeserializeOwned>(text: &str) -> Result<M, FileError> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
}

/// What a double the file lacks reads as.
pub fn nan() -> f64 {
    f64::NAN
}

/// A double: non-finite values are JSON null (as serde_json writes them), read back as NaN.
pub mod number {
    use super::*;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// A 95% interval: `[lo, hi]`, or null (an empty list) where none can be given.
pub mod interval {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        match v {
            [] => s.serialize_none(),
            v => v.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v = Option::<Vec<Option<f64>>>::deserialize(d)?.unwrap_or_default();
        if !(v.is_empty() || v.len() == 2) {
            return Err(serde::de::Error::custom(format!(
                "an interval is [lo, hi] or null, not {} numbers",
                v.len()
            )));
        }
        Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::v1::{Attack, Metrics};

    #[test]
    fn intervals_and_non_finite_numbers_keep_their_file_form() {
        let a = Attack {
            auc: f64::NAN,
            auc_ci95: vec![0.4, 0.6],
            tpr_at_1pct_fpr: None,
            tpr_at_1pct_fpr_ci95: vec![],
            ..Default::default()
        };
        let text = serde_json::to_string(&a).unwrap();
        assert!(text.contains("\"auc\":null"), "{text}");
        assert!(text.contains("\"auc_ci95\":[0.4,0.6]"), "{text}");
        assert!(text.contains("\"tpr_at_1pct_fpr_ci95\":null"), "{text}");
        let back: Attack = serde_json::from_str(&text).unwrap();
        assert!(back.auc.is_nan() && back.auc_ci95 == vec![0.4, 0.6]);
        assert!(back.tpr_at_1pct_fpr_ci95.is_empty());
    }

    #[test]
    fn a_field_the_proto_does_not_declare_is_refused() {
        let e = super::from_file_text::<Metrics>("{\"privacy_loss\": 0.1, \"privcy_loss\": 2}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("privcy_loss"), "{e}");
        let m: Metrics = super::from_file_text("{\"privacy_loss\": 0.25}").unwrap();
        assert_eq!(m.privacy_loss, 0.25);
        // A number the file lacks is no number, not 0.
        assert!(m.memorisation_gap.is_nan());
        // A value of the wrong type is named by its path.
        let e = super::from_file_text::<Metrics>("{\"utility\": {\"nll\": \"x\"}}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("utility.nll: invalid type"), "{e}");
    }
}
