//! Reading provider JSON without floats and without trusting its shape.
//!
//! Prices are read from the number's or string's text (serde_json's
//! `arbitrary_precision`), never through an `f64`. Lists are split into raw
//! entries first, so one malformed model is skipped with a reason while the
//! rest of the list goes on.

use pricesync_domain::{parse_decimal, Decimal, RawOffering, SkipReason, SkippedModel};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::{FetchError, FetchedList};

/// A decimal from a JSON string (`"0.000003"`) or number (`0.88`, `2690`),
/// exactly as written.
pub(crate) fn decimal(value: &Value) -> Result<Decimal, String> {
    let text = match value {
        Value::String(text) => text.as_str(),
        Value::Number(number) => number.as_str(),
        Value::Null => return Err("is null".to_owned()),
        other => return Err(format!("is {}, not a decimal", type_name(other))),
    };
    parse_decimal(text).map_err(|_| format!("{text:?} is not a decimal number"))
}

/// A signed whole number from JSON (a number, or a string of digits).
pub(crate) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_str().parse().ok(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// A descriptive text field, when it is one. Names and similar fields are
/// read leniently: a wrong type there loses the name, not the model's price.
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// A whole number from JSON (a number, or a string of digits).
pub(crate) fn whole_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_str().parse().ok(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a whole payload, mapping errors to [`FetchError::Malformed`].
pub(crate) fn payload<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, FetchError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_eof() {
            "the payload ends early (truncated?)"
        } else {
            "the payload is not the expected JSON"
        };
        FetchError::Malformed(format!("{what}: {e}"))
    })
}

/// Parses one entry of a list, or says why it was skipped. `id_key` names
/// the field that holds the model id, for the skip record.
pub(crate) fn entry<T: DeserializeOwned>(raw: &RawValue, id_key: &str) -> Result<T, SkippedModel> {
    serde_json::from_str(raw.get()).map_err(|e| SkippedModel {
        provider_model_id: entry_id(raw, id_key),
        reason: SkipReason::Unparseable(e.to_string()),
    })
}

/// Reads every entry of a list: each one that parses as `T` and that `read`
/// accepts becomes an offering, every other one a skipped model with its
/// reason. One bad entry never stops the rest of the list.
pub(crate) fn read_list<T: DeserializeOwned>(
    raws: &[&RawValue],
    id_key: &str,
    mut read: impl FnMut(T) -> Result<RawOffering, SkippedModel>,
) -> FetchedList {
    let mut list = FetchedList {
        models: Vec::with_capacity(raws.len()),
        skipped: Vec::new(),
    };
    for raw in raws {
        match entry::<T>(raw, id_key).and_then(&mut read) {
            Ok(model) => list.models.push(model),
            Err(skipped) => list.skipped.push(skipped),
        }
    }
    list
}

/// A skipped model.
pub(crate) fn skip(provider_model_id: &str, reason: SkipReason) -> SkippedModel {
    SkippedModel {
        provider_model_id: provider_model_id.to_owned(),
        reason,
    }
}

/// The entry's id, as well as it can be read.
pub(crate) fn entry_id(raw: &RawValue, id_key: &str) -> String {
    serde_json::from_str::<serde_json::Map<String, Value>>(raw.get())
        .ok()
        .and_then(|map| map.get(id_key).and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "<unknown>".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_every_digit() {
        let v: Value = serde_json::from_str("0.0016150000000000001").expect("json");
        assert_eq!(
            decimal(&v).map(|d| d.to_string()),
            Ok("0.0016150000000000001".to_owned())
        );
        let v: Value = serde_json::from_str("\"0.000003\"").expect("json");
        assert_eq!(
            decimal(&v).map(|d| d.to_string()),
            Ok("0.000003".to_owned())
        );
        let v: Value = serde_json::from_str("2690").expect("json");
        assert_eq!(decimal(&v).map(|d| d.to_string()), Ok("2690".to_owned()));
        let v: Value = serde_json::from_str("1e-7").expect("json");
        assert_eq!(
            decimal(&v).map(|d| d.to_string()),
            Ok("0.0000001".to_owned())
        );
        for bad in ["true", "null", "[]", "\"abc\"", "{}"] {
            let v: Value = serde_json::from_str(bad).expect("json");
            assert!(decimal(&v).is_err(), "{bad}");
        }
    }

    #[test]
    fn whole_numbers() {
        let v: Value = serde_json::from_str("128000").expect("json");
        assert_eq!(whole_number(&v), Some(128_000));
        let v: Value = serde_json::from_str("1.5").expect("json");
        assert_eq!(whole_number(&v), None);
        let v: Value = serde_json::from_str("-3").expect("json");
        assert_eq!(whole_number(&v), None);
        assert_eq!(integer(&v), Some(-3));
        let v: Value = serde_json::from_str("\"9\"").expect("json");
        assert_eq!(integer(&v), Some(9));
    }

    #[test]
    fn names_are_read_leniently() {
        let v: Value = serde_json::from_str("\" Llama 3 \"").expect("json");
        assert_eq!(text(Some(&v)).as_deref(), Some("Llama 3"));
        let v: Value = serde_json::from_str("42").expect("json");
        assert_eq!(text(Some(&v)), None);
        assert_eq!(text(None), None);
    }
}
